// The router on live hosts: C++ nodes over TCP on loopback, real clock, waits on
// events with deadlines.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <string>

#include "../support/io_wait.h"
#include "shardnode/net/framing.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const TopicId kTopic = "/shardnode/shard/0/collations/1";

using shardnode::test::run_until;

// This process's resident set in KiB (Linux), for memory figures.
std::size_t rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

struct LiveNode {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<net::Host> host;
  std::unique_ptr<PubsubService> ps;
  Multiaddr addr;
  std::vector<Delivery> got;

  explicit LiveNode(asio::io_context& io, bool stem = false, const std::function<void(ServiceConfig&)>& tweak = {}) {
    host = std::make_unique<net::Host>(io, key);
    host->add_transport(std::make_unique<net::TcpTransport>(io));
    addr = host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"))->with_peer_id(host->peer_id());
    ServiceConfig cfg;
    cfg.gossip.heartbeat_interval = 100ms;
    cfg.score.topics[kTopic] = TopicScoreParams::defaults();
    cfg.gossip.stem.enabled = stem;
    cfg.gossip.stem.fluff_probability = 0.0;  // relays pass stem messages on: a fixed path
    if (tweak) tweak(cfg);
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

TEST_CASE("latency-aware mesh on live nodes: each side pings the other and its router learns the round trip",
          "[service][latency]") {
  asio::io_context io;
  const auto aware = [](ServiceConfig& c) {
    c.gossip.latency.enabled = true;
    c.ping_interval = 200ms;
  };
  LiveNode a(io, false, aware), b(io, false, aware), plain(io);
  connect(io, a, b);
  connect(io, a, plain);
  REQUIRE(run_until(io, [&] {
    return a.ps->router().rtt(b.host->peer_id()) && b.ps->router().rtt(a.host->peer_id()) &&
           a.ps->router().rtt(plain.host->peer_id());
  }));
  // Loopback: well under a second, and more than nothing.
  const auto rtt = *a.ps->router().rtt(b.host->peer_id());
  CHECK(rtt > Duration::zero());
  CHECK(rtt < 1s);
  // A node without the latency-aware mesh sends no pings (it still answers them).
  CHECK_FALSE(plain.ps->router().rtt(a.host->peer_id()));
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

TEST_CASE("stem mode on live nodes: our message walks the stem, around a peer without it", "[service][stem]") {
  asio::io_context io;
  // n0 -> n1 -> n2 -> n3 by dials (each dialer's outbound peer is its only stem
  // destination), plus n0 -> n3. n3 does not speak the stem protocol.
  LiveNode n0(io, true), n1(io, true), n2(io, true), n3(io, false);
  connect(io, n0, n3);
  connect(io, n0, n1);
  connect(io, n1, n2);
  connect(io, n2, n3);
  REQUIRE(run_until(io, [&] {
    return n0.ps->router().mesh(kTopic).size() == 2 && n2.ps->router().mesh(kTopic).size() == 2 &&
           n3.ps->router().mesh(kTopic).size() == 2;
  }));
  // The test-only receipt hook (the live experiment's spy log) on every node.
  std::map<const LiveNode*, std::vector<Receipt>> receipts;
  for (LiveNode* n : {&n0, &n1, &n2, &n3})
    n->ps->on_receipt([&receipts, n](const Receipt& r) { receipts[n].push_back(r); });
  const Bytes data = {7, 7, 7};
  const auto id = n0.ps->publish(kTopic, data);
  REQUIRE(id);
  REQUIRE(run_until(io, [&] { return n1.has(data) && n2.has(data) && n3.has(data); }));
  auto first = [&](const LiveNode& n, Receipt::Kind kind) -> const Receipt* {
    for (const Receipt& r : receipts[&n])
      if (r.kind == kind && r.id == *id) return &r;
    return nullptr;
  };
  REQUIRE(first(n0, Receipt::Kind::own));
  CHECK(first(n0, Receipt::Kind::own)->from == n0.host->peer_id());
  CHECK(first(n0, Receipt::Kind::own)->topic == kTopic);
  REQUIRE(first(n1, Receipt::Kind::stem));
  CHECK(first(n1, Receipt::Kind::stem)->from == n0.host->peer_id());
  REQUIRE(first(n2, Receipt::Kind::stem));
  CHECK(first(n2, Receipt::Kind::stem)->from == n1.host->peer_id());
  CHECK(!first(n3, Receipt::Kind::stem));
  REQUIRE(first(n3, Receipt::Kind::gossip));
  CHECK(first(n3, Receipt::Kind::gossip)->from == n2.host->peer_id());
  CHECK(!first(n1, Receipt::Kind::own));
  // n0 sent it on the stem only (to n1 at once, or to n3 first, which refused the
  // protocol); n1 relayed it to n2; n2's only destination, n3, refused: n2 gossiped it.
  CHECK(n0.ps->router().stem()->counters().originated == 1);
  CHECK(n0.ps->router().stem()->counters().fluffed == 0);
  CHECK(n1.ps->counters().stem_in == 1);
  CHECK(n1.ps->router().stem()->counters().relayed == 1);
  CHECK(n2.ps->counters().stem_in == 1);
  CHECK(n2.ps->router().stem()->counters().fluffed == 1);
  CHECK(n2.ps->router().stem()->counters().unsupported_peers == 1);
  CHECK(n3.ps->counters().stem_in == 0);
  // Back in gossip, n0 forwards its own message like a relay and does not deliver it again.
  REQUIRE(run_until(io, [&] { return n0.ps->router().counters().messages_received >= 1; }));
  CHECK(std::count_if(n0.got.begin(), n0.got.end(), [&](const Delivery& d) { return d.message.data == data; }) == 1);
}

TEST_CASE("a malformed stem frame resets that stream and nothing else", "[service][stem]") {
  asio::io_context io;
  LiveNode a(io, true), b(io, true);
  connect(io, a, b);
  REQUIRE(run_until(io, [&] { return b.ps->router().topic_peers(kTopic).size() == 1; }));
  std::shared_ptr<net::Stream> raw;
  a.host->new_stream(b.host->peer_id(), {kStemProtocolId}, [&](Result<std::shared_ptr<net::Stream>> r) {
    REQUIRE(r);
    raw = *r;
  });
  REQUIRE(run_until(io, [&] { return raw != nullptr; }));
  Rpc two;  // a stem frame must carry exactly one message
  Message m;
  m.topic = kTopic;
  m.data = {1};
  two.publish = {m, m};
  REQUIRE(raw->write(net::length_prefixed(encode_rpc(two))));
  REQUIRE(run_until(io, [&] { return b.ps->counters().stem_malformed == 1; }));
  CHECK(b.ps->router().stem()->counters().relayed == 0);
  // The node and the connection are fine: a real stem message still gets through.
  REQUIRE(a.ps->publish(kTopic, Bytes{2, 2}));
  REQUIRE(run_until(io, [&] { return b.has(Bytes{2, 2}); }));
  CHECK(b.ps->counters().stem_in == 1);
}

TEST_CASE("a peer flooding RPCs is throttled while an honest peer's messages arrive, and memory stays bounded",
          "[service][spam][flood]") {
  asio::io_context io;
  auto limits = [](ServiceConfig& c) {
    c.inbound.peer_rpcs_per_s = 100;
    c.inbound.peer_messages_per_s = 200;
    c.inbound.peer_bytes_per_s = 256 * 1024;
    c.inbound.start_fraction = 0.25;  // a new peer: 25 RPCs, 50 messages, 64 KiB a second
  };
  LiveNode victim(io, false, limits), honest(io);
  // The flooder: a bare host that speaks /meshsub/1.1.0 and writes valid, distinct
  // 1 KiB messages as fast as its stream takes them.
  NodeKey fkey = NodeKey::generate();
  net::Host flooder(io, fkey);
  flooder.add_transport(std::make_unique<net::TcpTransport>(io));
  flooder.set_handler(kMeshsub11Id, [](std::shared_ptr<net::Stream> s) { s->on_data([](ByteView) {}); });
  connect(io, honest, victim);
  bool up = false;
  flooder.connect(victim.addr, [&](Result<PeerId> r) { up = r.ok(); });
  REQUIRE(run_until(io, [&] { return up; }));
  std::shared_ptr<net::Stream> fs;
  flooder.new_stream(victim.host->peer_id(), {kMeshsub11Id}, [&](Result<std::shared_ptr<net::Stream>> r) {
    REQUIRE(r);
    fs = *r;
  });
  REQUIRE(run_until(io, [&] { return fs != nullptr; }));
  REQUIRE(run_until(io, [&] { return victim.ps->router().mesh(kTopic).size() == 1; }));

  std::uint64_t frames_written = 0, counter = 0;
  std::function<void()> pump = [&] {
    while (true) {
      Rpc rpc;
      for (int i = 0; i < 10; ++i) {
        Message m;
        m.topic = kTopic;
        m.data = Bytes(1024, 0xF1);
        for (int k = 0; k < 8; ++k) m.data[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(counter >> (8 * k));
        ++counter;
        rpc.publish.push_back(std::move(m));
      }
      Bytes frame = net::length_prefixed(encode_rpc(rpc));
      if (fs->write_capacity() < frame.size() || !fs->write(frame)) return;
      ++frames_written;
    }
  };
  fs->on_writable([&] { pump(); });
  const std::size_t rss_before = rss_kib();
  pump();

  // The honest peer publishes one message every 100 ms, 30 in all, during the flood.
  std::vector<Bytes> sent;
  asio::steady_timer tick(io);
  std::function<void()> publish_next = [&] {
    Bytes b = {0xAB, static_cast<std::uint8_t>(sent.size())};
    REQUIRE(honest.ps->publish(kTopic, b));
    sent.push_back(b);
    if (sent.size() == 30) return;
    tick.expires_after(100ms);
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) publish_next();
    });
  };
  const auto t0 = std::chrono::steady_clock::now();
  publish_next();
  REQUIRE(run_until(io, [&] {
    return sent.size() == 30 && std::all_of(sent.begin(), sent.end(), [&](const Bytes& b) { return victim.has(b); });
  }, 30s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t from_flooder = 0;
  for (const auto& d : victim.got) from_flooder += d.source == flooder.peer_id();
  const std::size_t rss_after = rss_kib();
  const auto& gc = victim.ps->inbound().counters();
  INFO("flood: " << frames_written << " RPCs (" << frames_written * 10 << " messages) written in " << secs
                 << " s; victim delivered " << from_flooder << " of them, throttled " << gc.throttled
                 << " times; RSS " << rss_before << " -> " << rss_after << " KiB");
  WARN("flood figure: " << frames_written * 10 << " messages written, " << from_flooder << " delivered in " << secs
                        << " s; RSS " << rss_before << " -> " << rss_after << " KiB");
  CHECK(gc.throttled > 0);
  // 50 messages a second and 64 KiB a second for a new peer: the bytes bind (~6
  // 10-message RPCs a second), plus the first second's burst and one RPC of deficit.
  CHECK(from_flooder <= static_cast<std::size_t>(10 * (64.0 * 1024 / 10300 * (secs + 1.0) + 2)));
  // The flooder is back-pressured: what it wrote and we did not take is what fits in
  // its own yamux send buffer (4 MiB), our window (256 KiB) and one read (64 KiB).
  CHECK((frames_written * 10 - from_flooder) * 1030 < (4u << 20) + 320 * 1024 + 20 * 1030);
  CHECK(rss_after < rss_before + 64 * 1024);
  CHECK(victim.host->connected(flooder.peer_id()));  // throttled, not flagged: its messages are valid
  flooder.close();
}

TEST_CASE("a peer that stops reading is disconnected once its queue has not moved for stall_after",
          "[service][slow]") {
  asio::io_context io;
  LiveNode node(io, false, [](ServiceConfig& c) { c.outbound.stall_after = 1s; });
  // The slow peer: a bare host that subscribes to the topic and never reads what the
  // node sends it (its inbound stream is held paused: our window fills).
  NodeKey skey = NodeKey::generate();
  net::Host slow(io, skey);
  slow.add_transport(std::make_unique<net::TcpTransport>(io));
  std::vector<std::shared_ptr<net::Stream>> held;
  slow.set_handler(kMeshsub11Id, [&](std::shared_ptr<net::Stream> s) {
    s->pause();
    held.push_back(std::move(s));
  });
  bool up = false;
  slow.connect(node.addr, [&](Result<PeerId> r) { up = r.ok(); });
  REQUIRE(run_until(io, [&] { return up; }));
  std::shared_ptr<net::Stream> out;
  slow.new_stream(node.host->peer_id(), {kMeshsub11Id}, [&](Result<std::shared_ptr<net::Stream>> r) {
    REQUIRE(r);
    out = *r;
  });
  REQUIRE(run_until(io, [&] { return out != nullptr; }));
  Rpc sub;
  sub.subscriptions = {{true, kTopic}};
  REQUIRE(out->write(net::length_prefixed(encode_rpc(sub))));
  REQUIRE(run_until(io, [&] { return node.ps->router().topic_peers(kTopic).size() == 1; }));
  // Our own messages go to every subscribed peer (flood publishing): 64 KiB each,
  // more than its window holds; the rest waits in its lane and our send buffer.
  for (int i = 0; i < 100; ++i) {
    Bytes b(64 * 1024, static_cast<std::uint8_t>(i));
    b[0] = static_cast<std::uint8_t>(i);
    REQUIRE(node.ps->publish(kTopic, std::move(b)));
  }
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return !node.host->connected(slow.peer_id()); }, 20s));
  CHECK(std::chrono::steady_clock::now() - t0 >= 1s);  // not before stall_after
  CHECK(node.ps->counters().slow_peers_dropped == 1);
  slow.close();
}
