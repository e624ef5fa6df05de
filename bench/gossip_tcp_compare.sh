#!/usr/bin/env bash
# Runs the two-node gossip benchmark for shardnode and for js-libp2p in one go, same
# parameters, and prints both rows. Usage: bench/gossip_tcp_compare.sh <build dir> [messages]
set -euo pipefail
BUILD=${1:?usage: gossip_tcp_compare.sh <build dir> [messages]}
N=${2:-50000}
cd "$(dirname "$0")/.."
"$BUILD/bench/gossip_tcp_bench" --messages "$N" --size 1024 --window 1000
node tests/interop/gossip-bench.mjs --messages "$((N / 5))" --size 1024 --window 1000 | tail -n 1
