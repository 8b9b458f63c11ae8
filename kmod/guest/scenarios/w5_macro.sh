# Walker case 5: a changed constant macro (MAX_STACK_TRACE_DEPTH in fs/proc/base.c,
# 64 -> 3, patch proc-stack-depth-macro.diff). No function's text changed: the plan
# clones the macro's user, proc_pid_stack, and /proc/PID/stack then shows at most 3
# frames. The stack read is of a sleeping child.
DW=/bin/dynwalk
U=proc_stack_depth_macro
# frames: the kernel stack depth of a sleeping child, read once it sleeps (a task still
# starting has no stack to show yet).
frames() {
  sleep 3 &
  local pid=$! i=0 n=0
  while [ $i -lt 50 ]; do
    if grep -q '^State:.*S (sleeping)' /proc/$pid/status 2>/dev/null; then
      n=$(wc -l < /proc/$pid/stack)
      [ "$n" -gt 0 ] && break
    fi
    sleep 0.1
    i=$((i + 1))
  done
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "$n"
}
n0=$(frames)
if [ "$n0" -gt 3 ]; then ok "the original shows the whole stack ($n0 frames)"; else fail "the original shows only $n0 frames"; fi
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
n1=$(frames)
expect_eq "$n1" "3" "the clone of proc_pid_stack uses the new constant (3 frames of a $n0-frame stack)"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
n2=$(frames)
if [ "$n2" -gt 3 ]; then ok "the original is back after revert ($n2 frames)"; else fail "after revert: $n2 frames"; fi
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
