#!/usr/bin/env bash
# Fetches the real kernel inputs the tests and benchmarks use, from Debian's package
# registry, into ${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk/ (nothing is committed):
#   linux-6.1/       Debian's linux-source-6.1, unpacked (marker: .unpacked)
#   /lib/modules/$KVER/build   Debian's .config and generated headers (linux-headers-amd64)
# Idempotent: a second run does nothing but check.
set -euo pipefail
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk"
mkdir -p "$CACHE"
APT="apt-get -o DPkg::Lock::Timeout=600 -y -q"

need=()
[ -f /usr/src/linux-source-6.1.tar.xz ] || [ -f "$CACHE/linux-6.1/.unpacked" ] || need+=(linux-source-6.1)
dpkg -s linux-headers-amd64 >/dev/null 2>&1 || need+=(linux-headers-amd64)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "fetch-corpora: installing ${need[*]}"
  $APT update >/dev/null
  DEBIAN_FRONTEND=noninteractive $APT install --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f "$CACHE/linux-6.1/.unpacked" ]; then
  echo "fetch-corpora: unpacking linux-source-6.1 into $CACHE/linux-6.1 (a minute or two)"
  rm -rf "$CACHE/linux-6.1.tmp"
  mkdir -p "$CACHE/linux-6.1.tmp"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$CACHE/linux-6.1.tmp" --strip-components=1
  rm -rf "$CACHE/linux-6.1"
  mv "$CACHE/linux-6.1.tmp" "$CACHE/linux-6.1"
  touch "$CACHE/linux-6.1/.unpacked"
fi
echo "fetch-corpora: linux-6.1 at $CACHE/linux-6.1"
