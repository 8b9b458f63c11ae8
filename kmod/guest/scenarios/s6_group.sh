# Scenario 6: a group of two functions switches as one, all or none.
echo group > /proc/dwt
sleep 0.5
if load groupbad; then
  fail "groupbad accepted: $R"
else
  # The refusal must be the missing version, not any failure (a missing file, say).
  expect_in "$R" "version dwt_group_b_missing is not registered" "group with a missing version refused: $R"
fi
ctl status
expect_not_in "$R" "groupbad" "the refused group left nothing loaded"
expect_not_in "$R" "slot dwt_group_a" "its resolvable member was not armed either"
sleep 0.3
expect_eq "$(stat group_new)" 0 "none of the refused group switched"
must_load group
must apply group
sleep 1
n1=$(stat group_new)
[ "$n1" -gt 0 ] && ok "both functions switched ($n1 new pairs)" || fail "group did not switch"
must revert group
sleep 0.5
n2=$(stat group_new)
sleep 0.5
expect_eq "$(stat group_new)" "$n2" "both functions back on the original"
mixed=$(stat group_mixed)
# A pair is mixed only if a switch lands between its two calls: at most one per switch.
[ "$mixed" -le 2 ] && ok "mixed pairs: $mixed (<= one per switch)" || fail "mixed pairs: $mixed"
# All or none when a member's site is taken: another ftrace user owns dwt_bench (its
# entry is no longer the NOP the description expects), so the group
# {dwt_value, dwt_bench} is refused and dwt_value does not switch either.
must_load groupbench
echo "bench hold" > /proc/dwt
if ctl apply groupbench; then
  fail "group applied although dwt_bench is owned: $R"
else
  expect_in "$R" "function 1: bytes at the site differ" "group refused: $R"
fi
expect_eq "$(cat /proc/dwt)" "value=2" "dwt_value not switched either"
ctl status
expect_not_in "$R" "slot dwt_value" "dwt_value disarmed again"
echo "bench release" > /proc/dwt
must apply groupbench
expect_eq "$(cat /proc/dwt)" "value=101" "whole group applies once dwt_bench is free"
must revert groupbench
echo stop > /proc/dwt
