#!/usr/bin/env bash
# Builds libtor.a from Debian's own tor source package (the version the archive
# ships) into a cache outside the build tree, and reuses it when present and
# matching that version and our configure flags.
#
# Usage: scripts/build-libtor.sh            # prints the cache directory on its last line
# Env:   SHARDNODE_CACHE  cache root (default: ${XDG_CACHE_HOME:-~/.cache}/shardnode)
#
# Cache layout (<cache>/tor-<debian version>/):
#   lib/libtor.a          the combined static library
#   include/tor_api.h     the public embedding API (noinst upstream, copied here)
#   include/tor_api_internal.h   the cfg struct (to avoid tor's double close)
#   link-libs.txt         the external libraries libtor.a needs, one per line
#   version.txt           Debian source version;  provider.txt  "tor X.Y.Z"
#   stamp                 version + configure flags; a mismatch triggers a rebuild
set -euo pipefail

CONFIGURE_FLAGS=(
  --enable-gpl            # onion-service PoW defence (proposal 327); makes libtor GPL
  --enable-pic
  --disable-module-relay --disable-module-dirauth
  --disable-systemd --disable-seccomp --disable-libscrypt
  --disable-unittests --disable-asciidoc --disable-manpage --disable-html-manual
  --disable-system-torrc
)

log() { echo "build-libtor: $*" >&2; }
die() { echo "build-libtor: error: $*" >&2; exit 1; }

command -v apt-cache >/dev/null || die "apt-cache not found (Debian required)"
VERSION=$(apt-cache showsrc tor 2>/dev/null | awk '/^Version:/{print $2}' | sort -V | tail -n1)
[ -n "$VERSION" ] || die "apt has no source package for tor; run scripts/install-deps.sh (it adds a deb-src entry) and apt-get update"

ROOT=${SHARDNODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shardnode}
OUT="$ROOT/tor-$VERSION"
CACHE_LAYOUT=3   # bump when the cache's contents change
STAMP="layout=$CACHE_LAYOUT $VERSION -fno-omit-frame-pointer ${CONFIGURE_FLAGS[*]}"

if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/lib/libtor.a" ]; then
  log "cached libtor.a for tor $VERSION at $OUT"
  echo "$OUT"
  exit 0
fi

log "building libtor.a from Debian's tor $VERSION source package (takes a few minutes)"
mkdir -p "$ROOT"
WORK=$(mktemp -d "$ROOT/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
(
  cd "$WORK"
  # apt-get source downloads, verifies and unpacks (applying Debian's patches).
  apt-get source -qq "tor=$VERSION" >&2 || die "apt-get source tor=$VERSION failed (is a deb-src entry configured and the archive reachable?)"
) || exit 1
SRC=$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'tor-*' | head -n1)
[ -n "$SRC" ] || die "tor source tree not found after apt-get source"

(
  cd "$SRC"
  # Frame pointers: sanitizer and profiler stacks walk through tor's frames.
  CFLAGS="-g -O2 -fno-omit-frame-pointer" ./configure -q "${CONFIGURE_FLAGS[@]}" >&2
  make -j"$(nproc)" libtor.a >&2
) || die "configure/make of libtor.a failed"

# The external link set: what configure decided tor's own binary links with.
MK="$SRC/Makefile"
mkvar() { sed -n "s/^$1 = //p" "$MK" | head -n1; }
LIBS_LINE="$(mkvar TOR_ZLIB_LIBS) $(mkvar TOR_LIB_MATH) $(mkvar TOR_LIBEVENT_LIBS) $(mkvar TOR_OPENSSL_LIBS) $(mkvar TOR_LZMA_LIBS) $(mkvar TOR_ZSTD_LIBS) $(mkvar TOR_LIB_WS32) $(mkvar TOR_LIB_IPHLPAPI) $(mkvar TOR_LIB_SHLWAPI) $(mkvar TOR_LIB_GDI) $(mkvar TOR_LIB_USERENV) $(mkvar TOR_LIB_CRYPT32) $(mkvar TOR_LIB_BCRYPT) $(mkvar TOR_CAP_LIBS) $(mkvar TOR_SYSTEMD_LIBS) $(mkvar LIBS)"

STAGE="$WORK/out"
mkdir -p "$STAGE/lib" "$STAGE/include"
cp "$SRC/libtor.a" "$STAGE/lib/"
cp "$SRC/src/feature/api/tor_api.h" "$STAGE/include/"
# tor_api_internal.h pulls in tor's tree for tor_socket_t, which is int on POSIX.
grep -q '#include "lib/net/nettypes.h"' "$SRC/src/feature/api/tor_api_internal.h" ||
  die "tor_api_internal.h changed shape; review onion/src/embedded_tor.cpp's use of it"
sed 's|#include "lib/net/nettypes.h"|typedef int tor_socket_t; /* POSIX; from lib/net/nettypes.h */|' \
  "$SRC/src/feature/api/tor_api_internal.h" > "$STAGE/include/tor_api_internal.h"
# one library per line, de-duplicated, order kept; -L paths dropped (system libs only)
for w in $LIBS_LINE; do case "$w" in -l*) echo "$w";; esac; done | awk '!seen[$0]++' > "$STAGE/link-libs.txt"
grep -q -- '-lpthread' "$STAGE/link-libs.txt" || echo "-lpthread" >> "$STAGE/link-libs.txt"
grep -q -- '-ldl' "$STAGE/link-libs.txt" || echo "-ldl" >> "$STAGE/link-libs.txt"
echo "$VERSION" > "$STAGE/version.txt"
sed -n 's/^#define VERSION "\(.*\)"/tor \1/p' "$SRC/orconfig.h" > "$STAGE/provider.txt"
echo "$STAMP" > "$STAGE/stamp"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "libtor.a ready at $OUT ($(tr '\n' ' ' < "$OUT/link-libs.txt"))"
echo "$OUT"
