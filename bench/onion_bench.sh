#!/usr/bin/env bash
# Starts a private Tor network, runs onion_bench (or, with --pair first,
# onion_pair_bench: two node processes with their own embedded tors beside two plain
# tor clients) on it, and stops the network.
# Usage: bench/onion_bench.sh <build dir> [--pair] [bench options]
set -euo pipefail
BUILD=${1:?usage: onion_bench.sh <build dir> [options]}
shift
SHARDNODE=$BUILD/src/cli/shardnode
BENCH=$BUILD/bench/onion_bench
if [ "${1:-}" = --pair ]; then BENCH=$BUILD/bench/onion_pair_bench; shift; fi
T=$(mktemp -d /tmp/sn-obn-XXXXXX)
trap '"$SHARDNODE" testnet down --dir "$T/net" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
"$SHARDNODE" testnet up --dir "$T/net" --timeout 240
"$BENCH" --testnet "$T/net/client.torrc" "$@"
