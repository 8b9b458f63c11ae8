# Scenario 7: 1,000 apply/revert cycles while four kthreads call the functions (and
# attach shadow fields to four shared objects concurrently, through dwt_obj_use_v2).
# Every 100 cycles the updates are unloaded and loaded again, which disarms and
# re-arms the ftrace sites (kernel text rewritten under load).
must_load value2
must_load value3
must_load group
must_load obj
echo "stress 4" > /proc/dwt
bad=0
i=0
while [ $i -lt 1000 ]; do
  u=value2
  [ $((i % 4)) -eq 1 ] && u=value3
  [ $((i % 4)) -eq 2 ] && u=group
  [ $((i % 4)) -eq 3 ] && u=obj
  ctl apply $u || { bad=$((bad + 1)); echo "cycle $i apply: $R"; }
  ctl revert $u 5000 || { bad=$((bad + 1)); echo "cycle $i revert: $R"; }
  i=$((i + 1))
  if [ $((i % 100)) -eq 0 ]; then
    echo "stress: $i cycles"
    for u in value2 value3 group obj; do
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
expect_eq "$(field "$R" "objects")" "4" "concurrent get_or_alloc: one shadow field per shared object"
expect_not_in "$R" "applied" "nothing applied at the end"
