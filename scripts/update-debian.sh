#!/usr/bin/env bash
# update-debian.sh [--limit N] [--sample K] [--out FILE]
#
# The walker's automatic rate: Debian's linux 6.1.176-1 series (165 real patches), in
# order, on a work copy of the pristine 6.1.176 tree. For each patch, `dynwalk update`
# against the tree as it is just before that patch: plan, generate, kbuild against the
# guest kernel's headers (Debian's linux-headers-$KVER), lower against the guest kernel's
# captured kallsyms. Then `patch -p1` moves the tree on.
#
# What it measures: how many patches become an update module that builds and passes the
# lowering checks, and for the rest the refusal (its DW code) or the failing stage. The
# target headers and symbols are those of the guest kernel ($KVER, a later 6.1 than the
# series' base): a real deployment builds against the running kernel's own; the modules
# are not loaded here (the guest kernel already carries this series).
#
# --sample K runs every K-th patch that changes a .c file (for CI); the tree still moves
# through every patch. Writes one line per patch to FILE (default
# $CACHE/update-debian/results.tsv) and a summary to stdout. Exit 0 unless a run ends in
# a panic or an undocumented exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk"
SRC="$CACHE/debsrc"
limit=100000
sample=1
out="$CACHE/update-debian/results.tsv"
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --sample) sample="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: update-debian.sh [--limit N] [--sample K] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -f "$SRC/debian/patches/series" ] && [ -d "$SRC/linux-6.1.176" ] || bash scripts/fetch-corpora.sh
KVER=$(cat kmod/build/KVER 2>/dev/null || true)
KALLSYMS="$CACHE/kallsyms-$KVER"
if [ -z "$KVER" ] || [ ! -s "$KALLSYMS" ] || [ ! -f kmod/build/Module.symvers ]; then
  echo "update-debian: needs the runtime build and the guest's kallsyms: run kmod/guest/run-suite.sh w1_proc_show first" >&2
  exit 3
fi
KDIR="/lib/modules/$KVER/build"

cargo build -q --release -p dynwalk
BIN="$PWD/target/release/dynwalk"
WORK="$CACHE/update-debian"
mkdir -p "$WORK" "$(dirname "$out")"
rm -rf "$WORK/tree" "$WORK/upd"
mkdir -p "$WORK/upd"
echo "update-debian: copying the pristine 6.1.176 tree"
cp -a "$SRC/linux-6.1.176" "$WORK/tree"
PATCHES="$SRC/debian/patches"
# The guest kernel's image, for the jump sites of notrace functions.
VMLINUX="$WORK/vmlinux-$KVER"
if [ ! -s "$VMLINUX" ]; then
  [ -s "$CACHE/vmlinuz-$KVER" ] || { echo "update-debian: no $CACHE/vmlinuz-$KVER (run kmod/guest/run-suite.sh first)" >&2; exit 3; }
  bash "$WORK/tree/scripts/extract-vmlinux" "$CACHE/vmlinuz-$KVER" > "$VMLINUX.tmp" && mv "$VMLINUX.tmp" "$VMLINUX"
fi
echo "update-debian: indexing the tree"
"$BIN" index "$WORK/tree" --config "$KDIR/.config" --cache-dir "$WORK/cache" | tail -1
printf 'n\tpatch\texit\tseconds\tresult\tfunctions\tdetail\n' > "$out"

n=0 c_patches=0 ran=0 built=0 bad=0
while read -r p; do
  p="${p%%#*}"; p="$(echo "$p" | xargs)"
  [ -n "$p" ] || continue
  n=$((n + 1))
  [ "$n" -le "$limit" ] || break
  if grep -qE '^\+\+\+ .*\.c(\s|$)' "$PATCHES/$p"; then
    c_patches=$((c_patches + 1))
    if [ $(( (c_patches - 1) % sample )) -eq 0 ]; then
      ran=$((ran + 1))
      o="$WORK/upd/$n" log="$WORK/upd/$n.log"
      t0=$(date +%s.%N)
      set +e
      "$BIN" update --fuzz --from "$WORK/tree" --patch "$PATCHES/$p" --name "p$n" -o "$o" \
        --kdir "$KDIR" --kallsyms "$KALLSYMS" --runtime-symvers kmod/build/Module.symvers --vmlinux "$VMLINUX" \
        --cache-dir "$WORK/cache" > "$log" 2>&1
      code=$?
      set -e
      secs=$(echo "$(date +%s.%N) - $t0" | bc)
      funcs=$(sed -n 's/.*: \([0-9]*\) function(s).*/\1/p' "$log" | head -1)
      case "$code" in
        0) result=built; built=$((built + 1)); detail="" ;;
        13) result=refused; detail=$(grep -oE '^DW[0-9]{4}' "$log" | sort | uniq -c | awk '{printf "%s%s(%d)", sep, $2, $1; sep=","}')
            # The plan replaces no function: the patch needs no live update at all.
            [ "$detail" = "DW3000(1)" ] && result=no-code-change ;;
        9) result=kbuild-failed; detail=$(grep -m1 -E 'error:' "$log" | cut -c1-160) ;;
        1|3|6|7) result="plan-exit-$code"; detail=$(grep -m1 -E 'error' "$log" | cut -c1-160) ;;
        *) result="crash-$code"; bad=$((bad + 1)); detail=$(tail -2 "$log" | tr '\n' ' ' | cut -c1-160)
           echo "update-debian: FAIL $p: exit $code" >&2 ;;
      esac
      printf '%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n' "$n" "$p" "$code" "$secs" "$result" "${funcs:-}" "$detail" >> "$out"
    fi
  fi
  (cd "$WORK/tree" && patch -p1 -s -N < "$PATCHES/$p" >/dev/null) || {
    echo "update-debian: patch(1) cannot apply $p: the series is out of order?" >&2; exit 3; }
done < "$PATCHES/series"

echo "update-debian: $n patches, $c_patches change .c files, $ran run: $built built and lowered"
awk -F'\t' 'NR > 1 { r[$5]++ } END { for (k in r) printf "update-debian:   %-16s %d\n", k, r[k] }' "$out" | sort
awk -F'\t' 'NR > 1 && $5 == "refused" { n = split($7, a, ","); for (i = 1; i <= n; i++) { sub(/\(.*/, "", a[i]); c[a[i]]++ } }
  END { for (k in c) printf "update-debian:   refusal %s in %d patch(es)\n", k, c[k] }' "$out" | sort
awk -F'\t' 'NR > 1 && $4 != "" { s += $4; if ($4 > m) m = $4 } END { if (NR > 1) printf "update-debian: %.1f s in all, %.2f s per patch, slowest %.2f s; table in '"$out"'\n", s, s / (NR - 1), m }' "$out"
[ "$bad" -eq 0 ]
