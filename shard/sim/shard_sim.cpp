#include "shard_sim.h"

#include "shardnode/shard/topics.h"

namespace shardnode::shard {

struct ShardSim::NodeIo final : ShardIo {
  NodeIo(ShardSim& sim, Node n) : sim_(sim), n_(n) {}
  pubsub::Router& router() const { return sim_.gossip_.router(n_); }
  TimePoint now() const { return sim_.gossip_.now(); }

  void subscribe(const std::string& topic) override { sim_.gossip_.subscribe(n_, topic); }
  void unsubscribe(const std::string& topic) override { router().unsubscribe(topic, now()); }
  void publish(const std::string& topic, Bytes data) override { (void)sim_.gossip_.publish(n_, topic, std::move(data)); }
  void request_table(const PeerId& peer, Bytes request) override {
    auto to = sim_.gossip_.node_of(peer);
    if (!to || !sim_.gossip_.linked(n_, *to)) {
      sim_.nodes_[n_]->manager->on_table_failure(peer);
      return;
    }
    // One round trip over the link's latency; the peer answers if it runs a manager.
    const Duration rtt = 2 * sim_.cfg_.gossip.link.latency;
    const Node from = n_, dst = *to;
    sim_.gossip_.scheduler().schedule_after(rtt, [this, from, dst, peer, request = std::move(request)] {
      auto& other = *sim_.nodes_[dst];
      auto& self = *sim_.nodes_[from];
      if (!other.started || !sim_.gossip_.linked(from, dst)) return self.manager->on_table_failure(peer);
      ++other.answered;
      if (other.forged_answer) return self.manager->on_table_response(peer, other.forged_answer(), sim_.now_ms());
      auto resp = other.manager->answer_table_request(request);
      if (!resp) return self.manager->on_table_failure(peer);
      self.manager->on_table_response(peer, *resp, sim_.now_ms());
    });
  }
  bool connected(const PeerId& peer) const override {
    auto to = sim_.gossip_.node_of(peer);
    return to && sim_.gossip_.linked(n_, *to);
  }
  std::vector<PeerId> connected_peers() const override {
    std::vector<PeerId> out;
    for (auto m : sim_.gossip_.network().neighbors(n_)) out.push_back(sim_.gossip_.peer(m));
    return out;
  }
  void dial(const PeerId& peer, const Ed25519PublicKey&) override {
    auto to = sim_.gossip_.node_of(peer);
    if (!to || *to == n_) return;
    const Node a = n_, b = *to;
    sim_.gossip_.scheduler().schedule_after(sim_.cfg_.dial_delay, [this, a, b] {
      sim_.gossip_.link(a, b);
      const auto t = sim_.now_ms();
      if (sim_.nodes_[a]->started) sim_.nodes_[a]->manager->on_peer_connected(sim_.gossip_.peer(b), t);
      if (sim_.nodes_[b]->started) sim_.nodes_[b]->manager->on_peer_connected(sim_.gossip_.peer(a), t);
    });
  }
  std::size_t mesh_size(const std::string& topic) const override { return router().mesh(topic).size(); }
  void penalize(const PeerId& peer, double count) override {
    if (auto* s = router().scoring()) s->add_penalty(peer, count);
  }

  ShardSim& sim_;
  Node n_;
};

ShardSim::ShardSim(ShardSimConfig cfg) : cfg_(std::move(cfg)), gossip_(cfg_.gossip) {
  for (Node n = 0; n < gossip_.size(); ++n) {
    auto st = std::make_unique<NodeState>();
    st->io = std::make_unique<NodeIo>(*this, n);
    st->manager = std::make_unique<ShardManager>(gossip_.key(n), cfg_.shard, *st->io);
    // Preference records are validated (and stored) by the manager, as in a node.
    ShardManager* m = st->manager.get();
    gossip_.router(n).set_validator(std::string(kPreferenceTopic),
                                    [this, m](const PeerId& source, const pubsub::Message& msg) {
                                      return std::optional(m->on_preference_message(msg.data, source, now_ms()));
                                    });
    nodes_.push_back(std::move(st));
  }
  gossip_.scheduler().every(cfg_.tick, cfg_.tick, [this] {
    const auto t = now_ms();
    for (auto& st : nodes_)
      if (st->started) st->manager->tick(t);
  });
}

ShardSim::~ShardSim() = default;

std::uint64_t ShardSim::now_ms() const {
  return cfg_.unix_start_ms +
         static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        gossip_.now())
                                        .count());
}

void ShardSim::start(Node n, const std::set<std::uint32_t>& shards) {
  auto& st = *nodes_[n];
  st.started = true;
  for (auto s : shards) (void)st.manager->join(s, now_ms());
  st.manager->start(now_ms());
}

}  // namespace shardnode::shard
