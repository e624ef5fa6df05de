// Kademlia: the message codec (round trips, caps, skipped entries), the key space, the
// routing table's insertion rules, and iterative lookups over a 300-peer network
// whose every answer comes from the peers' own routing tables.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>

#include "kad.pb.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/kad.h"
#include "shardnode/net/kad_dht.h"
#include "shardnode/net/kad_lookup.h"
#include "shardnode/net/kad_routing.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace shardnode::net::kad;
using namespace std::chrono_literals;

namespace {

PeerId peer(std::uint32_t i) {
  Bytes seed(32, 0);
  for (int b = 0; b < 4; ++b) seed[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(i >> (8 * b));
  seed[31] = 0x5a;
  return PeerId::from_public_key(NodeKey::from_seed(seed).value().public_key());
}

Bytes serialize(const pb::KadMessage& m) {
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

}  // namespace

TEST_CASE("kad messages round trip", "[kad]") {
  Message m;
  m.type = MessageType::get_providers;
  m.key = Bytes{1, 2, 3};
  m.record = Record{Bytes{9}, Bytes{8, 7}, "2026-12-05T00:00:00Z"};
  const PeerId a = peer(1), b = peer(2);
  m.closer = {{a, {Multiaddr::tcp("127.0.0.1", 4001)}, ConnectionType::connected}};
  m.providers = {{b, {Multiaddr::onion3(b.public_key().value(), 4001)}, ConnectionType::can_connect}};
  auto got = decode_kad_message(encode(m));
  REQUIRE(got);
  CHECK(*got == m);
  CHECK(got->skipped == 0);
  Message find;
  find.type = MessageType::find_node;
  find.key = a.bytes();
  got = decode_kad_message(encode(find));
  REQUIRE(got);
  CHECK(got->type == MessageType::find_node);
  CHECK(got->key == a.bytes());
  CHECK_FALSE(got->record);
}

TEST_CASE("malformed kad messages are refused, and unusable entries are skipped", "[kad]") {
  Limits l;
  CHECK_FALSE(decode_kad_message(Bytes{0xff, 0xff}, l));
  CHECK_FALSE(decode_kad_message(Bytes(l.max_message + 1, 0), l));
  pb::KadMessage m;
  m.set_type(static_cast<pb::KadMessage::MessageType>(9));
  CHECK_FALSE(decode_kad_message(serialize(m), l));
  m.set_type(pb::KadMessage::FIND_NODE);
  m.set_key(std::string(l.max_key + 1, 'k'));
  CHECK_FALSE(decode_kad_message(serialize(m), l));
  m.set_key("k");
  m.mutable_record()->set_value(std::string(l.max_value + 1, 'v'));
  CHECK_FALSE(decode_kad_message(serialize(m), l));
  m.clear_record();
  for (std::size_t i = 0; i <= l.max_peers; ++i) m.add_closerpeers()->set_id(peer(1).bytes().data(), peer(1).bytes().size());
  CHECK_FALSE(decode_kad_message(serialize(m), l));
  m.clear_closerpeers();
  auto* p = m.add_closerpeers();
  p->set_id(peer(1).bytes().data(), peer(1).bytes().size());
  for (std::size_t i = 0; i <= l.max_addrs; ++i) p->add_addrs("\x04\x7f\x00\x00\x01", 5);
  CHECK_FALSE(decode_kad_message(serialize(m), l));
  // Skipped, not refused: an id that is not a peer id, an address we cannot read, an
  // unknown connection type (read as NOT_CONNECTED).
  m.clear_closerpeers();
  m.add_closerpeers()->set_id("not a peer id");
  p = m.add_closerpeers();
  p->set_id(peer(2).bytes().data(), peer(2).bytes().size());
  p->add_addrs("\x04\x7f", 2);
  p->set_connection(static_cast<pb::KadMessage::ConnectionType>(7));
  auto got = decode_kad_message(serialize(m), l);
  REQUIRE(got);
  REQUIRE(got->closer.size() == 1);
  CHECK(got->closer[0].id == peer(2));
  CHECK(got->closer[0].addrs.empty());
  CHECK(got->closer[0].connection == ConnectionType::not_connected);
  CHECK(got->skipped == 2);
}

TEST_CASE("kad keys: SHA-256 of the peer id, XOR distance, shared prefix", "[kad]") {
  Key a{}, b{};
  CHECK(common_prefix_length(a, b) == 256);
  b[0] = 0x80;
  CHECK(common_prefix_length(a, b) == 0);
  b[0] = 0x01;
  CHECK(common_prefix_length(a, b) == 7);
  b[0] = 0;
  b[31] = 0x01;
  CHECK(common_prefix_length(a, b) == 255);
  CHECK(distance(b, b) == Key{});
  CHECK(key_of(peer(1)) == key_of(ByteView(peer(1).bytes().data(), peer(1).bytes().size())));
  CHECK(key_of(peer(1)) != key_of(peer(2)));
}

TEST_CASE("a bucket refresh key falls in the bucket it was made for", "[kad]") {
  SecureRandom rng;
  const Key self = key_of(peer(1));
  for (unsigned cpl : {0u, 1u, 5u, 9u}) CHECK(common_prefix_length(self, key_of(key_in_bucket(self, cpl, rng))) == cpl);
}

TEST_CASE("the routing table keeps old peers when a bucket is full and finds the closest", "[kad]") {
  const PeerId self = peer(0);
  RoutingTable t(self, 4);
  CHECK(t.update(self, TimePoint{}).outcome == RoutingTable::Outcome::self);
  // Fill bucket 0 (peers whose key differs from ours in the first bit) past k.
  std::vector<PeerId> bucket0;
  for (std::uint32_t i = 1; bucket0.size() < 6; ++i)
    if (common_prefix_length(key_of(self), key_of(peer(i))) == 0) bucket0.push_back(peer(i));
  for (std::size_t i = 0; i < 4; ++i)
    CHECK(t.update(bucket0[i], TimePoint{std::chrono::seconds(static_cast<long>(i))}).outcome == RoutingTable::Outcome::added);
  CHECK(t.update(bucket0[1], TimePoint{100s}).outcome == RoutingTable::Outcome::refreshed);
  auto full = t.update(bucket0[4], TimePoint{101s});
  CHECK(full.outcome == RoutingTable::Outcome::bucket_full);
  CHECK(full.oldest == bucket0[0]);  // seen at 0 s; bucket0[1] was refreshed
  CHECK_FALSE(t.contains(bucket0[4]));
  CHECK(t.remove(bucket0[0]));
  CHECK(t.update(bucket0[4], TimePoint{102s}).outcome == RoutingTable::Outcome::added);
  CHECK(t.size() == 4);
  CHECK(t.bucket(0).size() == 4);
  // closest() against a brute-force sort.
  for (std::uint32_t i = 100; i < 160; ++i) (void)t.update(peer(i), TimePoint{});
  const Key target = key_of(peer(999));
  auto got = t.closest(target, 5);
  std::vector<PeerId> all;
  for (unsigned i = 0; i < 256; ++i)
    for (const auto& e : t.bucket(i)) all.push_back(e.id);
  std::sort(all.begin(), all.end(), [&](const PeerId& x, const PeerId& y) {
    return distance(key_of(x), target) < distance(key_of(y), target);
  });
  all.resize(5);
  CHECK(got == all);
}

namespace {

// A network of n peers; each one's routing table holds every other peer it can
// (k per bucket, in a fixed order), and answers FIND_NODE with its k closest.
struct Network {
  std::vector<PeerId> peers;
  std::map<PeerId, std::unique_ptr<RoutingTable>> tables;
  std::set<PeerId> down;
  explicit Network(std::uint32_t n, std::size_t k = 20) {
    for (std::uint32_t i = 0; i < n; ++i) peers.push_back(peer(1000 + i));
    for (const auto& p : peers) {
      auto t = std::make_unique<RoutingTable>(p, k);
      for (const auto& q : peers) (void)t->update(q, TimePoint{});
      tables[p] = std::move(t);
    }
  }
  // Runs a lookup from `from` to completion; answers arrive in request order.
  Lookup run(const PeerId& from, const Key& target, LookupConfig cfg = {}) {
    Lookup l(target, from, tables[from]->closest(target, cfg.k), cfg);
    TimePoint now{};
    for (int round = 0; round < 1000 && !l.finished(); ++round) {
      auto ask = l.next(now);
      for (const auto& p : ask) {
        if (down.count(p)) continue;  // no answer: times out
        l.on_response(p, tables[p]->closest(target, cfg.k));
      }
      now += 11s;  // past the request timeout: unanswered requests fail
      l.tick(now);
    }
    return l;
  }
  std::vector<PeerId> true_closest(const Key& target, std::size_t k) const {
    std::vector<PeerId> all;
    for (const auto& p : peers)
      if (!down.count(p)) all.push_back(p);
    std::sort(all.begin(), all.end(), [&](const PeerId& x, const PeerId& y) {
      return distance(key_of(x), target) < distance(key_of(y), target);
    });
    all.resize(std::min(k, all.size()));
    return all;
  }
};

}  // namespace

TEST_CASE("lookups over 300 peers find the true k closest within the request budget", "[kad]") {
  Network net(300);
  for (std::uint32_t t = 0; t < 20; ++t) {
    const Key target = key_of(peer(50000 + t));
    const PeerId& from = net.peers[t * 7 % net.peers.size()];
    auto l = net.run(from, target);
    REQUIRE(l.finished());
    auto want = net.true_closest(target, 20);
    std::erase(want, from);  // a lookup never returns ourselves
    auto got = l.closest();
    got.resize(want.size());
    CHECK(got == want);
    CHECK(l.requests() <= 60);
  }
}

TEST_CASE("a lookup routes around peers that never answer and stays bounded", "[kad]") {
  Network net(300);
  for (std::size_t i = 0; i < net.peers.size(); i += 4) net.down.insert(net.peers[i]);  // a quarter are gone
  const Key target = key_of(peer(77777));
  const PeerId from = net.peers[1];
  LookupConfig cfg;
  auto l = net.run(from, target, cfg);
  REQUIRE(l.finished());
  CHECK(l.failures() > 0);
  CHECK(l.requests() <= cfg.max_requests);
  auto got = l.closest();
  for (const auto& p : got) CHECK_FALSE(net.down.count(p));  // only peers that answered
  auto want = net.true_closest(target, 20);
  std::erase(want, from);
  got.resize(want.size());
  CHECK(got == want);

  // With a budget of 5 requests the lookup stops at 5.
  cfg.max_requests = 5;
  auto small = net.run(from, target, cfg);
  CHECK(small.finished());
  CHECK(small.requests() == 5);
}

TEST_CASE("a lookup ignores answers it did not ask for and names it got from liars", "[kad]") {
  const PeerId self = peer(1), a = peer(2), b = peer(3), stranger = peer(4);
  const Key target = key_of(peer(5));
  Lookup l(target, self, {a});
  auto ask = l.next(TimePoint{});
  REQUIRE(ask == std::vector<PeerId>{a});
  l.on_response(stranger, {b});  // unasked: ignored
  CHECK(l.in_flight() == 1);
  l.on_response(a, {self, b, b});  // ourselves and duplicates are ignored
  ask = l.next(TimePoint{});
  CHECK(ask == std::vector<PeerId>{b});
  l.on_failure(b);
  CHECK(l.finished());
  CHECK(l.closest() == std::vector<PeerId>{a});  // b was named but never answered
  l.on_response(a, {stranger});                   // late second answer: ignored
  CHECK(l.closest() == std::vector<PeerId>{a});
}

TEST_CASE("the DHT core stores providers by the rules: the sender only, capped, until the TTL", "[kad][dht]") {
  DhtCoreConfig cfg;
  cfg.max_providers_per_key = 2;
  cfg.max_provider_keys = 2;
  cfg.provider_ttl = std::chrono::hours(1);
  cfg.dialable = [](const Multiaddr& a) { return a.is_onion(); };
  const PeerId self = peer(1);
  Dht d(self, cfg);
  auto add = [&](std::uint32_t from, Bytes key, std::vector<Multiaddr> addrs, TimePoint now, std::uint32_t named = 0) {
    Message m;
    m.type = MessageType::add_provider;
    m.key = std::move(key);
    m.providers = {Peer{peer(named ? named : from), std::move(addrs), ConnectionType::connected}};
    (void)d.handle(peer(from), m, now);
  };
  auto onion = [](std::uint32_t i) { return Multiaddr::onion3(peer(i).public_key().value(), 4001); };
  auto providers = [&](Bytes key, TimePoint now) {
    Message m;
    m.type = MessageType::get_providers;
    m.key = std::move(key);
    return d.handle(peer(99), m, now).providers;
  };
  add(2, Bytes{1}, {onion(2)}, TimePoint{});
  add(3, Bytes{1}, {onion(4)}, TimePoint{}, 4);                  // names another peer: ignored
  add(5, Bytes{1}, {Multiaddr::tcp("127.0.0.1", 1)}, TimePoint{});  // nothing dialable, address unknown: refused
  CHECK(providers(Bytes{1}, TimePoint{}).size() == 1);
  add(6, Bytes{1}, {onion(6)}, TimePoint{});
  add(7, Bytes{1}, {onion(7)}, TimePoint{});  // third provider of a key: refused
  CHECK(providers(Bytes{1}, TimePoint{}).size() == 2);
  add(2, Bytes{2}, {onion(2)}, TimePoint{});
  add(2, Bytes{3}, {onion(2)}, TimePoint{});  // a third key: refused
  CHECK(d.provider_keys() == 2);
  CHECK(d.counters().providers_refused == 3);
  CHECK(providers(Bytes{1}, TimePoint{std::chrono::minutes(59)}).size() == 2);
  CHECK(providers(Bytes{1}, TimePoint{std::chrono::minutes(61)}).empty());  // expired
}

TEST_CASE("the DHT core: a peer's own addresses replace what others said of it", "[kad][dht]") {
  const PeerId self = peer(1), a = peer(2), liar = peer(3);
  Dht d(self);
  d.learn(liar, {Multiaddr::tcp("127.0.0.1", 3)}, TimePoint{});
  auto id = d.find_node(peer(50).bytes(), TimePoint{});
  auto reqs = d.take_requests(TimePoint{});
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].to == liar);
  Message answer;
  answer.type = MessageType::find_node;
  answer.closer = {Peer{a, {Multiaddr::tcp("10.0.0.1", 666)}, ConnectionType::connected}};
  d.on_answer(id, liar, answer, TimePoint{});
  CHECK(d.addresses_of(a) == std::vector<Multiaddr>{Multiaddr::tcp("10.0.0.1", 666)});  // a claim, for dialling
  CHECK_FALSE(d.table().contains(a));  // not in the table until it answers
  d.learn(a, {Multiaddr::tcp("127.0.0.1", 2)}, TimePoint{});
  CHECK(d.addresses_of(a) == std::vector<Multiaddr>{Multiaddr::tcp("127.0.0.1", 2)});
  CHECK(d.table().contains(a));
  // The walk asks a next; its failure ends the lookup and drops it from the table.
  reqs = d.take_requests(TimePoint{});
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].to == a);
  d.on_answer(id, a, Result<Message>(Error{std::make_error_code(std::errc::timed_out), "timeout"}), TimePoint{});
  CHECK_FALSE(d.table().contains(a));
  auto done = d.take_finished();
  REQUIRE(done.size() == 1);
  CHECK(done[0].result.closest == std::vector<PeerId>{liar});
  CHECK(d.active_lookups() == 0);
}

TEST_CASE("the DHT core keeps only signed peer records of the peer their key names, newest first", "[kad][dht]") {
  const NodeKey ka = NodeKey::from_seed(Bytes(32, 0x21)).value(), kb = NodeKey::from_seed(Bytes(32, 0x22)).value();
  const PeerId a = PeerId::from_public_key(ka.public_key()), b = PeerId::from_public_key(kb.public_key());
  DhtCoreConfig cfg;
  cfg.max_records = 2;
  cfg.record_ttl = std::chrono::hours(1);
  Dht d(peer(1), cfg);
  auto put = [&](const Bytes& key, const Bytes& value, TimePoint now) {
    Message m;
    m.type = MessageType::put_value;
    m.key = key;
    m.record = Record{key, value, ""};
    return d.handle(a, m, now).key == key;  // the echo: kept
  };
  auto get = [&](const Bytes& key, TimePoint now) -> std::optional<Bytes> {
    Message m;
    m.type = MessageType::get_value;
    m.key = key;
    auto r = d.handle(b, m, now);
    if (!r.record) return std::nullopt;
    return r.record->value;
  };
  const auto a5 = seal_peer_record(ka, 5, {Multiaddr::onion3(ka.public_key(), 4001)});
  const auto a4 = seal_peer_record(ka, 4, {Multiaddr::onion3(ka.public_key(), 4002)});
  const auto a6 = seal_peer_record(ka, 6, {Multiaddr::onion3(ka.public_key(), 4003)});
  const auto b1 = seal_peer_record(kb, 1, {});
  CHECK(record_key_peer(record_key(a)) == a);
  CHECK_FALSE(record_key_peer(Bytes{1, 2, 3}));
  CHECK(put(record_key(a), a5.envelope, TimePoint{}));
  CHECK_FALSE(put(record_key(a), a4.envelope, TimePoint{}));   // older
  CHECK_FALSE(put(record_key(b), a6.envelope, TimePoint{}));   // a's record under b's key
  CHECK_FALSE(put(record_key(a), Bytes{1, 2, 3}, TimePoint{}));  // not a record
  CHECK_FALSE(put(Bytes{9, 9}, a6.envelope, TimePoint{}));     // not a record key
  CHECK(get(record_key(a), TimePoint{}) == a5.envelope);
  CHECK(put(record_key(a), a6.envelope, TimePoint{}));         // newer
  CHECK(get(record_key(a), TimePoint{}) == a6.envelope);
  CHECK(put(record_key(b), b1.envelope, TimePoint{}));
  const NodeKey kc = NodeKey::from_seed(Bytes(32, 0x23)).value();
  const auto c1 = seal_peer_record(kc, 1, {});
  CHECK_FALSE(put(record_key(PeerId::from_public_key(kc.public_key())), c1.envelope, TimePoint{}));  // full
  CHECK(d.records_held() == 2);
  CHECK(d.counters().records_refused == 5);
  CHECK_FALSE(get(record_key(a), TimePoint{std::chrono::minutes(61)}));  // expired
}

TEST_CASE("a full bucket keeps its oldest peer while it answers, and evicts it when it does not", "[kad][dht]") {
  DhtCoreConfig cfg;
  cfg.k = 2;
  const PeerId self = peer(1);
  Dht d(self, cfg);
  std::vector<PeerId> b0;  // peers of bucket 0 (first bit differs from ours)
  for (std::uint32_t i = 2; b0.size() < 4; ++i)
    if (common_prefix_length(key_of(self), key_of(peer(i))) == 0) b0.push_back(peer(i));
  auto addr = [](std::uint16_t port) { return std::vector<Multiaddr>{Multiaddr::tcp("127.0.0.1", port)}; };
  d.learn(b0[0], addr(1), TimePoint{1s});
  d.learn(b0[1], addr(2), TimePoint{2s});
  CHECK(d.take_requests(TimePoint{2s}).empty());
  // b0[2] arrives: the bucket is full; its oldest (b0[0]) is asked.
  d.learn(b0[2], addr(3), TimePoint{3s});
  auto reqs = d.take_requests(TimePoint{3s});
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].lookup == Dht::kLivenessCheck);
  CHECK(reqs[0].to == b0[0]);
  CHECK(reqs[0].message.type == MessageType::ping);
  Message pong;
  pong.type = MessageType::ping;
  d.on_answer(Dht::kLivenessCheck, b0[0], pong, TimePoint{4s});  // alive: stays, the newcomer does not enter
  CHECK(d.table().contains(b0[0]));
  CHECK_FALSE(d.table().contains(b0[2]));
  // b0[3] arrives: now b0[1] is the oldest; it never answers and times out.
  d.learn(b0[3], addr(4), TimePoint{5s});
  reqs = d.take_requests(TimePoint{5s});
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].to == b0[1]);
  CHECK(d.active_lookups() == 1);
  d.tick(TimePoint{5s} + cfg.request_timeout);
  CHECK_FALSE(d.table().contains(b0[1]));
  CHECK(d.table().contains(b0[3]));
  CHECK(d.counters().evicted == 1);
  CHECK(d.active_lookups() == 0);
}

TEST_CASE("the DHT core holds what it announces and counts what it holds in its own lookups", "[kad][dht]") {
  // A node among the k closest to a key is never asked by its own walk: without this a
  // GET from a node that holds the only copy comes back empty.
  const NodeKey ks = NodeKey::from_seed(Bytes(32, 0x31)).value(), ka = NodeKey::from_seed(Bytes(32, 0x32)).value();
  const PeerId self = PeerId::from_public_key(ks.public_key()), a = PeerId::from_public_key(ka.public_key());
  Dht d(self);
  const auto ours = seal_peer_record(ks, 3, {Multiaddr::tcp("127.0.0.1", 4001)});
  (void)d.put_record(ours, TimePoint{});
  (void)d.provide(Bytes{7}, {Multiaddr::tcp("127.0.0.1", 4001)}, TimePoint{});
  CHECK(d.take_finished().size() == 2);  // nobody to ask: both walks end at once
  Message get;
  get.type = MessageType::get_value;
  get.key = record_key(self);
  auto r = d.handle(a, get, TimePoint{});
  REQUIRE(r.record);
  CHECK(r.record->value == ours.envelope);
  Message gp;
  gp.type = MessageType::get_providers;
  gp.key = Bytes{7};
  auto p = d.handle(a, gp, TimePoint{});
  REQUIRE(p.providers.size() == 1);
  CHECK(p.providers[0].id == self);

  // a's record and a's provider announcement reach us; our own lookups find them with
  // no one else to ask.
  Message put;
  put.type = MessageType::put_value;
  put.key = record_key(a);
  const auto a1 = seal_peer_record(ka, 1, {Multiaddr::tcp("127.0.0.1", 4002)});
  put.record = Record{put.key, a1.envelope, ""};
  REQUIRE(d.handle(a, put, TimePoint{}).key == put.key);
  Message add;
  add.type = MessageType::add_provider;
  add.key = Bytes{7};
  add.providers = {Peer{a, {Multiaddr::tcp("127.0.0.1", 4002)}, ConnectionType::connected}};
  (void)d.handle(a, add, TimePoint{});
  (void)d.get_record(a, TimePoint{});
  (void)d.get_providers(Bytes{7}, 1, TimePoint{});
  CHECK(d.take_requests(TimePoint{}).empty());
  auto done = d.take_finished();
  REQUIRE(done.size() == 2);
  REQUIRE(done[0].result.record);
  CHECK(done[0].result.record->record.seq == 1);
  REQUIRE(done[1].result.providers.size() == 1);  // a, not ourselves
  CHECK(done[1].result.providers[0].peer == a);

  // A newer record found by the walk wins over the copy we hold.
  d.learn(peer(40), {Multiaddr::tcp("127.0.0.1", 4040)}, TimePoint{});
  auto id = d.get_record(a, TimePoint{});
  auto reqs = d.take_requests(TimePoint{});
  REQUIRE(reqs.size() == 1);
  Message answer;
  answer.type = MessageType::get_value;
  answer.key = record_key(a);
  const auto a2 = seal_peer_record(ka, 2, {Multiaddr::tcp("127.0.0.1", 4003)});
  answer.record = Record{answer.key, a2.envelope, ""};
  d.on_answer(id, peer(40), answer, TimePoint{});
  done = d.take_finished();
  REQUIRE(done.size() == 1);
  REQUIRE(done[0].result.record);
  CHECK(done[0].result.record->record.seq == 2);
}
