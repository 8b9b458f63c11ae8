# Scenario 1: redirect a real kernel function (cmdline_proc_show) and back, twice.
orig=$(cat /proc/cmdline)
expect_in "$orig" "dw.scenario=s1_cmdline" "original /proc/cmdline"
must_load cmdline1
for round in 1 2; do
  must apply cmdline1
  expect_eq "$(cat /proc/cmdline)" "dynwalk-patched-cmdline" "round $round: new version runs"
  ctl status
  expect_in "$R" "update cmdline1 applied" "status shows the update applied"
  expect_in "$R" "slot cmdline_proc_show" "status shows the redirected function"
  must revert cmdline1
  expect_eq "$(cat /proc/cmdline)" "$orig" "round $round: original back after revert"
done
# ftrace's own view of the site: hooked (regs + IPMODIFY) while loaded, gone after unload.
EF=/sys/kernel/tracing/enabled_functions
expect_in "$(grep cmdline_proc_show $EF)" "R I" "ftrace site armed with IPMODIFY while loaded"
must unload cmdline1
ctl status
expect_not_in "$R" "cmdline1" "nothing left after unload"
expect_eq "$(grep -c cmdline_proc_show $EF)" 0 "ftrace site released after unload"
