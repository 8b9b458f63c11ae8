# Walker case 8: every generated update loaded at once and applied and reverted as a set,
# five times, while other processes keep calling the replaced functions (/proc/cmdline,
# /proc/PID/status and /proc/PID/stack reads, pipe transfers; the kworkers run
# process_one_work). Two updates replace proc_pid_status and two pipe_read: their
# versions live side by side, the newest serving new calls. Every answer read under
# the load must be the original's or a version's.
DW=/bin/dynwalk
SET="proc_cmdline_marker proc_status_inline workqueue_desc_marker proc_stack_depth_macro pipe_rw_bound signal_pipe_reads_field"
REV="signal_pipe_reads_field pipe_rw_bound proc_stack_depth_macro workqueue_desc_marker proc_status_inline proc_cmdline_marker"
orig=$(cat /proc/cmdline)
# Control commands write to a file: a shell reading them through a pipe would sit in
# pipe_read, inside a version, and hold back the revert (see w7).
run() { if $DW "$@" > /tmp/ctl.out 2>&1; then return 0; else echo "DW-FAIL dynwalk $*: $(cat /tmp/ctl.out)"; FAILED=1; return 1; fi; }
for u in $SET; do run load /updates/$u; done
load_loop() {
  while [ ! -f /tmp/stop ]; do
    c=$(cat /proc/cmdline)
    [ "$c" = "$orig" ] || [ "$c" = "$orig dynwalk.updated=1" ] || echo "DW-FAIL /proc/cmdline under load: '$c'"
    [ "$c" = "$orig" ] || echo n >> /tmp/seen.$1
    grep -q '^voluntary_ctxt_switches' /proc/self/status || echo "DW-FAIL /proc/self/status under load"
    s=$(echo 0123456789 | cat)
    [ "$s" = 0123456789 ] || echo "DW-FAIL pipe under load: '$s'"
  done
}
load_loop 1 & l1=$!
load_loop 2 & l2=$!
cycle=0
while [ $cycle -lt 5 ]; do
  for u in $SET; do run apply $u; done
  sleep 1
  for u in $REV; do run revert --timeout-ms 5000 $u; done
  cycle=$((cycle + 1))
done
touch /tmp/stop
wait $l1 $l2
seen=$(cat /tmp/seen.1 /tmp/seen.2 2>/dev/null | wc -l)
if [ "$seen" -gt 0 ]; then ok "the load ran in the versions too ($seen reads of the new /proc/cmdline)"; else fail "the load never saw a version"; fi
ok "5 apply/revert cycles of 6 generated updates under load"
expect_eq "$(cat /proc/cmdline)" "$orig" "the originals run after the last revert"
for u in $SET; do run unload $u; done
for u in $SET; do rmmod dwu_$u || fail "rmmod dwu_$u"; done
out=$($DW status 2>&1)
expect_not_in "$out" "update " "nothing left loaded"
