# Walker case 10: a `notrace` function, which has no fentry site: the runtime overwrites
# its entry with a jump (DynAMOS's way), and `dynwalk update` checked the site against
# the kernel image (whole instructions under the jump, no branch into them) and recorded
# the bytes the runtime must find there. The function is trace_clock_counter, the
# tracer's "counter" clock (corpora/patches/linux-6.1/trace-clock-counter-step.diff makes
# it step by 1000): the timestamps of two trace markers show which version runs.
DW=/bin/dynwalk
U=trace_clock_counter_step
T=/sys/kernel/tracing
mount -t tracefs nodev $T 2>/dev/null
echo counter > $T/trace_clock || fail "cannot select the counter clock"
# step: the counter difference between two markers written now.
step() {
  echo > $T/trace
  echo first > $T/trace_marker
  echo second > $T/trace_marker
  awk '/tracing_mark_write:/ { for (i = 1; i < NF; i++) if ($(i + 1) == "tracing_mark_write:") { sub(":", "", $i); print $i } }' $T/trace |
    { read a; read b; echo $((b - a)); }
}
expect_eq "$(step)" 1 "the original counter clock steps by 1"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
out=$($DW status 2>&1)
line=$(echo "$out" | grep "fn trace_clock_counter -> dw_ver__trace_clock_counter ")
expect_eq "$(field "$line" method)" "jmp" "the notrace target is patched with a jump"
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
expect_eq "$(step)" 1000 "the generated version runs through the jump after apply"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
expect_eq "$(step)" 1 "the original's entry is restored after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
echo local > $T/trace_clock
