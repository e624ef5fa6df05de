// Shard managers on top of GossipSim: N nodes with the real gossipsub router and the
// real ShardManager, on virtual time, deterministic from one seed. Tests and
// benchmarks only.
//
// - Request protocols (/shardnode/shard-table/1, /shardnode/collations/1) travel as a
//   simulated round trip over the link's latency: one generic mechanism, `request()`,
//   with a handler per protocol on every node (`set_answer` overrides one, for attacks).
// - A dial links two nodes after `dial_delay` (onion dials are not simulated, only
//   their effect).
// - Collations: every node runs the shipped CollationRuntime (collation_runtime.h) -
//   the same validation, store, serving, proposing and sync (paging, retry on another
//   peer, penalty and blacklist for forgeries, a deadline per request) as a live node -
//   on a MemoryCollationStore pruned to the retention window, with requests answered
//   over the simulated links. After each completed jump to shard k (and at start) the
//   runtime syncs k's window (the sim sets each manager's on_jump_done for that; a test
//   that replaces it only delays syncs to the next tick). Validators (any node; each
//   gets a ValidatorKey derived from the seed) propose collations by hand
//   (`propose_collation`, on a shard the node is on) or every period (`auto_propose`).
//   The runtime runs without stem tracking here: a proposer stores its collation at
//   once.
// - Beacon (when enabled): every started node subscribes to kBeaconTopic, validates it
//   with its own BeaconTracker and follows the head; the nodes marked as beacon
//   proposers take turns proposing each slot (`proposers_per_slot` of them, so rival
//   headers in one slot are the normal case).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gossip_sim.h"
#include "shardnode/sim/rng.h"
#include "shardnode/shard/beacon_tracker.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/collation_runtime.h"
#include "shardnode/shard/memory_store.h"
#include "shardnode/shard/manager.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::shard {

struct SimCollationConfig {
  std::uint64_t period_ms = 2000;          // period p covers virtual [p*period_ms, (p+1)*period_ms)
  std::uint64_t retention_periods = 64;    // kept, served and synced; check_collation's max age
  bool sync_on_join = true;                // sync a shard's window once its jump completes
  std::uint32_t sync_max_count = 64;       // max_count of each range request
  bool auto_propose = false;               // one collation per shard per period (see propose_round)
  CollationLimits limits;
  CollationProtocolLimits protocol;
};

struct SimBeaconConfig {
  bool enabled = false;
  std::uint64_t slot_ms = 2000;            // slot 0 begins at virtual time 0
  std::size_t proposers_per_slot = 1;      // rival headers per slot
  std::uint64_t max_past_slots = 32, max_future_slots = 1;
};

struct ShardSimConfig {
  pubsub::GossipSimConfig gossip;
  ShardManagerConfig shard;
  Duration tick = std::chrono::seconds(1);      // ShardManager::tick period (and sync, pruning)
  Duration dial_delay = std::chrono::milliseconds(200);  // a dial's cost before the link exists
  std::uint64_t unix_start_ms = 1'800'000'000'000;       // virtual time 0 in unix ms
  SimCollationConfig collation;
  SimBeaconConfig beacon;
  // false: no validator on the collation topics, so they carry whatever the caller
  // publishes, unchecked and unstored (experiments that need the shard layer's topics
  // and announcements but not collations: deanon/fingerprint). Keep
  // collation.sync_on_join and auto_propose off then.
  bool collation_validators = true;
};

class ShardSim {
 public:
  using Node = pubsub::GossipSim::Node;
  // A request handler: the answer of node `self` to a request from `from`, or an
  // error (the stream is closed).
  using Handler = std::function<Result<Bytes>(Node self, Node from, ByteView request)>;
  // An override: a forged answer, or nullopt to let the real handler answer.
  using Override = std::function<std::optional<Bytes>(Node self, Node from, ByteView request)>;

  explicit ShardSim(ShardSimConfig cfg);
  ~ShardSim();

  pubsub::GossipSim& gossip() { return gossip_; }
  ShardManager& manager(Node n) { return *nodes_[n]->manager; }
  std::uint32_t size() const { return gossip_.size(); }
  std::uint64_t now_ms() const;
  std::uint64_t current_period() const;
  const ShardSimConfig& config() const { return cfg_; }

  // Starts node n's manager (joined to `shards` first). Nodes not started take no part
  // in the shard layer (their routers still relay the preference topic only if
  // subscribed, i.e. never) - this is how a late joiner is modelled.
  void start(Node n, const std::set<std::uint32_t>& shards);
  bool started(Node n) const { return nodes_[n]->started; }
  void run_for(Duration d) { gossip_.run_for(d); }

  // ---- request protocols ----
  // Sends `request` from `from` to `to` on `protocol`; `done` runs one round trip later
  // with the answer, or an error if the nodes are not linked (then or on arrival), the
  // peer is not started or has no handler, or the handler failed.
  void request(Node from, Node to, const std::string& protocol, Bytes request,
               std::function<void(Result<Bytes>)> done);
  // What node `self` would answer (its override first, then its handler).
  Result<Bytes> answer(Node self, Node from, const std::string& protocol, ByteView request);
  void set_answer(Node n, const std::string& protocol, Override f);
  std::size_t requests_answered(Node n, const std::string& protocol) const;
  std::size_t table_requests_answered(Node n) const { return requests_answered(n, kTableProtocol); }
  // Makes node `n` answer table requests with this instead of its table (attacks).
  void set_table_answer(Node n, std::function<Bytes()> f);

  // ---- collations ----
  const ValidatorKey& validator_key(Node n);  // derived from the seed and n
  // Signs a collation for the current period on `shard` (parent: the newest n holds on
  // it), stores it at n and publishes it on collation_topic(shard). Returns its id.
  Result<Hash32> propose_collation(Node n, std::uint32_t shard, Bytes body);
  // For every shard, the started node on it with index period % (started nodes on it)
  // in node order proposes one collation. Runs every period when auto_propose.
  void propose_round();
  void set_auto_propose(bool on) { cfg_.collation.auto_propose = on; }
  // Ids of the collations n holds on `shard` (every shard when nullopt).
  std::set<Hash32> collations(Node n, std::optional<std::uint32_t> shard = std::nullopt) const;
  const Collation* collation(Node n, const Hash32& id) const;
  // Collations rejected on a collation topic by n's validator.
  std::size_t collations_rejected(Node n) const { return nodes_[n]->runtime->counters().rejected; }
  CollationRuntime& collation_runtime(Node n) { return *nodes_[n]->runtime; }
  // n's sync of `shard` (the current join; nullptr when not on it).
  const SyncRecord* sync(Node n, std::uint32_t shard) const;
  // n's answer to a /shardnode/collations/1 request (its runtime, from its store).
  Result<Bytes> answer_collations(Node n, ByteView request);

  // ---- beacon ----
  BeaconTracker& beacon(Node n) { return *nodes_[n]->beacon; }
  void set_beacon_proposer(Node n, bool on);
  // The headers node n proposed (as it published them).
  const std::vector<BeaconHeader>& beacon_proposals(Node n) const { return nodes_[n]->beacon_proposed; }

 private:
  struct NodeIo;
  struct NodeState {
    std::unique_ptr<NodeIo> io;
    std::unique_ptr<sim::SeededRandom> rng;  // declared before the manager that uses it
    std::unique_ptr<ShardManager> manager;
    bool started = false;
    std::map<std::string, Handler> handlers;
    std::map<std::string, Override> overrides;
    std::map<std::string, std::size_t> answered;
    std::unique_ptr<ValidatorKey> vkey;
    std::unique_ptr<MemoryCollationStore> store;
    std::unique_ptr<CollationRuntime> runtime;  // after the manager and store it uses
    std::unique_ptr<BeaconTracker> beacon;
    bool beacon_proposer = false;
    std::vector<BeaconHeader> beacon_proposed;
  };

  void propose_beacons();

  ShardSimConfig cfg_;
  pubsub::GossipSim gossip_;
  std::unique_ptr<OffsetWallClock> wall_;  // virtual time 0 = cfg_.unix_start_ms
  std::vector<std::unique_ptr<NodeState>> nodes_;
};

}  // namespace shardnode::shard
