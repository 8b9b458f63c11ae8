#!/usr/bin/env bash
# bench-update.sh [--kernel-build SECONDS] [PATCH]
#
# Time of `dynwalk update` for a one-function patch on Debian's 6.1 tree (default:
# corpora/patches/linux-6.1/proc-cmdline-marker.diff), cold and warm, beside a peer in
# the same run. Wall and CPU (user+sys) for each, from /usr/bin/time.
#
#   cold   no dynwalk cache (fresh --cache-dir), page cache dropped where root may
#          (otherwise warmed the same way before every command: said in the output)
#   warm   the same command again (facts and text index cached)
#   peer   the compile work of the object-diff approach (kpatch-build's second half):
#          `dynwalk verify` builds the objects the patch touches before and after with
#          kbuild, in a configured and prepared copy of the tree (that preparation is
#          cached, and timed apart on its first run). kpatch-build also builds the whole
#          kernel twice (its documented steps: base kernel, patched kernel); that part is
#          measured only with --kernel-build:
#   kernel   `make vmlinux` of the same tree, out of tree, with the target's .config
#          (olddefconfig; no signing key, no BTF), -j$(nproc), the first of kpatch-build's
#          builds (modules not built: a lower bound of it). Stopped after SECONDS: then its figures are lower
#          bounds and the output says so.
#
# Needs kmod/build (the runtime) and the guest kernel's kallsyms (run-suite.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk"
TREE="$CACHE/linux-6.1"
KBUILD_SECS=0
if [ "${1:-}" = "--kernel-build" ]; then
  KBUILD_SECS=$2
  shift 2
fi
PATCH="${1:-corpora/patches/linux-6.1/proc-cmdline-marker.diff}"
KVER=$(cat kmod/build/KVER)
KDIR="/lib/modules/$KVER/build"
KALLSYMS="$CACHE/kallsyms-$KVER"
[ -s "$KALLSYMS" ] || { echo "bench-update: run kmod/guest/run-suite.sh w1_proc_show first (kallsyms)" >&2; exit 3; }
command -v /usr/bin/time >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q time >/dev/null
cargo build -q --release -p dynwalk
BIN="$PWD/target/release/dynwalk"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

. scripts/bench-lib.sh
read_tree() { find "$TREE" -name '*.[ch]' -print0 | xargs -0 cat; }
settle() { settle_pages read_tree; }

# run LABEL CMD...: prints "LABEL wall W s, cpu C s".
run() {
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S" -o "$WORK/t" "$@" > "$WORK/out" 2>&1 || { cat "$WORK/out" >&2; exit 1; }
  read -r wall user sys < "$WORK/t"
  cpu=$(echo "$user + $sys" | bc)
  printf '%-34s wall %7.2f s   cpu %7.2f s\n' "$label" "$wall" "$cpu"
  echo "$wall $cpu" > "$WORK/last"
}

UPD=("$BIN" update --from "$TREE" --patch "$PATCH" -o "$WORK/upd" --kdir "$KDIR" --kallsyms "$KALLSYMS"
  --runtime-symvers kmod/build/Module.symvers --cache-dir "$WORK/cache")
# verify exits 10-12 when plan and code disagree: a comparison made, not a failure.
PEER=(bash -c '"$@"; rc=$?; [ $rc -eq 0 ] || [ $rc -ge 10 -a $rc -le 12 ]' _
  "$BIN" verify --from "$TREE" --patch "$PATCH" --config "$KDIR/.config" --format json)

echo "bench-update: $PATCH on $TREE, kernel $KVER, $(nproc) cores"
settle
run "dynwalk update, cold" "${UPD[@]}"
read -r cold_w cold_c < "$WORK/last"
settle
run "dynwalk update, warm" "${UPD[@]}"
read -r warm_w warm_c < "$WORK/last"
echo "page cache: $PAGES"

# The peer. Its tree preparation (olddefconfig + prepare) is cached by verify: run it
# once to fill that cache, timed, then the measured run.
run "peer: verify, first run (prepares)" "${PEER[@]}"
settle
run "peer: kbuild of the touched objects" "${PEER[@]}"
read -r peer_w peer_c < "$WORK/last"
printf 'ratio update/peer: cold wall %.2f, cpu %.2f; warm wall %.2f, cpu %.2f\n' \
  "$(echo "$cold_w / $peer_w" | bc -l)" "$(echo "$cold_c / $peer_c" | bc -l)" \
  "$(echo "$warm_w / $peer_w" | bc -l)" "$(echo "$warm_c / $peer_c" | bc -l)"
if [ "$KBUILD_SECS" -eq 0 ]; then
  echo "not measured: the two whole-kernel builds kpatch-build runs before its object diff (--kernel-build)"
  exit 0
fi
# The first whole-kernel build of kpatch-build: vmlinux, the target's configuration.
KB="$WORK/kbuild"
mkdir -p "$KB"
cp "$KDIR/.config" "$KB/.config"
# Debian's signing key is not in the source package, and BTF needs pahole: both off
# (the build only gets cheaper: still a lower bound). Debug info stays, as kpatch needs it.
printf '%s\n' 'CONFIG_MODULE_SIG_KEY=""' 'CONFIG_SYSTEM_REVOCATION_KEYS=""' \
  '# CONFIG_DEBUG_INFO_BTF is not set' >> "$KB/.config"
make -s -C "$TREE" O="$KB" olddefconfig > /dev/null
settle
set +e
/usr/bin/time -f "%e %U %S" -o "$WORK/t" timeout "$KBUILD_SECS" make -s -C "$TREE" O="$KB" -j"$(nproc)" vmlinux > "$WORK/out" 2>&1
rc=$?
set -e
read -r kw ku ks < <(tail -1 "$WORK/t")
kc=$(echo "$ku + $ks" | bc)
bound=""
if [ $rc -eq 124 ]; then
  bound=">= "
  echo "kernel build stopped after $KBUILD_SECS s: its figures are lower bounds"
elif [ $rc -ne 0 ]; then
  tail -20 "$WORK/out" >&2
  echo "bench-update: the kernel build failed" >&2
  exit 1
fi
printf '%-34s wall %s%7.2f s   cpu %s%7.2f s\n' "kernel: make vmlinux, -j$(nproc)" "$bound" "$kw" "$bound" "$kc"
printf 'ratio kernel build/update cold: wall %s%.0f, cpu %s%.0f\n' \
  "$bound" "$(echo "$kw / $cold_w" | bc -l)" "$bound" "$(echo "$kc / $cold_c" | bc -l)"
