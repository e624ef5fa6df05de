// Randomness for protocol cores, injected so the simulator can make runs
// reproducible. Nodes use SecureRandom (libsodium); the seeded generator lives in
// src/sim, which node binaries never link.
#pragma once

#include <cstdint>
#include <vector>

namespace shardnode {

class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;
  // Uniform in [0, n); n > 0.
  std::uint64_t uniform(std::uint64_t n) {
    // Rejection sampling: no modulo bias.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return x % n;
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<std::size_t>(uniform(i))]);
  }
};

class SecureRandom final : public Random {
 public:
  std::uint64_t next_u64() override;
};

}  // namespace shardnode
