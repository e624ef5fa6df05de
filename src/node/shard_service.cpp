#include "shardnode/node/shard_service.h"

#include <boost/asio/post.hpp>

#include <chrono>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"
#include "shardnode/shard/table_protocol.h"
#include "shardnode/shard/topics.h"

namespace shardnode::node {
namespace asio = boost::asio;

class ShardService::Io final : public shard::ShardIo {
 public:
  explicit Io(ShardService& s) : s_(s) {}
  void subscribe(const std::string& topic) override {
    if (auto k = shard::shard_of_collation_topic(topic)) {
      s_.watch_collations(*k);
      s_.collations_->on_joined(*k);
    }
    s_.ps_.subscribe(topic);
  }
  void unsubscribe(const std::string& topic) override {
    if (auto k = shard::shard_of_collation_topic(topic)) s_.collations_->on_left(*k);
    s_.ps_.unsubscribe(topic);
  }
  Result<pubsub::MessageId> publish(const std::string& topic, Bytes data) override {
    auto r = s_.ps_.publish(topic, std::move(data));
    if (!r) logging::get("shard")->debug("publish on {}: {}", topic, r.error().what());
    return r;
  }
  void request(const PeerId& peer, const std::string& protocol, Bytes request, std::size_t max_response,
               std::function<void(Result<Bytes>)> done) override {
    s_.rr_.request(peer, protocol, std::move(request), max_response, s_.cfg_.request_timeout,
                   [this, peer, done = std::move(done)](Result<Bytes> r) {
                     // Broken framing or an oversize answer is the peer's protocol violation.
                     if (!r && r.error().code == net::RequestErrc::bad_response) penalize(peer, 1);
                     done(std::move(r));
                   });
  }
  void request_table(const PeerId& peer, Bytes request) override {
    this->request(peer, shard::kTableProtocol, std::move(request), s_.cfg_.manager.protocol.max_response_bytes,
                  [this, peer](Result<Bytes> r) {
                    if (s_.stopped_) return;
                    if (r) s_.manager_->on_table_response(peer, *r, s_.now_ms());
                    else s_.manager_->on_table_failure(peer);
                  });
  }
  bool connected(const PeerId& peer) const override { return s_.host_.connected(peer); }
  std::vector<PeerId> connected_peers() const override { return s_.host_.peers(); }
  void dial(const PeerId& peer, const Ed25519PublicKey& key) override {
    auto addr = s_.cfg_.address_of ? s_.cfg_.address_of(peer, key)
                                   : std::optional(Multiaddr::onion3(key, s_.cfg_.onion_port));
    if (!addr) return;
    s_.host_.connect(*addr, [peer](Result<PeerId> r) {
      if (!r) logging::get("shard")->debug("dial {} for a shard: {}", peer.to_string(), r.error().what());
    });
  }
  void find_members(std::uint32_t shard) override {
    if (s_.cfg_.find_members) s_.cfg_.find_members(shard);
  }
  std::size_t mesh_size(const std::string& topic) const override { return s_.ps_.router().mesh(topic).size(); }
  void penalize(const PeerId& peer, double count) override {
    if (auto* sc = s_.ps_.router().scoring()) sc->add_penalty(peer, count);
  }

 private:
  ShardService& s_;
};

namespace {

shard::CollationRuntimeConfig runtime_config(const ShardServiceConfig& c, bool stem) {
  shard::CollationRuntimeConfig r;
  r.genesis_ms = c.genesis_s * 1000;
  r.period_ms = c.period_s * 1000;
  r.max_age_periods = c.max_age_periods;
  r.prune = false;  // the store is the node's durable record; pruning is an operator decision
  r.limits = c.collation_limits;
  r.protocol = c.collation_protocol;
  r.max_seen = c.max_seen;
  r.requests_per_minute = c.collation_requests_per_minute;
  r.sync_on_join = c.sync_on_join;
  r.sync_max_count = static_cast<std::uint32_t>(c.collation_protocol.max_count);
  r.request_timeout = c.request_timeout;
  r.stem = stem;
  for (const auto& k : c.known_validators) r.known_validators.insert(k.bytes);
  r.known_validators_only = c.known_validators_only;
  return r;
}

}  // namespace

ShardService::ShardService(asio::io_context& io, net::Host& host, pubsub::PubsubService& ps, const NodeKey& key,
                           ShardServiceConfig cfg)
    : io_(io),
      host_(host),
      ps_(ps),
      cfg_(std::move(cfg)),
      clock_(cfg_.clock ? cfg_.clock : &steady_),
      wall_(cfg_.wall ? cfg_.wall : &system_wall_),
      rr_(io, host),
      tick_(io, *clock_) {
  shard_io_ = std::make_unique<Io>(*this);
  manager_ = std::make_unique<shard::ShardManager>(key, cfg_.manager, *shard_io_);
  manager_->set_random(rng_);
  collations_ = std::make_unique<shard::CollationRuntime>(runtime_config(cfg_, ps_.router().config().stem.enabled),
                                                          host_.peer_id(), *shard_io_, *manager_, *clock_, *wall_,
                                                          nullptr);
  collations_->add_collation_listener([this](const shard::Collation& c, const shard::Hash32& id) {
    if (on_collation_) on_collation_(c, id);
  });
  // P5: credit for first deliveries of known validators' collations.
  if (!cfg_.known_validators.empty())
    if (auto* sc = ps_.router().scoring())
      sc->set_app_specific_score([this, alive = alive_](const PeerId& p) {
        return *alive ? collations_->app_score(p) : 0.0;
      });
  collations_->on_sync_done([this](const shard::SyncRecord& s) {
    if (on_sync_done_) on_sync_done_(s);
  });
  ps_.on_own_gossiped([this, alive = alive_](const pubsub::MessageId& mid) {
    if (*alive) collations_->on_own_gossiped(mid);
  });
  manager_->on_jump_done([this, alive = alive_](const shard::JumpRecord& j) {
    // A completed jump starts the shard's sync, once the manager's call is over.
    asio::post(io_, [this, alive, j] {
      if (*alive && !stopped_) collations_->on_jump_done(j);
    });
    // Listeners may remove themselves (or others) while we iterate: walk by id.
    for (auto it = jump_listeners_.begin(); it != jump_listeners_.end();) {
      const std::uint64_t id = it->first;
      auto f = it->second;
      f(j);
      it = jump_listeners_.upper_bound(id);
    }
  });
}

void ShardService::set_validator_key(std::unique_ptr<shard::ValidatorKey> key) {
  validator_ = std::move(key);
  collations_->set_validator_key(validator_.get());
}

std::uint64_t ShardService::add_jump_listener(JumpListener f) {
  const std::uint64_t id = next_listener_id_++;
  jump_listeners_.emplace(id, std::move(f));
  return id;
}

void ShardService::remove_jump_listener(std::uint64_t id) { jump_listeners_.erase(id); }

ShardService::~ShardService() {
  *alive_ = false;
  if (!cfg_.known_validators.empty())
    if (auto* sc = ps_.router().scoring()) sc->set_app_specific_score(nullptr);
  stop();
}

Status ShardService::start() {
  if (cfg_.validation_threads > 0 && !pool_)
    pool_ = std::make_unique<WorkerPool>(cfg_.validation_threads, cfg_.validation_queue);
  if (!cfg_.store_file.empty()) {
    shard::StoreLimits sl;
    sl.collation = cfg_.collation_limits;
    auto st = shard::SqliteCollationStore::open(cfg_.store_file, sl);
    if (!st) return st.error();
    store_ = std::move(*st);
    collations_->set_store(store_.get());
    rr_.serve(shard::kCollationProtocol, 128,
              [this](const PeerId& peer, ByteView req) { return collations_->answer(peer, req); });
  }
  ps_.set_validator(std::string(shard::kPreferenceTopic),
                    [this, alive = alive_](const PeerId& source, const pubsub::Message& m) {
                      return *alive ? std::optional(manager_->on_preference_message(m.data, source, now_ms()))
                                    : std::optional(pubsub::ValidationResult::ignore);
                    });
  rr_.serve(shard::kTableProtocol, 64, [this](const PeerId&, ByteView req) { return manager_->answer_table_request(req); });
  if (cfg_.beacon) {
    shard::BeaconTrackerConfig bc;
    bc.genesis_ms = cfg_.genesis_s * 1000;
    bc.slot_ms = cfg_.period_s * 1000;
    beacon_ = std::make_unique<shard::BeaconTracker>(bc);
    beacon_->on_head_changed([this, alive = alive_](const shard::BeaconHead& h) {
      if (*alive && on_beacon_head_) on_beacon_head_(h);
    });
    ps_.set_validator(std::string(shard::kBeaconTopic),
                      [this, alive = alive_](const PeerId&, const pubsub::Message& m) {
                        if (!*alive || !beacon_) return std::optional(pubsub::ValidationResult::ignore);
                        auto check = beacon_->on_message(m.data, now_ms());
                        if (check.result == pubsub::ValidationResult::reject)
                          logging::get("shard")->info("beacon header rejected: {}", check.reason);
                        return std::optional(check.result);
                      });
    ps_.subscribe(std::string(shard::kBeaconTopic));
  }
  host_.on_peer_connected([this, alive = alive_](const PeerId& p) {
    if (*alive && !stopped_) manager_->on_peer_connected(p, now_ms());
  });
  for (auto s : cfg_.shards)
    if (auto st = manager_->join(s, now_ms()); !st) logging::get("shard")->warn("{}", st.error().what());
  manager_->start(now_ms());
  schedule_tick();
  return {};
}

void ShardService::stop() {
  if (stopped_) return;
  stopped_ = true;
  tick_.cancel();
  rr_.stop();
}

// The validator of a collation topic: the runtime's verdict (accepted collations are
// stored and handed to the listeners before the router forwards them).
// With validation workers, the cheap checks run here and the signature on a worker;
// the verdict comes back to the io thread and to the router (asynchronous validation).
void ShardService::watch_collations(std::uint32_t k) {
  ps_.set_validator(shard::collation_topic(k), [this, k, alive = alive_](const PeerId& source,
                                                                          const pubsub::Message& m)
                                                   -> std::optional<pubsub::ValidationResult> {
    if (!*alive) return pubsub::ValidationResult::ignore;
    if (!pool_) return collations_->validate(k, source, m.data);
    auto pre = collations_->precheck(k, source, m.data);
    if (pre.result != pubsub::ValidationResult::accept || !pre.collation || !pre.hash) return pre.result;
    auto job = [this, alive, k, source, mid = ps_.router().config().message_id(m),
                c = std::make_shared<shard::Collation>(std::move(*pre.collation)), id = *pre.hash] {
      Status verdict = shard::check_body_and_signature(*c);
      boost::asio::post(io_, [this, alive, k, source, mid, c, id, verdict = std::move(verdict)] {
        if (!*alive) return;
        ps_.report_validation(mid, collations_->finish(k, source, *c, id, verdict));
      });
    };
    if (!pool_->try_submit(std::move(job))) {
      ++validations_refused_;
      return pubsub::ValidationResult::ignore;
    }
    return std::nullopt;
  });
}

// Forget old beacon ids; a proposer signs one header per slot, on its own head.
void ShardService::beacon_tick() {
  if (!beacon_) return;
  const auto now = now_ms();
  beacon_->prune(now);
  if (!cfg_.beacon_proposer || !validator_) return;
  const auto slot = beacon_->slot_at(now);
  if (proposed_beacon_ && slot <= last_beacon_slot_) return;
  const auto& head = beacon_->head();
  shard::Hash32 state_root = shard::sha256(ByteView(tip_bytes()));
  auto h = shard::make_beacon_header(*validator_, slot, head ? head->hash : shard::Hash32{}, state_root);
  auto check = beacon_->on_local(h, now);
  proposed_beacon_ = true;
  last_beacon_slot_ = slot;
  if (check.result != pubsub::ValidationResult::accept) {
    logging::get("shard")->debug("own beacon header for slot {} not taken: {}", slot, check.reason);
    return;
  }
  if (auto r = ps_.publish(std::string(shard::kBeaconTopic), shard::encode(h)); !r)
    logging::get("shard")->debug("beacon header for slot {}: {}", slot, r.error().what());
}

// The shard tips we know (shard, collation id), as bytes: what a beacon header's
// state root commits to here (there is no state transition yet).
Bytes ShardService::tip_bytes() const {
  Bytes out;
  for (const auto& [k, id] : collations_->tips()) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(k >> (8 * i)));
    out.insert(out.end(), id.begin(), id.end());
  }
  return out;
}

void ShardService::schedule_tick() {
  // On the injected clock: a manual one (tests, the fuzz target) runs the tick when it
  // is moved past the deadline, not on real time.
  tick_.expires_after(std::chrono::seconds(1), [this, alive = alive_] {
    if (!*alive || stopped_) return;
    manager_->tick(now_ms());
    collations_->tick();
    beacon_tick();
    schedule_tick();
  });
}

}  // namespace shardnode::node
