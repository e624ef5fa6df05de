#!/usr/bin/env bash
# Fuzz campaigns (run by hand; CI only replays the corpora): builds the libFuzzer
# binary with clang-14, ASan and UBSan into build-fuzz/, then fuzzes each target from
# fuzz/corpus/<target> and fuzz/regressions/<target>. Idempotent; installs clang-14
# and its runtime (libFuzzer) if missing.
#
#   bash scripts/fuzz.sh [--seconds S | --runs N] [--jobs J] [--merge] [--debug] [TARGET...]
#
#   --seconds S  time per target (default 60)
#   --runs N     executions per target instead of a time
#   --jobs J     libFuzzer processes per target (default 1)
#   --merge      fold the new inputs that add coverage into fuzz/corpus/<target>
#   --debug      a Debug build (assertions on: libraries' own, e.g. toml++ and Beast,
#                catch what release builds assume) in build-fuzz-debug/
#   TARGET...    default: every target (build-fuzz/fuzz/shardnode_fuzz lists them)
#
# Prints one line per target (executions, edges covered, features, corpus size,
# crashes) and writes them to build-fuzz/fuzz-summary.tsv (or $FUZZ_SUMMARY). A crash, leak or timeout
# leaves its input in build-fuzz/work/<target>/ and makes the script exit 1: turn
# it into a regression (fuzz/regressions/<target>/) and fix it.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=60 RUNS="" JOBS=1 MERGE=0 BUILD_TYPE=RelWithDebInfo TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --merge) MERGE=1; shift ;;
    --debug) BUILD_TYPE=Debug; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

bash scripts/install-deps.sh clang-14 libclang-rt-14-dev
TOR_DIR=$(bash scripts/build-libtor.sh | tail -n1)
DEFAULT_BUILD=build-fuzz
[ "$BUILD_TYPE" = Debug ] && DEFAULT_BUILD=build-fuzz-debug
BUILD=${BUILD_DIR:-$DEFAULT_BUILD}
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -G Ninja \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DSHARDNODE_FUZZ=ON -DSHARDNODE_BUILD_TESTS=OFF \
  -DSHARDNODE_TOR_DIR="$TOR_DIR" >/dev/null
cmake --build "$BUILD" --target shardnode_fuzz -j"$(nproc)"
BIN=$PWD/$BUILD/fuzz/shardnode_fuzz

if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(SHARDNODE_FUZZ_TARGET=list "$BIN" | sort)
fi

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
SUMMARY=${FUZZ_SUMMARY:-$BUILD/fuzz-summary.tsv}
printf 'target\texecutions\tseconds\tcov\tft\tcorpus\tcrashes\n' > "$SUMMARY"
failed=0
for t in "${TARGETS[@]}"; do
  work=$PWD/$BUILD/work/$t
  mkdir -p "$work/corpus" fuzz/corpus/"$t"
  seeds=(fuzz/corpus/"$t")
  [ -d fuzz/regressions/"$t" ] && seeds+=(fuzz/regressions/"$t")
  limit=(-max_total_time="$SECONDS_PER")
  [ -n "$RUNS" ] && limit=(-runs="$RUNS")
  log=$work/fuzz.log
  start=$(date +%s)
  set +e
  if [ "$JOBS" -gt 1 ]; then
    SHARDNODE_FUZZ_TARGET=$t "$BIN" "${limit[@]}" -fork="$JOBS" -ignore_crashes=0 -max_len=8192 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "${seeds[@]}" >"$log" 2>&1
  else
    SHARDNODE_FUZZ_TARGET=$t "$BIN" "${limit[@]}" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "${seeds[@]}" >"$log" 2>&1
  fi
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
  [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  crashes=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  corpus=$(find "$work/corpus" fuzz/corpus/"$t" -type f | wc -l)
  if [ "$MERGE" = 1 ]; then
    SHARDNODE_FUZZ_TARGET=$t "$BIN" -merge=1 -max_len=8192 -artifact_prefix="$work/merge-" fuzz/corpus/"$t" "$work/corpus" \
      >>"$log" 2>&1 || true
    if find "$work" -maxdepth 1 -type f -name 'merge-*' | grep -q .; then
      echo "fuzz.sh: $t: an input crashed the merge; see $work/merge-*" >&2
      failed=1
    fi
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-0}" "$secs" "$cov" "$ft" "$corpus" "$crashes" | tee -a "$SUMMARY"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    echo "fuzz.sh: $t failed (rc $rc); inputs and log in $work" >&2
    failed=1
  fi
done
column -t "$SUMMARY"
exit $failed
