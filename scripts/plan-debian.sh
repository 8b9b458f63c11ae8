#!/usr/bin/env bash
# plan-debian.sh [--limit N] [--out FILE]
#
# The test-data job of `dynwalk plan`: Debian's linux 6.1.176-1 source package ships
# 165 real patches for the pristine 6.1.176 tree (debian/patches/series). This walks the
# series in order on a work copy of the pristine tree: for each patch, `dynwalk plan`
# against the tree as it is just before that patch (Debian's .config), then `patch -p1`
# to move the tree on. Hunks may move and fuzz as patch(1) and quilt allow (--fuzz; the
# offsets are in the JSON). It fails if any plan panics or ends with an exit code other than
# 0 (plan without error hazards) or 1 (plan with error hazards); a patch that patch(1)
# applies but dynwalk refuses (6, 7) is a failure too.
#
# Writes one line per patch (exit code, seconds, changed functions, redirections,
# clones, never-quiescent, hazards, files loaded) to FILE (default:
# $CACHE/plan-debian/results.tsv) and a summary to stdout.
# Inputs come from scripts/fetch-corpora.sh (run first if they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk"
SRC="$CACHE/debsrc"
limit=100000
out="$CACHE/plan-debian/results.tsv"
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: plan-debian.sh [--limit N] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -f "$SRC/debian/patches/series" ] && [ -d "$SRC/linux-6.1.176" ] || bash scripts/fetch-corpora.sh
[ -f "$SRC/debian/patches/series" ] || { echo "plan-debian: no Debian source package at $SRC" >&2; exit 3; }
KVER=$(ls /lib/modules | sort -V | tail -1)
CONFIG="/lib/modules/$KVER/build/.config"
[ -f "$CONFIG" ] || { echo "plan-debian: no Debian .config at $CONFIG" >&2; exit 3; }

cargo build -q --release -p dynwalk
BIN="$PWD/target/release/dynwalk"
WORK="$CACHE/plan-debian"
mkdir -p "$WORK" "$(dirname "$out")"
rm -rf "$WORK/tree"
echo "plan-debian: copying the pristine 6.1.176 tree"
cp -a "$SRC/linux-6.1.176" "$WORK/tree"
PATCHES="$SRC/debian/patches"
# Index the tree once: each plan then reads the facts of unchanged files from the cache
# and parses only what the patches before it touched (the warm path).
echo "plan-debian: indexing the tree"
"$BIN" index "$WORK/tree" --config "$CONFIG" --cache-dir "$WORK/cache" | tail -1
printf 'n\tpatch\texit\tseconds\tchanged_fns\tredirections\tclones\tnever_quiescent\thazards\tloaded_files\n' > "$out"

n=0 fails=0 planned=0 hazards=0
while read -r p; do
  p="${p%%#*}"; p="$(echo "$p" | xargs)"
  [ -n "$p" ] || continue
  n=$((n + 1))
  [ "$n" -le "$limit" ] || break
  json="$WORK/plan.json" err="$WORK/plan.err"
  t0=$(date +%s.%N)
  set +e
  "$BIN" plan --fuzz --from "$WORK/tree" --patch "$PATCHES/$p" --config "$CONFIG" --format json --stats \
    --cache-dir "$WORK/cache" > "$json" 2> "$err"
  code=$?
  set -e
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  fields=$(python3 - "$json" "$err" <<'EOF'
import json, sys
try:
    v = json.load(open(sys.argv[1]))["plan"]
except Exception:
    print("-\t-\t-\t-\t-\t-"); sys.exit()
loaded = "-"
for line in open(sys.argv[2]):
    if line.startswith("stats: "):
        loaded = json.loads(line[7:])["stats"]["loaded_files"]
c = v["changes"]["functions"]
print("\t".join(str(x) for x in [len(c), len(v["redirections"]), len(v["clones"]),
      len(v["quiescence"]["never_quiescent"]), len(v["hazards"]), loaded]))
EOF
)
  printf '%s\t%s\t%s\t%.2f\t%s\n' "$n" "$p" "$code" "$secs" "$fields" >> "$out"
  # A plan whose JSON does not parse is not a plan, whatever the exit code says.
  if [ "${fields%%	*}" = "-" ] && { [ "$code" = 0 ] || [ "$code" = 1 ]; }; then
    code="json"
  fi
  case "$code" in
    0) planned=$((planned + 1)) ;;
    1) planned=$((planned + 1)); hazards=$((hazards + 1)) ;;
    json) fails=$((fails + 1)); echo "plan-debian: FAIL $p: the plan is not valid JSON" >&2 ;;
    *) fails=$((fails + 1)); echo "plan-debian: FAIL $p: exit $code: $(tail -3 "$err")" >&2 ;;
  esac
  (cd "$WORK/tree" && patch -p1 -s -N < "$PATCHES/$p" >/dev/null) || {
    echo "plan-debian: patch(1) cannot apply $p: the series is out of order?" >&2; exit 3; }
done < "$PATCHES/series"

echo "plan-debian: $n patches: $planned planned ($hazards with error hazards), $fails failed; table in $out"
awk -F'\t' 'NR > 1 && $4 != "" { s += $4; if ($4 > m) m = $4 } END { printf "plan-debian: %.1f s in all, %.2f s per patch, slowest %.2f s\n", s, s / (NR - 1), m }' "$out"
[ "$fails" -eq 0 ]
