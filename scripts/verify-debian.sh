#!/usr/bin/env bash
# Evaluates `dynwalk verify` on Debian's 6.1.176 patch series (docs/verify.md): walks the
# series in order on a work copy of the pristine tree; every patch that changes C code
# (.c/.h outside tools/, Documentation/, scripts/ and other architectures) is verified
# against the tree as it is just before that patch, then applied. Writes a table and the
# totals (recall, precision) to stdout and to $OUT (default: verify-debian-results.md).
#
#   scripts/verify-debian.sh [MAX_VERIFIED]     (default 40; 0 = every patch)
#   ONLY="29 43" scripts/verify-debian.sh 0     (verify only these series positions)
#
# Patches that change more than $MAX_C_FILES (default 12) .c files are applied but not
# verified (the firmware-message patch touches 144 drivers); they are listed as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX="${1:-40}"
MAX_C_FILES="${MAX_C_FILES:-12}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk"
SRC="$CACHE/debsrc"
CONFIG="${CONFIG:-$(ls /lib/modules/*/build/.config 2>/dev/null | sort | tail -1)}"
OUT="${OUT:-verify-debian-results.md}"
WORK="$CACHE/verify-eval/linux-6.1.176"
bash scripts/fetch-corpora.sh >/dev/null
[ -f "$CONFIG" ] || { echo "verify-debian: no Debian .config (linux-headers-amd64)" >&2; exit 3; }
cargo build -q --release -p dynwalk
BIN="$PWD/target/release/dynwalk"

# A fresh work copy, with new file times (so make rebuilds whatever an earlier run left).
rm -rf "$WORK"
mkdir -p "$(dirname "$WORK")"
cp -r "$SRC/linux-6.1.176" "$WORK"
RES="$(mktemp -d)"
trap 'rm -rf "$RES"' EXIT

printf '| # | patch | objects | changed fns | covered | plan items | changed plan items | misses | over-approx | exit |\n|---|---|---|---|---|---|---|---|---|---|\n' > "$RES/table"
verified=0
i=0
while read -r p; do
  case "$p" in ''|'#'*) continue ;; esac
  i=$((i + 1))
  P="$SRC/debian/patches/$p"
  files="$(grep -E '^\+\+\+ ' "$P" | awk '{print $2}' | sed 's|^[^/]*/||' || true)"
  code="$(echo "$files" | grep -E '\.(c|h)$' | grep -vE '^(tools|Documentation|scripts|samples)/' | grep -vE '^arch/' || true)"
  code="$code$(echo "$files" | grep -E '^arch/x86/.*\.(c|h)$' || true)"
  nc="$(echo "$files" | grep -cE '\.c$' || true)"
  wanted=1
  if [ -n "${ONLY:-}" ]; then case " $ONLY " in *" $i "*) ;; *) wanted=0 ;; esac; fi
  if [ -n "$code" ] && [ "$wanted" = 1 ] && { [ "$MAX" = 0 ] || [ "$verified" -lt "$MAX" ]; }; then
    if [ "$nc" -gt "$MAX_C_FILES" ]; then
      echo "| $i | $p | skipped: $nc .c files | | | | | | | |" >> "$RES/table"
      echo "$i $p" >> "$RES/skipped"
    else
      rc=0
      "$BIN" verify --from "$WORK" --patch "$P" --fuzz --config "$CONFIG" --format json > "$RES/$i.json" 2> "$RES/$i.err" || rc=$?
      python3 - "$RES/$i.json" "$i" "$p" "$rc" "$RES" >> "$RES/table" <<'PY'
import json, sys
path, i, p, rc, res = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception:
    err = open(path.replace('.json', '.err')).read().strip().splitlines()
    print(f"| {i} | {p} | error: {(err[-1] if err else '?')[:100]} | | | | | | | {rc} |")
    with open(f"{res}/errored", "a") as f:
        f.write(f"{i} {p} exit {rc}\n")
    sys.exit(0)
c = r["comparison"]["counts"]
objs = sum(1 for o in r["objects"] if o["status"] == "compared")
m = r["comparison"]["misses"]; v = r["comparison"]["over_approximations"]
print(f"| {i} | {p} | {objs} | {c['changed']} | {c['covered']} | {c['plan_items']} | {c['plan_items_changed']} | {len(m)} | {len(v)} | {rc} |")
with open(f"{res}/details", "a") as f:
    for x in m:
        f.write(f"- miss ({p}): `{x['function']}` in {x['source']}: {x['reason']}\n")
    for x in v:
        f.write(f"- over-approximation ({p}): {x['item']} `{x['function']}` ({x['file']}): {x['reason']}\n")
    if objs:
        with open(f"{res}/counted", "a") as g:
            g.write(json.dumps(c) + "\n")
PY
      verified=$((verified + 1))
    fi
    tail -1 "$RES/table"
  fi
  patch -p1 -s -d "$WORK" < "$P"
done < "$SRC/debian/patches/series"

python3 - "$RES" > "$RES/totals" <<'PY'
import json, sys, os
res = sys.argv[1]
rows = [json.loads(l) for l in open(f"{res}/counted")] if os.path.exists(f"{res}/counted") else []
ch = sum(r["changed"] for r in rows); cov = sum(r["covered"] for r in rows)
pi = sum(r["plan_items"] for r in rows); pic = sum(r["plan_items_changed"] for r in rows)
rec = cov / ch if ch else 1.0; pre = pic / pi if pi else 1.0
lines = lambda n: [l for l in open(f"{res}/{n}")] if os.path.exists(f"{res}/{n}") else []
errored, skipped = lines("errored"), lines("skipped")
print(f"patches with compiled objects: {len(rows)}")
# The totals below count only those; every patch left out is counted here, not hidden.
print(f"patches that errored (no comparison): {len(errored)}")
print(f"patches skipped (too many .c files): {len(skipped)}")
print(f"recall: {cov}/{ch} = {rec:.3f}")
print(f"precision: {pic}/{pi} = {pre:.3f}")
PY
{
  echo "# dynwalk verify on Debian's 6.1.176 series"
  echo
  echo "config: $CONFIG; $(gcc --version | head -1)"
  echo
  cat "$RES/table"
  echo
  cat "$RES/totals"
  echo
  [ -f "$RES/details" ] && cat "$RES/details"
} > "$OUT"
cat "$RES/totals"
echo "verify-debian: results in $OUT"
