// CollationRuntime driven directly (sans-IO): a fake ShardIo records requests and
// publishes, a ManualClock and an OffsetWallClock stand in for time. Sync paging,
// retry on another peer after a forgery or a missed deadline, serving caps, proposing
// on the tip, and the stem's hold-until-gossiped.
#include <catch2/catch.hpp>

#include <deque>

#include "shardnode/core/errors.h"
#include "shardnode/shard/collation_runtime.h"
#include "shardnode/shard/memory_store.h"
#include "shardnode/shard/preference.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kStartMs = 1'800'000'000'000;

struct FakeIo final : ShardIo {
  struct Request {
    PeerId peer;
    std::string protocol;
    Bytes body;
    std::function<void(Result<Bytes>)> done;
  };
  std::deque<Request> requests;
  std::vector<std::pair<std::string, Bytes>> published;
  std::set<PeerId> linked;
  std::map<PeerId, double> penalties;
  std::uint64_t next_mid = 1;

  void subscribe(const std::string&) override {}
  void unsubscribe(const std::string&) override {}
  Result<pubsub::MessageId> publish(const std::string& topic, Bytes data) override {
    published.emplace_back(topic, std::move(data));
    const auto n = next_mid++;
    return pubsub::MessageId{static_cast<std::uint8_t>(n)};
  }
  void request(const PeerId& peer, const std::string& protocol, Bytes body, std::size_t,
               std::function<void(Result<Bytes>)> done) override {
    requests.push_back({peer, protocol, std::move(body), std::move(done)});
  }
  void request_table(const PeerId&, Bytes) override {}
  bool connected(const PeerId& p) const override { return linked.count(p) != 0; }
  std::vector<PeerId> connected_peers() const override { return {linked.begin(), linked.end()}; }
  void dial(const PeerId&, const Ed25519PublicKey&) override {}
  std::size_t mesh_size(const std::string&) const override { return 0; }
  void penalize(const PeerId& peer, double count) override { penalties[peer] += count; }
};

struct Fixture {
  ManualClock clock;
  OffsetWallClock wall{clock, kStartMs};
  NodeKey key = NodeKey::generate();
  FakeIo io;
  ShardManagerConfig mcfg = [] {
    ShardManagerConfig c;
    c.shard_count = 8;
    return c;
  }();
  ShardManager manager{key, mcfg, io};
  MemoryCollationStore store;
  CollationRuntimeConfig rcfg = [] {
    CollationRuntimeConfig c;
    c.genesis_ms = kStartMs;
    c.period_ms = 1000;
    c.max_age_periods = 8;
    c.sync_max_count = 4;
    c.request_timeout = 5s;
    return c;
  }();
  std::unique_ptr<CollationRuntime> rt;
  ValidatorKey vkey = ValidatorKey::generate();

  Fixture() { rt = std::make_unique<CollationRuntime>(rcfg, PeerId::from_public_key(key.public_key()), io, manager, clock, wall, &store); }

  // A peer listed on `shard` in the manager's table, connected.
  PeerId member(const NodeKey& k, std::uint32_t shard) {
    auto rec = make_preference(k, 1, kStartMs / 1000 + 600, mcfg.shard_count, {shard});
    const PeerId p = PeerId::from_public_key(k.public_key());
    REQUIRE(manager.on_preference_message(encode(rec), p, wall.unix_ms()) == pubsub::ValidationResult::accept);
    io.linked.insert(p);
    return p;
  }
  Collation collation(std::uint32_t shard, std::uint64_t period, std::uint8_t tag) {
    return make_collation(vkey, shard, period, Hash32{}, Bytes{'c', tag});
  }
  // Completes the front request with an answer of these collations.
  void answer(const std::vector<Collation>& cs, bool truncated = false) {
    REQUIRE_FALSE(io.requests.empty());
    auto r = std::move(io.requests.front());
    io.requests.pop_front();
    CollationResponse resp;
    for (const auto& c : cs) resp.collations.push_back(encode(c));
    resp.truncated = truncated;
    r.done(encode_collation_response(resp));
  }
  CollationRangeRequest front_range() {
    REQUIRE_FALSE(io.requests.empty());
    REQUIRE(io.requests.front().protocol == kCollationProtocol);
    auto req = decode_collation_request(io.requests.front().body, CollationProtocolLimits{});
    REQUIRE(req);
    return std::get<CollationRangeRequest>(*req);
  }
  void join_and_complete(std::uint32_t shard) {
    rt->on_joined(shard);
    rt->on_jump_done(JumpRecord{shard, 0, 0, true, 0});
  }
};

}  // namespace

TEST_CASE("collation sync pages a truncated answer from the last period received", "[shard][collation][sync]") {
  Fixture f;
  f.clock.advance(20s);  // period 20: the window is [12, 21]
  const auto a = f.member(NodeKey::generate(), 3);
  f.join_and_complete(3);
  auto rr = f.front_range();
  CHECK(rr.shard == 3);
  CHECK(rr.from_period == 12);
  CHECK(rr.to_period == 21);
  CHECK(rr.max_count == 4);
  f.answer({f.collation(3, 12, 1), f.collation(3, 13, 2), f.collation(3, 14, 3), f.collation(3, 15, 4)}, true);
  // Paged from the last period received, same peer.
  rr = f.front_range();
  CHECK(f.io.requests.front().peer == a);
  CHECK(rr.from_period == 15);
  f.answer({f.collation(3, 15, 4), f.collation(3, 18, 5)});
  const SyncRecord* s = f.rt->sync(3);
  REQUIRE(s);
  CHECK(s->done);
  CHECK(s->requests == 2);
  CHECK(s->received == 5);
  CHECK(s->completed_by == a);
  CHECK(f.store.count().value() == 5);
  CHECK(f.io.requests.empty());
  // The tip is the newest: period 18.
  CHECK(f.rt->tip(3) == collation_hash(f.collation(3, 18, 5).header));
}

TEST_CASE("collation sync: a forged collation blacklists and penalises its sender and another peer completes",
          "[shard][collation][sync][malformed]") {
  Fixture f;
  f.clock.advance(20s);
  const auto a = f.member(NodeKey::generate(), 3);
  const auto b = f.member(NodeKey::generate(), 3);
  f.join_and_complete(3);
  const PeerId first = f.io.requests.front().peer;
  const PeerId second = first == a ? b : a;
  auto forged = f.collation(3, 19, 9);
  forged.signature[3] ^= 0x40;
  f.answer({f.collation(3, 18, 1), forged});
  // The forger: penalised, never asked again; the other peer is asked for the whole window.
  CHECK(f.io.penalties[first] == 1);
  REQUIRE(f.io.requests.size() == 1);
  CHECK(f.io.requests.front().peer == second);
  CHECK(f.front_range().from_period == 12);
  f.answer({f.collation(3, 18, 1), f.collation(3, 19, 2)});
  const SyncRecord* s = f.rt->sync(3);
  CHECK(s->done);
  CHECK(s->bad == std::set<PeerId>{first});
  CHECK(s->invalid == 1);
  CHECK(s->completed_by == second);
  CHECK_FALSE(f.store.contains(collation_hash(forged.header)));
  CHECK(f.io.penalties.count(second) == 0);
  // A new join starts afresh, and the forger is only a failure for that sync.
  f.rt->on_left(3);
  CHECK(f.rt->sync(3) == nullptr);
}

TEST_CASE("collation sync: a peer that misses the request deadline is dropped and its late answer ignored",
          "[shard][collation][sync]") {
  Fixture f;
  f.clock.advance(20s);
  const auto a = f.member(NodeKey::generate(), 3);
  const auto b = f.member(NodeKey::generate(), 3);
  f.join_and_complete(3);
  auto silent = std::move(f.io.requests.front());
  f.io.requests.pop_front();
  f.clock.advance(4s);
  f.rt->tick();
  CHECK(f.io.requests.empty());  // still within the 5 s deadline
  f.clock.advance(1s);
  f.rt->tick();
  REQUIRE(f.io.requests.size() == 1);
  const PeerId other = silent.peer == a ? b : a;
  CHECK(f.io.requests.front().peer == other);
  const SyncRecord* s = f.rt->sync(3);
  CHECK(s->timeouts == 1);
  CHECK(s->failed.count(silent.peer) == 1);
  // The late answer changes nothing.
  CollationResponse late;
  late.collations.push_back(encode(f.collation(3, 20, 7)));
  silent.done(encode_collation_response(late));
  CHECK_FALSE(f.store.contains(collation_hash(f.collation(3, 20, 7).header)));
  CHECK_FALSE(s->done);
  f.answer({});
  CHECK(s->done);
  CHECK(s->completed_by == other);
}

TEST_CASE("collation sync: errors retry after every other peer, and a leave drops the answer",
          "[shard][collation][sync]") {
  Fixture f;
  f.clock.advance(20s);
  f.member(NodeKey::generate(), 3);
  f.join_and_complete(3);
  auto r = std::move(f.io.requests.front());
  f.io.requests.pop_front();
  r.done(Error{ShardErrc::malformed, "stream reset"});
  // The only peer failed: nobody else to ask, so failures are forgiven and the next
  // tick tries it again.
  CHECK(f.io.requests.empty());
  CHECK(f.rt->sync(3)->failed.empty());
  f.rt->tick();
  REQUIRE(f.io.requests.size() == 1);
  auto again = std::move(f.io.requests.front());
  f.io.requests.pop_front();
  f.rt->on_left(3);
  again.done(encode_collation_response(CollationResponse{}));
  CHECK(f.rt->sync(3) == nullptr);
}

TEST_CASE("collation serving: store ranges, a per-peer budget, refusals", "[shard][collation][serve][malformed]") {
  Fixture f;
  f.rcfg.requests_per_minute = 2;
  f.rt = std::make_unique<CollationRuntime>(f.rcfg, PeerId::from_public_key(f.key.public_key()), f.io, f.manager, f.clock,
                                            f.wall, &f.store);
  for (std::uint8_t i = 0; i < 3; ++i) REQUIRE(f.store.put(f.collation(2, 5 + i, i)).value());
  const PeerId p = PeerId::from_public_key(NodeKey::generate().public_key());
  auto resp = f.rt->answer(p, encode_collation_request(CollationRangeRequest{2, 0, 100, 2}));
  REQUIRE(resp);
  auto d = decode_collation_response(*resp, CollationProtocolLimits{});
  REQUIRE(d);
  CHECK(d->collations.size() == 2);
  CHECK(d->truncated);
  CHECK_FALSE(f.rt->answer(p, Bytes{0x07}));  // unknown kind: refused
  CHECK_FALSE(f.rt->answer(p, encode_collation_request(CollationRangeRequest{2, 0, 1, 1})));  // over budget
  f.clock.advance(60s);
  CHECK(f.rt->answer(p, encode_collation_request(CollationRangeRequest{2, 0, 1, 1})));  // a new minute
  CollationRuntime none(f.rcfg, PeerId::from_public_key(f.key.public_key()), f.io, f.manager, f.clock, f.wall, nullptr);
  CHECK_FALSE(none.answer(p, encode_collation_request(CollationRangeRequest{2, 0, 1, 1})));
}

TEST_CASE("collation propose: on a joined shard, parent is the tip, and the stem holds it until gossiped",
          "[shard][collation][propose]") {
  Fixture f;
  f.clock.advance(10s);
  CHECK(f.rt->propose(1, Bytes{1}).error().code == ShardErrc::bad_signature);  // no validator key
  f.rt->set_validator_key(&f.vkey);
  REQUIRE(f.manager.join(1, f.wall.unix_ms()));
  CHECK(f.rt->propose(2, Bytes{1}).error().code == ShardErrc::wrong_shard);
  auto first = f.rt->propose(1, Bytes{1});
  REQUIRE(first);
  CHECK(f.store.contains(*first));
  f.clock.advance(1s);
  auto second = f.rt->propose(1, Bytes{2});
  REQUIRE(second);
  const Collation* c = f.store.find(*second);
  REQUIRE(c);
  CHECK(c->header.parent_hash == *first);
  CHECK(c->header.period == 11);
  CHECK(f.io.published.back().first == collation_topic(1));

  f.rcfg.stem = true;
  CollationRuntime stem(f.rcfg, PeerId::from_public_key(f.key.public_key()), f.io, f.manager, f.clock, f.wall, &f.store);
  stem.set_validator_key(&f.vkey);
  auto held = stem.propose(6, Bytes{3});  // any shard on the stem
  REQUIRE(held);
  CHECK_FALSE(f.store.contains(*held));
  const auto mid = pubsub::MessageId{static_cast<std::uint8_t>(f.io.next_mid - 1)};
  stem.on_own_gossiped(mid);
  CHECK(f.store.contains(*held));
}

// P5 from known validators: a peer earns credit only by being first to deliver a
// collation a known validator signed; a key of its own earns nothing.
TEST_CASE("known validators: first deliveries of their collations earn P5 credit, capped and decaying",
          "[shard][collation][p5]") {
  Fixture f;
  f.rcfg.known_validators.insert(f.vkey.public_key().bytes);
  f.rt = std::make_unique<CollationRuntime>(f.rcfg, PeerId::from_public_key(f.key.public_key()), f.io, f.manager,
                                            f.clock, f.wall, &f.store);
  const PeerId a = PeerId::from_public_key(NodeKey::generate().public_key());
  const PeerId b = PeerId::from_public_key(NodeKey::generate().public_key());
  const PeerId sybil = PeerId::from_public_key(NodeKey::generate().public_key());
  const PeerId self = PeerId::from_public_key(f.key.public_key());
  const ValidatorKey own_key = ValidatorKey::generate();  // the sybil's: not a known validator

  const auto c1 = encode(f.collation(1, 0, 1));
  CHECK(f.rt->validate(1, a, c1) == pubsub::ValidationResult::accept);
  CHECK(f.rt->app_score(a) == 1.0);
  CHECK(f.rt->validate(1, b, c1) == pubsub::ValidationResult::ignore);  // second: no credit
  CHECK(f.rt->app_score(b) == 0.0);
  // Self-signed collations are valid (not known_validators_only) and earn nothing.
  for (std::uint8_t t = 0; t < 5; ++t)
    CHECK(f.rt->validate(1, sybil, encode(make_collation(own_key, 1, 0, Hash32{}, Bytes{'s', t}))) ==
          pubsub::ValidationResult::accept);
  CHECK(f.rt->app_score(sybil) == 0.0);
  // What we deliver to ourselves earns nothing.
  CHECK(f.rt->validate(1, self, encode(f.collation(1, 0, 2))) == pubsub::ValidationResult::accept);
  CHECK(f.rt->app_score(self) == 0.0);
  // Capped at validator_credit_cap.
  for (std::uint8_t t = 10; t < 30; ++t)
    CHECK(f.rt->validate(1, a, encode(f.collation(1, 0, t))) == pubsub::ValidationResult::accept);
  CHECK(f.rt->app_score(a) == f.rcfg.validator_credit_cap);
  // Halves every half-life.
  f.clock.advance(f.rcfg.validator_credit_half_life);
  f.rt->tick();
  CHECK(f.rt->app_score(a) == Approx(f.rcfg.validator_credit_cap / 2));
  f.clock.advance(20 * f.rcfg.validator_credit_half_life);
  f.rt->tick();
  CHECK(f.rt->app_score(a) == 0.0);  // forgotten once below 0.01
}

TEST_CASE("known validators only: others' collations are rejected on gossip and invalid in a sync",
          "[shard][collation][p5][malformed]") {
  Fixture f;
  f.rcfg.known_validators.insert(f.vkey.public_key().bytes);
  f.rcfg.known_validators_only = true;
  f.rt = std::make_unique<CollationRuntime>(f.rcfg, PeerId::from_public_key(f.key.public_key()), f.io, f.manager,
                                            f.clock, f.wall, &f.store);
  const ValidatorKey stranger = ValidatorKey::generate();
  f.clock.advance(20s);
  const PeerId from = PeerId::from_public_key(NodeKey::generate().public_key());
  const auto theirs = make_collation(stranger, 3, 19, Hash32{}, Bytes{'x'});
  auto pre = f.rt->precheck(3, from, encode(theirs));
  CHECK(pre.result == pubsub::ValidationResult::reject);
  CHECK(pre.code == ShardErrc::unknown_proposer);
  CHECK(f.rt->validate(3, from, encode(theirs)) == pubsub::ValidationResult::reject);
  CHECK(f.rt->validate(3, from, encode(f.collation(3, 19, 1))) == pubsub::ValidationResult::accept);
  // In a sync answer it counts as invalid: the sender is penalised and dropped.
  const auto a = f.member(NodeKey::generate(), 3);
  f.member(NodeKey::generate(), 3);
  f.join_and_complete(3);
  const PeerId first = f.io.requests.front().peer;
  f.answer({f.collation(3, 18, 2), make_collation(stranger, 3, 18, Hash32{}, Bytes{'y'})});
  CHECK(f.io.penalties[first] == 1);
  CHECK(f.rt->sync(3)->invalid == 1);
  CHECK_FALSE(f.store.contains(collation_hash(theirs.header)));
  (void)a;
}
