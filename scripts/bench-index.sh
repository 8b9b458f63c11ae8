#!/usr/bin/env bash
# Benchmark: `dynwalk index` on the whole Debian 6.1 tree, side by side with gtags,
# Universal ctags and cscope in the same run. Prints wall time and peak RSS of each, and
# the ratios. Not a test: it prints figures.
#   scripts/bench-index.sh [tree]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-corpora.sh >/dev/null
TREE="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk/linux-6.1}"
APT="apt-get -o DPkg::Lock::Timeout=600 -y -q"
need=()
command -v gtags >/dev/null || need+=(global)
command -v ctags >/dev/null || need+=(universal-ctags)
command -v cscope >/dev/null || need+=(cscope)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  $APT update >/dev/null
  DEBIAN_FRONTEND=noninteractive $APT install --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p dynwalk
DW="$PWD/target/release/dynwalk"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# measure NAME CMD...: runs CMD under /usr/bin/time, records "NAME seconds kB".
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
    echo "$name failed:"; tail -5 "$WORK/$name.err"; exit 1; }
  read -r secs kb < "$WORK/$name.time"
  printf '%-26s %9.1f s %9.0f MB\n' "$name" "$secs" "$((kb / 1024))"
  echo "$name $secs $kb" >> "$WORK/results"
}

echo "tree: $TREE ($(find "$TREE" -name '*.[ch]' | wc -l) .c/.h files), $(nproc) cores"
sync; cat "$TREE/Makefile" >/dev/null
# Warm the page cache once so every tool reads from memory.
find "$TREE" -name '*.[ch]' -print0 | xargs -0 cat > /dev/null
mkdir -p "$WORK/gtags"
measure gtags bash -c "cd '$TREE' && gtags '$WORK/gtags'"
measure ctags ctags -R -f "$WORK/tags" "$TREE"
measure cscope bash -c "cd '$TREE' && cscope -b -q -k -R -f '$WORK/cscope.out'"
measure dynwalk-cold "$DW" index "$TREE" --cache-dir "$WORK/dwcache" --format json
measure dynwalk-cached "$DW" index "$TREE" --cache-dir "$WORK/dwcache" --format json
echo
echo "dynwalk cold run: $(grep -o '"parsed_files": [0-9]*' "$WORK/dynwalk-cold.out"), cached run: $(grep -o '"parsed_files": [0-9]*' "$WORK/dynwalk-cached.out")"
awk '{t[$1]=$2; m[$1]=$3} END {
  printf "ratios (dynwalk cold / peer): time gtags %.2f, ctags %.2f, cscope %.2f; RSS gtags %.1f, ctags %.2f, cscope %.2f\n",
    t["dynwalk-cold"]/t["gtags"], t["dynwalk-cold"]/t["ctags"], t["dynwalk-cold"]/t["cscope"],
    m["dynwalk-cold"]/m["gtags"], m["dynwalk-cold"]/m["ctags"], m["dynwalk-cold"]/m["cscope"];
  printf "cached re-run: %.2f s (goal <= 2 s); cold peak RSS %.0f MB (goal <= 1024 MB)\n", t["dynwalk-cached"], m["dynwalk-cold"]/1024 }' "$WORK/results"
