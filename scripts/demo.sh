#!/usr/bin/env bash
# The main job on the bundled corpus: builds dynwalk and plans live updates of patches
# against corpora/mini, a small kernel-like tree in the style of Linux 2.4 (see
# corpora/mini/README.md and corpora/patches/mini/).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p dynwalk
DW=./target/release/dynwalk
TREE=corpora/mini
export DYNWALK_CACHE_DIR="${DYNWALK_CACHE_DIR:-$(mktemp -d)}"
set -x
$DW index $TREE --config $TREE/.config
# An inline helper of schedule() changes: schedule() must be cloned, and the kernel
# threads sleeping inside it never quiesce.
$DW plan --from $TREE --patch corpora/patches/mini/goodness-inline.diff
# A new task_struct field becomes shadow data.
$DW plan --from $TREE --patch corpora/patches/mini/task-new-field.diff
# A constant used through macros by pipes and kernel threads.
$DW plan --from $TREE --patch corpora/patches/mini/task-state-constant.diff
$DW callers schedule --tree $TREE
