# Helpers for the guest scenarios (sourced by /init).

ok() { echo "DW-OK $*"; }
fail() { echo "DW-FAIL $*"; FAILED=1; }

# ctl WORDS...: one control write; the reply is in $R, the exit status is the write's.
ctl() {
  exec 3<>/dev/dynwalk
  printf '%s' "$*" >&3
  local rc=$?
  R=$(cat <&3)
  exec 3>&-
  return $rc
}

# load NAME: write /descs/NAME.bin; reply in $R.
load() {
  exec 3<>/dev/dynwalk
  cat "/descs/$1.bin" >&3
  local rc=$?
  R=$(cat <&3)
  exec 3>&-
  return $rc
}

# must CMD...: a control command that has to succeed.
must() {
  if ctl "$@"; then ok "$* -> $R"; else fail "$* -> $R"; fi
}
must_load() {
  if load "$1"; then ok "load $1 -> $R"; else fail "load $1 -> $R"; fi
}

# expect_in TEXT PATTERN WHAT
expect_in() {
  case "$1" in
    *"$2"*) ok "$3" ;;
    *) fail "$3: '$2' not in '$1'" ;;
  esac
}
expect_not_in() {
  case "$1" in
    *"$2"*) fail "$3: '$2' unexpectedly in '$1'" ;;
    *) ok "$3" ;;
  esac
}
# field TEXT NAME: the whole value of the first NAME=VALUE in TEXT (so that a check of
# `objects=4` cannot pass on 40).
field() { echo " $1" | grep -o "[ (]$2=[^ )]*" | head -1 | sed 's/^.[^=]*=//'; }
expect_eq() {
  if [ "$1" = "$2" ]; then ok "$3 ($1)"; else fail "$3: got '$1', want '$2'"; fi
}

# stat FIELD: last value of FIELD printed by 'echo stat > /proc/dwt'.
stat() {
  echo stat > /proc/dwt
  dmesg | grep 'dwt: stat ' | tail -1 | sed -n "s/.* $1=\([-0-9]*\).*/\1/p"
}
