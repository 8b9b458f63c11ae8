# Scenario 2: a kthread in a never-returning loop calls dwt_value(1); the update takes
# effect at its next call, the revert too, and the loop never stops.
echo loop > /proc/dwt
sleep 1
expect_eq "$(stat loop_last)" 2 "loop runs the original"
must_load value2
must apply value2
sleep 1
i1=$(stat loop_iters)
expect_eq "$(stat loop_last)" 101 "loop runs the new version"
must revert value2
sleep 1
i2=$(stat loop_iters)
expect_eq "$(stat loop_last)" 2 "loop back on the original"
[ "$i2" -gt "$i1" ] && ok "loop kept running ($i1 -> $i2)" || fail "loop stopped ($i1 -> $i2)"
ps | grep -q '\[dwt_loop\]' && ok "dwt_loop alive" || fail "dwt_loop gone"
echo stop > /proc/dwt
