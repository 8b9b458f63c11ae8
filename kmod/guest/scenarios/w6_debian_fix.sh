# Walker case 6: a real fix of Debian's 6.1 series, live:
# bugfix/all/module-disable-matching-missing-version-crc.patch makes check_version fail
# closed when a module lacks a symbol's CRC ("may allow subverting module signing").
# The guest kernel already carries it, so: update module_crc_unfix (the reverse patch)
# takes it out live, then update module_crc_fix (Debian's patch itself, generated from
# the tree without it) puts it back live, as the newest version; each is observed by
# loading dwt_nocrc, which lacks the CRC of dw_ksym; then both are reverted.
DW=/bin/dynwalk
tryload() {
  if insmod /lib/dwt_nocrc.ko 2>/dev/null; then rmmod dwt_nocrc; echo loaded; else echo refused; fi
}
expect_eq "$(tryload)" "refused" "the running kernel (with Debian's fix) refuses a module missing a CRC"
expect_in "$(dmesg | grep 'dwt_nocrc: no symbol version for dw_ksym')" "no symbol version" "it says why"
for u in module_crc_unfix module_crc_fix; do
  if out=$($DW load /updates/$u 2>&1); then ok "dynwalk load $u -> $out"; else fail "dynwalk load $u: $out"; fi
done
if out=$($DW apply module_crc_unfix 2>&1); then ok "apply module_crc_unfix -> $out"; else fail "apply module_crc_unfix: $out"; fi
expect_eq "$(tryload)" "loaded" "without the fix (taken out live), the module loads"
if out=$($DW apply module_crc_fix 2>&1); then ok "apply module_crc_fix -> $out"; else fail "apply module_crc_fix: $out"; fi
expect_eq "$(tryload)" "refused" "Debian's fix, applied live as the newest version, refuses it again"
out=$($DW status 2>&1)
slot=$(echo "$out" | grep 'slot check_version ')
expect_in "$slot" "[module_crc_unfix live" "the first version of check_version is live"
expect_in "$slot" "[module_crc_fix live" "and the second beside it (status: $slot)"
if out=$($DW revert module_crc_fix 2>&1); then ok "revert module_crc_fix -> $out"; else fail "revert module_crc_fix: $out"; fi
expect_eq "$(tryload)" "loaded" "after reverting the fix, the older update serves again"
if out=$($DW revert module_crc_unfix 2>&1); then ok "revert module_crc_unfix -> $out"; else fail "revert module_crc_unfix: $out"; fi
expect_eq "$(tryload)" "refused" "the kernel's own code (with the fix) is back"
for u in module_crc_fix module_crc_unfix; do
  $DW unload $u >/dev/null 2>&1 || fail "unload $u"
  rmmod dwu_$u || fail "rmmod dwu_$u"
done
