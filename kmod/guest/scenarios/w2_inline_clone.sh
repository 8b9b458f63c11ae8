# Walker case 2: a changed `static inline` helper (task_context_switch_counts in
# fs/proc/array.c, patch proc-status-inline.diff). It has no symbol of its own: the plan
# clones its caller proc_pid_status, and the generated version of that caller carries
# the new helper inlined, with the file's other helpers copied or reached via kallsyms.
DW=/bin/dynwalk
U=proc_status_inline
st=$(cat /proc/self/status)
expect_not_in "$st" "total_ctxt_switches" "the original runs before the update"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
# This shell has switched context (it forked and waited): its counts are not both 0.
st=$(cat /proc/$$/status)
vol=$(echo "$st" | sed -n 's/^voluntary_ctxt_switches:\t*//p')
nonvol=$(echo "$st" | sed -n 's/^nonvoluntary_ctxt_switches:\t*//p')
total=$(echo "$st" | sed -n 's/^total_ctxt_switches:\t*//p')
expect_eq "$total" "$((vol + nonvol))" "the cloned caller prints the new helper's line (voluntary $vol + nonvoluntary $nonvol)"
expect_in "$st" "Name:	$(cat /proc/$$/comm)" "the rest of the clone still works (Name)"
expect_in "$st" "SigCgt:" "the rest of the clone still works (signals, through copied helpers)"
expect_in "$st" "Cpus_allowed_list:" "the rest of the clone still works (cpus)"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
expect_not_in "$(cat /proc/self/status)" "total_ctxt_switches" "the original is back after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
