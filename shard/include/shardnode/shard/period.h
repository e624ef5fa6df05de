// Collation periods: fixed-length windows of unix time counted from a genesis time.
// Period p covers [genesis + p*period_seconds, genesis + (p+1)*period_seconds).
// Sans-IO: callers pass the time. period_seconds must be > 0 (a setting the node
// validates); these functions treat 0 as 1 rather than divide by zero.
#pragma once

#include <cstdint>
#include <limits>

namespace shardnode::shard {

// The period containing unix_seconds; 0 before genesis.
constexpr std::uint64_t period_at(std::uint64_t unix_seconds, std::uint64_t genesis, std::uint64_t period_seconds) {
  if (period_seconds == 0) period_seconds = 1;
  if (unix_seconds < genesis) return 0;
  return (unix_seconds - genesis) / period_seconds;
}

// The unix time a period begins (saturates at the uint64 maximum).
constexpr std::uint64_t period_start(std::uint64_t period, std::uint64_t genesis, std::uint64_t period_seconds) {
  if (period_seconds == 0) period_seconds = 1;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (period > (kMax - genesis) / period_seconds) return kMax;
  return genesis + period * period_seconds;
}

// Seconds from unix_seconds until the next period begins (until genesis, before it).
constexpr std::uint64_t seconds_to_next_period(std::uint64_t unix_seconds, std::uint64_t genesis,
                                               std::uint64_t period_seconds) {
  if (period_seconds == 0) period_seconds = 1;
  if (unix_seconds < genesis) return genesis - unix_seconds;
  return period_seconds - (unix_seconds - genesis) % period_seconds;
}

}  // namespace shardnode::shard
