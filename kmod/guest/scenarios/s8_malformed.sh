# Scenario 8: malformed or mismatching input is refused with a clear message and
# leaves the kernel as it was.
orig=$(cat /proc/cmdline)

refused() { # refused DESC PATTERN
  if load "$1"; then fail "$1 accepted: $R"; else expect_in "$R" "$2" "$1 refused: $R"; fi
}
refused badbytes "bytes at the site differ from the expected bytes at offset 0"
expect_in "$R" "expected: e9 00 00 00 00 found: 0f 1f 44 00 00" "mismatch shows both byte strings"
refused unknown "unknown symbol no_such_function_xyz"
refused unregistered "version nope_v9 is not registered by module dwt_update"
refused truncated "truncated description"
refused jmpftrace "ftrace manages this site"
refused cold "version dwt_value_split has a .cold part outside its text"

cmd_refused() { # cmd_refused PATTERN WORDS...
  local pat=$1; shift
  if ctl "$@"; then fail "'$*' accepted: $R"; else expect_in "$R" "$pat" "'$*' refused: $R"; fi
}
cmd_refused "unknown command" frobnicate now
cmd_refused "no such update" apply nothing
cmd_refused "no such update" revert nothing
cmd_refused "bad number for timeout_ms" revert cmdline1 soon
cmd_refused "function is not redirected" policy cmdline_proc_show newest
printf '\001\002garbage' > /dev/dynwalk 2>/dev/null && fail "binary garbage accepted"
dmesg | grep -q "dynwalk: refused: command is not printable ASCII" &&
  ok "binary garbage refused" || fail "binary garbage: no refusal logged"
dd if=/dev/zero of=/dev/dynwalk bs=40000 count=1 2>/dev/null && fail "oversized write accepted"
dmesg | grep -q "dynwalk: refused: input of 40000 bytes" && ok "oversized write refused" ||
  fail "oversized write: no refusal logged"
refused future "unsupported description version 3 (runtime speaks 1..=2)"
refused pastpos "no symbol align_show at position 3"
# Description version 2: 20 functions, two statics of each name by their position.
must_load many
ctl status
expect_eq "$(echo "$R" | grep -c '^  fn [a-z_]*_show,[12] -> cmdline_proc_show_v2 ')" 20 \
  "a version-2 description of 20 functions loaded, each static placed by its sympos"
must unload many

# Root only: mode 0600, and open() itself checks CAP_SYS_ADMIN.
su -s /bin/sh nobody -c 'echo status > /dev/dynwalk' 2>/dev/null &&
  fail "non-root wrote to /dev/dynwalk" || ok "non-root refused by mode 0600"
chmod 666 /dev/dynwalk
err=$(su -s /bin/sh nobody -c 'echo status > /dev/dynwalk' 2>&1) &&
  fail "non-root without CAP_SYS_ADMIN accepted" ||
  expect_in "$err" "Operation not permitted" "open without CAP_SYS_ADMIN refused (EPERM)"
chmod 600 /dev/dynwalk

expect_eq "$(cat /proc/cmdline)" "$orig" "kernel unaffected: /proc/cmdline unchanged"
ctl status
expect_not_in "$R" "update " "no update left loaded"
must_load cmdline1
must apply cmdline1
expect_eq "$(cat /proc/cmdline)" "dynwalk-patched-cmdline" "runtime still works after refusals"
must revert cmdline1

# The update module is pinned while applied; once it is gone its versions are too.
must apply cmdline1
rmmod dwt_update 2>/dev/null && fail "update module removed while applied" ||
  ok "update module pinned while its version is applied"
must revert cmdline1
rmmod dwt_cold && rmmod dwt_update && ok "update module removed after revert" ||
  fail "update module still pinned after revert"
if ctl apply cmdline1; then
  fail "applied a version whose module is gone: $R"
else
  expect_in "$R" "version cmdline_proc_show_v2 is not registered by module dwt_update" \
    "apply refused once the update module is gone"
fi
expect_eq "$(cat /proc/cmdline)" "$orig" "kernel unaffected at the end"
