#include "shard_sim.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <system_error>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/shard/topics.h"
#include "shardnode/sim/seeding.h"

namespace shardnode::shard {

namespace {

std::chrono::milliseconds ms(std::uint64_t v) { return std::chrono::milliseconds(static_cast<std::int64_t>(v)); }

void put_be(Bytes& out, std::uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

Error request_error(std::errc code, std::string message) { return Error{std::make_error_code(code), std::move(message)}; }

}  // namespace

struct ShardSim::NodeIo final : ShardIo {
  NodeIo(ShardSim& sim, Node n) : sim_(sim), n_(n) {}
  pubsub::Router& router() const { return sim_.gossip_.router(n_); }
  TimePoint now() const { return sim_.gossip_.now(); }

  void subscribe(const std::string& topic) override {
    sim_.gossip_.subscribe(n_, topic);
    if (auto k = shard_of_collation_topic(topic)) sim_.nodes_[n_]->runtime->on_joined(*k);
  }
  void unsubscribe(const std::string& topic) override {
    router().unsubscribe(topic, now());
    if (auto k = shard_of_collation_topic(topic)) sim_.nodes_[n_]->runtime->on_left(*k);
  }
  Result<pubsub::MessageId> publish(const std::string& topic, Bytes data) override {
    return sim_.gossip_.publish(n_, topic, std::move(data));
  }
  void request(const PeerId& peer, const std::string& protocol, Bytes req, std::size_t max_response,
               std::function<void(Result<Bytes>)> done) override {
    auto to = sim_.gossip_.node_of(peer);
    // Never answered inside this call (the ShardIo contract): a refusal comes as an event.
    if (!to || !sim_.gossip_.linked(n_, *to)) {
      sim_.gossip_.scheduler().schedule_after(Duration{0}, [done = std::move(done), p = peer.to_string()] {
        done(request_error(std::errc::not_connected, "not connected to " + p));
      });
      return;
    }
    sim_.request(n_, *to, protocol, std::move(req), [max_response, done = std::move(done)](Result<Bytes> r) {
      if (r && r->size() > max_response)
        return done(request_error(std::errc::message_size, "response of " + std::to_string(r->size()) + " bytes"));
      done(std::move(r));
    });
  }
  void request_table(const PeerId& peer, Bytes request) override {
    auto to = sim_.gossip_.node_of(peer);
    if (!to) return sim_.nodes_[n_]->manager->on_table_failure(peer);
    sim_.request(n_, *to, kTableProtocol, std::move(request), [this, peer](Result<Bytes> r) {
      auto& self = *sim_.nodes_[n_];
      if (!r) return self.manager->on_table_failure(peer);
      self.manager->on_table_response(peer, *r, sim_.now_ms());
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
  if (cfg_.collation.period_ms == 0) cfg_.collation.period_ms = 1;
  if (cfg_.beacon.slot_ms == 0) cfg_.beacon.slot_ms = 1;
  wall_ = std::make_unique<OffsetWallClock>(gossip_.scheduler().clock(), cfg_.unix_start_ms);
  BeaconTrackerConfig bcfg;
  bcfg.genesis_ms = cfg_.unix_start_ms;
  bcfg.slot_ms = cfg_.beacon.slot_ms;
  bcfg.max_past_slots = cfg_.beacon.max_past_slots;
  bcfg.max_future_slots = cfg_.beacon.max_future_slots;
  CollationRuntimeConfig rcfg;
  rcfg.genesis_ms = cfg_.unix_start_ms;
  rcfg.period_ms = cfg_.collation.period_ms;
  rcfg.max_age_periods = cfg_.collation.retention_periods;
  rcfg.prune = true;
  rcfg.limits = cfg_.collation.limits;
  rcfg.protocol = cfg_.collation.protocol;
  rcfg.requests_per_minute = 0;
  rcfg.sync_on_join = cfg_.collation.sync_on_join;
  rcfg.sync_max_count = cfg_.collation.sync_max_count;
  rcfg.stem = false;
  for (Node n = 0; n < gossip_.size(); ++n) {
    auto st = std::make_unique<NodeState>();
    st->io = std::make_unique<NodeIo>(*this, n);
    st->manager = std::make_unique<ShardManager>(gossip_.key(n), cfg_.shard, *st->io);
    st->rng = std::make_unique<sim::SeededRandom>(sim::seeded_for_simulation(cfg_.gossip.seed).fork(3'000'000 + n));
    st->manager->set_random(*st->rng);
    // Every put comes from check_collation or decode_collation: no second signature check.
    st->store = std::make_unique<MemoryCollationStore>(
        MemoryCollationStore::Options{.collation = cfg_.collation.limits, .verify = false});
    st->runtime = std::make_unique<CollationRuntime>(rcfg, gossip_.peer(n), *st->io, *st->manager,
                                                     gossip_.scheduler().clock(), *wall_, st->store.get());
    st->beacon = std::make_unique<BeaconTracker>(bcfg);
    auto& router = gossip_.router(n);
    // Preference records are validated (and stored) by the manager, as in a node.
    ShardManager* m = st->manager.get();
    router.set_validator(std::string(kPreferenceTopic), [this, m](const PeerId& source, const pubsub::Message& msg) {
      return std::optional(m->on_preference_message(msg.data, source, now_ms()));
    });
    CollationRuntime* rt = st->runtime.get();
    for (std::uint32_t k = 0; cfg_.collation_validators && k < cfg_.shard.shard_count; ++k) {
      router.set_validator(collation_topic(k), [rt, k](const PeerId& source, const pubsub::Message& msg) {
        return std::optional(rt->validate(k, source, msg.data));
      });
    }
    BeaconTracker* b = st->beacon.get();
    router.set_validator(std::string(kBeaconTopic), [this, b](const PeerId&, const pubsub::Message& msg) {
      return std::optional(b->on_message(msg.data, now_ms()).result);
    });
    st->handlers[kTableProtocol] = [m](Node, Node, ByteView req) { return m->answer_table_request(req); };
    st->handlers[kCollationProtocol] = [this, rt](Node, Node from, ByteView req) {
      return rt->answer(gossip_.peer(from), req);
    };
    // A completed jump starts the shard's sync (next event, outside the manager's call).
    m->on_jump_done([this, rt](const JumpRecord& j) {
      gossip_.scheduler().schedule_after(Duration{0}, [rt, j] { rt->on_jump_done(j); });
    });
    nodes_.push_back(std::move(st));
  }
  gossip_.scheduler().every(cfg_.tick, cfg_.tick, [this] {
    const auto t = now_ms();
    for (Node n = 0; n < nodes_.size(); ++n) {
      auto& st = *nodes_[n];
      if (!st.started) continue;
      st.manager->tick(t);
      st.runtime->tick();
      st.beacon->prune(t);
    }
  });
  gossip_.scheduler().every(ms(cfg_.collation.period_ms), ms(cfg_.collation.period_ms), [this] {
    if (cfg_.collation.auto_propose) propose_round();
  });
  if (cfg_.beacon.enabled)
    gossip_.scheduler().every(ms(cfg_.beacon.slot_ms), ms(cfg_.beacon.slot_ms), [this] { propose_beacons(); });
}

ShardSim::~ShardSim() = default;

std::uint64_t ShardSim::now_ms() const { return wall_->unix_ms(); }

std::uint64_t ShardSim::current_period() const { return (now_ms() - cfg_.unix_start_ms) / cfg_.collation.period_ms; }

void ShardSim::start(Node n, const std::set<std::uint32_t>& shards) {
  auto& st = *nodes_[n];
  st.started = true;
  if (cfg_.beacon.enabled) gossip_.subscribe(n, std::string(kBeaconTopic));
  for (auto s : shards) (void)st.manager->join(s, now_ms());
  st.manager->start(now_ms());
}

// ---- request protocols ----

void ShardSim::request(Node from, Node to, const std::string& protocol, Bytes req,
                       std::function<void(Result<Bytes>)> done) {
  if (to >= size() || !gossip_.linked(from, to))
    return done(request_error(std::errc::not_connected, "not connected to node " + std::to_string(to)));
  // One round trip over the link's latency; the peer answers if it is started.
  const Duration rtt = 2 * cfg_.gossip.link.latency;
  gossip_.scheduler().schedule_after(
      rtt, [this, from, to, protocol, req = std::move(req), done = std::move(done)]() mutable {
        if (!nodes_[to]->started || !gossip_.linked(from, to))
          return done(request_error(std::errc::connection_reset, "node " + std::to_string(to) + " did not answer"));
        done(answer(to, from, protocol, req));
      });
}

Result<Bytes> ShardSim::answer(Node self, Node from, const std::string& protocol, ByteView req) {
  auto& st = *nodes_[self];
  auto h = st.handlers.find(protocol);
  if (h == st.handlers.end())
    return request_error(std::errc::protocol_not_supported, "no handler for " + protocol);
  ++st.answered[protocol];
  if (auto o = st.overrides.find(protocol); o != st.overrides.end() && o->second)
    if (auto forged = o->second(self, from, req)) return std::move(*forged);
  return h->second(self, from, req);
}

void ShardSim::set_answer(Node n, const std::string& protocol, Override f) { nodes_[n]->overrides[protocol] = std::move(f); }

std::size_t ShardSim::requests_answered(Node n, const std::string& protocol) const {
  auto it = nodes_[n]->answered.find(protocol);
  return it == nodes_[n]->answered.end() ? 0 : it->second;
}

void ShardSim::set_table_answer(Node n, std::function<Bytes()> f) {
  set_answer(n, kTableProtocol, [f = std::move(f)](Node, Node, ByteView) { return std::optional<Bytes>(f()); });
}

// ---- collations ----

const ValidatorKey& ShardSim::validator_key(Node n) {
  auto& st = *nodes_[n];
  if (!st.vkey) {
    Bytes in;
    const std::string_view tag = "shardsim/validator-key/v1";
    in.insert(in.end(), tag.begin(), tag.end());
    put_be(in, cfg_.gossip.seed, 8);
    put_be(in, n, 4);
    const Hash32 seed = sha256(in);
    st.vkey = std::make_unique<ValidatorKey>(std::move(ValidatorKey::from_seed(ByteView(seed)).value()));
  }
  return *st.vkey;
}

Result<Hash32> ShardSim::propose_collation(Node n, std::uint32_t shard, Bytes body) {
  auto& rt = *nodes_[n]->runtime;
  if (!rt.validator_key()) rt.set_validator_key(&validator_key(n));
  return rt.propose(shard, std::move(body));
}

void ShardSim::propose_round() {
  const auto period = current_period();
  for (std::uint32_t k = 0; k < cfg_.shard.shard_count; ++k) {
    std::vector<Node> members;
    for (Node n = 0; n < size(); ++n)
      if (nodes_[n]->started && nodes_[n]->manager->shards().count(k)) members.push_back(n);
    if (members.empty()) continue;
    const Node p = members[period % members.size()];
    Bytes body;
    const std::string_view tag = "sim collation";
    body.insert(body.end(), tag.begin(), tag.end());
    put_be(body, k, 4);
    put_be(body, period, 8);
    put_be(body, p, 4);
    if (auto r = propose_collation(p, k, std::move(body)); !r)
      logging::get("shard")->warn("sim: node {} could not propose on shard {}: {}", p, k, r.error().what());
  }
}

std::set<Hash32> ShardSim::collations(Node n, std::optional<std::uint32_t> shard) const {
  return nodes_[n]->store->ids(shard);
}

const Collation* ShardSim::collation(Node n, const Hash32& id) const { return nodes_[n]->store->find(id); }

const SyncRecord* ShardSim::sync(Node n, std::uint32_t shard) const { return nodes_[n]->runtime->sync(shard); }

Result<Bytes> ShardSim::answer_collations(Node n, ByteView request) {
  return nodes_[n]->runtime->answer(gossip_.peer(n), request);
}

// ---- beacon ----

void ShardSim::set_beacon_proposer(Node n, bool on) { nodes_[n]->beacon_proposer = on; }

void ShardSim::propose_beacons() {
  std::vector<Node> proposers;
  for (Node n = 0; n < size(); ++n)
    if (nodes_[n]->started && nodes_[n]->beacon_proposer) proposers.push_back(n);
  if (proposers.empty()) return;
  const auto t = now_ms();
  const std::uint64_t slot = nodes_[proposers.front()]->beacon->slot_at(t);
  const std::size_t count = std::min(cfg_.beacon.proposers_per_slot, proposers.size());
  for (std::size_t i = 0; i < count; ++i) {
    const Node p = proposers[(slot * count + i) % proposers.size()];
    auto& st = *nodes_[p];
    const auto& head = st.beacon->head();
    Bytes root_in;
    put_be(root_in, slot, 8);
    put_be(root_in, p, 4);
    auto h = make_beacon_header(validator_key(p), slot, head ? head->hash : Hash32{}, sha256(root_in));
    (void)st.beacon->on_local(h, t);
    st.beacon_proposed.push_back(h);
    (void)gossip_.publish(p, std::string(kBeaconTopic), encode(h));
  }
}

}  // namespace shardnode::shard
