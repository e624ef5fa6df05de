// The router on live hosts: C++ nodes over TCP on loopback, real clock, waits on
// events with deadlines.
#include <catch2/catch.hpp>

#include <chrono>

#include "../support/io_wait.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const TopicId kTopic = "/shardnode/shard/0/collations/1";

using shardnode::test::run_until;

struct LiveNode {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<net::Host> host;
  std::unique_ptr<PubsubService> ps;
  Multiaddr addr;
  std::vector<Delivery> got;

  explicit LiveNode(asio::io_context& io) {
    host = std::make_unique<net::Host>(io, key);
    host->add_transport(std::make_unique<net::TcpTransport>(io));
    addr = host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"))->with_peer_id(host->peer_id());
    ServiceConfig cfg;
    cfg.gossip.heartbeat_interval = 100ms;
    cfg.score.topics[kTopic] = TopicScoreParams::defaults();
    ps = std::make_unique<PubsubService>(io, *host, cfg);
    ps->on_message([this](const Delivery& d) { got.push_back(d); });
    ps->start();
    ps->subscribe(kTopic);
  }
  bool has(const Bytes& data) const {
    return std::any_of(got.begin(), got.end(), [&](const Delivery& d) { return d.message.data == data; });
  }
};

void connect(asio::io_context& io, LiveNode& a, LiveNode& b) {
  bool done = false;
  a.host->connect(b.addr, [&](Result<PeerId> r) {
    REQUIRE(r);
    done = true;
  });
  REQUIRE(run_until(io, [&] { return done; }));
}

}  // namespace

TEST_CASE("gossip crosses a line of four live nodes in both directions", "[service]") {
  asio::io_context io;
  std::vector<std::unique_ptr<LiveNode>> n;
  for (int i = 0; i < 4; ++i) n.push_back(std::make_unique<LiveNode>(io));
  for (std::size_t i = 0; i + 1 < n.size(); ++i) connect(io, *n[i], *n[i + 1]);
  // Meshes form on the heartbeat.
  REQUIRE(run_until(io, [&] {
    return n[0]->ps->router().mesh(kTopic).size() == 1 && n[1]->ps->router().mesh(kTopic).size() == 2 &&
           n[2]->ps->router().mesh(kTopic).size() == 2 && n[3]->ps->router().mesh(kTopic).size() == 1;
  }));
  const Bytes a = {1, 2, 3}, d = {4, 5, 6};
  REQUIRE(n[0]->ps->publish(kTopic, a));
  REQUIRE(n[3]->ps->publish(kTopic, d));
  REQUIRE(run_until(io, [&] { return n[3]->has(a) && n[0]->has(d) && n[1]->has(a) && n[2]->has(d); }));
  CHECK(n[3]->ps->counters().rpcs_malformed == 0);
  CHECK(n[1]->ps->router().counters().messages_delivered >= 2);
}

TEST_CASE("a live node that floods invalid messages is flagged and disconnected", "[service][spam]") {
  asio::io_context io;
  LiveNode honest(io), spammer(io);
  honest.ps->set_validator(kTopic, [](const PeerId&, const Message& m) {
    return m.data.size() == 7 ? ValidationResult::reject : ValidationResult::accept;
  });
  connect(io, spammer, honest);
  REQUIRE(run_until(io, [&] { return honest.ps->router().topic_peers(kTopic).size() == 1; }));
  for (std::uint8_t i = 0; i < 5; ++i) (void)spammer.ps->publish(kTopic, Bytes(7, i));
  REQUIRE(run_until(io, [&] { return honest.ps->router().is_flagged(spammer.host->peer_id()); }));
  auto flagged = honest.ps->router().flagged_peers();
  REQUIRE(flagged.size() == 1);
  CHECK(flagged[0].breakdown.p4 < 0.0);
  REQUIRE(run_until(io, [&] { return !honest.host->connected(spammer.host->peer_id()); }));
}
