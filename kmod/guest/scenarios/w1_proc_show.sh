# Walker case 1: a changed /proc show function (fs/proc/cmdline.c). The update module
# and its description were made by `dynwalk update` from the source patch
# corpora/patches/linux-6.1/proc-cmdline-marker.diff: no hand-written update code.
DW=/bin/dynwalk
U=proc_cmdline_marker
orig=$(cat /proc/cmdline)
expect_not_in "$orig" "dynwalk.updated=1" "the original runs before the update"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
expect_eq "$(cat /proc/cmdline)" "$orig dynwalk.updated=1" "the generated version runs after apply"
out=$($DW status 2>&1)
expect_in "$out" "update $U applied" "status shows the generated update applied"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
expect_eq "$(cat /proc/cmdline)" "$orig" "the original is back after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
