// net::OnionTransport against fakes on one io_context: a scripted tor SOCKS5 port on
// a unix socket (RFC 1928/1929, tor's ExtendedErrors reply codes) and a fake control
// port on a socketpair (ADD_ONION, DEL_ONION, injected HS_DESC events). No tor runs;
// waits are on conditions with deadlines, nothing sleeps.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../support/fake_tor_control.h"
#include "../support/io_wait.h"
#include "shardnode/core/errors.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/onion_transport.h"
#include "shardnode/onion/control_client.h"
#include "shardnode/onion/control_events.h"
#include "shardnode/onion/errors.h"
#include "../support/temp_dir.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Local = asio::local::stream_protocol;

namespace {

using shardnode::test::run_until;

// Runs whatever becomes ready within `d` (bounded; used to show nothing more happens).
void settle(asio::io_context& io, std::chrono::milliseconds d = 100ms) {
  io.restart();
  io.run_for(d);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

using test::TempDir;

// ------------------------------------------------------------------ fake SOCKS port

// What the fake tor answers, per connection.
struct SocksScript {
  std::vector<std::uint8_t> replies{0};  // REP for the n-th CONNECT; the last one repeats
  std::string after_reply;               // application bytes in the same write as a successful reply
  bool garbage = false;                  // answer the greeting with a bad version byte
  bool hold = false;                     // never answer the CONNECT
};

class FakeSocks {
 public:
  FakeSocks(asio::io_context& io, const fs::path& path, std::string expect_host, std::uint16_t expect_port,
            std::string expect_user, std::string expect_pass)
      : acceptor_(io, Local::endpoint(path.string())),
        expect_host_(std::move(expect_host)),
        expect_user_(std::move(expect_user)),
        expect_pass_(std::move(expect_pass)),
        expect_port_(expect_port) {
    accept();
  }
  ~FakeSocks() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& c : conns_) c->sock.close(ec);
  }

  SocksScript script;
  int connections = 0;       // accepted
  int requests = 0;          // CONNECT requests seen
  std::vector<std::string> problems;  // what a client sent that tor would not accept from us
  std::string received;      // application bytes after a successful handshake

  // Application bytes to the connection whose CONNECT succeeded last.
  void send(std::string bytes) {
    REQUIRE(app_);
    write(app_, std::move(bytes), false);
  }

 private:
  struct Conn {
    explicit Conn(Local::socket s) : sock(std::move(s)) {}
    Local::socket sock;
    enum class Phase { greeting, auth, request, held, app, dead } phase = Phase::greeting;
    std::vector<std::uint8_t> in;
    std::array<std::uint8_t, 512> buf{};
    std::deque<std::string> out;
    bool close_after = false;
  };

  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, Local::socket s) {
      if (ec) return;
      ++connections;
      auto c = std::make_shared<Conn>(std::move(s));
      conns_.push_back(c);
      read(c);
      accept();
    });
  }

  void read(const std::shared_ptr<Conn>& c) {
    c->sock.async_read_some(asio::buffer(c->buf), [this, c](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        c->phase = Conn::Phase::dead;
        return;
      }
      c->in.insert(c->in.end(), c->buf.begin(), c->buf.begin() + static_cast<std::ptrdiff_t>(n));
      process(c);
      if (c->sock.is_open()) read(c);
    });
  }

  void write(const std::shared_ptr<Conn>& c, std::string bytes, bool close_after) {
    c->out.push_back(std::move(bytes));
    c->close_after = c->close_after || close_after;
    if (c->out.size() == 1) write_next(c);
  }
  void write_next(const std::shared_ptr<Conn>& c) {
    asio::async_write(c->sock, asio::buffer(c->out.front()), [this, c](const boost::system::error_code& ec, std::size_t) {
      c->out.pop_front();
      if (ec) return;
      if (!c->out.empty()) return write_next(c);
      if (c->close_after) {  // tor closes the stream after a failed CONNECT reply
        boost::system::error_code ig;
        c->sock.shutdown(Local::socket::shutdown_both, ig);
        c->sock.close(ig);
      }
    });
  }

  static std::string raw(std::initializer_list<std::uint8_t> b) { return std::string(b.begin(), b.end()); }

  // Consumes whole messages of the current phase.
  void process(const std::shared_ptr<Conn>& c) {
    using P = Conn::Phase;
    auto& in = c->in;
    for (;;) {
      switch (c->phase) {
        case P::greeting: {
          if (in.size() < 2 || in.size() < 2u + in[1]) return;
          const std::size_t n = 2u + in[1];
          if (in[0] != 5) problems.push_back("greeting version " + std::to_string(in[0]));
          if (std::find(in.begin() + 2, in.begin() + static_cast<std::ptrdiff_t>(n), 0x02) ==
              in.begin() + static_cast<std::ptrdiff_t>(n))
            problems.push_back("greeting does not offer username/password");
          in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
          if (script.garbage) {
            c->phase = P::dead;
            return write(c, raw({0x04, 0x02}), true);
          }
          write(c, raw({0x05, 0x02}), false);
          c->phase = P::auth;
          break;
        }
        case P::auth: {
          if (in.size() < 2) return;
          const std::size_t ulen = in[1];
          if (in.size() < 3 + ulen) return;
          const std::size_t plen = in[2 + ulen];
          if (in.size() < 3 + ulen + plen) return;
          if (in[0] != 1) problems.push_back("auth version " + std::to_string(in[0]));
          const auto* p = reinterpret_cast<const char*>(in.data());
          const std::string user(p + 2, ulen), pass(p + 3 + ulen, plen);
          if (user != expect_user_) problems.push_back("username '" + user + "'");
          if (pass != expect_pass_) problems.push_back("password '" + pass + "'");
          in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(3 + ulen + plen));
          write(c, raw({0x01, 0x00}), false);
          c->phase = P::request;
          break;
        }
        case P::request: {
          if (in.size() < 5) return;
          const std::size_t hlen = in[4];
          if (in.size() < 5 + hlen + 2) return;
          if (in[0] != 5 || in[1] != 1 || in[2] != 0) problems.push_back("CONNECT header malformed");
          if (in[3] != 3) problems.push_back("CONNECT ATYP " + std::to_string(in[3]) + ", not a host name");
          const std::string host(reinterpret_cast<const char*>(in.data()) + 5, hlen);
          const auto port = static_cast<std::uint16_t>((in[5 + hlen] << 8) | in[6 + hlen]);
          if (host != expect_host_) problems.push_back("CONNECT host '" + host + "'");
          if (port != expect_port_) problems.push_back("CONNECT port " + std::to_string(port));
          in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(5 + hlen + 2));
          const std::size_t idx = static_cast<std::size_t>(requests);
          ++requests;
          if (script.hold) {
            c->phase = P::held;
            return;
          }
          const std::uint8_t rep = script.replies[std::min(idx, script.replies.size() - 1)];
          // As tor's OnionTrafficOnly port: ATYP 4 with an all-zero bound address.
          std::string reply = raw({0x05, rep, 0x00, 0x04});
          reply.append(18, '\0');
          if (rep == 0) {
            c->phase = P::app;
            app_ = c;
            write(c, reply + script.after_reply, false);
          } else {
            c->phase = P::dead;
            write(c, reply, true);
            return;
          }
          break;
        }
        case P::app:
          received.append(in.begin(), in.end());
          in.clear();
          return;
        case P::held:
        case P::dead:
          in.clear();
          return;
      }
    }
  }

  Local::acceptor acceptor_;
  std::string expect_host_, expect_user_, expect_pass_;
  std::uint16_t expect_port_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::shared_ptr<Conn> app_;
};

// ------------------------------------------------------------------ fake control port

// The tor side of the control socketpair: answers ADD_ONION with `add_onion_reply`
// and DEL_ONION with 250 OK.
struct FakeControl : shardnode::test::FakeTor {
  FakeControl(asio::io_context& io, int fd) : FakeTor(io, fd) {
    respond = [this](FakeTor&, const std::string& line) {
      if (line.rfind("ADD_ONION ", 0) == 0) send(add_onion_reply);
      else if (line.rfind("DEL_ONION ", 0) == 0) send("250 OK\r\n");
    };
  }
  std::string add_onion_reply;  // the whole reply to ADD_ONION
};

const std::string kHsDir = "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~r1";
constexpr std::uint16_t kPort = 4001;

// One onion transport wired to a fake tor, plus a peer to dial.
struct Fixture {
  asio::io_context io;
  ManualClock clock;  // the transport's: its retry, deadline and publish timers run on it
  TempDir dir;
  NodeKey key = NodeKey::generate();
  NodeKey peer_key = NodeKey::generate();
  std::string own = onion_address(key.public_key());
  std::string peer = onion_address(peer_key.public_key());
  fs::path socks_path = dir.path / "socks.sock";
  fs::path service_path = dir.path / "svc.sock";
  std::shared_ptr<onion::ControlClient> control;
  std::unique_ptr<FakeControl> tor;
  std::unique_ptr<FakeSocks> socks;
  OnionTransportConfig cfg;
  std::unique_ptr<OnionTransport> transport;

  Fixture() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    control = onion::ControlClient::adopt(io, fds[0]);
    tor = std::make_unique<FakeControl>(io, fds[1]);
    tor->add_onion_reply = "250-ServiceID=" + own + "\r\n250 OK\r\n";
    // In the node TorSession routes HS_DESC events to the transport; here the test does.
    control->on_event([this](const onion::Reply& r) {
      if (onion::event_name(r) != "HS_DESC" || !transport) return;
      auto ev = onion::parse_hs_desc_event(r);
      REQUIRE(ev);
      transport->on_hs_desc(*ev);
    });
    cfg.socks_endpoint = "unix:" + socks_path.string();
    cfg.service_socket = service_path;
    cfg.clock = &clock;
    cfg.dial_timeout = 5s;
    cfg.retry_initial = 10ms;
    cfg.retry_max = 40ms;
  }
  ~Fixture() {
    transport.reset();
    control->close();
    settle(io, 20ms);
  }

  FakeSocks& start_socks() {
    socks = std::make_unique<FakeSocks>(io, socks_path, peer + ".onion", kPort,
                                        OnionTransport::isolation_username(onion_address(key.public_key()), peer),
                                        cfg.isolation_password);
    return *socks;
  }
  OnionTransport& make() {
    transport = std::make_unique<OnionTransport>(io, key, control, cfg);
    return *transport;
  }
  Multiaddr peer_addr() const {
    return Multiaddr::onion3(peer_key.public_key(), kPort).with_peer_id(PeerId::from_public_key(peer_key.public_key()));
  }
  Multiaddr own_addr() const { return Multiaddr::onion3(key.public_key(), kPort); }

  // Dials and counts handler runs.
  struct DialResult {
    int calls = 0;
    std::optional<Result<std::unique_ptr<ByteStream>>> r;
  };
  std::shared_ptr<DialResult> dial(const Multiaddr& a) {
    auto res = std::make_shared<DialResult>();
    transport->dial(a, [res](Result<std::unique_ptr<ByteStream>> r) {
      ++res->calls;
      res->r.emplace(std::move(r));
    });
    return res;
  }
  void inject(const std::string& event_text) { tor->send("650 " + event_text + "\r\n"); }
};

std::string read_some(asio::io_context& io, ByteStream& s) {
  std::array<std::uint8_t, 256> buf{};
  std::optional<std::pair<std::error_code, std::size_t>> got;
  s.async_read_some(buf, [&](std::error_code ec, std::size_t n) { got.emplace(ec, n); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  REQUIRE_FALSE(got->first);
  return std::string(reinterpret_cast<const char*>(buf.data()), got->second);
}

std::string read_exactly(asio::io_context& io, ByteStream& s, std::size_t n) {
  std::string out;
  while (out.size() < n) out += read_some(io, s);
  return out;
}

}  // namespace

// ------------------------------------------------------------------ dialing

TEST_CASE("onion dial through a fake tor SOCKS port yields a stream with leftover bytes first", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.after_reply = "early";
  auto& t = f.make();
  CHECK(std::string(t.name()) == "onion3");

  auto d = f.dial(f.peer_addr());
  CHECK(d->calls == 0);  // never inside dial()
  REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
  REQUIRE(d->r.has_value());
  if (!*d->r) FAIL(d->r->error().what());
  CHECK(socks.problems == std::vector<std::string>{});
  auto stream = std::move(d->r->value());

  // The peer's onion address, without the /p2p/ part the dial carried.
  CHECK(stream->remote_address() == Multiaddr::onion3(f.peer_key.public_key(), kPort));
  CHECK(stream->remote_address().to_string() == "/onion3/" + f.peer + ":4001");
  CHECK_FALSE(stream->remote_address().peer_id().has_value());

  // Bytes that came in the same write as the SOCKS reply are read first...
  CHECK(read_exactly(f.io, *stream, 5) == "early");
  // ...then what the remote sends later.
  socks.send("later bytes");
  CHECK(read_exactly(f.io, *stream, 11) == "later bytes");

  // Writes reach the remote.
  const std::string msg = "hello from the dialer";
  std::optional<std::error_code> wrote;
  stream->async_write(std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()),
                      [&](std::error_code ec) { wrote = ec; });
  REQUIRE(run_until(f.io, [&] { return wrote.has_value() && socks.received.size() >= msg.size(); }));
  CHECK_FALSE(*wrote);
  CHECK(socks.received == msg);

  const auto& c = t.counters();
  CHECK(c.dials == 1);
  CHECK(c.dial_attempts == 1);
  CHECK(c.dial_retries == 0);
  CHECK(c.dials_succeeded == 1);
  CHECK(c.dials_failed == 0);
  CHECK(socks.connections == 1);
  settle(f.io, 20ms);
  CHECK(d->calls == 1);
  stream->close();
}

TEST_CASE("onion dial retries while tor has no descriptor and then connects", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.replies = {0xF0, 0xF0, 0x00};
  auto& t = f.make();
  auto d = f.dial(f.peer_addr());
  // The first refusal arms a 10 ms retry on the transport's clock; nothing more
  // happens until that clock moves.
  REQUIRE(run_until(f.io, [&] { return t.counters().dial_retries == 1; }));
  f.io.restart();
  f.io.poll();
  CHECK(t.counters().dial_attempts == 1);
  REQUIRE(test::run_with_clock_until(f.io, f.clock, 5ms, [&] { return d->calls > 0; }));
  if (!*d->r) FAIL(d->r->error().what());
  CHECK(f.clock.now() >= TimePoint(30ms));  // backoff 10 ms, then 20 ms
  CHECK(socks.problems == std::vector<std::string>{});
  CHECK(socks.connections == 3);  // a fresh SOCKS connection per attempt
  CHECK(socks.requests == 3);
  const auto& c = t.counters();
  CHECK(c.dials == 1);
  CHECK(c.dial_attempts == 3);
  CHECK(c.dial_retries == 2);
  CHECK(c.dials_succeeded == 1);
  CHECK(c.dials_failed == 0);
  settle(f.io, 20ms);
  CHECK(d->calls == 1);
}

TEST_CASE("onion dial fails at once on a reply that retrying cannot fix", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  std::uint8_t rep = 0;
  std::string reason;
  SECTION("F6 bad onion address") {
    rep = 0xF6;
    reason = "onion service invalid address";
  }
  SECTION("2 not allowed by ruleset") {
    rep = 0x02;
    reason = "connection not allowed by ruleset";
  }
  socks.script.replies = {rep, 0x00};  // a retry would have succeeded
  auto& t = f.make();
  auto d = f.dial(f.peer_addr());
  REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
  REQUIRE_FALSE(*d->r);
  const Error& e = d->r->error();
  INFO(e.message);
  CHECK(e.code == make_error_code(SocksErrc::connect_failed));
  CHECK(contains(e.message, reason));
  CHECK(contains(e.message, f.peer));
  f.clock.advance(1s);  // far past any retry backoff: no second attempt comes
  f.io.restart();
  f.io.poll();
  CHECK(socks.requests == 1);
  CHECK(d->calls == 1);
  const auto& c = t.counters();
  CHECK(c.dial_attempts == 1);
  CHECK(c.dial_retries == 0);
  CHECK(c.dials_failed == 1);
  CHECK(c.dials_succeeded == 0);
}

TEST_CASE("onion dial gives up with a timeout when tor keeps lacking the descriptor", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.replies = {0xF0};
  f.cfg.dial_timeout = 300ms;
  auto& t = f.make();
  auto d = f.dial(f.peer_addr());
  REQUIRE(test::run_with_clock_until(f.io, f.clock, 5ms, [&] { return d->calls > 0; }));
  REQUIRE_FALSE(*d->r);
  const Error& e = d->r->error();
  INFO(e.message);
  CHECK(e.code == make_error_code(HostErrc::dial_timeout));
  CHECK(e.code == Condition::timeout);
  CHECK(contains(e.message, "descriptor can not be found"));  // the last failure is named
  CHECK(f.clock.now() <= TimePoint(300ms));  // retries stop once no backoff fits before the deadline
  f.clock.advance(1s);
  f.io.restart();
  f.io.poll();
  CHECK(d->calls == 1);
  const auto& c = t.counters();
  // At most at 0, 10, 30, 70, 110, 150, 190, 230, 270 ms (backoff 10, 20, then 40 ms;
  // from 270 ms no 40 ms backoff fits); fewer if the clock moved while a SOCKS
  // exchange was in flight.
  CHECK(c.dial_attempts >= 3);
  CHECK(c.dial_attempts <= 9);
  CHECK(c.dial_attempts == static_cast<std::uint64_t>(socks.requests));
  CHECK(c.dial_retries + 1 == c.dial_attempts);
  CHECK(c.dials_failed == 1);
  CHECK(c.dials_succeeded == 0);
}

TEST_CASE("onion dial deadline fires on the injected clock, mid-attempt, and never on real time",
          "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.hold = true;  // tor never answers the CONNECT
  f.cfg.dial_timeout = std::chrono::hours(1);
  auto& t = f.make();
  auto d = f.dial(f.peer_addr());
  REQUIRE(run_until(f.io, [&] { return socks.requests == 1; }));
  f.io.restart();
  f.io.run_for(50ms);  // real time alone does nothing
  CHECK(d->calls == 0);
  f.clock.advance(std::chrono::hours(1));
  REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
  REQUIRE_FALSE(*d->r);
  CHECK(d->r->error().code == make_error_code(HostErrc::dial_timeout));
  CHECK(t.counters().dial_attempts == 1);
  CHECK(t.counters().dials_failed == 1);
}

TEST_CASE("onion dial fails clearly when tor's SOCKS port is unusable", "[onion_transport]") {
  Fixture f;
  SECTION("no server at the unix path") {
    auto& t = f.make();
    auto d = f.dial(f.peer_addr());
    CHECK(d->calls == 0);
    REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
    REQUIRE_FALSE(*d->r);
    INFO(d->r->error().message);
    CHECK(contains(d->r->error().message, "cannot reach tor's SOCKS port"));
    settle(f.io, 60ms);
    CHECK(d->calls == 1);
    CHECK(t.counters().dial_attempts == 1);
    CHECK(t.counters().dials_failed == 1);
  }
  SECTION("a TCP endpoint off loopback is refused without connecting") {
    f.cfg.socks_endpoint = "192.0.2.1:9050";
    auto& t = f.make();
    auto d = f.dial(f.peer_addr());
    CHECK(d->calls == 0);
    REQUIRE(run_until(f.io, [&] { return d->calls > 0; }, 2s));
    REQUIRE_FALSE(*d->r);
    INFO(d->r->error().message);
    CHECK(d->r->error().code == make_error_code(HostErrc::unsupported_address));
    CHECK(contains(d->r->error().message, "loopback"));
    CHECK(t.counters().dials_failed == 1);
  }
  SECTION("a host name is never resolved") {
    f.cfg.socks_endpoint = "localhost:9050";
    f.make();
    auto d = f.dial(f.peer_addr());
    REQUIRE(run_until(f.io, [&] { return d->calls > 0; }, 2s));
    REQUIRE_FALSE(*d->r);
    CHECK(d->r->error().code == make_error_code(HostErrc::unsupported_address));
  }
}

TEST_CASE("onion dial fails with a protocol error on a garbage SOCKS reply", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.garbage = true;
  auto& t = f.make();
  auto d = f.dial(f.peer_addr());
  REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
  REQUIRE_FALSE(*d->r);
  INFO(d->r->error().message);
  CHECK(d->r->error().code == make_error_code(SocksErrc::protocol));
  CHECK(contains(d->r->error().message, "version"));
  settle(f.io, 60ms);
  CHECK(d->calls == 1);
  CHECK(socks.connections == 1);
  CHECK(t.counters().dial_retries == 0);
  CHECK(t.counters().dials_failed == 1);
}

TEST_CASE("onion transport dials only onion addresses and listens only on its own", "[onion_transport]") {
  Fixture f;
  auto& t = f.make();
  const auto ip4 = Multiaddr::parse("/ip4/127.0.0.1/tcp/4001");
  REQUIRE(ip4);
  CHECK(t.can_dial(f.peer_addr()));
  CHECK(t.can_dial(f.own_addr()));
  CHECK_FALSE(t.can_dial(*ip4));
  CHECK_FALSE(t.can_dial(Multiaddr::tcp("10.1.2.3", 80)));
  CHECK(t.can_listen(f.own_addr()));
  CHECK_FALSE(t.can_listen(f.peer_addr()));
  CHECK_FALSE(t.can_listen(*ip4));

  auto other = t.listen(Multiaddr::onion3(f.peer_key.public_key(), kPort), [](std::unique_ptr<ByteStream>) {});
  REQUIRE_FALSE(other);
  CHECK(other.error().code == make_error_code(HostErrc::unsupported_address));
  CHECK_FALSE(fs::exists(f.service_path));

  // Dialing clearnet anyway fails without touching anything (no SOCKS server runs).
  auto d = f.dial(*ip4);
  CHECK(d->calls == 0);
  REQUIRE(run_until(f.io, [&] { return d->calls > 0; }));
  REQUIRE_FALSE(*d->r);
  CHECK(d->r->error().code == make_error_code(HostErrc::unsupported_address));
  settle(f.io, 20ms);
  CHECK(f.tor->lines.empty());  // no ADD_ONION for someone else's address
  CHECK(t.counters().dials == 0);
  CHECK(t.counters().dial_attempts == 0);
}

// ------------------------------------------------------------------ listening

TEST_CASE("onion listen publishes the service and delivers anonymous inbound streams", "[onion_transport]") {
  Fixture f;
  auto& t = f.make();
  std::vector<std::unique_ptr<ByteStream>> accepted;
  int published_calls = 0;
  std::optional<Status> published;
  t.on_published([&](Status s) {
    ++published_calls;
    published = std::move(s);
  });
  auto bound = t.listen(f.own_addr(), [&](std::unique_ptr<ByteStream> s) { accepted.push_back(std::move(s)); });
  if (!bound) FAIL(bound.error().what());
  CHECK(*bound == f.own_addr());

  // The unix service socket, owner-only.
  struct stat st {};
  REQUIRE(::stat(f.service_path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  REQUIRE(run_until(f.io, [&] { return f.tor->saw("ADD_ONION "); }));
  const std::string add = f.tor->line_starting("ADD_ONION ");
  CHECK(contains(add, "ADD_ONION ED25519-V3:"));
  CHECK(contains(add, " Flags=DiscardPK"));
  CHECK(contains(add, " Port=4001,unix:" + f.service_path.string()));
  CHECK(contains(add, " PoWDefensesEnabled=1"));
  REQUIRE(run_until(f.io, [&] { return t.onion_address() == f.own; }));
  CHECK_FALSE(t.published());

  // Another service's upload does not publish ours.
  f.inject("HS_DESC UPLOADED " + f.peer + " UNKNOWN " + kHsDir);
  f.inject("HS_DESC UPLOAD " + f.own + " UNKNOWN " + kHsDir + " e3wBvBFZL1aYWjVTbFqW9Qnid0YX0BXkUIhNmhTiAmk");
  settle(f.io, 100ms);
  CHECK_FALSE(t.published());
  CHECK(published_calls == 0);
  CHECK(t.counters().descriptors_uploaded == 0);

  f.inject("HS_DESC UPLOADED " + f.own + " UNKNOWN " + kHsDir);
  REQUIRE(run_until(f.io, [&] { return published_calls > 0; }));
  CHECK(t.published());
  REQUIRE(published);
  CHECK(published->ok());
  f.inject("HS_DESC UPLOADED " + f.own + " UNKNOWN $BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB~r2");
  REQUIRE(run_until(f.io, [&] { return t.counters().descriptors_uploaded == 2; }));
  CHECK(published_calls == 1);

  // What tor forwards to the unix socket arrives with no remote address.
  Local::socket inbound(f.io);
  std::optional<boost::system::error_code> connected;
  inbound.async_connect(Local::endpoint(f.service_path.string()),
                        [&](const boost::system::error_code& ec) { connected = ec; });
  REQUIRE(run_until(f.io, [&] { return connected.has_value() && !accepted.empty(); }));
  CHECK_FALSE(*connected);
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0]->remote_address().empty());
  CHECK(accepted[0]->local_address() == f.own_addr());
  CHECK(t.counters().inbound == 1);
  const std::string hi = "inbound hello";
  asio::write(inbound, asio::buffer(hi));
  CHECK(read_exactly(f.io, *accepted[0], hi.size()) == hi);

  // A second listen is refused.
  auto again = t.listen(f.own_addr(), [](std::unique_ptr<ByteStream>) {});
  CHECK_FALSE(again);
  boost::system::error_code ig;
  inbound.close(ig);
}

TEST_CASE("onion listen without PoW defenses leaves the flag out", "[onion_transport]") {
  Fixture f;
  f.cfg.pow_defense = false;
  f.cfg.max_streams = 8;
  auto& t = f.make();
  REQUIRE(t.listen(f.own_addr(), [](std::unique_ptr<ByteStream>) {}));
  REQUIRE(run_until(f.io, [&] { return f.tor->saw("ADD_ONION "); }));
  const std::string add = f.tor->line_starting("ADD_ONION ");
  CHECK_FALSE(contains(add, "PoWDefensesEnabled"));
  CHECK(contains(add, " MaxStreams=8"));
  CHECK(contains(add, " Port=4001,unix:" + f.service_path.string()));
}

TEST_CASE("onion publish fails when tor refuses ADD_ONION", "[onion_transport]") {
  Fixture f;
  f.tor->add_onion_reply = "512 Bad arguments\r\n";
  auto& t = f.make();
  int calls = 0;
  std::optional<Status> published;
  t.on_published([&](Status s) {
    ++calls;
    published = std::move(s);
  });
  REQUIRE(t.listen(f.own_addr(), [](std::unique_ptr<ByteStream>) {}));
  REQUIRE(run_until(f.io, [&] { return calls > 0; }));
  REQUIRE(published);
  REQUIRE_FALSE(published->ok());
  INFO(published->error().message);
  CHECK(published->error().code == make_error_code(OnionErrc::command_failed));
  CHECK(contains(published->error().message, "ADD_ONION"));
  CHECK(contains(published->error().message, "Bad arguments"));
  CHECK_FALSE(t.published());
  CHECK(t.onion_address().empty());
  // Nothing to remove on close: tor never registered the service.
  t.close();
  settle(f.io, 50ms);
  CHECK_FALSE(f.tor->saw("DEL_ONION"));
  CHECK(calls == 1);
}

TEST_CASE("onion publish fails after publish_timeout without a descriptor upload", "[onion_transport]") {
  Fixture f;
  f.cfg.publish_timeout = 200ms;  // on the transport's clock
  auto& t = f.make();
  int calls = 0;
  std::optional<Status> published;
  t.on_published([&](Status s) {
    ++calls;
    published = std::move(s);
  });
  REQUIRE(t.listen(f.own_addr(), [](std::unique_ptr<ByteStream>) {}));
  REQUIRE(run_until(f.io, [&] { return t.onion_address() == f.own; }));
  f.inject("HS_DESC UPLOAD " + f.own + " UNKNOWN " + kHsDir + " e3wBvBFZL1aYWjVTbFqW9Qnid0YX0BXkUIhNmhTiAmk");
  f.inject("HS_DESC FAILED " + f.own + " UNKNOWN " + kHsDir + " REASON=UPLOAD_REJECTED");
  REQUIRE(run_until(f.io, [&] { return t.counters().descriptor_uploads_failed == 1; }));
  f.clock.advance(199ms);
  f.io.restart();
  f.io.poll();
  CHECK(calls == 0);
  f.clock.advance(1ms);
  REQUIRE(run_until(f.io, [&] { return calls > 0; }));
  REQUIRE(published);
  REQUIRE_FALSE(published->ok());
  INFO(published->error().message);
  CHECK(published->error().code == make_error_code(OnionErrc::timeout));
  CHECK(contains(published->error().message, "no descriptor of our onion service was uploaded within 200 ms"));
  CHECK(contains(published->error().message, "1 upload(s) started, 1 failed"));
  CHECK(t.counters().descriptor_uploads_failed == 1);
  // A late upload does not report a second time.
  f.inject("HS_DESC UPLOADED " + f.own + " UNKNOWN " + kHsDir);
  REQUIRE(run_until(f.io, [&] { return t.counters().descriptors_uploaded == 1; }));
  CHECK(calls == 1);
}

// ------------------------------------------------------------------ close

TEST_CASE("onion close cancels dials once and removes the service", "[onion_transport]") {
  Fixture f;
  auto& socks = f.start_socks();
  socks.script.hold = true;
  f.cfg.dial_timeout = 2s;
  auto& t = f.make();
  REQUIRE(t.listen(f.own_addr(), [](std::unique_ptr<ByteStream>) {}));
  REQUIRE(run_until(f.io, [&] { return t.onion_address() == f.own; }));
  REQUIRE(fs::exists(f.service_path));

  auto d1 = f.dial(f.peer_addr());
  auto d2 = f.dial(f.peer_addr());
  REQUIRE(run_until(f.io, [&] { return socks.requests == 2; }));
  CHECK(d1->calls == 0);
  CHECK(d2->calls == 0);

  t.close();
  REQUIRE(run_until(f.io, [&] { return d1->calls > 0 && d2->calls > 0; }));
  for (const auto& d : {d1, d2}) {
    REQUIRE_FALSE(*d->r);
    CHECK(d->r->error().code == make_error_code(HostErrc::closed));
  }
  CHECK_FALSE(fs::exists(f.service_path));
  REQUIRE(run_until(f.io, [&] { return f.tor->saw("DEL_ONION "); }));
  CHECK(f.tor->line_starting("DEL_ONION ") == "DEL_ONION " + f.own);

  // Nothing runs twice, and the transport stays closed.
  t.close();
  settle(f.io, 100ms);
  CHECK(d1->calls == 1);
  CHECK(d2->calls == 1);
  CHECK(std::count_if(f.tor->lines.begin(), f.tor->lines.end(),
                      [](const std::string& l) { return l.rfind("DEL_ONION", 0) == 0; }) == 1);
  CHECK(t.counters().dials_failed == 2);
  auto late = f.dial(f.peer_addr());
  CHECK(late->calls == 0);
  REQUIRE(run_until(f.io, [&] { return late->calls > 0; }));
  REQUIRE_FALSE(*late->r);
  CHECK(late->r->error().code == make_error_code(HostErrc::closed));
  CHECK(socks.requests == 2);
}
