#!/usr/bin/env bash
# The main job on the bundled corpus: builds dynwalk and runs it on corpora/mini, a small
# kernel-like tree in the style of Linux 2.4 (see corpora/mini/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p dynwalk
DW=./target/release/dynwalk
TREE=corpora/mini
export DYNWALK_CACHE_DIR="${DYNWALK_CACHE_DIR:-$(mktemp -d)}"
set -x
$DW index $TREE --config $TREE/.config
$DW callers schedule --tree $TREE
$DW callees kswapd --tree $TREE
$DW accesses task_struct.mm --tree $TREE
