#!/usr/bin/env bash
# ThreadSanitizer over the tests that cross threads (run by hand, like fuzz.sh):
# the embedded tor on its own thread with its owning control socket (tor_tests),
# the onion transport and the control client (net_tests, onion_tests), the live
# hosts, pubsub service, shard service and control server (live_tests,
# control_tests, metrics_tests), and four `shardnode run` processes with embedded
# tors on a private Tor network (onion_network). Builds build-tsan with g++ and
# -fsanitize=thread; any report fails the test that made it (halt_on_error).
#
#   bash scripts/tsan.sh [CTEST_REGEX]     default: every test of those binaries
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
TOR_DIR=$(bash scripts/build-libtor.sh | tail -n1)
BUILD=${BUILD_DIR:-build-tsan}
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B "$BUILD" -G Ninja \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDNODE_TSAN=ON -DSHARDNODE_TOR_DIR="$TOR_DIR" >/dev/null
TARGETS=(tor_tests net_tests onion_tests live_tests control_tests metrics_tests shardnode)
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"

# libtor.a is not instrumented: TSan sees tor's own threads only through the
# pthread calls it intercepts. tests/tsan.supp lists what is suppressed and why.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 suppressions=$PWD/tests/tsan.supp"
REGEX=${1:-}
cd "$BUILD"
LABELS='^(tor|net|onion|live|control|metrics|torNetwork)$'
if [ -n "$REGEX" ]; then
  ctest --output-on-failure -L "$LABELS" -R "$REGEX" -E '^testnet$' --timeout 900
else
  ctest --output-on-failure -L "$LABELS" -E '^testnet$' --timeout 900
fi
