# Scenario 11: the dynwalk CLI drives the runtime through /dev/dynwalk:
# load, apply, status, a refusal, revert, unload, and a refused description file.
DW=/bin/dynwalk
orig=$(cat /proc/cmdline)
if out=$($DW load cli1 dwt_update cmdline_proc_show=cmdline_proc_show_v2 2>&1); then
  ok "dynwalk load -> $out"
else
  fail "dynwalk load: $out"
fi
if out=$($DW apply cli1 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
expect_eq "$(cat /proc/cmdline)" "dynwalk-patched-cmdline" "the new version runs after dynwalk apply"
out=$($DW status 2>&1)
expect_in "$out" "update cli1 applied" "dynwalk status shows the update applied"
out=$($DW apply no_such_update 2>&1)
rc=$?
expect_eq "$rc" "8" "an unknown update is refused with exit code 8 ($out)"
if out=$($DW revert cli1 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
expect_eq "$(cat /proc/cmdline)" "$orig" "the original is back after dynwalk revert"
if out=$($DW unload cli1 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
out=$($DW load --file /descs/badbytes.bin 2>&1)
rc=$?
expect_eq "$rc" "8" "a description with wrong expected bytes is refused with exit code 8"
expect_in "$out" "bytes at the site differ" "the refusal says why"
out=$($DW status 2>&1)
expect_not_in "$out" "cli1" "nothing left after unload"
