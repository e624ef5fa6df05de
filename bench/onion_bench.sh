#!/usr/bin/env bash
# Starts a private Tor network, runs onion_bench (or, with --pair, onion_pair_bench:
# two node processes with their own embedded tors beside two plain tor clients) on
# it, and stops the network.
#   --latency lan|wan   the network's latency profile (docs/LATENCY.md; default lan)
#   --seed N            wan: placement seed
# With --latency wan the sender joins the network from eu-west and (--pair) the
# receiver from na-east, so the sender-to-receiver path crosses the Atlantic as it
# would between two validators.
# Usage: bench/onion_bench.sh <build dir> [--pair] [--latency lan|wan] [--seed N] [bench options]
set -euo pipefail
BUILD=${1:?usage: onion_bench.sh <build dir> [--pair] [--latency lan|wan] [options]}
shift
SHARDNODE=$BUILD/src/cli/shardnode
BENCH=$BUILD/bench/onion_bench
PAIR=0
UP=()
LATENCY=lan
while [ $# -gt 0 ]; do
  case "$1" in
    --pair) BENCH=$BUILD/bench/onion_pair_bench; PAIR=1; shift ;;
    --latency) LATENCY=$2; UP+=(--latency "$2"); shift 2 ;;
    --seed) UP+=(--seed "$2"); shift 2 ;;
    *) break ;;
  esac
done
T=$(mktemp -d /tmp/sn-obn-XXXXXX)
trap '"$SHARDNODE" testnet down --dir "$T/net" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
"$SHARDNODE" testnet up --dir "$T/net" --timeout 300 "${UP[@]}"
ARGS=(--testnet "$T/net/client.torrc")
if [ "$LATENCY" = wan ] && [ $PAIR = 1 ]; then ARGS+=(--receiver-testnet "$T/net/client-na-east.torrc"); fi
"$BENCH" "${ARGS[@]}" "$@"
