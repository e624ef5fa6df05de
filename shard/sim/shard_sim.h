// Shard managers on top of GossipSim: N nodes with the real gossipsub router and the
// real ShardManager, on virtual time, deterministic from one seed. A table request
// travels as a simulated round trip over the link's latency; a dial links two nodes
// (onion dials are not simulated, only their effect). Tests and benchmarks only.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "gossip_sim.h"
#include "shardnode/shard/manager.h"

namespace shardnode::shard {

struct ShardSimConfig {
  pubsub::GossipSimConfig gossip;
  ShardManagerConfig shard;
  Duration tick = std::chrono::seconds(1);      // ShardManager::tick period
  Duration dial_delay = std::chrono::milliseconds(200);  // a dial's cost before the link exists
  std::uint64_t unix_start_ms = 1'800'000'000'000;       // virtual time 0 in unix ms
};

class ShardSim {
 public:
  using Node = pubsub::GossipSim::Node;
  explicit ShardSim(ShardSimConfig cfg);
  ~ShardSim();

  pubsub::GossipSim& gossip() { return gossip_; }
  ShardManager& manager(Node n) { return *nodes_[n]->manager; }
  std::uint32_t size() const { return gossip_.size(); }
  std::uint64_t now_ms() const;

  // Starts node n's manager (joined to `shards` first). Nodes not started take no part
  // in the shard layer (their routers still relay the preference topic only if
  // subscribed, i.e. never) - this is how a late joiner is modelled.
  void start(Node n, const std::set<std::uint32_t>& shards);
  void run_for(Duration d) { gossip_.run_for(d); }

  // Messages that reached n's application on a topic, and invalid table records sent.
  std::size_t table_requests_answered(Node n) const { return nodes_[n]->answered; }
  // Makes node `n` answer table requests with this instead of its table (attacks).
  void set_table_answer(Node n, std::function<Bytes()> f) { nodes_[n]->forged_answer = std::move(f); }

 private:
  struct NodeIo;
  struct NodeState {
    std::unique_ptr<NodeIo> io;
    std::unique_ptr<ShardManager> manager;
    bool started = false;
    std::size_t answered = 0;
    std::function<Bytes()> forged_answer;
  };

  ShardSimConfig cfg_;
  pubsub::GossipSim gossip_;
  std::vector<std::unique_ptr<NodeState>> nodes_;
};

}  // namespace shardnode::shard
