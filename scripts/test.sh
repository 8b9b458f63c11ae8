#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: unit, fixture, CLI, real-tree (Linux 6.1)
# and, once merged, the kernel runtime's guest suite. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
APT="apt-get -o DPkg::Lock::Timeout=600 -y -q"

need=()
dpkg -s libclang-14-dev >/dev/null 2>&1 || need+=(libclang-14-dev)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
# `dynwalk verify` configures and compiles kernel objects with kbuild.
for tool in flex bison bc; do command -v $tool >/dev/null || need+=($tool); done
# The Debian series jobs move their work tree on with patch(1).
command -v patch >/dev/null || need+=(patch)
for pkg in libelf-dev libssl-dev; do dpkg -s $pkg >/dev/null 2>&1 || need+=($pkg); done
if [ ${#need[@]} -gt 0 ]; then
  echo "test: installing ${need[*]}"
  $APT update >/dev/null
  DEBIAN_FRONTEND=noninteractive $APT install --no-install-recommends "${need[@]}" >/dev/null
fi
bash scripts/fetch-corpora.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --no-fail-fast --cargo-profile dev

# The test-data job of `plan`: all 165 patches of Debian's linux 6.1.176-1, in series
# order; fails if any plan panics or is not made (docs/measurements.md).
bash scripts/plan-debian.sh

# The kernel runtime in a real Debian 6.1 kernel under QEMU (kmod/README.md): builds the
# module with kbuild, boots the guest once per scenario and asserts on the console.
bash kmod/guest/run-suite.sh

# The walker's automatic rate on a sample of Debian's series (every 10th patch that changes
# C): fails on a crash or an undocumented exit. The whole series is `scripts/update-debian.sh`;
# its figures are in docs/measurements.md.
bash scripts/update-debian.sh --sample 10
