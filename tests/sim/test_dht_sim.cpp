// The discovery scenario on the simulator, small enough for CI (the 250-node figures
// come from bench/dht_sim_bench, docs/BENCHMARKS.md): the shipped DHT core on
// simulated links; the only bootnode leaves; every node keeps enough live peers and
// every shard jump finds a member of the shard within a bounded number of requests.
#include <catch2/catch.hpp>

#include "dht_sim.h"

using namespace shardnode::net::kad::sim;

TEST_CASE("without its bootnode a 100-node DHT keeps every node connected and finds every shard", "[kad][sim]") {
  DhtSimConfig cfg;
  cfg.nodes = 100;
  cfg.shards = 10;
  cfg.jumps = 30;
  cfg.measure_at = std::chrono::seconds(240);
  auto r = run_dht_sim(cfg);
  CHECK(r.below_target == 0);
  CHECK(r.min_table >= cfg.target_peers);
  CHECK(r.jumps == cfg.jumps);
  CHECK(r.jumps_found == cfg.jumps);
  REQUIRE_FALSE(r.jump_requests.empty());
  CHECK(r.jump_requests.back() <= 10);
}

TEST_CASE("a DHT whose bootnode leaves before anyone joins leaves every joiner alone", "[kad][sim]") {
  // The negative control: the scenario can fail.
  DhtSimConfig cfg;
  cfg.nodes = 30;
  cfg.jumps = 5;
  cfg.bootnode_leaves_at = std::chrono::seconds(0);
  cfg.join_spread = std::chrono::seconds(10);
  cfg.measure_at = std::chrono::seconds(120);
  auto r = run_dht_sim(cfg);
  CHECK(r.below_target == cfg.nodes - 1);
  CHECK(r.jumps_found == 0);
}

TEST_CASE("a DHT simulation is a function of its seed", "[kad][sim]") {
  DhtSimConfig cfg;
  cfg.nodes = 40;
  cfg.shards = 4;
  cfg.jumps = 10;
  cfg.measure_at = std::chrono::seconds(150);
  auto a = run_dht_sim(cfg), b = run_dht_sim(cfg);
  CHECK(a.messages > 0);
  CHECK(a.messages == b.messages);
  CHECK(a.bytes == b.bytes);
  CHECK(a.jump_requests == b.jump_requests);
  CHECK(a.jump_seconds == b.jump_seconds);
  cfg.seed = 2;
  auto c = run_dht_sim(cfg);
  CHECK(c.bytes != a.bytes);
}
