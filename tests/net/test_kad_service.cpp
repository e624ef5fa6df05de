// The DHT on live hosts over loopback TCP: 16 nodes that know only node 0 at start
// bootstrap by looking themselves up; then FIND_NODE finds any node, a provider
// record reaches a node that never met the provider, and malformed requests are
// refused without harm.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <optional>

#include "../support/io_wait.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/framing.h"
#include "shardnode/net/host.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/net/peer_record.h"
#include "shardnode/net/request_response.h"
#include "shardnode/net/tcp_transport.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace shardnode::net::kad;
using shardnode::test::run_until;

namespace {

struct DhtNode {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<Host> host;
  std::unique_ptr<DhtService> dht;
  Multiaddr addr;
  DhtNode(boost::asio::io_context& io, DhtConfig cfg) {
    host = std::make_unique<Host>(io, key);
    host->add_transport(std::make_unique<TcpTransport>(io));
    addr = *host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    dht = std::make_unique<DhtService>(io, *host, cfg);
    dht->start();
  }
};

struct DhtNet {
  boost::asio::io_context io;
  std::vector<std::unique_ptr<DhtNode>> nodes;
  explicit DhtNet(std::size_t n, DhtConfig cfg = small()) {
    for (std::size_t i = 0; i < n; ++i) nodes.push_back(std::make_unique<DhtNode>(io, cfg));
    for (std::size_t i = 1; i < n; ++i) nodes[i]->dht->add_peer(nodes[0]->host->peer_id(), {nodes[0]->addr});
  }
  static DhtConfig small() {
    DhtConfig c;
    c.core.k = 4;  // buckets fill up with 16 nodes, so lookups really walk
    c.core.alpha = 2;
    c.core.request_timeout = std::chrono::seconds(3);
    return c;
  }
  // For a failure message: the nodes a walk ended with and the true order by distance.
  std::string report(const LookupResult& r, const Key& target) const {
    auto index = [&](const PeerId& p) {
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i]->host->peer_id() == p) return std::to_string(i);
      return std::string("?");
    };
    std::string s = "walk ended with:";
    for (const auto& p : r.closest) s += " " + index(p);
    s += " (" + std::to_string(r.requests) + " requests, " + std::to_string(r.failures) + " failed); closest:";
    std::vector<std::pair<Key, std::size_t>> order;
    for (std::size_t i = 0; i < nodes.size(); ++i) order.emplace_back(distance(key_of(nodes[i]->host->peer_id()), target), i);
    std::sort(order.begin(), order.end());
    for (const auto& [d, i] : order) s += " " + std::to_string(i);
    return s;
  }
  std::optional<LookupResult> find_key(std::size_t from, const Bytes& key) {
    std::optional<LookupResult> out;
    nodes[from]->dht->find_key(key, [&](LookupResult r) { out = std::move(r); });
    run_until(io, [&] { return out.has_value(); }, std::chrono::seconds(30));
    return out;
  }
  std::optional<LookupResult> find(std::size_t from, const PeerId& target) { return find_key(from, target.bytes()); }
  void bootstrap() {
    // Each node looks itself up (as the spec's bootstrap does), in turn; then each
    // refreshes its buckets, so no node's table is left without a part of the key space
    // (with self lookups alone a node can end up knowing only its own half).
    for (std::size_t i = 1; i < nodes.size(); ++i) REQUIRE(find(i, nodes[i]->host->peer_id()));
    SecureRandom rng;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const Key self = key_of(nodes[i]->host->peer_id());
      for (unsigned b = 0; b <= nodes[i]->dht->table().deepest_bucket(); ++b)
        REQUIRE(find_key(i, key_in_bucket(self, b, rng)));
    }
  }
};

}  // namespace

TEST_CASE("DHT nodes that know one bootnode find every node by FIND_NODE", "[kad][live]") {
  DhtNet net(16);
  net.bootstrap();
  for (const auto& n : net.nodes) CHECK(n->dht->table().size() >= 3);
  for (std::size_t t = 0; t < net.nodes.size(); t += 3) {
    const std::size_t from = (t + 7) % net.nodes.size();
    if (from == t) continue;
    auto r = net.find(from, net.nodes[t]->host->peer_id());
    REQUIRE(r);
    REQUIRE_FALSE(r->closest.empty());
    INFO(net.report(*r, key_of(net.nodes[t]->host->peer_id())));
    CHECK(r->requests <= 60);
  }
}

TEST_CASE("a provider record reaches a node that never met the provider", "[kad][live]") {
  DhtNet net(16);
  net.bootstrap();
  const std::string topic = "/shardnode/shard/3/collations/1";
  const ByteView key = as_bytes(topic);
  std::optional<LookupResult> stored;
  net.nodes[5]->dht->provide(key, [&](LookupResult r) { stored = std::move(r); });
  REQUIRE(run_until(net.io, [&] { return stored.has_value(); }, std::chrono::seconds(30)));
  CHECK(stored->accepted >= 1);
  // Node 12 drops every connection first: what it learns comes through the DHT.
  for (const auto& p : net.nodes[12]->host->peers()) net.nodes[12]->host->disconnect(p);
  std::optional<LookupResult> got;
  net.nodes[12]->dht->get_providers(key, 1, [&](LookupResult r) { got = std::move(r); });
  REQUIRE(run_until(net.io, [&] { return got.has_value(); }, std::chrono::seconds(30)));
  INFO(net.report(*got, key_of(key)));
  REQUIRE(got->providers.size() == 1);
  CHECK(got->providers[0].peer == net.nodes[5]->host->peer_id());
  CHECK(got->providers[0].addrs == std::vector<Multiaddr>{net.nodes[5]->addr});
}

TEST_CASE("a DHT node refuses malformed requests and only lets a peer provide itself", "[kad][live]") {
  DhtNet net(2);
  RequestResponse rr(net.io, *net.nodes[1]->host);
  bool connected = false;
  net.nodes[1]->host->connect(net.nodes[0]->addr.with_peer_id(net.nodes[0]->host->peer_id()),
                              [&](Result<PeerId> r) { connected = r.ok(); });
  REQUIRE(run_until(net.io, [&] { return connected; }));
  auto ask = [&](Bytes body) {
    std::optional<Result<Bytes>> out;
    rr.request(net.nodes[0]->host->peer_id(), kProtocol, std::move(body), 65536, std::chrono::seconds(5),
               [&](Result<Bytes> r) { out = std::move(r); });
    REQUIRE(run_until(net.io, [&] { return out.has_value(); }));
    return std::move(*out);
  };
  CHECK_FALSE(ask(Bytes{0xff, 0xff, 0xff}));
  CHECK(net.nodes[0]->dht->counters().requests_refused == 1);
  // ADD_PROVIDER naming another peer is ignored; naming the sender is stored.
  Message add;
  add.type = MessageType::add_provider;
  add.key = Bytes{1, 2, 3};
  const PeerId stranger = PeerId::from_public_key(NodeKey::generate().public_key());
  add.providers = {Peer{stranger, {Multiaddr::tcp("127.0.0.1", 9)}, ConnectionType::connected}};
  REQUIRE(ask(encode(add)));
  CHECK(net.nodes[0]->dht->core().provider_keys() == 0);
  add.providers = {Peer{net.nodes[1]->host->peer_id(), {net.nodes[1]->addr}, ConnectionType::connected}};
  REQUIRE(ask(encode(add)));
  CHECK(net.nodes[0]->dht->core().provider_keys() == 1);
  // PING answers PING.
  Message ping;
  ping.type = MessageType::ping;
  auto pong = ask(encode(ping));
  REQUIRE(pong);
  CHECK(decode_kad_message(*pong)->type == MessageType::ping);
}

TEST_CASE("a node's signed peer record put in the DHT is found by a node that never met it", "[kad][live]") {
  DhtNet net(16);
  for (auto& n : net.nodes) n->host->set_signed_record(seal_peer_record(n->key, 7, {n->addr}));
  net.bootstrap();
  std::optional<LookupResult> put;
  net.nodes[4]->dht->put_record([&](LookupResult r) { put = std::move(r); });
  REQUIRE(run_until(net.io, [&] { return put.has_value(); }, std::chrono::seconds(30)));
  CHECK(put->accepted >= 1);
  for (const auto& p : net.nodes[13]->host->peers()) net.nodes[13]->host->disconnect(p);
  std::optional<LookupResult> got;
  net.nodes[13]->dht->get_record(net.nodes[4]->host->peer_id(), [&](LookupResult r) { got = std::move(r); });
  REQUIRE(run_until(net.io, [&] { return got.has_value(); }, std::chrono::seconds(30)));
  INFO(net.report(*got, key_of(record_key(net.nodes[4]->host->peer_id()))));
  REQUIRE(got->record);
  CHECK(got->record->record.peer == net.nodes[4]->host->peer_id());
  CHECK(got->record->record.seq == 7);
  CHECK(got->record->record.addrs == std::vector<Multiaddr>{net.nodes[4]->addr});
  // A peer nobody stored a record of: the walk ends without one.
  std::optional<LookupResult> none;
  net.nodes[13]->dht->get_record(PeerId::from_public_key(NodeKey::generate().public_key()),
                                 [&](LookupResult r) { none = std::move(r); });
  REQUIRE(run_until(net.io, [&] { return none.has_value(); }, std::chrono::seconds(30)));
  CHECK_FALSE(none->record);
}
