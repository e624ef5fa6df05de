#!/usr/bin/env bash
# The main job: build the node with tor linked in, then run scripts/demo.py - a
# private Tor network (`shardnode testnet up`, 127.0.0.1 only) with 6 anonymous
# nodes, each its own process with an embedded tor, reachable only at its onion
# service, gossiping on shard-like topics; a live view until every node has heard
# every node it shares a topic with, a summary with leak checks, then everything is
# stopped. Ctrl-C stops everything it started. Exit 0 on success, 1 otherwise.
# Idempotent: installs and builds only what is missing or changed; each demo run
# uses a fresh mktemp dir under /tmp, removed at the end (kept with --keep).
#
# Usage: bash scripts/demo.sh [--keep] [--nodes N] [--deadline S] [--plain] [--latency lan|wan]   (passed to demo.py)
# Env: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
TOR_DIR=$(bash scripts/build-libtor.sh | tail -n1)
BUILD=${BUILD_DIR:-build}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDNODE_TOR_DIR="$TOR_DIR" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target shardnode
BIN="$BUILD/src/cli/shardnode"

echo
echo "== shardnode version"
"$BIN" version
echo
exec python3 scripts/demo.py --bin "$BIN" "$@"
