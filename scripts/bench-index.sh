#!/usr/bin/env bash
# Benchmark: `dynwalk index` on the whole Debian 6.1 tree, side by side with gtags,
# Universal ctags and cscope in the same run, on the same files. Not a test: it prints
# figures.
#   scripts/bench-index.sh [tree]
#
# Same work for every tool: the list of files dynwalk indexes (every regular `.c`/`.h`
# file, hidden folders skipped, symbolic links not followed) is made once with find and
# fed to each peer: `gtags -f LIST`, `ctags -L LIST` (C parser for .h as well),
# `cscope -b -k -i LIST` (the cross-reference only: no `-q` inverted index, which
# dynwalk does not build either). dynwalk walks the tree itself; the script checks that
# it indexed as many files as the list holds.
# Same state for every tool: before each measured command the page cache is dropped
# (`echo 3 > /proc/sys/vm/drop_caches`, root), or, where that is refused, every listed
# file is read so that each command starts on a warm cache; the output says which.
# For each: wall time, CPU time (user+sys, all threads: dynwalk parses on every core,
# the peers use one) and peak RSS; ratios of dynwalk to each peer for wall and for CPU.
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
DW="${CARGO_TARGET_DIR:-$PWD/target}/release/dynwalk"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
LIST="$WORK/files.txt"
(cd "$TREE" && find . -mindepth 1 -name '.*' -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print |
  sed 's|^\./||' | LC_ALL=C sort) > "$LIST"

. scripts/bench-lib.sh
read_list() { (cd "$TREE" && tr '\n' '\0' < "$LIST" | xargs -0 cat); }
settle() { settle_pages read_list; }

# measure NAME CMD...: settles the page cache, runs CMD under /usr/bin/time, records
# "NAME wall cpu kB".
measure() {
  local name="$1"; shift
  settle
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
    echo "$name failed:"; tail -5 "$WORK/$name.err"; exit 1; }
  read -r wall user sys kb < "$WORK/$name.time"
  cpu=$(echo "$user + $sys" | bc)
  printf '%-16s wall %8.2f s   cpu %8.2f s   peak RSS %6d MB\n' "$name" "$wall" "$cpu" "$((kb / 1024))"
  echo "$name $wall $cpu $kb" >> "$WORK/results"
}

echo "tree: $TREE ($(wc -l < "$LIST") .c/.h files in the list), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$WORK/gtags"
measure gtags bash -c "cd '$TREE' && exec gtags -f '$LIST' '$WORK/gtags'"
measure ctags bash -c "cd '$TREE' && exec ctags --languages=C --langmap=C:.c.h -L '$LIST' -f '$WORK/tags'"
measure cscope bash -c "cd '$TREE' && exec cscope -b -k -i '$LIST' -f '$WORK/cscope.out'"
measure dynwalk-cold "$DW" index "$TREE" --cache-dir "$WORK/dwcache" --format json
measure dynwalk-cached "$DW" index "$TREE" --cache-dir "$WORK/dwcache" --format json
echo "page cache: $PAGES"
echo
parsed=$(grep -o '"parsed_files": [0-9]*' "$WORK/dynwalk-cold.out" | grep -o '[0-9]*$')
echo "dynwalk cold run parsed $parsed files (list: $(wc -l < "$LIST")), cached run: $(grep -o '"parsed_files": [0-9]*' "$WORK/dynwalk-cached.out")"
[ "$parsed" -eq "$(wc -l < "$LIST")" ] || echo "bench-index: dynwalk and the peers did not index the same number of files" >&2
awk '{w[$1]=$2; c[$1]=$3; m[$1]=$4} END {
  d = "dynwalk-cold"
  printf "ratios dynwalk cold / peer, wall: gtags %.2f, ctags %.2f, cscope %.2f\n", w[d]/w["gtags"], w[d]/w["ctags"], w[d]/w["cscope"]
  printf "ratios dynwalk cold / peer, CPU:  gtags %.2f, ctags %.2f, cscope %.2f\n", c[d]/c["gtags"], c[d]/c["ctags"], c[d]/c["cscope"]
  printf "ratios dynwalk cold / peer, RSS:  gtags %.1f, ctags %.2f, cscope %.2f\n", m[d]/m["gtags"], m[d]/m["ctags"], m[d]/m["cscope"]
  printf "cached re-run: %.2f s wall (goal <= 2 s); cold peak RSS %.0f MB (goal <= 1024 MB)\n", w["dynwalk-cached"], m[d]/1024 }' "$WORK/results"
