#!/usr/bin/env bash
# Starts a private Tor network, runs onion_bench on it, and stops the network.
# Usage: bench/onion_bench.sh <build dir> [onion_bench options]
set -euo pipefail
BUILD=${1:?usage: onion_bench.sh <build dir> [options]}
shift
SHARDNODE=$BUILD/src/cli/shardnode
BENCH=$BUILD/bench/onion_bench
T=$(mktemp -d /tmp/sn-obn-XXXXXX)
trap '"$SHARDNODE" testnet down --dir "$T/net" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
"$SHARDNODE" testnet up --dir "$T/net" --timeout 240
"$BENCH" --testnet "$T/net/client.torrc" "$@"
