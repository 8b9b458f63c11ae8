# Overhead: the same loop of calls to dwt_bench, unpatched, redirected by a plain
# ftrace IPMODIFY handler, and redirected by dynwalk: to a counted version (dispatch
# + accounting) and to an uncounted one (dispatch only).
must_load bench
echo "bench base" > /proc/dwt
echo "bench plain" > /proc/dwt
must apply bench
echo "bench dynwalk" > /proc/dwt
must revert bench
must_load benchraw
must apply benchraw
echo "bench dynraw" > /proc/dwt
must revert benchraw
echo "bench report" > /proc/dwt
expect_in "$(dmesg | grep 'dwt: bench plain')" "(dwt_bench(1)=3)" "the plain ftrace baseline redirect was in effect"
expect_in "$(dmesg | grep 'dwt: bench dynwalk')" "(dwt_bench(1)=3)" "dynwalk redirect was in effect"
expect_in "$(dmesg | grep 'dwt: bench dynraw')" "(dwt_bench(1)=3)" "uncounted redirect was in effect"
expect_in "$(dmesg | grep 'OVERHEAD ratio')" "dynwalk/plain-ftrace" "ratios printed"
expect_in "$(dmesg | grep 'OVERHEAD dispatch only')" "/plain-ftrace" "dispatch-only ratios printed"
dmesg | grep OVERHEAD
