// Compiled by the ctests build_graph_seeded_rng_* (tests/CMakeLists.txt), one case per
// target, never as part of the normal build. Each failing case must fail with its
// own error; case 0 is the control that the same code compiles where seeding is
// allowed.
//
//   0  simulator side (links shardnode_sim_seeding): seeded_for_simulation compiles
//   1  node side (the include path of shardnode_node_runtime): rng.h is not there
//   2  like the `shardnode` executable (simulator headers via shardnode_deanon, no
//      seeding.h): a SeededRandom from a seed has no constructor
//   3  ditto: the key's constructor is private
//   4  ditto: seeded_for_simulation is not declared
#include <cstdint>

#if SNIPPET_CASE == 0
#include "shardnode/sim/seeding.h"
std::uint64_t draw() {
  return shardnode::sim::seeded_for_simulation(42).next();
}
#elif SNIPPET_CASE == 1
#include "shardnode/sim/rng.h"
std::uint64_t draw() {
  return 0;
}
#elif SNIPPET_CASE == 2
#include "shardnode/sim/rng.h"
std::uint64_t draw() {
  shardnode::sim::SeededRandom rng(std::uint64_t{42});
  return rng.next();
}
#elif SNIPPET_CASE == 3
#include "shardnode/sim/rng.h"
std::uint64_t draw() {
  shardnode::sim::SeededRandom rng(shardnode::sim::SimulationSeedKey{}, 42);
  return rng.next();
}
#elif SNIPPET_CASE == 4
#include "shardnode/sim/rng.h"
std::uint64_t draw() {
  return shardnode::sim::seeded_for_simulation(42).next();
}
#endif
