// The host over in-memory pipes and over TCP on loopback: upgrade, identify, ping,
// streams, limits, dedupe, timeouts, backoff and garbage input. Real-network waits
// are on events with deadlines; nothing sleeps.
#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <map>

#include "../support/io_wait.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/host.h"
#include "shardnode/net/memory_transport.h"
#include "shardnode/net/peer_record.h"
#include "shardnode/net/tcp_transport.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using shardnode::test::run_until;

struct Node {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<Host> host;
  Multiaddr addr;
  Node(asio::io_context& io, std::shared_ptr<MemoryNetwork> net, HostConfig cfg = {}) {
    host = std::make_unique<Host>(io, key, cfg);
    if (net) host->add_transport(std::make_unique<MemoryTransport>(io, net));
    else host->add_transport(std::make_unique<TcpTransport>(io));
    auto a = host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    REQUIRE(a);
    addr = a->with_peer_id(host->peer_id());
  }
};

// Echo protocol used by tests: writes back what it reads, closes on FIN.
void add_echo(Host& h) {
  h.set_handler("/test/echo/1.0.0", [](std::shared_ptr<Stream> s) {
    std::weak_ptr<Stream> w = s;
    s->on_data([w](ByteView b) {
      if (auto st = w.lock()) REQUIRE(st->write(b));
    });
    s->on_close([w](std::error_code ec) {
      if (auto st = w.lock(); st && !ec) st->close_write();
    });
  });
}

void connect_ok(asio::io_context& io, Host& from, const Multiaddr& to) {
  std::optional<Result<PeerId>> r;
  from.connect(to, [&](Result<PeerId> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  if (!*r) FAIL(r->error().what());
}

void both_transports(const std::function<void(asio::io_context&, std::shared_ptr<MemoryNetwork>)>& body) {
  SECTION("in-memory transport") {
    asio::io_context io;
    body(io, std::make_shared<MemoryNetwork>());
  }
  SECTION("TCP on loopback") {
    asio::io_context io;
    body(io, nullptr);
  }
}

}  // namespace

TEST_CASE("two hosts upgrade a connection, identify each other and ping", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net);
    std::optional<IdentifyInfo> a_saw, b_saw;
    a.host->on_peer_identified([&](const PeerId& p, const IdentifyInfo& i) { if (p == b.host->peer_id()) a_saw = i; });
    b.host->on_peer_identified([&](const PeerId& p, const IdentifyInfo& i) { if (p == a.host->peer_id()) b_saw = i; });
    connect_ok(io, *a.host, b.addr);
    REQUIRE(run_until(io, [&] { return a_saw && b_saw; }));
    CHECK(PeerId::from_public_key(a_saw->public_key) == b.host->peer_id());
    CHECK(a_saw->agent_version == "shardnode/0.1.0");
    CHECK(std::count(a_saw->protocols.begin(), a_saw->protocols.end(), "/ipfs/ping/1.0.0") == 1);
    REQUIRE(a_saw->listen_addrs.size() == 1);
    CHECK(a_saw->listen_addrs[0] == b.addr.without_peer_id());
    CHECK(b.host->connected(a.host->peer_id()));

    std::optional<Result<std::chrono::microseconds>> rtt;
    a.host->ping(b.host->peer_id(), [&](auto r) { rtt = r; });
    REQUIRE(run_until(io, [&] { return rtt.has_value(); }));
    if (!*rtt) FAIL(rtt->error().what());
    CHECK(rtt->value().count() >= 0);
  });
}

TEST_CASE("identify push hands every connected peer our new signed record", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net), c(io, net);
    a.host->set_signed_record(seal_peer_record(a.key, 1, a.host->advertised_addrs()));
    std::map<PeerId, std::vector<IdentifyInfo>> seen;  // by receiver
    for (Node* n : {&b, &c})
      n->host->on_peer_identified([&seen, n, from = a.host->peer_id()](const PeerId& p, const IdentifyInfo& i) {
        if (p == from) seen[n->host->peer_id()].push_back(i);
      });
    connect_ok(io, *a.host, b.addr);
    connect_ok(io, *a.host, c.addr);
    REQUIRE(run_until(io, [&] { return seen[b.host->peer_id()].size() == 1 && seen[c.host->peer_id()].size() == 1; }));

    // A record without addresses (what a retiring identity sends), seq higher.
    REQUIRE_FALSE(a.host->advertised_addrs().empty());
    a.host->withdraw_addrs();
    CHECK(a.host->advertised_addrs().empty());
    a.host->set_signed_record(seal_peer_record(a.key, 2, {}));
    std::optional<std::size_t> delivered;
    a.host->push_identify([&](std::size_t n) { delivered = n; });
    REQUIRE(run_until(io, [&] { return delivered.has_value(); }));
    CHECK(*delivered == 2);
    CHECK(a.host->counters().identify_pushes_sent == 2);
    for (Node* n : {&b, &c}) {
      const auto& got = seen[n->host->peer_id()];
      REQUIRE(got.size() == 2);
      REQUIRE(got[1].signed_record);
      CHECK(got[1].signed_record->record.seq == 2);
      CHECK(got[1].signed_record->record.addrs.empty());
      CHECK(got[1].listen_addrs.empty());
      CHECK_FALSE(got[0].listen_addrs.empty());
      CHECK(n->host->counters().identify_pushes_received == 1);
      REQUIRE(n->host->peer_info(a.host->peer_id()));
      CHECK(n->host->peer_info(a.host->peer_id())->signed_record->record.seq == 2);
    }
    // Nobody connected: done at once, nothing delivered.
    Node lonely(io, net);
    std::optional<std::size_t> none;
    lonely.host->push_identify([&](std::size_t n) { none = n; });
    REQUIRE(run_until(io, [&] { return none.has_value(); }));
    CHECK(*none == 0);
  });
}

TEST_CASE("a malformed identify push resets the stream and keeps what identify said", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net);
    std::size_t identified = 0;
    b.host->on_peer_identified([&](const PeerId&, const IdentifyInfo&) { ++identified; });
    connect_ok(io, *a.host, b.addr);
    REQUIRE(run_until(io, [&] { return identified == 1; }));
    const auto failed_before = b.host->counters().identify_failed;
    std::shared_ptr<Stream> s;
    a.host->new_stream(b.host->peer_id(), {kIdentifyPushProtocol}, [&](auto r) {
      REQUIRE(r);
      s = *r;
    });
    REQUIRE(run_until(io, [&] { return s != nullptr; }));
    std::optional<std::error_code> closed;
    s->on_data([](ByteView) {});
    s->on_close([&](std::error_code ec) { closed = ec; });
    const Bytes garbage{0x05, 0xff, 0xff, 0xff, 0xff, 0xff};  // length 5, then no protobuf
    REQUIRE(s->write(garbage));
    REQUIRE(run_until(io, [&] { return closed.has_value(); }));
    CHECK(*closed);  // reset, not a clean close
    CHECK(b.host->counters().identify_failed == failed_before + 1);
    CHECK(b.host->counters().identify_pushes_received == 0);
    CHECK(identified == 1);
    CHECK(b.host->connected(a.host->peer_id()));
  });
}

TEST_CASE("a stream carries 4 MiB both ways through noise and yamux windows", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net);
    add_echo(*b.host);
    connect_ok(io, *a.host, b.addr);
    std::shared_ptr<Stream> s;
    a.host->new_stream(b.host->peer_id(), {"/test/echo/1.0.0"}, [&](auto r) {
      REQUIRE(r);
      s = *r;
    });
    REQUIRE(run_until(io, [&] { return s != nullptr; }));
    CHECK(s->protocol() == "/test/echo/1.0.0");
    Bytes payload(4 * 1024 * 1024);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 31 + 7);
    Bytes got;
    bool closed = false;
    s->on_data([&](ByteView d) { got.insert(got.end(), d.begin(), d.end()); });
    s->on_close([&](std::error_code ec) { CHECK_FALSE(ec); closed = true; });
    std::size_t sent = 0;
    auto send_more = [&] {
      while (sent < payload.size()) {
        std::size_t n = std::min<std::size_t>({64 * 1024, payload.size() - sent, s->write_capacity()});
        if (n == 0) return;
        REQUIRE(s->write(ByteView(payload).subspan(sent, n)));
        sent += n;
      }
      s->close_write();
    };
    s->on_writable(send_more);
    send_more();
    REQUIRE(run_until(io, [&] {
      if (sent < payload.size()) send_more();
      return closed;
    }, 30s));
    CHECK(got == payload);
  });
}

TEST_CASE("dialing with the wrong /p2p id fails the handshake and backs off", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net);
    const PeerId wrong = PeerId::from_public_key(NodeKey::generate().public_key());
    const Multiaddr target = b.addr.with_peer_id(wrong);
    std::optional<Result<PeerId>> r;
    a.host->connect(target, [&](Result<PeerId> x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == NoiseErrc::peer_id_mismatch);
    CHECK_FALSE(a.host->connected(b.host->peer_id()));
    r.reset();
    a.host->connect(target, [&](Result<PeerId> x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == HostErrc::dial_backoff);
    CHECK(a.host->counters().dials_rejected == 1);
  });
}

TEST_CASE("one connection per peer: repeated and simultaneous dials are deduplicated", "[host]") {
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    Node a(io, net), b(io, net);
    int done = 0;
    a.host->connect(b.addr, [&](Result<PeerId> r) { REQUIRE(r); ++done; });
    b.host->connect(a.addr, [&](Result<PeerId> r) { REQUIRE(r); ++done; });
    REQUIRE(run_until(io, [&] { return done == 2; }));
    // Let duplicate closes settle, then both must agree on exactly one connection.
    REQUIRE(run_until(io, [&] {
      return a.host->connection_count() == 1 && b.host->connection_count() == 1 &&
             a.host->peer_info(b.host->peer_id()) && b.host->peer_info(a.host->peer_id());
    }));
    a.host->connect(b.addr, [&](Result<PeerId> r) { REQUIRE(r); ++done; });
    REQUIRE(run_until(io, [&] { return done == 3; }));
    CHECK(a.host->connection_count() == 1);
    std::optional<Result<std::chrono::microseconds>> rtt;
    a.host->ping(b.host->peer_id(), [&](auto r) { rtt = r; });
    REQUIRE(run_until(io, [&] { return rtt.has_value(); }));
    CHECK(rtt->ok());
  });
}

TEST_CASE("simultaneous dials: the last connect notice is for the connection kept", "[host]") {
  // Users open streams when a peer connects (pubsub does). When the connection they
  // saw first loses the tie-break, the host must tell them the peer moved, so their
  // streams end up on the connection both sides keep. Repeated: the race's order varies.
  for (int round = 0; round < 5; ++round) {
    both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
      Node a(io, net), b(io, net);
      std::shared_ptr<Stream> from_a, from_b;  // opened at each side's latest connect notice
      std::string got_a, got_b;
      for (auto* n : {&a, &b})
        n->host->set_handler("/test/hello/1", [](std::shared_ptr<Stream> s) {
          std::weak_ptr<Stream> w = s;
          s->on_data([w](ByteView d) {
            if (auto st = w.lock()) (void)st->write(Bytes(d.begin(), d.end()));  // echo
          });
        });
      auto watch = [&](Node& self, std::shared_ptr<Stream>& slot, std::string& got) {
        self.host->on_peer_connected([&](const PeerId& p) {
          self.host->new_stream(p, {"/test/hello/1"}, [&](Result<std::shared_ptr<Stream>> r) {
            if (!r) return;
            slot = *r;
            got.clear();
            slot->on_data([&got](ByteView d) { got.append(d.begin(), d.end()); });
          });
        });
      };
      watch(a, from_a, got_a);
      watch(b, from_b, got_b);
      int done = 0;
      a.host->connect(b.addr, [&](Result<PeerId> r) { REQUIRE(r); ++done; });
      b.host->connect(a.addr, [&](Result<PeerId> r) { REQUIRE(r); ++done; });
      REQUIRE(run_until(io, [&] {
        return done == 2 && a.host->connection_count() == 1 && b.host->connection_count() == 1 && from_a && from_b;
      }));
      // Let any replacement notice and its stream settle, then both streams must work.
      REQUIRE(run_until(io, [&] {
        if (from_a) (void)from_a->write(Bytes{'a'});
        if (from_b) (void)from_b->write(Bytes{'b'});
        return got_a.find('a') != std::string::npos && got_b.find('b') != std::string::npos;
      }, 10s));
    });
  }
}

TEST_CASE("the inbound connection limit rejects excess peers", "[host]") {
  asio::io_context io;
  auto net = std::make_shared<MemoryNetwork>();
  HostConfig limited;
  limited.max_inbound = 1;
  Node server(io, net, limited), c1(io, net), c2(io, net);
  connect_ok(io, *c1.host, server.addr);
  std::optional<Result<PeerId>> r;
  c2.host->connect(server.addr, [&](Result<PeerId> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  CHECK_FALSE(*r);
  CHECK(server.host->counters().inbound_rejected == 1);
  CHECK(server.host->connection_count() == 1);
}

TEST_CASE("a peer that never answers the upgrade hits the dial timeout", "[host]") {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::tcp::socket accepted(io);
  silent.async_accept(accepted, [](const boost::system::error_code&) {});
  HostConfig cfg;
  cfg.dial_timeout = 300ms;
  Node a(io, nullptr, cfg);
  std::optional<Result<PeerId>> r;
  const auto t0 = std::chrono::steady_clock::now();
  a.host->connect(Multiaddr::tcp("127.0.0.1", silent.local_endpoint().port()), [&](Result<PeerId> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  REQUIRE_FALSE(*r);
  CHECK(r->error().code == HostErrc::dial_timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("garbage from a raw TCP client closes that connection and nothing else", "[host][malformed]") {
  asio::io_context io;
  Node server(io, nullptr), good(io, nullptr);
  connect_ok(io, *good.host, server.addr);
  const auto ep = server.addr.tcp_endpoint();
  const std::vector<Bytes> inputs = {
      Bytes(64, 0xff),                                              // bad varint
      Bytes{0x13, '/', 'x'},                                        // truncated, then EOF
      {0x13, '/', 'm', 'u', 'l', 't', 'i', 's', 't', 'r', 'e', 'a', 'm', '/', '9', '.', '0', '.', '0', '\n'},
  };
  for (const auto& garbage : inputs) {
    asio::ip::tcp::socket raw(io);
    raw.connect({asio::ip::make_address(ep->ip), ep->port});
    asio::write(raw, asio::buffer(garbage));
    bool closed = false;
    std::array<std::uint8_t, 256> buf{};
    std::function<void()> read_all = [&] {
      raw.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& ec, std::size_t) {
        if (ec) closed = true;
        else read_all();
      });
    };
    if (garbage.size() == 3) raw.shutdown(asio::ip::tcp::socket::shutdown_send);
    read_all();
    REQUIRE(run_until(io, [&] { return closed; }));
  }
  CHECK(server.host->connected(good.host->peer_id()));
  std::optional<Result<std::chrono::microseconds>> rtt;
  good.host->ping(server.host->peer_id(), [&](auto r) { rtt = r; });
  REQUIRE(run_until(io, [&] { return rtt.has_value(); }));
  CHECK(rtt->ok());
}

TEST_CASE("an unsupported stream protocol is refused, and closing a host disconnects its peers", "[host]") {
  asio::io_context io;
  auto net = std::make_shared<MemoryNetwork>();
  Node a(io, net), b(io, net);
  connect_ok(io, *a.host, b.addr);
  std::optional<Result<std::shared_ptr<Stream>>> r;
  a.host->new_stream(b.host->peer_id(), {"/not/here/1.0.0"}, [&](auto x) { r = x; });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  REQUIRE_FALSE(*r);
  CHECK(r->error().code == MssErrc::not_supported);
  bool gone = false;
  a.host->on_peer_disconnected([&](const PeerId& p) { gone = p == b.host->peer_id(); });
  b.host->close();
  REQUIRE(run_until(io, [&] { return gone; }));
  CHECK_FALSE(a.host->connected(b.host->peer_id()));
}

TEST_CASE("onion-only mode refuses clearnet dials and listeners and advertises only onion addresses", "[host][privacy]") {
  asio::io_context io;
  HostConfig onion_cfg;
  onion_cfg.onion_only = true;
  Node plain(io, nullptr);
  // Loopback listeners stay allowed (the onion service's local target may be one).
  Node b(io, nullptr, onion_cfg);
  const Multiaddr onion = Multiaddr::onion3(b.key.public_key(), 4001);

  SECTION("a clearnet dial fails before any socket is opened") {
    std::optional<Result<PeerId>> r;
    b.host->connect(plain.addr, [&](Result<PeerId> x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == HostErrc::onion_only);
    CHECK(b.host->counters().dials_rejected == 1);
    CHECK_FALSE(b.host->connected(plain.host->peer_id()));
  }
  SECTION("an onion address is its key: a /p2p/ id that disagrees is refused before dialing") {
    const NodeKey other = NodeKey::generate();
    const Multiaddr wrong = Multiaddr::onion3(other.public_key(), 4001).with_peer_id(plain.host->peer_id());
    std::optional<Result<PeerId>> r;
    b.host->connect(wrong, [&](Result<PeerId> x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == HostErrc::unsupported_address);
    CHECK_THAT(r->error().what(), Catch::Contains("not the onion address's key"));
  }
  SECTION("listening on a public or wildcard address is refused") {
    for (const char* a : {"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0", "/ip4/192.0.2.1/tcp/4001"}) {
      auto r = b.host->listen(*Multiaddr::parse(a));
      REQUIRE_FALSE(r);
      CHECK(r.error().code == HostErrc::onion_only);
    }
  }
  SECTION("identify carries only /onion3/ addresses and no observed address") {
    HostConfig cfg = onion_cfg;
    cfg.advertise_addrs = {onion, b.addr.without_peer_id()};  // a misconfiguration the host filters
    Node c(io, nullptr, cfg);
    std::optional<IdentifyInfo> seen;
    plain.host->on_peer_identified([&](const PeerId& p, const IdentifyInfo& i) {
      if (p == c.host->peer_id()) seen = i;
    });
    connect_ok(io, *plain.host, c.addr);
    REQUIRE(run_until(io, [&] { return seen.has_value(); }));
    REQUIRE(seen->listen_addrs.size() == 1);
    CHECK(seen->listen_addrs[0] == onion);
    for (const auto& a : seen->listen_addrs) CHECK(a.is_onion());
    CHECK_FALSE(seen->observed_addr.has_value());
  }
}

TEST_CASE("with a 16 MiB yamux window a writer that respects write_capacity never overflows the socket queue",
          "[host][yamux]") {
  // The peer lets us send 16 MiB on the stream, twice the socket queue's 8 MiB cap:
  // write_capacity must stop at what the socket can still take, and on_writable must
  // fire when it drained, or the connection is aborted as a peer that is not reading.
  both_transports([](asio::io_context& io, std::shared_ptr<MemoryNetwork> net) {
    HostConfig cfg;
    cfg.connection.yamux.initial_window = 16 * 1024 * 1024;
    Node a(io, net, cfg), b(io, net, cfg);
    std::size_t received = 0;
    bool sink_closed = false;
    b.host->set_handler("/test/sink/1.0.0", [&](std::shared_ptr<Stream> s) {
      s->on_data([&](ByteView d) { received += d.size(); });
      s->on_close([&](std::error_code ec) {
        CHECK_FALSE(ec);
        sink_closed = true;
      });
    });
    connect_ok(io, *a.host, b.addr);
    std::shared_ptr<Stream> s;
    a.host->new_stream(b.host->peer_id(), {"/test/sink/1.0.0"}, [&](auto r) {
      REQUIRE(r);
      s = *r;
    });
    REQUIRE(run_until(io, [&] { return s != nullptr; }));
    const std::size_t total = 24 * 1024 * 1024;
    const Bytes chunk(64 * 1024, 0x5a);
    std::size_t sent = 0, most_offered = 0;
    std::error_code closed_with;
    s->on_close([&](std::error_code ec) { closed_with = ec; });
    std::function<void()> send_more = [&] {
      while (sent < total) {
        const std::size_t cap = s->write_capacity();
        most_offered = std::max(most_offered, cap);
        if (cap < chunk.size()) return;  // on_writable calls again
        REQUIRE(s->write(chunk));
        sent += chunk.size();
      }
      s->close_write();
    };
    s->on_writable(send_more);
    send_more();
    REQUIRE(run_until(io, [&] { return sink_closed || closed_with; }, 60s));
    CHECK_FALSE(closed_with);
    CHECK(received == total);
    CHECK(most_offered <= ConnectionConfig{}.max_write_queue / 4);
  });
}
