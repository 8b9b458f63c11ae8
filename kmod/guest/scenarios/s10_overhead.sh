# Overhead: the same loop of calls to dwt_bench, unpatched, redirected by a plain
# ftrace IPMODIFY handler, and redirected by dynwalk (dispatch + accounting).
must_load bench
echo "bench base" > /proc/dwt
echo "bench plain" > /proc/dwt
must apply bench
echo "bench dynwalk" > /proc/dwt
echo "bench report" > /proc/dwt
must revert bench
expect_in "$(dmesg | grep 'dwt: bench dynwalk')" "dwt_bench(1)=3" "dynwalk redirect was in effect"
expect_in "$(dmesg | grep 'OVERHEAD ratio')" "dynwalk/plain-ftrace" "ratios printed"
dmesg | grep OVERHEAD
