#!/usr/bin/env bash
# bench-plan.sh [TREE]
#
# Benchmark of `dynwalk plan` on Debian's 6.1 tree (default: the one fetch-corpora.sh
# unpacks), for two one-function patches written here:
#   leaf: a change in the body of pipe_read (fs/pipe.c), reached through an ops table;
#   core: a change in schedule_timeout_interruptible (kernel/time/timer.c), called from
#         hundreds of places, with kernel threads sleeping in it.
# Each is planned
#   cold  — no cache at all: the text index is built, the files the plan needs are parsed;
#   text  — text index cached, no facts index: only the needed files are parsed;
#   warm  — text index and facts index cached (`dynwalk index` ran before);
# and, as peers in the same run, `grep -rlw NAME` over the tree's .c/.h files (a lexical
# search, the least any tool without an index does) and `dynwalk plan --whole-tree` with
# the facts index cached (how plan worked before scoped loading). Wall time, CPU time
# (user+sys, from GNU time) and peak RSS of each, then ratios. Timings are not asserted
# anywhere: this prints figures.
#
# Page cache: before every measured command (grep included) it is put in the same state:
# dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`, needs root), or, where that is
# refused, warmed by reading every .c/.h file of the tree. The output says which. So the
# grep peer and the cold plan both pay (or both skip) reading the tree from disk; "cold"
# and "warm" name dynwalk's own caches, not the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
TREE="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk/linux-6.1}"
[ -d "$TREE/kernel" ] || { echo "bench-plan: no kernel tree at $TREE (run scripts/fetch-corpora.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q install --no-install-recommends time >/dev/null
cargo build -q --release -p dynwalk
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/dynwalk"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT

mkpatch() { # name file anchor-line new-line-after
  local name=$1 file=$2 anchor=$3 add=$4
  mkdir -p "$W/a/$(dirname "$file")" "$W/b/$(dirname "$file")"
  cp "$TREE/$file" "$W/a/$file"
  python3 - "$TREE/$file" "$W/b/$file" "$anchor" "$add" <<'EOF'
import sys
src, dst, anchor, add = sys.argv[1:]
text = open(src, encoding="utf-8", errors="surrogateescape").read()
i = text.index(anchor)
j = text.index("\n", text.index("{", i)) + 1
open(dst, "w", encoding="utf-8", errors="surrogateescape").write(text[:j] + add + "\n" + text[j:])
EOF
  (cd "$W" && diff -u "a/$file" "b/$file" > "$W/$name.diff" || true)
}
mkpatch leaf fs/pipe.c "pipe_read(struct kiocb *iocb, struct iov_iter *to)" "	if (!iov_iter_count(to)) return 0;"
mkpatch core kernel/time/timer.c "signed long __sched schedule_timeout_interruptible(signed long timeout)" "	timeout = max(timeout, 0L);"

. scripts/bench-lib.sh
read_tree() { find "$TREE" -name '*.[ch]' -print0 | xargs -0 cat; }
settle() { settle_pages read_tree; }

measure() { # label command...
  local label=$1; shift
  settle
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" > "$W/out" 2> "$W/err" || [ $? -le 1 ] || { cat "$W/err" >&2; exit 1; }
  read -r secs user sys kb < "$W/time"
  cpu=$(echo "$user + $sys" | bc)
  printf '%-34s wall %8.2f s   cpu %8.2f s %8d MB\n' "$label" "$secs" "$cpu" $((kb / 1024))
  printf '%s\t%s\t%s\n' "$label" "$secs" "$cpu" >> "$W/figures"
}
fig() { awk -F'\t' -v l="$1" '$1 == l { v = $2 } END { print v }' "$W/figures"; }
cpu() { awk -F'\t' -v l="$1" '$1 == l { v = $3 } END { print v }' "$W/figures"; }

echo "tree: $TREE ($(find "$TREE" -name '*.[ch]' | wc -l) .c/.h files), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for p in leaf core; do
  name=$(grep -m1 '^@@' "$W/$p.diff" >/dev/null; case $p in leaf) echo pipe_read;; core) echo schedule_timeout_interruptible;; esac)
  echo "== $p: $name"
  measure "$p grep" grep -rlw --include='*.c' --include='*.h' "$name" "$TREE"
  rm -rf "$W/cache"
  measure "$p cold" "$BIN" plan --from "$TREE" --patch "$W/$p.diff" --cache-dir "$W/cache" --stats
  grep '^stats' "$W/err" | sed 's/^/    /'
  cp "$W/out" "$W/$p.plan"
  measure "$p text" "$BIN" plan --from "$TREE" --patch "$W/$p.diff" --cache-dir "$W/cache" --stats
  cmp -s "$W/out" "$W/$p.plan" || { echo "bench-plan: the $p plan differs between runs" >&2; exit 1; }
done
echo "== indexing the tree for the warm runs"
measure "index" "$BIN" index "$TREE" --cache-dir "$W/cache"
for p in leaf core; do
  measure "$p warm" "$BIN" plan --from "$TREE" --patch "$W/$p.diff" --cache-dir "$W/cache" --stats
  grep '^stats' "$W/err" | sed 's/^/    /'
  cmp -s "$W/out" "$W/$p.plan" || { echo "bench-plan: the warm $p plan differs from the cold one" >&2; exit 1; }
  measure "$p whole-tree warm" "$BIN" plan --from "$TREE" --patch "$W/$p.diff" --cache-dir "$W/cache" --whole-tree
  cmp -s "$W/out" "$W/$p.plan" || { echo "bench-plan: the whole-tree $p plan differs from the scoped one" >&2; exit 1; }
done
echo "== ratios (page cache: $PAGES)"
for p in leaf core; do
  for k in fig cpu; do
    awk -v p=$p -v k=$([ $k = fig ] && echo wall || echo CPU) -v g="$($k "$p grep")" -v c="$($k "$p cold")" \
        -v t="$($k "$p text")" -v w="$($k "$p warm")" -v wt="$($k "$p whole-tree warm")" 'BEGIN {
      printf "%s, %s: cold %.1fx grep, text-cached %.1fx grep, warm %.1fx grep; whole-tree warm / scoped warm = %.1fx\n",
        p, k, c / g, t / g, w / g, wt / w }'
  done
done
echo "(goals: cold <= 5 s, warm <= 1 s on 2 cores. Not measured here: kpatch-build's documented steps build the base and the patched kernel whole before it can answer; scripts/bench-update.sh measures the object-compile part beside dynwalk update)"
