# Walker case 9: a changed system call. `SYSCALL_DEFINE1(newuname, ...)` in kernel/sys.c
# has no `sys_newuname` in x86-64 6.1: its entry points are the ABI stubs
# `__x64_sys_newuname` and `__ia32_sys_newuname` around an inlined body. The plan names
# both (corpora/patches/linux-6.1/uname-version-marker.diff), the update replaces both
# as one group, and uname(2) reports the new version string.
DW=/bin/dynwalk
U=uname_version_marker
orig=$(uname -v)
expect_not_in "$orig" "dwmark" "the original uname(2) runs before the update"
if out=$($DW load /updates/$U 2>&1); then ok "dynwalk load -> $out"; else fail "dynwalk load: $out"; fi
out=$($DW status 2>&1)
x64=$(echo "$out" | grep "fn __x64_sys_newuname -> dw_ver____x64_sys_newuname ")
ia32=$(echo "$out" | grep "fn __ia32_sys_newuname -> dw_ver____ia32_sys_newuname ")
if [ -n "$x64" ] && [ -n "$ia32" ]; then ok "both ABI stubs are targets"; else fail "status lacks a stub: $out"; fi
expect_eq "$(field "$x64" group)" "$(field "$ia32" group)" "the two stubs are in one group"
expect_eq "$(field "$x64" method)" "ftrace" "the x64 stub is redirected through its fentry site"
if out=$($DW apply $U 2>&1); then ok "dynwalk apply -> $out"; else fail "dynwalk apply: $out"; fi
expect_eq "$(uname -v)" "$orig dwmark" "the generated version of the syscall runs after apply"
out=$($DW status 2>&1)
expect_in "$out" "update $U applied" "status shows the update applied"
if out=$($DW revert $U 2>&1); then ok "dynwalk revert -> $out"; else fail "dynwalk revert: $out"; fi
expect_eq "$(uname -v)" "$orig" "the original is back after revert"
if out=$($DW unload $U 2>&1); then ok "dynwalk unload -> $out"; else fail "dynwalk unload: $out"; fi
if rmmod dwu_$U; then ok "the update module is removed"; else fail "rmmod dwu_$U"; fi
