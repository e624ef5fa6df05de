#!/usr/bin/env bash
# The main job. Until the multi-node demo exists (a private Tor network with
# anonymous validators gossiping shard data), this runs the smallest real thing:
# build the node with tor linked in, create a node identity, and have the embedded
# tor - with its network disabled - publish the node's onion service and agree on
# the address derived from that identity. Idempotent: the identity is kept in
# demo-data/ and reused.
#
# Env: BUILD_DIR (default build), DEMO_DIR (default demo-data).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
TOR_DIR=$(bash scripts/build-libtor.sh | tail -n1)
BUILD=${BUILD_DIR:-build}
DEMO=${DEMO_DIR:-demo-data}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDNODE_TOR_DIR="$TOR_DIR" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target shardnode
BIN="$BUILD/src/cli/shardnode"

echo
echo "== shardnode version"
"$BIN" version
echo
if [ -f "$DEMO/identity.key" ]; then
  echo "== node identity (existing key in $DEMO)"
  "$BIN" id --datadir "$DEMO"
else
  echo "== shardnode keygen --datadir $DEMO"
  "$BIN" keygen --datadir "$DEMO"
fi
echo
echo "== shardnode selfcheck: embedded tor (DisableNetwork 1) publishes this node's onion service"
"$BIN" --set log.level=warn selfcheck --datadir "$DEMO"
