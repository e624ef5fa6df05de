// N real gossipsub routers on the simulated network (src/sim), on virtual time,
// deterministic from one seed. Used by scenario tests, benchmarks and the
// deanonymization harness. Never linked into a node.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_set>
#include <vector>

#include "shardnode/pubsub/inbound_gate.h"
#include "shardnode/pubsub/router.h"
#include "shardnode/sim/sim.h"

namespace shardnode::pubsub {

struct GossipSimConfig {
  std::uint32_t nodes = 100;
  std::uint32_t degree = 8;                 // random regular connection graph
  std::uint32_t graph_nodes = 0;            // the graph spans nodes [0, graph_nodes); 0: all of them
  sim::LinkParams link{std::chrono::milliseconds(20), 0.0, 0.0, std::chrono::milliseconds(10)};
  GossipsubConfig gossip;
  PeerScoreParams score = PeerScoreParams::defaults();
  PeerScoreThresholds thresholds = PeerScoreThresholds::defaults();
  PeerProtocol protocol = PeerProtocol::meshsub_1_2;
  std::uint64_t seed = 1;
  // Each node reads through an InboundGate (the pubsub service's budgets and
  // admission, pubsub/inbound_gate.h) when set. What a peer sends past its budget
  // waits at the receiver, up to `inbound_window` bytes per link (the transport's
  // window); beyond that the sender is blocked and the RPC never leaves it.
  std::optional<InboundLimits> inbound;
  std::size_t inbound_window = 256 * 1024;
  // Each linked pair pings both ways when linked and then this often, on the link
  // itself (so a ping queues behind messages, as /ipfs/ping does on a connection),
  // and each side feeds Router::observe_rtt as the service does. 0: no pings.
  Duration ping_interval{0};
};

// What travels on a simulated link: an RPC, or messages on the stem protocol
// (GossipsubConfig::stem), plus, per message, the hop count the sender had for it
// (harness bookkeeping; not part of the wire format).
struct SimRpc {
  Rpc rpc;
  std::vector<std::uint32_t> hops;
  std::vector<Message> stem;
  std::vector<std::uint32_t> stem_hops;
  // A ping (its send time) or the answer to one (echoing it): GossipSimConfig::ping_interval.
  std::optional<TimePoint> ping, pong;
};

struct SimStats {
  std::uint64_t message_receipts = 0;   // every Message received in an RPC
  std::uint64_t first_deliveries = 0;   // deliveries to the application (not counting the publisher)
  std::uint64_t rpcs = 0, bytes = 0;
  std::uint64_t stem_messages = 0;      // sent on the stem protocol
  std::uint64_t rpcs_blocked = 0;       // with inbound budgets: not sent, the receiver's window was full
  std::uint64_t links_refused = 0;      // with inbound budgets: link() refused by admission (or a ban)
  std::uint64_t pings = 0;              // sent (not counted in rpcs or bytes)
};

class GossipSim {
 public:
  using Node = std::uint32_t;
  // A behaviour override: gets every RPC sent to `node` instead of its router.
  using Interceptor = std::function<void(Node self, Node from, const Rpc&)>;

  explicit GossipSim(GossipSimConfig cfg);
  ~GossipSim();

  std::uint32_t size() const { return cfg_.nodes; }
  // A new node with a fresh identity (deterministic from the seed and its index),
  // linked to nobody, its heartbeat running. References to other nodes stay valid.
  Node add_node();
  Router& router(Node n) { return *nodes_[n].router; }
  const PeerId& peer(Node n) const { return nodes_[n].id; }
  // The node key behind peer(n) (deterministic from the seed), for signing
  // application records in simulations built on this one.
  const NodeKey& key(Node n) const { return *nodes_[n].key; }
  bool linked(Node a, Node b) const { return net_->connected(a, b); }
  // Every delivery to a node's application (not its own publishes), after the
  // harness's own bookkeeping.
  void on_delivery(std::function<void(Node, const Delivery&)> f) { on_delivery_ = std::move(f); }
  std::optional<Node> node_of(const PeerId& p) const;
  sim::Scheduler& scheduler() { return sched_; }
  sim::Network<SimRpc>& network() { return *net_; }
  TimePoint now() const { return sched_.now(); }

  void subscribe(Node n, const TopicId& topic);
  void subscribe_all(const TopicId& topic);
  Result<MessageId> publish(Node n, const TopicId& topic, Bytes data);
  void run_for(Duration d) { sched_.run_for(d); }

  // Replace a node's router with scripted behaviour (attackers), and send from it.
  void intercept(Node n, Interceptor f) { nodes_[n].interceptor = std::move(f); }
  void send_raw(Node from, Node to, Rpc rpc);
  // Connect two nodes after start (both routers learn of each other). The lower
  // index is the side that dialled (outbound), unless `a_dials` says otherwise.
  // Returns false when b refuses a: it has banned a, or (with inbound budgets) b's
  // admission rate for inbound identities is spent. The nodes stay unlinked.
  bool link(Node a, Node b);
  bool link(Node a, Node b, bool a_dials);
  // Cut a link (both routers forget each other), as a disconnect would.
  void unlink(Node a, Node b);
  // The node's inbound gate (nullptr without GossipSimConfig::inbound).
  const InboundGate* gate(Node n) const { return nodes_[n].gate.get(); }

  // First-delivery time and hop count per node for a message.
  struct Reception {
    TimePoint at;
    std::uint32_t hops;
  };
  const std::map<Node, Reception>& receptions(const MessageId& id) const;
  const SimStats& stats() const { return stats_; }
  std::uint64_t receipts_of(Node n) const { return nodes_[n].receipts; }

 private:
  struct NodeState {
    PeerId id;
    std::unique_ptr<NodeKey> key;
    std::unique_ptr<sim::SeededRandom> rng;
    std::unique_ptr<Router> router;
    Interceptor interceptor;
    std::unordered_map<MessageId, std::uint32_t, BytesHash> hops;  // hop count we received each message at
    std::unordered_set<MessageId, BytesHash> published;  // our own (not counted as receptions)
    std::uint64_t receipts = 0;
    std::unique_ptr<InboundGate> gate;
    struct Waiting {
      std::deque<std::pair<SimRpc, std::size_t>> rpcs;  // with their sizes
      std::size_t bytes = 0;
      bool scheduled = false;
    };
    std::map<Node, Waiting> waiting;  // by sender: RPCs read once its budget allows
  };
  Node make_node();
  void start_heartbeat(Node n, Duration first);
  void on_rpc(Node self, Node from, const SimRpc& rpc);
  void handle(Node self, Node from, const SimRpc& rpc);
  void read_waiting(Node self, Node from);
  void drain(Node n);
  void ping_link(Node a, Node b, std::uint64_t generation);  // both ways, then again after ping_interval

  GossipSimConfig cfg_;
  std::unique_ptr<sim::SeededRandom> root_;
  sim::Scheduler sched_;
  std::unique_ptr<sim::Network<SimRpc>> net_;
  std::deque<NodeState> nodes_;  // a deque: add_node() must not move the others
  std::map<PeerId, Node> index_;
  std::unordered_map<MessageId, std::map<Node, Reception>, BytesHash> receptions_;
  std::vector<sim::EventHandle> heartbeats_;
  std::map<std::pair<Node, Node>, std::uint64_t> link_generation_;  // ends a link's ping chain when it goes
  SimStats stats_;
  std::function<void(Node, const Delivery&)> on_delivery_;
};

}  // namespace shardnode::pubsub
