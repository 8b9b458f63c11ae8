# Walker case 7: the pipe implementation (pipe_read, pipe_write in fs/pipe.c, patch
# pipe-rw-bound.diff) updated in the middle of large transfers between processes, as
# DynAMOS updated pipefs: a reader blocked in the old pipe_read when the update is
# applied finishes there, new calls enter the new versions, and no byte is lost or
# reordered (md5 of each stream against the md5 of what was sent).
DW=/bin/dynwalk
U=pipe_rw_bound
dd if=/dev/urandom of=/tmp/src bs=1024 count=4096 2>/dev/null
want=$(cat /tmp/src /tmp/src /tmp/src /tmp/src | md5sum | cut -d' ' -f1)
# dd, not cat: busybox cat sends files into a pipe with sendfile (splice), past pipe_write.
stream() { for f in 1 2 3 4; do dd if=/tmp/src bs=4096 2>/dev/null; done; }
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
# A reader blocked in pipe_read (its writer sleeps first), and a transfer in progress.
{ sleep 3; stream; } | md5sum > /tmp/sum_blocked &
pa=$!
sleep 1
blocked=$(pidof md5sum)
expect_in "$(cat /proc/$blocked/stack)" "pipe_read" "the first reader is blocked in the original pipe_read (pid $blocked)"
i=0
while [ $i -lt 6 ]; do stream; i=$((i + 1)); done | md5sum > /tmp/sum_busy &
pb=$!
sleep 1
if out=$($DW apply $U 2>&1); then ok "dynwalk apply mid-transfer -> $out"; else fail "dynwalk apply: $out"; fi
# New transfers after the switch.
stream | md5sum > /tmp/sum_after
wait $pa $pb
expect_eq "$(cut -d' ' -f1 /tmp/sum_blocked)" "$want" "the reader blocked in the old pipe_read at the switch got every byte in order"
i=0
while [ $i -lt 6 ]; do cat /tmp/src /tmp/src /tmp/src /tmp/src; i=$((i + 1)); done | md5sum > /tmp/want_busy
expect_eq "$(cut -d' ' -f1 /tmp/sum_busy)" "$(cut -d' ' -f1 /tmp/want_busy)" "the transfer in progress at the switch lost and reordered nothing (96 MiB)"
expect_eq "$(cut -d' ' -f1 /tmp/sum_after)" "$want" "a transfer after the switch runs in the new versions intact"
out=$($DW status 2>&1)
r=$(echo "$out" | grep 'slot pipe_read ' | sed -n 's/.*\[pipe_rw_bound live calls=\([0-9]*\)\].*/\1/p')
w=$(echo "$out" | grep 'slot pipe_write ' | sed -n 's/.*\[pipe_rw_bound live calls=\([0-9]*\)\].*/\1/p')
if [ "${r:-0}" -gt 100 ] && [ "${w:-0}" -gt 100 ]; then
  ok "new calls entered the new versions (pipe_read $r calls, pipe_write $w calls)"
else
  fail "the new versions were not entered: pipe_read '$r', pipe_write '$w' in: $out"
fi
# Not `out=$(dynwalk revert)`: this shell would wait for that output in pipe_read, inside
# the new version, and the revert would wait for this shell (it names it, and refuses).
if $DW revert $U > /tmp/revert.out 2>&1; then ok "dynwalk revert -> $(cat /tmp/revert.out)"; else fail "dynwalk revert: $(cat /tmp/revert.out)"; fi
expect_eq "$(stream | md5sum | cut -d' ' -f1)" "$want" "pipes work in the original after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
