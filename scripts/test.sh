#!/usr/bin/env bash
# The test suite, from a fresh Debian 12 machine: installs what it needs, builds
# libtor.a (cached), builds shardnode with ASan+UBSan and warnings as errors, and
# runs every test under ctest. Idempotent.
#
# Env: BUILD_DIR (default build-ci), SHARDNODE_CACHE (libtor cache root).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
TOR_DIR=$(bash scripts/build-libtor.sh | tail -n1)
BUILD=${BUILD_DIR:-build-ci}

# js-libp2p peers for the interop tests, exactly as pinned in package-lock.json.
( cd tests/interop && npm ci --no-audit --no-fund --loglevel=error )

# ccache: a second run on the same machine (another clone too: paths are taken
# relative to the clone, and the working directory is not hashed) recompiles only
# what changed.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B "$BUILD" -G Ninja \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DCMAKE_BUILD_TYPE=Debug \
  -DSHARDNODE_WERROR=ON \
  -DSHARDNODE_SANITIZE=ON \
  -DSHARDNODE_REQUIRE_INTEROP=ON \
  -DSHARDNODE_TOR_DIR="$TOR_DIR"
cmake --build "$BUILD" -j"$(nproc)"

cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 900
