# Scenario 7: 1,000 apply/revert cycles while four kthreads call the functions.
# Every 100 cycles the updates are unloaded and loaded again, which disarms and
# re-arms the ftrace sites (kernel text rewritten under load).
must_load value2
must_load value3
must_load group
echo "stress 4" > /proc/dwt
bad=0
i=0
while [ $i -lt 1000 ]; do
  u=value2
  [ $((i % 3)) -eq 1 ] && u=value3
  [ $((i % 3)) -eq 2 ] && u=group
  ctl apply $u || { bad=$((bad + 1)); echo "cycle $i apply: $R"; }
  ctl revert $u 5000 || { bad=$((bad + 1)); echo "cycle $i revert: $R"; }
  i=$((i + 1))
  if [ $((i % 100)) -eq 0 ]; then
    echo "stress: $i cycles"
    for u in value2 value3 group; do
      ctl unload $u || { bad=$((bad + 1)); echo "unload $u: $R"; }
      load $u || { bad=$((bad + 1)); echo "load $u: $R"; }
    done
  fi
done
expect_eq "$bad" 0 "1000 apply/revert cycles without refusal"
c1=$(stat stress_calls)
sleep 0.5
c2=$(stat stress_calls)
[ "$c2" -gt "$c1" ] && ok "callers still running ($c2 calls)" || fail "callers stopped"
expect_eq "$(stat stress_bad)" 0 "every call returned a valid version's value"
echo stop > /proc/dwt
ctl status
expect_not_in "$R" "applied" "nothing applied at the end"
