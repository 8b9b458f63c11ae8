# Walker case 4: a function called from kernel threads that never stop. The patch
# (workqueue-desc-marker.diff) changes process_one_work in kernel/workqueue.c; every
# kworker loops forever in worker_thread and calls it for each work item. The plan says
# worker_thread never quiesces and needs adaptive cloning: the update is applied while
# the kworkers run, and each enters the new version at its next work item. The version
# marks the worker's description, which /proc/PID/comm shows ("kworker/0:1-dw-events").
DW=/bin/dynwalk
U=workqueue_desc_marker
comms() { cat /proc/[0-9]*/comm 2>/dev/null | grep '^kworker/' | tr '\n' ' '; }
# Work for the kworkers: sync queues writeback and flush work, drop_caches more.
work() { sync; echo 1 > /proc/sys/vm/drop_caches; sleep 2; sync; }
work
expect_not_in "$(comms)" "-dw-" "no kworker ran the new version before the update"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
work
c=$(comms)
expect_in "$c" "-dw-" "running kworkers entered the new version at their next work item ($c)"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
# After the revert, each kworker that runs a work item writes the plain name again.
before=$(comms | tr ' ' '\n' | grep -c -- '-dw-')
work; work
after=$(comms | tr ' ' '\n' | grep -c -- '-dw-')
if [ "$after" -lt "$before" ] || [ "$after" = 0 ]; then
  ok "kworkers that ran again are back in the original ($before -> $after marked)"
else
  fail "kworkers still run the new version after revert ($before -> $after marked): $(comms)"
fi
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
