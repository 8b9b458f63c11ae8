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

# Debian's linux 6.1.176-1 source package (pristine upstream tree + Debian's patch series),
# for the `dynwalk verify` evaluation (scripts/verify-debian.sh, docs/verify.md):
#   debsrc/linux-6.1.176/   the pristine upstream tree (never patched in place)
#   debsrc/debian/          Debian's packaging, with patches/series
if [ ! -f "$CACHE/debsrc/.unpacked" ]; then
  SRCLIST=/etc/apt/sources.list.d/dynwalk-src.sources
  if [ ! -f "$SRCLIST" ]; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$SRCLIST"
  fi
  echo "fetch-corpora: fetching Debian's linux 6.1.176-1 source into $CACHE/debsrc (a few minutes)"
  $APT update >/dev/null
  rm -rf "$CACHE/debsrc.tmp"
  mkdir -p "$CACHE/debsrc.tmp"
  (cd "$CACHE/debsrc.tmp" && apt-get source -q --download-only linux=6.1.176-1 >/dev/null \
    && tar -xJf linux_6.1.176.orig.tar.xz && tar -xJf linux_6.1.176-1.debian.tar.xz)
  rm -rf "$CACHE/debsrc"
  mv "$CACHE/debsrc.tmp" "$CACHE/debsrc"
  touch "$CACHE/debsrc/.unpacked"
fi
echo "fetch-corpora: Debian 6.1.176 source at $CACHE/debsrc"

# The official SARIF 2.1.0 JSON schema (OASIS), as shipped in Microsoft's npm package
# @microsoft/jest-sarif: the plan's SARIF output is validated against it in the tests.
SARIF="$CACHE/sarif/sarif-2.1.0-rtm.5.json"
if [ ! -f "$SARIF" ]; then
  command -v npm >/dev/null || { $APT update >/dev/null; DEBIAN_FRONTEND=noninteractive $APT install --no-install-recommends npm >/dev/null; }
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack -q @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null && tar -xzf microsoft-jest-sarif-*.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json)
  mkdir -p "$CACHE/sarif"
  mv "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$SARIF"
  rm -rf "$tmp"
fi
python3 -c 'import jsonschema' 2>/dev/null || pip install -q jsonschema
echo "fetch-corpora: SARIF schema at $SARIF"
