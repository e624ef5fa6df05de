// Many DHT nodes on the simulator: the shipped sans-IO core (net/kad_dht.h, with the
// kad-dht codec on every message) on simulated links, on a virtual clock. Used by the
// discovery scenario test (tests/sim) and bench/dht_sim_bench; never in a node.
//
// The scenario: node 0 is the only bootnode. Every other node joins at a random time
// within `join_spread` knowing only the bootnode, looks itself up (the spec's
// bootstrap) and announces itself as a provider of its shard's collation topic. Every
// `refresh` it looks up a random key (bucket refresh). The bootnode leaves at
// `bootnode_leaves_at`. At `measure_at` every remaining node's routing table is
// checked against `target_peers` (live peers it could connect to), then `jumps`
// nodes each look for a member of a shard they are not in (GET_PROVIDERS, want 1).
//
// A node that receives a request learns the asker (on a host, identify tells it the
// asker speaks the DHT, with the asker's own addresses).
//
// Links: each node has a simulated address (/ip4/10.a.b.c/tcp/4001); a request is
// sent to the address the core gives and fails if that address is not the peer's
// (what Noise would refuse). One-way latency is drawn per pair in [latency_min,
// latency_max]; the first message between two nodes costs `dial_cost` more (an onion
// dial). A departed node answers nothing: its requests time out in the core.
#pragma once

#include <cstdint>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/kad_dht.h"

namespace shardnode::net::kad::sim {

struct DhtSimConfig {
  std::uint32_t nodes = 250;
  std::uint64_t seed = 1;
  std::uint32_t shards = 16;
  std::size_t target_peers = 8;
  Duration join_spread = std::chrono::seconds(60);
  Duration bootnode_leaves_at = std::chrono::seconds(120);
  Duration refresh = std::chrono::seconds(60);
  Duration measure_at = std::chrono::seconds(300);
  Duration latency_min = std::chrono::milliseconds(150);
  Duration latency_max = std::chrono::milliseconds(600);
  Duration dial_cost = std::chrono::seconds(1);
  std::size_t jumps = 100;
  DhtCoreConfig dht;  // k, alpha, request budget and timeout, provider caps
};

struct DhtSimReport {
  std::uint32_t nodes = 0;
  std::size_t min_table = 0;             // smallest routing table among remaining nodes
  std::size_t below_target = 0;          // remaining nodes with fewer than target_peers live peers
  std::size_t tables_with_bootnode = 0;  // still listing the departed bootnode
  std::size_t jumps = 0, jumps_found = 0;
  std::vector<std::size_t> jump_requests;  // per jump, sorted
  std::vector<double> jump_seconds;        // per jump (found ones), sorted
  std::uint64_t messages = 0, bytes = 0;
};

DhtSimReport run_dht_sim(const DhtSimConfig& cfg);

}  // namespace shardnode::net::kad::sim
