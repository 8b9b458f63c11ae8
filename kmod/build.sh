#!/bin/bash
# Build the dynwalk kernel runtime (dynwalk.ko) and the test modules from a fresh
# Debian 12 machine.  Idempotent: a second run only rebuilds what changed.
#
#   kmod/build.sh            build everything into kmod/build/
#   KVER=... kmod/build.sh   override the kernel ABI (default: linux-headers-amd64's)
#
# Steps (one per function below): install packages, derive KVER, build and cache
# `core` for x86_64-unknown-none keyed by rustc version, build the no_std crate into
# one object, check its relocations, run objtool on it, write its .cmd file, kbuild.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/build
CACHE=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/dynwalk
RUSTC=/usr/bin/rustc
TARGET=x86_64-unknown-none
# Flags every Rust crate in the kernel object shares (they are target modifiers:
# core, the stub compiler_builtins and the runtime crate must agree).
RUST_KFLAGS=(--target "$TARGET" -Cpanic=abort -Copt-level=2 -Ccodegen-units=1
  -Crelocation-model=static -Zplt=yes -Zretpoline-external-thunk
  -Zfunction-return=thunk-extern -Cforce-frame-pointers=no -Cdebuginfo=0)
export RUSTC_BOOTSTRAP=1

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: error: $*" >&2; exit 1; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2
}

install_packages() {
  local need=()
  for p in linux-headers-amd64 linux-kbuild-6.1 gcc make libelf-dev binutils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  # rustc-web and rust-web-src must come from one apt command so their versions match.
  if ! dpkg-query -W -f='${Status}' rust-web-src 2>/dev/null | grep -q 'ok installed' ||
     ! dpkg-query -W -f='${Status}' rustc-web 2>/dev/null | grep -q 'ok installed'; then
    need+=(rustc-web rust-web-src)
  fi
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt_install "${need[@]}"
  fi
}

derive_kver() {
  if [[ -z "${KVER:-}" ]]; then
    local dep
    dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64) || die "linux-headers-amd64 missing"
    KVER=$(sed -n 's/.*linux-headers-\([^ ,]*\).*/\1/p' <<<"$dep")
  fi
  [[ -n "$KVER" ]] || die "cannot derive KVER from linux-headers-amd64"
  KDIR=/lib/modules/$KVER/build
  [[ -d "$KDIR" ]] || die "$KDIR missing (linux-headers-$KVER not installed?)"
}

# The sysroot holds libcore and a stub compiler_builtins, cached by rustc version.
build_sysroot() {
  local ver src
  ver=$("$RUSTC" -vV | sed -n 's/^release: //p')
  SYSROOT=$CACHE/sysroot-$ver
  local lib=$SYSROOT/lib/rustlib/$TARGET/lib
  if [[ -f $lib/libcore.rlib && -f $lib/libcompiler_builtins.rlib ]]; then return; fi
  src=/usr/src/rustc-$ver/library/core/src/lib.rs
  [[ -f $src ]] || die "$src missing: install rust-web-src matching rustc-web $ver"
  log "building core for rustc $ver (about 20 s, cached in $SYSROOT)"
  mkdir -p "$lib"
  local tmp=$lib.tmp
  rm -rf "$tmp"; mkdir -p "$tmp"
  "$RUSTC" --edition 2024 --crate-type rlib --crate-name core "${RUST_KFLAGS[@]}" \
    --sysroot /nonexistent -Cembed-bitcode=yes --out-dir "$tmp" "$src"
  cat >"$tmp/compiler_builtins.rs" <<'EOF'
// Stub: every intrinsic the runtime needs is provided by the kernel; a missing one
// shows up as an undefined symbol at modpost time instead of being silently inlined.
#![allow(internal_features)]
#![feature(compiler_builtins)]
#![compiler_builtins]
#![no_builtins]
#![no_std]
EOF
  "$RUSTC" --edition 2021 --crate-type rlib --crate-name compiler_builtins "${RUST_KFLAGS[@]}" \
    -Cembed-bitcode=no --sysroot "$tmp/.." -L "$tmp" --extern core="$tmp/libcore.rlib" \
    --out-dir "$tmp" "$tmp/compiler_builtins.rs"
  mv "$tmp"/*.rlib "$lib/"
  rm -rf "$tmp"
}

# The runtime crate becomes one object: a fat-LTO staticlib holding exactly one .o.
build_rust_object() {
  local a=$OUT/rust/libdynwalk_kmod.a obj=$OUT/dynwalk_rt.o
  mkdir -p "$OUT/rust"
  if [[ -f $obj ]] && [[ -z $(find "$HERE/rt/src" -newer "$obj" -name '*.rs') ]]; then return; fi
  log "compiling kmod/rt with $RUSTC"
  "$RUSTC" --edition 2021 --crate-type staticlib --crate-name dynwalk_kmod "${RUST_KFLAGS[@]}" \
    --sysroot "$SYSROOT" -Clto=fat -Cembed-bitcode=yes --cfg dw_kernel \
    --out-dir "$OUT/rust" "$HERE/rt/src/lib.rs"
  rm -rf "$OUT/rust/x"; mkdir "$OUT/rust/x"
  (cd "$OUT/rust/x" && ar x "$a")
  # Fat LTO leaves our object plus an empty one for the stub compiler_builtins.
  local objs=("$OUT"/rust/x/dynwalk_kmod.*.o) o
  ((${#objs[@]} == 1)) || die "expected one dynwalk_kmod object in $a, got ${#objs[@]}"
  for o in "$OUT"/rust/x/*.o; do
    [[ $o == "${objs[0]}" || -z $(nm "$o") ]] || die "unexpected symbols in $o"
  done
  cp "${objs[0]}" "$obj.tmp"
  check_relocations "$obj.tmp"
  run_objtool "$obj.tmp"
  mv "$obj.tmp" "$obj"
  # kbuild/modpost expect a .cmd file next to every object they link.
  printf 'cmd_%s := %s (prebuilt by kmod/build.sh)\n' "dynwalk_rt.o" "$RUSTC" >"$OUT/.dynwalk_rt.o.cmd"
}

check_relocations() {
  local bad
  bad=$(readelf -rW "$1" | awk '/^[0-9a-f]+ +[0-9a-f]+ R_X86_64/ {print $3}' | sort -u |
        grep -vxE 'R_X86_64_(32S|64|PC32|PLT32)' || true)
  [[ -z $bad ]] || die "relocation types the module loader rejects in $1: $bad"
}

run_objtool() {
  "$KDIR/tools/objtool/objtool" --hacks=jump_label --hacks=noinstr --orc --retpoline \
    --rethunk --sls --static-call --uaccess --module "$1" ||
    die "objtool failed on $1"
}

build_modules() {
  log "kbuild against $KDIR"
  cp -u "$HERE"/shim/*.c "$HERE"/shim/*.h "$HERE"/test/*.c "$OUT/"
  cp "$HERE/shim/Kbuild" "$OUT/Kbuild"
  make -s -j2 -C "$KDIR" M="$OUT" modules >&2
  for m in dynwalk dwt_target dwt_update dwt_cold; do
    [[ -f $OUT/$m.ko ]] || die "$m.ko not built"
  done
}

main() {
  install_packages
  derive_kver
  build_sysroot
  mkdir -p "$OUT"
  build_rust_object
  build_modules
  echo "$KVER" >"$OUT/KVER"
  log "ok: $OUT/dynwalk.ko (kernel $KVER)"
}

[[ "${DW_ONLY:-}" == sysroot ]] && { install_packages; derive_kver; build_sysroot; exit 0; }
main "$@"
