#!/usr/bin/env bash
# Call-edge precision and recall of dynwalk against clang on a fixed sample of real
# Linux 6.1 files, compiled with Debian's flags (docs/accuracy-method.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-corpora.sh >/dev/null
dpkg -s libclang-14-dev >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=600 -y -q update >/dev/null;
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q install libclang-14-dev >/dev/null; }
TREE="${DYNWALK_LINUX_6_1:-${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk/linux-6.1}"
cargo build --release -q -p dynwalk-tests --bin dynwalk-accuracy
exec "${CARGO_TARGET_DIR:-target}/release/dynwalk-accuracy" "$TREE" \
  kernel/sched/core.c kernel/sched/fair.c kernel/time/timer.c kernel/fork.c kernel/exit.c \
  kernel/signal.c kernel/workqueue.c kernel/kthread.c kernel/locking/mutex.c \
  mm/memory.c mm/page_alloc.c mm/vmscan.c mm/mmap.c \
  fs/pipe.c fs/read_write.c fs/namei.c fs/open.c fs/exec.c lib/string.c lib/bitmap.c
