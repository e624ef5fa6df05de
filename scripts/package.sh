#!/usr/bin/env bash
# Builds the Debian package from a Release build (build-pkg/) and checks it the way
# the ctest `package` does (tests/package_test.sh: lintian, dpkg-deb -x, the unit,
# the unpacked binary). Prints the .deb's path on its last line.
#
# Usage: scripts/package.sh [BUILD_DIR]   (default build-pkg)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$REPO/build-pkg}
"$REPO/scripts/install-deps.sh"
TOR_DIR=$("$REPO/scripts/build-libtor.sh" | tail -1)
export CCACHE_BASEDIR="$REPO" CCACHE_NOHASHDIR=1
cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHARDNODE_BUILD_TESTS=OFF \
  -DSHARDNODE_TOR_DIR="$TOR_DIR" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
ninja -C "$BUILD" shardnode
bash "$REPO/tests/package_test.sh" "$BUILD" "$REPO"
(cd "$BUILD" && cpack -G DEB -B "$BUILD/package" >/dev/null)
ls "$BUILD"/package/shardnode_*.deb
