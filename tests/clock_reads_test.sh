#!/usr/bin/env bash
# Time comes from the injected clocks (src/core/include/shardnode/core/clock.h:
# SteadyClock, SystemWallClock): nothing in the shipped code reads a real clock on its
# own. Fails, listing them, if any other file of the node, its libraries or its tools
# reads one. Benchmarks (bench/) and tests measure real time on purpose and are not
# scanned. Usage: clock_reads_test.sh SOURCE_DIR
set -euo pipefail
root=${1:?source dir}
cd "$root"
pattern='[A-Za-z_]*[Cc]lock::now\(|gettimeofday|clock_gettime|std::time\(|[^_a-z]time\(nullptr\)|[^_a-z]time\(NULL\)'
dirs=()
for d in src onion pubsub shard deanon tools; do [ -d "$d" ] && dirs+=("$d"); done
hits=$(grep -rnE "$pattern" "${dirs[@]}" --include='*.cpp' --include='*.h' --include='*.hpp' \
  | grep -v '^src/core/include/shardnode/core/clock.h:' || true)
if [ -n "$hits" ]; then
  echo "clock reads outside the injected clocks (core/clock.h):"
  echo "$hits"
  exit 1
fi
echo "no clock reads outside core/clock.h in: ${dirs[*]}"
