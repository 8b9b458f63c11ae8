# Self-update: replace the runtime's dispatcher (dw_select, a site ftrace does not
# manage) through a jmp written with text_poke, and put it back.
H=/sys/module/dwt_update/parameters/selfupdate_hits
must_load cmdline1
must apply cmdline1
must_load self
expect_eq "$(cat $H)" 0 "new dispatcher not used yet"
must apply self
expect_eq "$(cat /proc/cmdline)" "dynwalk-patched-cmdline" "dispatch still works through the new dispatcher"
h1=$(cat $H)
[ "$h1" -gt 0 ] && ok "new dispatcher ran ($h1 calls)" || fail "new dispatcher never ran"
must revert self
h2=$(cat $H)
cat /proc/cmdline > /dev/null
expect_eq "$(cat $H)" "$h2" "old dispatcher back after revert"
expect_eq "$(cat /proc/cmdline)" "dynwalk-patched-cmdline" "dispatch works after the self-revert"
must revert cmdline1
