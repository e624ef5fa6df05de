#include "shardnode/node/shard_service.h"

#include <chrono>

#include "shardnode/core/log.h"
#include "shardnode/net/framing.h"
#include "shardnode/core/errors.h"
#include "shardnode/shard/period.h"
#include "shardnode/shard/table_protocol.h"
#include "shardnode/shard/topics.h"

namespace shardnode::node {
namespace asio = boost::asio;

class ShardService::Io final : public shard::ShardIo {
 public:
  explicit Io(ShardService& s) : s_(s) {}
  void subscribe(const std::string& topic) override {
    if (auto k = shard::shard_of_collation_topic(topic)) s_.watch_collations(*k);
    s_.ps_.subscribe(topic);
  }
  void unsubscribe(const std::string& topic) override { s_.ps_.unsubscribe(topic); }
  void publish(const std::string& topic, Bytes data) override {
    if (auto r = s_.ps_.publish(topic, std::move(data)); !r)
      logging::get("shard")->debug("publish on {}: {}", topic, r.error().what());
  }
  void request_table(const PeerId& peer, Bytes request) override { s_.request_table(peer, std::move(request)); }
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
  std::size_t mesh_size(const std::string& topic) const override { return s_.ps_.router().mesh(topic).size(); }
  void penalize(const PeerId& peer, double count) override {
    if (auto* sc = s_.ps_.router().scoring()) sc->add_penalty(peer, count);
  }

 private:
  ShardService& s_;
};

std::uint64_t ShardService::now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

ShardService::ShardService(asio::io_context& io, net::Host& host, pubsub::PubsubService& ps, const NodeKey& key,
                           ShardServiceConfig cfg)
    : io_(io), host_(host), ps_(ps), cfg_(std::move(cfg)), tick_(io) {
  shard_io_ = std::make_unique<Io>(*this);
  manager_ = std::make_unique<shard::ShardManager>(key, cfg_.manager, *shard_io_);
  manager_->set_random(rng_);
  ps_.on_own_gossiped([this, alive = alive_](const pubsub::MessageId& mid) {
    if (!*alive) return;
    auto it = stemming_.find(mid);
    if (it == stemming_.end()) return;
    auto [c, id] = std::move(it->second);
    stemming_.erase(it);
    accept_collation(c, id);
  });
  manager_->on_jump_done([this](const shard::JumpRecord& j) {
    // Listeners may remove themselves (or others) while we iterate: walk by id.
    for (auto it = jump_listeners_.begin(); it != jump_listeners_.end();) {
      const std::uint64_t id = it->first;
      auto f = it->second;
      f(j);
      it = jump_listeners_.upper_bound(id);
    }
  });
}

std::uint64_t ShardService::add_collation_listener(CollationListener f) {
  const std::uint64_t id = next_listener_id_++;
  collation_listeners_.emplace(id, std::move(f));
  return id;
}

void ShardService::remove_collation_listener(std::uint64_t id) { collation_listeners_.erase(id); }

std::uint64_t ShardService::add_jump_listener(JumpListener f) {
  const std::uint64_t id = next_listener_id_++;
  jump_listeners_.emplace(id, std::move(f));
  return id;
}

void ShardService::remove_jump_listener(std::uint64_t id) { jump_listeners_.erase(id); }

ShardService::~ShardService() {
  *alive_ = false;
  stop();
}

Status ShardService::start() {
  if (!cfg_.store_file.empty()) {
    shard::StoreLimits sl;
    sl.collation = cfg_.collation_limits;
    auto st = shard::CollationStore::open(cfg_.store_file, sl);
    if (!st) return st.error();
    store_ = std::move(*st);
    host_.set_handler(shard::kCollationProtocol, [this, alive = alive_](std::shared_ptr<net::Stream> s) {
      if (*alive && !stopped_) serve_collations(s);
    });
  }
  ps_.set_validator(std::string(shard::kPreferenceTopic),
                    [this, alive = alive_](const PeerId& source, const pubsub::Message& m) {
                      return *alive ? std::optional(manager_->on_preference_message(m.data, source, now_ms()))
                                    : std::optional(pubsub::ValidationResult::ignore);
                    });
  host_.set_handler(shard::kTableProtocol, [this, alive = alive_](std::shared_ptr<net::Stream> s) {
    if (*alive && !stopped_) serve_table(s);
  });
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
  host_.remove_handler(shard::kTableProtocol);
  host_.remove_handler(shard::kCollationProtocol);
}

std::uint64_t ShardService::current_period() const {
  return shard::period_at(now_ms() / 1000, cfg_.genesis_s, cfg_.period_s);
}

bool ShardService::remember(const shard::Hash32& id) {
  if (!seen_.insert(id).second) return false;
  seen_order_.push_back(id);
  while (seen_order_.size() > cfg_.max_seen) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

// The validator of a collation topic: decode, verify, shard, size, period, duplicate.
// Accepted collations are remembered (and handed to on_collation) before the router
// forwards them.
void ShardService::watch_collations(std::uint32_t k) {
  ps_.set_validator(shard::collation_topic(k), [this, k, alive = alive_](const PeerId& source,
                                                                          const pubsub::Message& m) {
    if (!*alive) return std::optional(pubsub::ValidationResult::ignore);
    auto check = shard::check_collation(m.data, k, current_period(), cfg_.max_age_periods, cfg_.collation_limits,
                                        [this](const shard::Hash32& h) {
                                          return seen_.count(h) != 0 || (store_ && store_->contains(h));
                                        });
    if (check.result == pubsub::ValidationResult::reject) {
      ++collations_rejected_;
      logging::get("shard")->info("rejected a collation on shard {} from {}: {}", k, source.to_string(), check.reason);
    }
    if (check.result == pubsub::ValidationResult::accept && check.collation && check.hash)
      accept_collation(*check.collation, *check.hash);
    return std::optional(check.result);
  });
}

void ShardService::accept_collation(const shard::Collation& c, const shard::Hash32& id) {
  remember(id);
  ++collations_accepted_;
  tip_[c.header.shard] = id;
  if (store_) {
    if (auto r = store_->put(c); !r) logging::get("shard")->error("collation store: {}", r.error().what());
  }
  if (on_collation_) on_collation_(c, id);
  for (auto it = collation_listeners_.begin(); it != collation_listeners_.end();) {
    const std::uint64_t lid = it->first;
    auto f = it->second;
    f(c, id);
    it = collation_listeners_.upper_bound(lid);
  }
}

Result<shard::Hash32> ShardService::publish_collation(std::uint32_t k, Bytes body) {
  if (!validator_) return Error{ShardErrc::bad_signature, "no validator key: this node does not propose collations"};
  // With the stem, a collation for a shard we are not on leaves on the stem like any
  // other: nobody sees us publish on a shard we do not announce.
  const bool stem = ps_.router().config().stem.enabled;
  if (k >= manager_->config().shard_count || (!stem && !manager_->shards().count(k)))
    return Error{ShardErrc::wrong_shard, "not on shard " + std::to_string(k)};
  if (body.size() > cfg_.collation_limits.max_body_bytes)
    return Error{ShardErrc::oversize, "collation body of " + std::to_string(body.size()) + " bytes"};
  const shard::Hash32 parent = tip_.count(k) ? tip_[k] : shard::Hash32{};
  auto c = shard::make_collation(*validator_, k, current_period(), parent, std::move(body));
  const auto id = shard::collation_hash(c.header);
  if (!stem) {
    accept_collation(c, id);
    if (auto r = ps_.publish(shard::collation_topic(k), shard::encode(c)); !r) return r.error();
    return id;
  }
  // On the stem, nobody may be able to fetch it from us before it is in gossip: a
  // spy asking every peer for the current period would find its source. It is
  // stored (and served, and our tip) once pubsub reports it gossiped.
  auto r = ps_.publish(shard::collation_topic(k), shard::encode(c));
  if (!r) return r.error();
  if (stemming_.size() >= kMaxStemming) stemming_.erase(stemming_.begin());
  stemming_.emplace(*r, std::make_pair(std::move(c), id));
  return id;
}

// Once a minute: forget the request budgets of past minutes. (Stored collations are
// kept: the store is the node's durable record; pruning is an operator decision.)
void ShardService::housekeeping() {
  const std::uint64_t minute = now_ms() / 60000;
  if (minute == last_housekeeping_minute_) return;
  last_housekeeping_minute_ = minute;
  std::erase_if(served_, [minute](const auto& e) { return e.second.first != minute; });
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
  for (const auto& [k, id] : tip_) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(k >> (8 * i)));
    out.insert(out.end(), id.begin(), id.end());
  }
  return out;
}

void ShardService::schedule_tick() {
  tick_.expires_after(std::chrono::seconds(1));
  tick_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    manager_->tick(now_ms());
    housekeeping();
    beacon_tick();
    schedule_tick();
  });
}

// One request in, one response out, then the stream closes. A request that is not
// one well-formed frame within `max_request` bytes, or that `answer` refuses, resets
// the stream.
void ShardService::serve_one(const std::shared_ptr<net::Stream>& s, std::size_t max_request,
                             std::function<Result<Bytes>(const PeerId&, ByteView)> answer) {
  auto reader = std::make_shared<net::LengthPrefixedReader>(max_request);
  std::weak_ptr<net::Stream> w = s;
  s->on_data([w, reader, answer = std::move(answer), alive = alive_](ByteView b) {
    auto st = w.lock();
    if (!st || !*alive) return;
    if (Status ok = reader->received_bytes(b); !ok) return st->reset();
    auto req = reader->next();
    if (!req) return;
    auto resp = answer(st->remote_peer(), *req);
    if (!resp) {
      logging::get("shard")->info("{} request from {} refused: {}", st->protocol(), st->remote_peer().to_string(),
                                  resp.error().what());
      return st->reset();
    }
    (void)st->write(net::length_prefixed(*resp));
    st->close_write();
  });
}

void ShardService::serve_table(const std::shared_ptr<net::Stream>& s) {
  serve_one(s, 64, [this](const PeerId&, ByteView req) { return manager_->answer_table_request(req); });
}

void ShardService::request_table(const PeerId& peer, Bytes request) {
  exchange(peer, shard::kTableProtocol, std::move(request), cfg_.manager.protocol.max_response_bytes,
           [this, peer](Result<Bytes> r) {
             if (r) manager_->on_table_response(peer, *r, now_ms());
             else manager_->on_table_failure(peer);
           });
}

void ShardService::exchange(const PeerId& peer, const std::string& protocol, Bytes request, std::size_t max_response,
                            std::function<void(Result<Bytes>)> on_response) {
  auto alive = alive_;
  host_.new_stream(peer, {protocol}, [this, peer, protocol, request = std::move(request), max_response, alive,
                                      on_response = std::move(on_response)](Result<std::shared_ptr<net::Stream>> r) {
    if (!*alive || stopped_) return;
    if (!r) return on_response(r.error());
    auto s = *r;
    auto reader = std::make_shared<net::LengthPrefixedReader>(max_response);
    auto timer = std::make_shared<asio::steady_timer>(io_, cfg_.request_timeout);
    auto done = std::make_shared<bool>(false);
    auto finish = std::make_shared<std::function<void(Result<Bytes>)>>(on_response);
    timer->async_wait([s, done, finish, alive, protocol](const boost::system::error_code& ec) {
      if (ec || *done || !*alive) return;
      *done = true;
      s->reset();
      (*finish)(Error{ShardErrc::malformed, protocol + ": no response in time"});
    });
    std::weak_ptr<net::Stream> w = s;
    s->on_data([this, w, reader, timer, done, finish, peer, alive, protocol](ByteView b) {
      auto st = w.lock();
      if (!st || *done || !*alive) return;
      if (Status ok = reader->received_bytes(b); !ok) {
        *done = true;
        timer->cancel();
        st->reset();
        if (auto* sc = ps_.router().scoring()) sc->add_penalty(peer, 1);  // oversize or garbage framing
        (*finish)(Error{ShardErrc::oversize, protocol + ": bad response framing: " + ok.error().what()});
        return;
      }
      if (auto resp = reader->next()) {
        *done = true;
        timer->cancel();
        st->close_write();
        (*finish)(std::move(*resp));
      }
    });
    s->on_close([done, timer, finish, alive, protocol](std::error_code) {
      if (*done || !*alive) return;
      *done = true;
      timer->cancel();
      (*finish)(Error{ShardErrc::malformed, protocol + ": stream closed before a response"});
    });
    (void)s->write(net::length_prefixed(request));
  });
}

Result<Bytes> ShardService::answer_collations(const PeerId& peer, ByteView request) {
  // A per-peer budget per minute: serving reads the database.
  const std::uint64_t minute = now_ms() / 60000;
  auto& [m, n] = served_[peer];
  if (m != minute) m = minute, n = 0;
  if (++n > cfg_.collation_requests_per_minute)
    return Error{ShardErrc::oversize, "collation request rate limit (" +
                                          std::to_string(cfg_.collation_requests_per_minute) + " per minute)"};
  auto req = shard::decode_collation_request(request, cfg_.collation_protocol);
  if (!req) return req.error();
  shard::CollationResponse resp;
  if (const auto* h = std::get_if<shard::CollationHashRequest>(&*req)) {
    auto c = store_->get(h->hash);
    if (!c) return c.error();
    if (*c) resp.collations.push_back(shard::encode(**c));
  } else {
    const auto& rr = std::get<shard::CollationRangeRequest>(*req);
    const std::size_t count = std::min<std::size_t>(rr.max_count, cfg_.collation_protocol.max_count);
    auto got = store_->range(rr.shard, rr.from_period, rr.to_period, count,
                             cfg_.collation_protocol.max_response_bytes - 1024);
    if (!got) return got.error();
    for (const auto& c : got->collations) resp.collations.push_back(shard::encode(c));
    resp.truncated = got->truncated;
  }
  return shard::encode_collation_response(resp);
}

void ShardService::serve_collations(const std::shared_ptr<net::Stream>& s) {
  serve_one(s, 128, [this](const PeerId& peer, ByteView req) { return answer_collations(peer, req); });
}

void ShardService::request_collations(const PeerId& peer, const shard::CollationRequest& req,
                                      std::function<void(Result<std::size_t>)> done) {
  exchange(peer, shard::kCollationProtocol, shard::encode_collation_request(req),
           cfg_.collation_protocol.max_response_bytes + 16,
           [this, peer, done = std::move(done), want_shard = std::holds_alternative<shard::CollationRangeRequest>(req)
                                                                 ? std::optional(std::get<shard::CollationRangeRequest>(req).shard)
                                                                 : std::nullopt](Result<Bytes> r) {
             if (!r) return done(r.error());
             auto resp = shard::decode_collation_response(*r, cfg_.collation_protocol);
             if (!resp) {
               if (auto* sc = ps_.router().scoring()) sc->add_penalty(peer, 1);
               return done(resp.error());
             }
             std::size_t fresh = 0, invalid = 0;
             for (const auto& e : resp->collations) {
               auto c = shard::decode_collation(e, cfg_.collation_limits);
               if (!c || (want_shard && c->header.shard != *want_shard)) {
                 ++invalid;
                 continue;
               }
               const auto id = shard::collation_hash(c->header);
               if (seen_.count(id) || (store_ && store_->contains(id))) continue;
               accept_collation(*c, id);
               ++fresh;
             }
             if (invalid > 0) {
               if (auto* sc = ps_.router().scoring()) sc->add_penalty(peer, static_cast<double>(invalid));
               logging::get("shard")->info("{} invalid collation(s) in a response from {}", invalid, peer.to_string());
             }
             done(fresh);
           });
}

}  // namespace shardnode::node
