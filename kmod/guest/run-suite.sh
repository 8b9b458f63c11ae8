#!/bin/bash
# Run the kernel scenarios in QEMU on Debian's 6.1 kernel (docs/runtime-control.md).
#
#   kmod/guest/run-suite.sh               every scenario, one boot each
#   kmod/guest/run-suite.sh s1_cmdline …  only these
#
# Prints "PASS name" / "FAIL name: reason" per scenario, then "N passed, M failed";
# exits non-zero if any failed.  Console logs: kmod/build/guest/logs/<name>.log.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KMOD=$(dirname "$HERE")
ROOT=$(dirname "$KMOD")
CACHE=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/dynwalk
WORK=$KMOD/build/guest
ALL=(s1_cmdline s8_malformed s2_kthread s5_shadow s3_pertask s6_group s4_revert_busy
     s7_stress s9_selfupdate s10_overhead s11_cli w1_proc_show w2_inline_clone w3_shadow w4_kthread w5_macro w6_debian_fix w7_pipe w8_set w9_syscall w10_notrace)
# The walker's cases: each guest scenario wN_* applies an update that `dynwalk update`
# generated and built from a source patch against Debian's 6.1 tree (no hand-written
# update module). Patch files: corpora/patches/linux-6.1/<name>.diff.
UPDATES=(proc-cmdline-marker proc-status-inline workqueue-desc-marker proc-stack-depth-macro pipe-rw-bound signal-pipe-reads-field
         uname-version-marker trace-clock-counter-step)

log() { echo "run-suite: $*" >&2; }
die() { echo "run-suite: error: $*" >&2; exit 2; }

install_guest_tools() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  [[ -x /bin/busybox ]] && /bin/busybox --list 2>/dev/null | grep -qx poweroff &&
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
    need+=(busybox-static)
  command -v cpio >/dev/null || need+=(cpio)
  command -v unxz >/dev/null || need+=(xz-utils) # scripts/extract-vmlinux (CONFIG_KERNEL_XZ)
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >&2
  fi
}

fetch_vmlinuz() {
  VMLINUZ=$CACHE/vmlinuz-$KVER
  [[ -s $VMLINUZ ]] && return
  log "fetching vmlinuz for $KVER"
  local tmp
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq "linux-image-$KVER" >&2); then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    (cd "$tmp" && apt-get download -qq "linux-image-$KVER" >&2) || die "cannot download linux-image-$KVER"
  fi
  mkdir -p "$CACHE"
  dpkg-deb --fsys-tarfile "$tmp"/linux-image-"$KVER"_*.deb | tar -xO "./boot/vmlinuz-$KVER" >"$VMLINUZ.tmp"
  mv "$VMLINUZ.tmp" "$VMLINUZ"
  rm -rf "$tmp"
}

# The dynwalk CLI (host build): it writes the descriptions with the runtime crate's own
# encoder (`dynwalk describe`), and goes into the guest for scenario s11_cli.
DWBIN=$ROOT/target/debug/dynwalk
build_cli() {
  local cargo
  cargo=$(command -v cargo || echo "${HOME:-/root}/.cargo/bin/cargo")
  (cd "$ROOT" && "$cargo" build -q -p dynwalk)
}

# m OUT NAME MODULE FUNCS...: one description file.
m() {
  local out=$1
  shift
  "$DWBIN" describe --out "$out" "$@" >/dev/null
}

# Descriptions for the scenarios.
make_descs() {
  local d=$1/descs
  mkdir -p "$d"
  m "$d/cmdline1.bin" cmdline1 dwt_update cmdline_proc_show=cmdline_proc_show_v2
  m "$d/badbytes.bin" badbytes dwt_update cmdline_proc_show=cmdline_proc_show_v2,expect=e900000000
  m "$d/unknown.bin" unknown dwt_update no_such_function_xyz=cmdline_proc_show_v2
  m "$d/unregistered.bin" unregistered dwt_update cmdline_proc_show=nope_v9
  m "$d/jmpftrace.bin" jmpftrace dwt_update cmdline_proc_show=cmdline_proc_show_v2,method=jmp
  head -c 40 "$d/cmdline1.bin" >"$d/truncated.bin"
  m "$d/value2.bin" value2 dwt_update dwt_value=dwt_value_v2
  m "$d/value3.bin" value3 dwt_update dwt_value=dwt_value_v3
  m "$d/value4.bin" value4 dwt_update dwt_value=dwt_value_v4,policy=pred
  m "$d/sleepy.bin" sleepy dwt_update dwt_sleepy=dwt_sleepy_v2
  m "$d/spin.bin" spin dwt_update dwt_spin=dwt_spin_v2
  m "$d/obj.bin" obj dwt_update dwt_obj_use=dwt_obj_use_v2,group=1 \
    dwt_obj_release=dwt_obj_release_v2,group=1
  m "$d/group.bin" group dwt_update dwt_group_a=dwt_group_a_v2,group=1 \
    dwt_group_b=dwt_group_b_v2,group=1
  m "$d/groupbad.bin" groupbad dwt_update dwt_group_a=dwt_group_a_v2,group=1 \
    dwt_group_b=dwt_group_b_missing,group=1
  m "$d/groupbench.bin" groupbench dwt_update dwt_value=dwt_value_v2,group=2 \
    dwt_bench=dwt_bench_v2,group=2
  m "$d/cold.bin" cold dwt_cold dwt_value=dwt_value_split
  m "$d/self.bin" self dwt_update dw_select=dwu_select_v2,method=jmp
  m "$d/bench.bin" bench dwt_update dwt_bench=dwt_bench_v2
  m "$d/benchraw.bin" benchraw dwt_update dwt_bench=dwt_bench_raw
  # Description version 2: 20 functions (version 1 carries 16), each a static `*_show`
  # that two files of the guest kernel define, told apart by sympos; a position past the
  # last; and a version from the future, refused as a version-1 runtime refuses 2.
  local args=() n
  for n in active_show address_show align_show base_show branches_show brightness_show \
    control_show defrag_show description_show devtype_show; do
    args+=("$n=cmdline_proc_show_v2,sympos=1" "$n=cmdline_proc_show_v2,sympos=2")
  done
  m "$d/many.bin" many dwt_update "${args[@]}"
  [[ $(od -An -tu2 -j4 -N2 "$d/many.bin" | tr -d ' ') == 2 ]] || die "many.bin is not a version-2 description"
  m "$d/pastpos.bin" pastpos dwt_update align_show=cmdline_proc_show_v2,sympos=3
  cp "$d/cmdline1.bin" "$d/future.bin"
  printf '\003' | dd of="$d/future.bin" bs=1 seek=4 conv=notrunc status=none
}

make_initramfs() {
  local root=$WORK/root
  rm -rf "$root"
  mkdir -p "$root"/{bin,lib,proc,sys,dev,tmp,scenarios}
  cp /bin/busybox "$root/bin/busybox"
  cp "$KMOD"/build/{dynwalk,dwt_target,dwt_update,dwt_cold}.ko "$root/lib/"
  cp "$HERE/init" "$root/init"
  cp "$HERE/lib.sh" "$root/lib.sh"
  mkdir -p "$root/etc"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >"$root/etc/passwd"
  echo 'nogroup:x:65534:' >"$root/etc/group"
  cp "$HERE"/scenarios/*.sh "$root/scenarios/"
  [[ -f $WORK/nocrc/dwt_nocrc.ko ]] && cp "$WORK/nocrc/dwt_nocrc.ko" "$root/lib/"
  if [[ -d $WORK/updates ]]; then
    local u
    for u in "$WORK"/updates/*/; do
      [[ -f $u/update.desc ]] || continue
      mkdir -p "$root/updates/$(basename "$u")"
      cp "$u"/*.ko "$u/update.desc" "$u/manifest.json" "$root/updates/$(basename "$u")/"
    done
  fi
  chmod +x "$root/init"
  make_descs "$root"
  # The CLI and the shared libraries it needs (the guest has no libc of its own).
  strip -o "$root/bin/dynwalk" "$DWBIN"
  local lib
  for lib in $(ldd "$DWBIN" | awk '/=>/ {print $3} /^[[:space:]]*\/lib.*ld-linux/ {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.gz"
}

# One boot; the verdict comes from the console log.
run_scenario() {
  local name=$1 limit=${DW_LIMIT:-180} logf=$WORK/logs/$1.log
  [[ $name == s7_stress ]] && limit=420
  timeout --foreground -k 5 "$limit" qemu-system-x86_64 -accel "tcg,thread=${DW_TCG_THREAD:-single}" -cpu max -smp 2 -m 512 \
    -kernel "$VMLINUZ" -initrd "$WORK/initramfs.gz" -nographic -no-reboot -monitor none \
    -append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 quiet loglevel=7 dw.scenario=$name" \
    </dev/null >"$logf" 2>&1 || true
  tr -d '\r' <"$logf" >"$logf.tmp" && mv "$logf.tmp" "$logf"
  local bad
  bad=$(grep -aE 'BUG:|WARNING:|Oops|Call Trace|ftrace bug|Kernel panic|Rust runtime panicked' "$logf" | head -1 || true)
  if [[ -n $bad ]]; then
    echo "FAIL $name: kernel: $bad"
  elif grep -aq "^DW-FAIL" "$logf"; then
    echo "FAIL $name: $(grep -a '^DW-FAIL' "$logf" | head -1)"
  elif ! grep -aq "^DW-END $name rc=0" "$logf"; then
    echo "FAIL $name: no clean end (timeout or crash), see $logf"
  else
    echo "PASS $name"
    return 0
  fi
  return 1
}

# The guest kernel's symbols (its /proc/kallsyms), for `dynwalk update --kallsyms`:
# captured once per kernel version by one boot, cached beside vmlinuz.
KALLSYMS=
capture_kallsyms() {
  KALLSYMS=$CACHE/kallsyms-$KVER
  [[ -s $KALLSYMS ]] && return
  log "capturing the guest kernel's kallsyms"
  run_scenario kallsyms >/dev/null || die "the kallsyms boot failed: see $WORK/logs/kallsyms.log"
  local want
  want=$(sed -n 's/^DW-KALLSYMS-BEGIN \([0-9]*\)$/\1/p' "$WORK/logs/kallsyms.log")
  sed -n '/^DW-KALLSYMS-BEGIN/,/^DW-KALLSYMS-END/p' "$WORK/logs/kallsyms.log" | sed '1d;$d' |
    base64 -d | gunzip >"$KALLSYMS.tmp" || die "cannot decode the guest's kallsyms"
  [[ $(wc -l <"$KALLSYMS.tmp") == "$want" ]] || die "kallsyms: got $(wc -l <"$KALLSYMS.tmp") lines, the guest counted $want"
  mv "$KALLSYMS.tmp" "$KALLSYMS"
}

# Every walker case: `dynwalk update` from the patch, against Debian's 6.1 source tree
# (scripts/fetch-corpora.sh), the guest kernel's headers and its captured kallsyms.
make_updates() {
  local tree=$CACHE/linux-6.1 p name
  [[ -f $tree/.unpacked ]] || die "no 6.1 tree at $tree (run scripts/fetch-corpora.sh)"
  mkdir -p "$WORK/updates"
  for p in "${UPDATES[@]}"; do
    name=${p//-/_}
    log "dynwalk update $p"
    update_one "$tree" "$ROOT/corpora/patches/linux-6.1/$p.diff" "$name"
  done
  # Case 6, a real fix of Debian's series: module-disable-matching-missing-version-crc
  # (fail closed on a missing symbol CRC). The guest kernel carries it, so one update
  # takes it out (the reverse patch, on the tree as it is) and a second applies Debian's
  # patch itself on the tree without it (a hard-link copy with that one file reverted).
  local fix=$CACHE/debsrc/debian/patches/bugfix/all/module-disable-matching-missing-version-crc.patch
  [[ -f $fix ]] || die "no Debian series at $CACHE/debsrc (run scripts/fetch-corpora.sh)"
  update_one "$tree" "$ROOT/corpora/patches/linux-6.1/module-crc-unfix.diff" module_crc_unfix
  local unfixed=$WORK/tree-unfixed
  rm -rf "$unfixed"
  cp -al "$tree" "$unfixed"
  rm "$unfixed/kernel/module/version.c"
  patch -s -p1 -R -o "$unfixed/kernel/module/version.c" "$tree/kernel/module/version.c" < "$fix" ||
    die "Debian's fix does not reverse on $tree"
  update_one "$unfixed" "$fix" module_crc_fix
  # The module that needs the fix's decision: built without the runtime's symbol versions.
  mkdir -p "$WORK/nocrc"
  cp "$KMOD"/test/nocrc/* "$WORK/nocrc/"
  make -s -C "/lib/modules/$KVER/build" M="$WORK/nocrc" KBUILD_MODPOST_WARN=1 modules >&2 2>/dev/null ||
    die "cannot build dwt_nocrc"
}

# update_one TREE PATCH NAME: `dynwalk update` into $WORK/updates/NAME.
update_one() {
  "$DWBIN" update --from "$1" --patch "$2" --name "$3" \
    -o "$WORK/updates/$3" --kdir "/lib/modules/$KVER/build" --kallsyms "$KALLSYMS" \
    --runtime-symvers "$KMOD/build/Module.symvers" --vmlinux "$VMLINUX" >&2 || die "dynwalk update $2 failed"
}

# The guest kernel's image as an ELF (for jump sites of notrace functions), taken out
# of vmlinuz by the tree's own scripts/extract-vmlinux.
VMLINUX=
extract_vmlinux() {
  VMLINUX=$WORK/vmlinux-$KVER
  [[ -s $VMLINUX ]] && return
  bash "$CACHE/linux-6.1/scripts/extract-vmlinux" "$VMLINUZ" >"$VMLINUX.tmp" ||
    die "cannot extract vmlinux from $VMLINUZ"
  mv "$VMLINUX.tmp" "$VMLINUX"
}

main() {
  local names=("$@") pass=0 fail=0 n
  ((${#names[@]})) || names=("${ALL[@]}")
  "$KMOD/build.sh"
  KVER=$(cat "$KMOD/build/KVER")
  install_guest_tools
  build_cli
  fetch_vmlinuz
  mkdir -p "$WORK/logs"
  make_initramfs
  capture_kallsyms
  if printf '%s\n' "${names[@]}" | grep -q '^w'; then
    extract_vmlinux
    make_updates
    make_initramfs
  fi
  for n in "${names[@]}"; do
    [[ -f $HERE/scenarios/$n.sh ]] || die "no scenario $n"
    if run_scenario "$n"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    grep -a 'dwt: OVERHEAD' "$WORK/logs/$n.log" | sed 's/^.*OVERHEAD/OVERHEAD/' | awk '!seen[$0]++' || true
  done
  echo "$pass passed, $fail failed"
  ((fail == 0))
}

main "$@"
