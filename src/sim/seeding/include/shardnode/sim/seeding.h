// The one sanctioned way to make a root SeededRandom. Only targets that link
// shardnode_sim_seeding see this header: the simulator's libraries (pubsub/sim,
// shard/sim, deanon), tests and benchmarks - never a node library and never the
// `shardnode` executable, so no code that `shardnode run` executes can seed a
// generator (see rng.h).
#pragma once

#include <cstdint>

#include "shardnode/sim/rng.h"

namespace shardnode::sim {

// The generator for `seed`: the same stream SeededRandom always gave for it.
SeededRandom seeded_for_simulation(std::uint64_t seed);

}  // namespace shardnode::sim
