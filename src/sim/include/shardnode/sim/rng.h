// SeededRandom: the simulator's deterministic PRNG (xoshiro256**, state expanded
// from a 64-bit seed with splitmix64). Only the simulator's users (tests,
// benchmarks, the experiments) make one; the node gets SecureRandom.
//
// Node code cannot construct one, and that is a fact of the types: the constructor
// takes a SimulationSeedKey, whose constructor is private and befriended only by
// SeededRandom itself (for fork) and by seeded_for_simulation(seed). That function
// is defined in shardnode_sim and declared only in "shardnode/sim/seeding.h", a
// header that only targets linking shardnode_sim_seeding see (the simulator-side
// libraries, tests, benchmarks; never a node library, nor the `shardnode`
// executable). The ctests build_graph_* check both halves (tests/build_graph/).
//
// fork(stream_id) derives a child generator from (seed, stream_id) alone - never
// from how far the parent has been consumed - so giving node i `root.fork(i)` makes
// its stream independent of creation order and of every other node's draws.
#pragma once

#include <cstdint>
#include <limits>

#include "shardnode/core/random.h"

namespace shardnode::sim {

// splitmix64 finaliser: a bijective 64-bit mix.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class SeededRandom;

// The permission to seed a SeededRandom (see the file comment).
class SimulationSeedKey {
  SimulationSeedKey() = default;
  friend class SeededRandom;
  friend SeededRandom seeded_for_simulation(std::uint64_t seed);
};

class SeededRandom final : public Random {
 public:
  using result_type = std::uint64_t;  // also a std::uniform_random_bit_generator

  SeededRandom(SimulationSeedKey, std::uint64_t seed) noexcept : seed_(seed) {
    std::uint64_t x = seed;
    for (auto& word : s_) {
      x += kGolden;
      word = mix64(x);
    }
    // xoshiro's only bad state is all zeros; splitmix64 cannot produce four zero
    // words in a row, but keep the guard explicit.
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = kGolden;
  }

  std::uint64_t next_u64() override { return next(); }

  // The seed this generator was built from (children report their derived seed).
  std::uint64_t seed() const noexcept { return seed_; }

  // A child stream determined only by (seed(), stream_id). Forks nest:
  // fork(a).fork(b) differs from fork(b).fork(a) and from fork(a).
  SeededRandom fork(std::uint64_t stream_id) const noexcept {
    return SeededRandom(SimulationSeedKey{}, mix64(mix64(seed_ ^ kForkSalt) ^ mix64(stream_id + kGolden)));
  }

  // Inline, non-virtual draw for hot loops.
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // UniformRandomBitGenerator, so std::shuffle and <random> distributions work too
  // (their output is not guaranteed identical across standard libraries; prefer
  // Random::uniform/unit/shuffle when traces must match everywhere).
  std::uint64_t operator()() noexcept { return next(); }
  static constexpr std::uint64_t min() noexcept { return 0; }
  static constexpr std::uint64_t max() noexcept { return std::numeric_limits<std::uint64_t>::max(); }

  // True with probability p (p <= 0: never draws and returns false; p >= 1: true).
  bool chance(double p) {
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    return unit() < p;
  }

 private:
  static constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  static constexpr std::uint64_t kForkSalt = 0x5eed5eed0f0f0f0fULL;

  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t seed_;
  std::uint64_t s_[4]{};
};

}  // namespace shardnode::sim
