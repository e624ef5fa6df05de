#include "shard_sim.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <system_error>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/shard/topics.h"

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
    if (auto k = shard_of_collation_topic(topic)) sim_.on_subscribed(n_, *k);
  }
  void unsubscribe(const std::string& topic) override {
    router().unsubscribe(topic, now());
    if (auto k = shard_of_collation_topic(topic)) sim_.on_unsubscribed(n_, *k);
  }
  void publish(const std::string& topic, Bytes data) override { (void)sim_.gossip_.publish(n_, topic, std::move(data)); }
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
  BeaconTrackerConfig bcfg;
  bcfg.genesis_ms = cfg_.unix_start_ms;
  bcfg.slot_ms = cfg_.beacon.slot_ms;
  bcfg.max_past_slots = cfg_.beacon.max_past_slots;
  bcfg.max_future_slots = cfg_.beacon.max_future_slots;
  for (Node n = 0; n < gossip_.size(); ++n) {
    auto st = std::make_unique<NodeState>();
    st->io = std::make_unique<NodeIo>(*this, n);
    st->manager = std::make_unique<ShardManager>(gossip_.key(n), cfg_.shard, *st->io);
    st->rng = std::make_unique<sim::SeededRandom>(sim::SeededRandom(cfg_.gossip.seed).fork(3'000'000 + n));
    st->manager->set_random(*st->rng);
    st->beacon = std::make_unique<BeaconTracker>(bcfg);
    auto& router = gossip_.router(n);
    // Preference records are validated (and stored) by the manager, as in a node.
    ShardManager* m = st->manager.get();
    router.set_validator(std::string(kPreferenceTopic), [this, m](const PeerId& source, const pubsub::Message& msg) {
      return std::optional(m->on_preference_message(msg.data, source, now_ms()));
    });
    // Collation topics: check_collation, and the accepted ones kept.
    for (std::uint32_t k = 0; cfg_.collation_validators && k < cfg_.shard.shard_count; ++k) {
      router.set_validator(collation_topic(k), [this, n, k](const PeerId&, const pubsub::Message& msg) {
        auto& self = *nodes_[n];
        auto c = check_collation(msg.data, k, current_period(), cfg_.collation.retention_periods, cfg_.collation.limits,
                                 [&self](const Hash32& h) { return self.by_id.count(h) != 0; });
        if (c.result == pubsub::ValidationResult::accept) store(n, *c.collation, *c.hash);
        if (c.result == pubsub::ValidationResult::reject) ++self.collations_rejected;
        return std::optional(c.result);
      });
    }
    BeaconTracker* b = st->beacon.get();
    router.set_validator(std::string(kBeaconTopic), [this, b](const PeerId&, const pubsub::Message& msg) {
      return std::optional(b->on_message(msg.data, now_ms()).result);
    });
    st->handlers[kTableProtocol] = [m](Node, Node, ByteView req) { return m->answer_table_request(req); };
    st->handlers[kCollationProtocol] = [this](Node self, Node, ByteView req) { return answer_collations(self, req); };
    // A completed jump starts the shard's sync (next event, outside the manager's call).
    m->on_jump_done([this, n](const JumpRecord& j) {
      if (!j.completed) return;
      gossip_.scheduler().schedule_after(Duration{0}, [this, n, k = j.shard] { advance_sync(n, k); });
    });
    nodes_.push_back(std::move(st));
  }
  gossip_.scheduler().every(cfg_.tick, cfg_.tick, [this] {
    const auto t = now_ms();
    for (Node n = 0; n < nodes_.size(); ++n) {
      auto& st = *nodes_[n];
      if (!st.started) continue;
      st.manager->tick(t);
      prune(n);
      std::vector<std::uint32_t> pending;
      for (const auto& [k, s] : st.syncs)
        if (!s.done) pending.push_back(k);
      for (auto k : pending) advance_sync(n, k);
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

std::uint64_t ShardSim::now_ms() const {
  return cfg_.unix_start_ms +
         static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        gossip_.now())
                                        .count());
}

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

bool ShardSim::store(Node n, const Collation& c, const Hash32& id) {
  auto& st = *nodes_[n];
  if (!st.by_id.emplace(id, c).second) return false;
  st.index.emplace(c.header.shard, c.header.period, id);
  return true;
}

void ShardSim::prune(Node n) {
  const auto cur = current_period();
  const auto keep = cfg_.collation.retention_periods;
  if (cur <= keep) return;
  auto& st = *nodes_[n];
  for (auto it = st.index.begin(); it != st.index.end();) {
    if (std::get<1>(*it) + keep < cur) {
      st.by_id.erase(std::get<2>(*it));
      it = st.index.erase(it);
    } else {
      ++it;
    }
  }
}

Result<Hash32> ShardSim::propose_collation(Node n, std::uint32_t shard, Bytes body) {
  if (body.size() > cfg_.collation.limits.max_body_bytes)
    return Error{ShardErrc::oversize, "collation body of " + std::to_string(body.size()) + " bytes"};
  auto& st = *nodes_[n];
  // The parent: the newest collation held on the shard (highest period, then smallest id).
  Hash32 parent{};
  auto it = st.index.lower_bound(CollationKey{shard + 1, 0, Hash32{}});
  if (shard + 1 == 0) it = st.index.end();
  if (it != st.index.begin()) {
    auto prev = std::prev(it);
    if (std::get<0>(*prev) == shard) {
      const auto newest = std::get<1>(*prev);
      parent = std::get<2>(*st.index.lower_bound(CollationKey{shard, newest, Hash32{}}));
    }
  }
  auto c = make_collation(validator_key(n), shard, current_period(), parent, std::move(body));
  const auto id = collation_hash(c.header);
  store(n, c, id);
  if (auto r = gossip_.publish(n, collation_topic(shard), encode(c)); !r) return r.error();
  return id;
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
  std::set<Hash32> out;
  for (const auto& [k, period, id] : nodes_[n]->index)
    if (!shard || k == *shard) out.insert(id);
  return out;
}

const Collation* ShardSim::collation(Node n, const Hash32& id) const {
  auto it = nodes_[n]->by_id.find(id);
  return it == nodes_[n]->by_id.end() ? nullptr : &it->second;
}

const SyncRecord* ShardSim::sync(Node n, std::uint32_t shard) const {
  auto it = nodes_[n]->syncs.find(shard);
  return it == nodes_[n]->syncs.end() ? nullptr : &it->second;
}

Result<Bytes> ShardSim::answer_collations(Node n, ByteView request) const {
  const auto& lim = cfg_.collation.protocol;
  auto req = decode_collation_request(request, lim);
  if (!req) return req.error();
  const auto& st = *nodes_[n];
  CollationResponse resp;
  if (const auto* h = std::get_if<CollationHashRequest>(&*req)) {
    if (auto it = st.by_id.find(h->hash); it != st.by_id.end()) resp.collations.push_back(encode(it->second));
    return encode_collation_response(resp);
  }
  const auto& rr = std::get<CollationRangeRequest>(*req);
  const std::size_t max_count = std::min<std::size_t>(rr.max_count, lim.max_count);
  const std::size_t max_bytes = lim.max_response_bytes > 1024 ? lim.max_response_bytes - 1024 : 0;
  std::size_t bytes = 0;
  for (auto it = st.index.lower_bound(CollationKey{rr.shard, rr.from_period, Hash32{}});
       it != st.index.end() && std::get<0>(*it) == rr.shard && std::get<1>(*it) <= rr.to_period; ++it) {
    Bytes e = encode(st.by_id.at(std::get<2>(*it)));
    if (resp.collations.size() >= max_count || bytes + e.size() + 10 > max_bytes) {
      resp.truncated = true;
      break;
    }
    bytes += e.size() + 10;
    resp.collations.push_back(std::move(e));
  }
  return encode_collation_response(resp);
}

void ShardSim::on_subscribed(Node n, std::uint32_t shard) {
  auto& st = *nodes_[n];
  SyncRecord s;
  s.shard = shard;
  s.joined_ms = now_ms();
  st.syncs[shard] = std::move(s);
  ++st.sync_gen[shard];
  st.sync_in_flight.erase(shard);
}

void ShardSim::on_unsubscribed(Node n, std::uint32_t shard) {
  auto& st = *nodes_[n];
  st.syncs.erase(shard);
  ++st.sync_gen[shard];
  st.sync_in_flight.erase(shard);
}

// One range request at a time per shard: to the peer we are paging through, or else
// to the first connected peer the table lists on the shard that has not sent invalid
// collations (in table order). A new peer is asked for the whole window: the sync is
// done when one peer has answered all of it without truncation.
void ShardSim::advance_sync(Node n, std::uint32_t shard) {
  auto& st = *nodes_[n];
  if (!st.started || !cfg_.collation.sync_on_join) return;
  auto it = st.syncs.find(shard);
  if (it == st.syncs.end() || it->second.done || st.sync_in_flight.count(shard)) return;
  if (st.manager->jump_in_progress(shard)) return;
  SyncRecord& s = it->second;
  if (s.requests == 0) {
    const auto cur = current_period();
    const auto keep = cfg_.collation.retention_periods;
    s.from_period = cur > keep ? cur - keep : 0;
    s.to_period = cur + 1;
    s.next_from = s.from_period;
  }
  std::optional<Node> to;
  if (s.paging_with && st.io->connected(*s.paging_with) && !s.bad.count(*s.paging_with)) {
    to = gossip_.node_of(*s.paging_with);
  } else {
    s.paging_with.reset();
    s.next_from = s.from_period;
    const PeerId& self = gossip_.peer(n);
    for (const auto& p : st.manager->table().peers_on(shard)) {
      if (p == self || s.bad.count(p) || s.failed.count(p) || !st.io->connected(p)) continue;
      to = gossip_.node_of(p);
      if (to) break;
    }
    if (!to) {
      s.failed.clear();  // everyone reachable failed once: try them again next tick
      return;
    }
  }
  const PeerId peer = gossip_.peer(*to);
  if (s.started_ms == 0) s.started_ms = now_ms();
  CollationRangeRequest rr;
  rr.shard = shard;
  rr.from_period = s.next_from;
  rr.to_period = s.to_period;
  rr.max_count = static_cast<std::uint32_t>(
      std::min<std::size_t>(cfg_.collation.sync_max_count, cfg_.collation.protocol.max_count));
  ++s.requests;
  s.asked.push_back(peer);
  s.paging_with = peer;
  st.sync_in_flight.insert(shard);
  const std::uint64_t gen = st.sync_gen[shard];
  request(n, *to, kCollationProtocol, encode_collation_request(rr),
          [this, n, shard, gen, peer, from = rr.from_period](Result<Bytes> r) {
            on_sync_answer(n, shard, gen, peer, from, std::move(r));
          });
}

void ShardSim::on_sync_answer(Node n, std::uint32_t shard, std::uint64_t gen, const PeerId& peer, std::uint64_t from,
                              Result<Bytes> r) {
  auto& st = *nodes_[n];
  if (st.sync_gen[shard] != gen) return;  // left (or re-joined) the shard since
  st.sync_in_flight.erase(shard);
  auto it = st.syncs.find(shard);
  if (it == st.syncs.end()) return;
  SyncRecord& s = it->second;
  auto next = [&] { gossip_.scheduler().schedule_after(Duration{0}, [this, n, shard] { advance_sync(n, shard); }); };
  auto drop_peer = [&](bool bad) {
    (bad ? s.bad : s.failed).insert(peer);
    s.paging_with.reset();
    next();
  };
  if (!r) return drop_peer(false);
  auto resp = decode_collation_response(*r, cfg_.collation.protocol);
  if (!resp) {
    ++s.invalid;
    st.io->penalize(peer, 1);
    return drop_peer(true);
  }
  const auto cur = current_period();
  const auto keep = cfg_.collation.retention_periods;
  std::size_t invalid = 0, valid = 0;
  std::uint64_t last = from;
  for (const auto& e : resp->collations) {
    auto c = decode_collation(e, cfg_.collation.limits);
    // Verified, and what we asked for: this shard, within the window.
    if (!c || c->header.shard != shard || c->header.period < from || c->header.period > s.to_period) {
      ++invalid;
      continue;
    }
    ++valid;
    last = std::max(last, c->header.period);
    if (c->header.period + keep < cur) continue;  // fell out of the window meanwhile
    if (store(n, *c, collation_hash(c->header))) ++s.received;
  }
  if (invalid > 0) {
    s.invalid += invalid;
    st.io->penalize(peer, static_cast<double>(invalid));
    logging::get("shard")->info("sim: node {} got {} invalid collation(s) from {} syncing shard {}", n, invalid,
                                peer.to_string(), shard);
    return drop_peer(true);
  }
  if (resp->truncated) {
    if (valid == 0) return drop_peer(false);  // truncated yet empty: no progress possible with this peer
    // Ask again from the last period received (its collations may continue); past it
    // if the answer did not get beyond `from`, so paging always advances.
    s.next_from = last > from ? last : from + 1;
    if (s.next_from <= s.to_period) return next();
  }
  s.done = true;
  s.finished_ms = now_ms();
  s.completed_by = peer;
  s.paging_with.reset();
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
