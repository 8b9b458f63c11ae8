# Scenario 6: a group of two functions switches as one, all or none.
echo group > /proc/dwt
sleep 0.5
if load groupbad; then fail "groupbad accepted: $R"; else ok "group with a missing version refused: $R"; fi
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
echo stop > /proc/dwt
