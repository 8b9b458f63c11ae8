# Walker case 3: a field added to a struct of the running kernel (pipe_reads in struct
# signal_struct, patch signal-pipe-reads-field.diff: pipe_read counts reads that returned
# data, /proc/PID/status prints PipeReads). The running layout does not change: the
# generated versions reach the field as shadow data, allocated zeroed on first use
# (objects made before the update, like this shell's), and freed with the object (the
# update's kfree/kmem_cache_free versions detach it).
DW=/bin/dynwalk
U=signal_pipe_reads_field
shadows() { $DW status 2>&1 | sed -n 's/.*shadow objects=\([0-9]*\).*/\1/p'; }
reads() { sed -n 's/^PipeReads:\t*//p' "/proc/$1/status"; }
expect_not_in "$(cat /proc/self/status)" "PipeReads" "the original before the update"
expect_eq "$(shadows)" "0" "no shadow data before the update"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
# This shell (pid 1) existed before the update: its field starts at 0 on first use, then
# counts its pipe reads (each $(...) is one or more reads from a pipe).
r0=$(reads 1)
x=$(echo one); x=$(echo two); x=$(echo three)
r1=$(reads 1)
if [ "$r1" -ge $((r0 + 3)) ]; then ok "an object made before the update carries the new field ($r0 -> $r1)"; else fail "pid 1 PipeReads $r0 -> $r1"; fi
# A process made after the update: its own count, from 0.
n=$(echo data | (read line; cat /proc/self/status) | sed -n 's/^PipeReads:\t*//p')
if [ "$n" -ge 1 ]; then ok "a new process counts its own pipe reads ($n)"; else fail "new process PipeReads '$n'"; fi
# Processes that read pipes, then exit: their signal_struct is freed, with its field.
sleep 1
base=$(shadows)
i=0
while [ $i -lt 20 ]; do sh -c 'x=$(echo y)' ; i=$((i + 1)); done
sleep 2
after=$(shadows)
if [ "$after" -le "$base" ]; then ok "shadow fields leave with their objects ($base before 20 short-lived processes, $after after)"; else fail "shadow fields leak: $base -> $after"; fi
fresh=$(sh -c 'sed -n "s/^PipeReads:\t*//p" /proc/self/status')
expect_eq "$fresh" "0" "a new object at a reused address does not inherit a dead one's field"
# Output to a file, not `$(...)`: this shell would wait in the new pipe_read (see w7).
if $DW revert $U > /tmp/revert.out 2>&1; then ok "dynwalk revert -> $(cat /tmp/revert.out)"; else fail "dynwalk revert: $(cat /tmp/revert.out)"; fi
expect_not_in "$(cat /proc/self/status)" "PipeReads" "the original is back after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
expect_eq "$(shadows)" "0" "removing the update frees every shadow field it made"
