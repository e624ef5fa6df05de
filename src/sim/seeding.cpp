#include "shardnode/sim/seeding.h"

namespace shardnode::sim {

SeededRandom seeded_for_simulation(std::uint64_t seed) {
  return SeededRandom(SimulationSeedKey{}, seed);
}

}  // namespace shardnode::sim
