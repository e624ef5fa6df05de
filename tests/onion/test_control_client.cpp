// The asynchronous control client against a fake tor on the other end of a
// socketpair (and on unix/TCP listeners), all on one io_context. Waits are on
// conditions with deadlines; nothing sleeps.
#include <catch2/catch.hpp>

#include <sodium.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../support/fake_tor_control.h"
#include "../support/io_wait.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/control_client.h"
#include "shardnode/onion/errors.h"
#include "../support/temp_dir.h"

using namespace shardnode;
using namespace shardnode::onion;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Local = asio::local::stream_protocol;

namespace {

using shardnode::test::FakeTor;
using shardnode::test::run_until;

// Runs whatever is ready now (posted handlers, completed I/O), bounded.
void settle(asio::io_context& io) {
  io.restart();
  io.run_for(50ms);
}

struct Pair {
  asio::io_context io;
  std::shared_ptr<ControlClient> client;
  std::unique_ptr<FakeTor> tor;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client = ControlClient::adopt(io, fds[0]);
    tor = std::make_unique<FakeTor>(io, fds[1]);
  }
  ~Pair() {
    client->close();
    settle(io);
  }
};

// Collects one handler's result.
template <class T>
struct Slot {
  std::optional<T> value;
  auto fn() {
    return [this](T v) { value.emplace(std::move(v)); };
  }
  bool ready() const { return value.has_value(); }
};

std::string hex(std::span<const std::uint8_t> b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), b.data(), b.size());
  out.pop_back();
  return out;
}
std::string upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

using test::TempDir;

std::array<std::uint8_t, 32> test_cookie() {
  std::array<std::uint8_t, 32> c{};
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<std::uint8_t>(i);
  return c;
}

fs::path write_cookie(const fs::path& dir, std::size_t len) {
  auto cookie = test_cookie();
  fs::path p = dir / "control_auth_cookie";
  std::ofstream f(p, std::ios::binary);
  for (std::size_t i = 0; i < len; ++i) f.put(static_cast<char>(i < cookie.size() ? cookie[i] : 0));
  return p;
}

std::string protocolinfo(const std::string& methods, const std::string& cookie_file = {}) {
  std::string auth = "250-AUTH METHODS=" + methods;
  if (!cookie_file.empty()) auth += " COOKIEFILE=" + quote(cookie_file);
  return "250-PROTOCOLINFO 1\r\n" + auth + "\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n";
}

// A tor that speaks PROTOCOLINFO / AUTHCHALLENGE / AUTHENTICATE like control_auth.c.
struct AuthTor {
  std::string methods;
  std::string cookie_file;
  bool tamper_server_hash = false;
  std::string expect_authenticate;  // set from the challenge, or by the test
  std::array<std::uint8_t, 32> server_nonce{};

  void operator()(FakeTor& t, const std::string& line) {
    if (line == "PROTOCOLINFO 1") {
      t.send(protocolinfo(methods, cookie_file));
    } else if (line.rfind("AUTHCHALLENGE SAFECOOKIE ", 0) == 0) {
      std::string nonce_hex = line.substr(25);
      std::array<std::uint8_t, 32> nonce{};
      std::size_t len = 0;
      REQUIRE(sodium_hex2bin(nonce.data(), nonce.size(), nonce_hex.data(), nonce_hex.size(), nullptr, &len,
                             nullptr) == 0);
      REQUIRE(len == 32);
      server_nonce.fill(0x55);
      auto h = safecookie_hashes(test_cookie(), nonce, server_nonce);
      if (tamper_server_hash) h.server_hash[0] ^= 1;
      expect_authenticate = "AUTHENTICATE " + hex(h.client_hash);
      t.send("250 AUTHCHALLENGE SERVERHASH=" + upper(hex(h.server_hash)) +
             " SERVERNONCE=" + upper(hex(server_nonce)) + "\r\n");
    } else if (line.rfind("AUTHENTICATE", 0) == 0) {
      if (line == expect_authenticate) {
        t.send("250 OK\r\n");
      } else {
        t.send("515 Authentication failed: Safe cookie response did not match expected value.\r\n");
        t.close();
      }
    } else {
      t.send("514 Authentication required.\r\n");
    }
  }
};

}  // namespace

TEST_CASE("SAFECOOKIE hashes match a fixed vector", "[control_client]") {
  // HMAC-SHA256 computed independently (Python hmac) over cookie 00..1f,
  // client nonce aa*32, server nonce 55*32, keys from control-spec §3.24.
  auto cookie = test_cookie();
  std::array<std::uint8_t, 32> cn{}, sn{};
  cn.fill(0xaa);
  sn.fill(0x55);
  auto h = safecookie_hashes(cookie, cn, sn);
  CHECK(hex(h.server_hash) == "5f7cb5569957c99373e329258545940f029af175da225f4a3125eebf30c24bba");
  CHECK(hex(h.client_hash) == "9f99f2c4b75c91123ca5c6c6e3f76a9ef7fbd9471053cbe34454a4269cc39f7c");
}

TEST_CASE("commands are pipelined and replies matched in FIFO order", "[control_client]") {
  Pair p;
  std::vector<std::string> order;
  std::vector<Reply> replies;
  p.client->on_event([&](const Reply& r) { order.push_back("event " + r.lines[0].text.substr(0, r.lines[0].text.find(' '))); });
  for (const char* cmd : {"GETINFO version", "GETINFO config-text", "SIGNAL BOGUS"}) {
    p.client->command(cmd, [&, cmd](Result<Reply> r) {
      REQUIRE(r);
      order.push_back(cmd);
      replies.push_back(*r);
    });
  }
  CHECK(p.client->pending() == 3);
  // All three are on the wire before tor answers any.
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == 3; }));
  CHECK(p.tor->lines == std::vector<std::string>{"GETINFO version", "GETINFO config-text", "SIGNAL BOGUS"});
  CHECK(order.empty());

  p.tor->send(
      "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\"\r\n"
      "250-version=0.4.9.11\r\n250 OK\r\n"
      "650 HS_DESC UPLOADED d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd UNKNOWN $AAAA\r\n"
      "250+config-text=\r\nSocksPort 0\r\n..dot\r\n.\r\n250 OK\r\n"
      "650 SIGNAL NEWNYM\r\n"
      "552 Unrecognized signal code \"BOGUS\"\r\n");
  REQUIRE(run_until(p.io, [&] { return replies.size() == 3; }));
  CHECK(order == std::vector<std::string>{"event STATUS_CLIENT", "GETINFO version", "event HS_DESC",
                                          "GETINFO config-text", "event SIGNAL", "SIGNAL BOGUS"});
  CHECK(replies[0].lines[0].text == "version=0.4.9.11");
  CHECK(replies[1].lines[0].data == "SocksPort 0\n.dot");
  // A 5xx reply is a Reply, not an Error.
  CHECK(replies[2].code == 552);
  CHECK(replies[2].final_text() == "Unrecognized signal code \"BOGUS\"");
  CHECK(p.client->pending() == 0);
  CHECK(p.client->is_open());
}

TEST_CASE("replies split across reads and events between them", "[control_client]") {
  Pair p;
  int events = 0;
  p.client->on_event([&](const Reply&) { ++events; });
  Slot<Result<Reply>> a;
  p.client->command("GETINFO version", a.fn());
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == 1; }));
  const std::string wire = "650 SIGNAL NEWNYM\r\n250-version=0.4.9.11\r\n250 OK\r\n650 SIGNAL RELOAD\r\n";
  for (char c : wire) {
    p.tor->send(std::string(1, c));
  }
  REQUIRE(run_until(p.io, [&] { return a.ready() && events == 2; }));
  REQUIRE(*a.value);
  CHECK((*a.value)->lines.size() == 2);
}

TEST_CASE("getinfo reads single-line and data replies", "[control_client]") {
  Pair p;
  p.tor->respond = [](FakeTor& t, const std::string& line) {
    if (line == "GETINFO version") t.send("250-version=0.4.9.11 (git-abc)\r\n250 OK\r\n");
    else if (line == "GETINFO config-text") t.send("250+config-text=\r\nLog notice stdout\r\nSocksPort 0\r\n.\r\n250 OK\r\n");
    else if (line == "GETINFO status/bootstrap-phase")
      t.send("250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK\r\n");
    else if (line == "GETINFO nope") t.send("552 Unrecognized key \"nope\"\r\n");
    else if (line == "GETINFO other") t.send("250-different=1\r\n250 OK\r\n");
  };
  Slot<Result<std::string>> v, d, b, bad, missing, empty;
  p.client->getinfo("version", v.fn());
  p.client->getinfo("config-text", d.fn());
  p.client->getinfo("status/bootstrap-phase", b.fn());
  p.client->getinfo("nope", bad.fn());
  p.client->getinfo("other", missing.fn());
  p.client->getinfo("two keys", empty.fn());
  REQUIRE(run_until(p.io, [&] { return v.ready() && d.ready() && b.ready() && bad.ready() && missing.ready() && empty.ready(); }));
  REQUIRE(*v.value);
  CHECK(**v.value == "0.4.9.11 (git-abc)");
  REQUIRE(*d.value);
  CHECK(**d.value == "Log notice stdout\nSocksPort 0");
  REQUIRE(*b.value);
  CHECK(**b.value == "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"");
  REQUIRE_FALSE(*bad.value);
  CHECK(bad.value->error().code == make_error_code(OnionErrc::command_failed));
  CHECK_THAT(bad.value->error().message, Catch::Contains("552 Unrecognized key \"nope\""));
  REQUIRE_FALSE(*missing.value);
  CHECK(missing.value->error().code == make_error_code(OnionErrc::control_protocol));
  REQUIRE_FALSE(*empty.value);
  CHECK(p.tor->lines.size() == 5);  // the bad key was never sent
  CHECK(p.client->is_open());
}

TEST_CASE("command_ok and set_events turn non-2xx into errors", "[control_client]") {
  Pair p;
  p.tor->respond = [](FakeTor& t, const std::string& line) {
    if (line == "SETEVENTS STATUS_CLIENT HS_DESC" || line == "SETEVENTS") t.send("250 OK\r\n");
    else t.send("552 Unrecognized event \"BOGUS\"\r\n");
  };
  Slot<Status> ok, off, bad, invalid;
  Slot<Result<Reply>> refused;
  p.client->set_events({"STATUS_CLIENT", "HS_DESC"}, ok.fn());
  p.client->set_events({}, off.fn());
  p.client->set_events({"BOGUS"}, bad.fn());
  p.client->set_events({"bad name"}, invalid.fn());
  p.client->command_ok("SIGNAL BOGUS", refused.fn());
  REQUIRE(run_until(p.io, [&] { return ok.ready() && off.ready() && bad.ready() && invalid.ready() && refused.ready(); }));
  CHECK(*ok.value);
  CHECK(*off.value);
  REQUIRE_FALSE(*bad.value);
  CHECK(bad.value->error().code == make_error_code(OnionErrc::command_failed));
  CHECK_THAT(bad.value->error().message, Catch::Contains("SETEVENTS") && Catch::Contains("Unrecognized event"));
  REQUIRE_FALSE(*invalid.value);
  REQUIRE_FALSE(*refused.value);
  CHECK(refused.value->error().code == make_error_code(OnionErrc::command_failed));
  CHECK(p.tor->lines == std::vector<std::string>{"SETEVENTS STATUS_CLIENT HS_DESC", "SETEVENTS", "SETEVENTS BOGUS",
                                                 "SIGNAL BOGUS"});
}

TEST_CASE("a command that gets no reply times out and closes the connection", "[control_client]") {
  Pair p;
  ManualClock clock;
  p.client->set_clock(clock);
  p.client->set_timeout(150ms);
  Slot<Result<Reply>> a, b;
  std::vector<Error> closed;
  p.client->on_closed([&](const Error& e) { closed.push_back(e); });
  p.client->command("GETINFO version", a.fn());
  p.client->command("GETINFO config-text", b.fn());
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == 2; }));
  clock.advance(149ms);
  p.io.restart();
  p.io.poll();
  CHECK_FALSE(a.ready());  // not before its deadline
  clock.advance(1ms);
  REQUIRE(run_until(p.io, [&] { return a.ready() && b.ready() && !closed.empty() && p.tor->eof; }));
  REQUIRE_FALSE(*a.value);
  CHECK(a.value->error().code == make_error_code(OnionErrc::timeout));
  CHECK_THAT(a.value->error().message, Catch::Contains("GETINFO"));
  REQUIRE_FALSE(*b.value);
  CHECK(b.value->error().code == make_error_code(OnionErrc::control_io));
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].code == make_error_code(OnionErrc::timeout));
  CHECK_FALSE(p.client->is_open());
  // A reply arriving now changes nothing; later commands fail at once.
  Slot<Result<Reply>> c;
  p.client->command("GETINFO version", c.fn());
  CHECK_FALSE(c.ready());  // never called inline
  REQUIRE(run_until(p.io, [&] { return c.ready(); }));
  CHECK(c.value->error().code == make_error_code(OnionErrc::control_io));
  settle(p.io);
  CHECK(closed.size() == 1);
}

TEST_CASE("a command's deadline is on the injected clock: real time alone never times it out", "[control_client]") {
  Pair p;
  ManualClock clock;
  p.client->set_clock(clock);
  p.client->set_timeout(30ms);
  Slot<Result<Reply>> a;
  p.client->command("GETINFO version", a.fn());
  // Real time passes (several times the timeout), the injected clock does not.
  p.io.restart();
  p.io.run_for(100ms);
  CHECK_FALSE(a.ready());
  CHECK(p.client->is_open());
  clock.advance(31ms);
  REQUIRE(run_until(p.io, [&] { return a.ready(); }));
  REQUIRE_FALSE(*a.value);
  CHECK(a.value->error().code == make_error_code(OnionErrc::timeout));
  CHECK_FALSE(p.client->is_open());
}

TEST_CASE("answered commands do not time out", "[control_client]") {
  Pair p;
  ManualClock clock;
  p.client->set_clock(clock);
  p.client->set_timeout(200ms);
  p.tor->respond = [](FakeTor& t, const std::string&) { t.send("250 OK\r\n"); };
  int done = 0;
  for (int i = 0; i < 5; ++i)
    p.client->command("SIGNAL NEWNYM", [&](Result<Reply> r) {
      CHECK(r);
      ++done;
    });
  REQUIRE(run_until(p.io, [&] { return done == 5; }));
  // Past every deadline: the connection stays open.
  clock.advance(1s);
  p.io.restart();
  p.io.poll();
  CHECK(p.client->is_open());
}

TEST_CASE("tor closing the connection fails pending commands", "[control_client]") {
  Pair p;
  Slot<Result<Reply>> a, b;
  std::vector<Error> closed;
  p.client->on_closed([&](const Error& e) { closed.push_back(e); });
  p.client->command("GETINFO version", a.fn());
  p.client->command("SIGNAL SHUTDOWN", b.fn());
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == 2; }));
  p.tor->send("250-version=0.4.9.11\r\n250 OK\r\n");
  REQUIRE(run_until(p.io, [&] { return a.ready(); }));
  p.tor->close();
  REQUIRE(run_until(p.io, [&] { return b.ready() && !closed.empty(); }));
  CHECK(*a.value);
  REQUIRE_FALSE(*b.value);
  CHECK(b.value->error().code == make_error_code(OnionErrc::control_io));
  CHECK_THAT(b.value->error().message, Catch::Contains("SIGNAL"));
  settle(p.io);
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].code == make_error_code(OnionErrc::control_io));
  CHECK_FALSE(p.client->is_open());
}

TEST_CASE("an oversize reply closes the connection", "[control_client]") {
  Pair p;
  Slot<Result<Reply>> a;
  std::vector<Error> closed;
  p.client->on_closed([&](const Error& e) { closed.push_back(e); });
  p.client->command("GETINFO config-text", a.fn());
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == 1; }));
  p.tor->send("250-config-text=" + std::string(ReplyParser::kMaxLineLength + 1024, 'a'));
  REQUIRE(run_until(p.io, [&] { return a.ready() && !closed.empty(); }));
  REQUIRE_FALSE(*a.value);
  CHECK(a.value->error().code == make_error_code(OnionErrc::control_io));
  CHECK(closed[0].code == make_error_code(OnionErrc::control_protocol));
  CHECK_THAT(closed[0].message, Catch::Contains("longer than"));
  CHECK_FALSE(p.client->is_open());
}

TEST_CASE("malformed or unsolicited replies close the connection", "[control_client][malformed]") {
  for (const std::string wire : {"garbage\r\n", "25\r\n", "250x\r\n", "250-a\r\n251 b\r\n"}) {
    INFO(wire);
    Pair p;
    Slot<Result<Reply>> a;
    std::vector<Error> closed;
    p.client->on_closed([&](const Error& e) { closed.push_back(e); });
    p.client->command("GETINFO version", a.fn());
    p.tor->send(wire);
    REQUIRE(run_until(p.io, [&] { return a.ready() && !closed.empty(); }));
    CHECK(closed[0].code == make_error_code(OnionErrc::control_protocol));
    CHECK(a.value->error().code == make_error_code(OnionErrc::control_io));
  }
  // A reply with no command pending.
  Pair p;
  std::vector<Error> closed;
  p.client->on_closed([&](const Error& e) { closed.push_back(e); });
  p.tor->send("250 OK\r\n");
  REQUIRE(run_until(p.io, [&] { return !closed.empty(); }));
  CHECK(closed[0].code == make_error_code(OnionErrc::control_protocol));
  CHECK_THAT(closed[0].message, Catch::Contains("no command pending"));
}

TEST_CASE("commands with line breaks and beyond the pending cap are refused", "[control_client]") {
  Pair p;
  Slot<Result<Reply>> crlf;
  p.client->command("GETINFO version\r\nSIGNAL HALT", crlf.fn());
  std::vector<Result<Reply>> results;
  for (std::size_t i = 0; i < ControlClient::kMaxPending + 1; ++i)
    p.client->command("SIGNAL NEWNYM", [&](Result<Reply> r) { results.push_back(std::move(r)); });
  CHECK(p.client->pending() == ControlClient::kMaxPending);
  REQUIRE(run_until(p.io, [&] { return crlf.ready() && results.size() == 1; }));
  REQUIRE_FALSE(*crlf.value);
  CHECK(crlf.value->error().code == make_error_code(OnionErrc::control_protocol));
  REQUIRE_FALSE(results[0]);
  CHECK(results[0].error().code == std::make_error_code(std::errc::no_buffer_space));
  REQUIRE(run_until(p.io, [&] { return p.tor->lines.size() == ControlClient::kMaxPending; }));
  CHECK(std::find(p.tor->lines.begin(), p.tor->lines.end(), "SIGNAL HALT") == p.tor->lines.end());
  // close(): every pending command fails, on_closed does not run.
  bool closed_called = false;
  p.client->on_closed([&](const Error&) { closed_called = true; });
  p.client->close();
  CHECK(results.size() == 1);  // not inline
  REQUIRE(run_until(p.io, [&] { return results.size() == ControlClient::kMaxPending + 1; }));
  for (std::size_t i = 1; i < results.size(); ++i) CHECK(results[i].error().code == make_error_code(OnionErrc::control_io));
  REQUIRE(run_until(p.io, [&] { return p.tor->eof; }));
  CHECK_FALSE(closed_called);
}

TEST_CASE("an unusable fd gives a closed client", "[control_client]") {
  asio::io_context io;
  auto c = ControlClient::adopt(io, -1);
  CHECK_FALSE(c->is_open());
  Slot<Result<Reply>> a;
  c->command("GETINFO version", a.fn());
  REQUIRE(run_until(io, [&] { return a.ready(); }));
  CHECK(a.value->error().code == make_error_code(OnionErrc::control_io));
}

TEST_CASE("authenticate with SAFECOOKIE", "[control_client][auth]") {
  TempDir dir;
  Pair p;
  AuthTor tor{"COOKIE,SAFECOOKIE,HASHEDPASSWORD", write_cookie(dir.path, 32).string()};
  p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
  Slot<Status> s;
  p.client->authenticate(std::string("unused"), s.fn());
  REQUIRE(run_until(p.io, [&] { return s.ready(); }));
  INFO((s.value->ok() ? std::string() : s.value->error().what()));
  CHECK(*s.value);
  REQUIRE(p.tor->lines.size() == 3);
  CHECK(p.tor->lines[0] == "PROTOCOLINFO 1");
  CHECK(p.tor->lines[1].rfind("AUTHCHALLENGE SAFECOOKIE ", 0) == 0);
  CHECK(p.tor->lines[1].size() == 25 + 64);
  CHECK(p.tor->lines[2] == tor.expect_authenticate);
  CHECK(p.client->is_open());
}

TEST_CASE("authenticate rejects a tor that does not know the cookie", "[control_client][auth]") {
  TempDir dir;
  Pair p;
  AuthTor tor{"COOKIE,SAFECOOKIE", write_cookie(dir.path, 32).string()};
  tor.tamper_server_hash = true;
  p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
  Slot<Status> s;
  p.client->authenticate(std::nullopt, s.fn());
  REQUIRE(run_until(p.io, [&] { return s.ready(); }));
  REQUIRE_FALSE(*s.value);
  CHECK(s.value->error().code == make_error_code(OnionErrc::control_protocol));
  CHECK_THAT(s.value->error().message, Catch::Contains("server hash"));
  settle(p.io);
  CHECK(p.tor->lines.size() == 2);  // no AUTHENTICATE sent
}

TEST_CASE("authenticate falls back to COOKIE, password and NULL", "[control_client][auth]") {
  TempDir dir;
  const std::string good_cookie = write_cookie(dir.path, 32).string();

  SECTION("COOKIE only") {
    Pair p;
    AuthTor tor{"COOKIE", good_cookie};
    tor.expect_authenticate = "AUTHENTICATE " + hex(test_cookie());
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    CHECK(*s.value);
    CHECK(p.tor->lines.back() == tor.expect_authenticate);
  }
  SECTION("HASHEDPASSWORD quotes the password") {
    Pair p;
    AuthTor tor{"HASHEDPASSWORD"};
    tor.expect_authenticate = "AUTHENTICATE \"p\\\"w\\\\x y\"";
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::string("p\"w\\x y"), s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    CHECK(*s.value);
    CHECK(p.tor->lines.back() == tor.expect_authenticate);
  }
  SECTION("a cookie of the wrong size falls back to the password") {
    TempDir other;
    Pair p;
    AuthTor tor{"COOKIE,SAFECOOKIE,HASHEDPASSWORD", write_cookie(other.path, 31).string()};
    tor.expect_authenticate = "AUTHENTICATE \"pw\"";
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::string("pw"), s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    CHECK(*s.value);
  }
  SECTION("a cookie of the wrong size and no password") {
    TempDir other;
    Pair p;
    AuthTor tor{"COOKIE,SAFECOOKIE,HASHEDPASSWORD", write_cookie(other.path, 64).string()};
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK(s.value->error().code == make_error_code(OnionErrc::command_failed));
    CHECK_THAT(s.value->error().message, Catch::Contains("password") && Catch::Contains("more than 32"));
  }
  SECTION("missing cookie file") {
    Pair p;
    AuthTor tor{"COOKIE,SAFECOOKIE", (dir.path / "absent").string()};
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK_THAT(s.value->error().message, Catch::Contains("absent") && Catch::Contains("COOKIE,SAFECOOKIE"));
  }
  SECTION("NULL") {
    Pair p;
    AuthTor tor{"NULL"};
    tor.expect_authenticate = "AUTHENTICATE";
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    CHECK(*s.value);
  }
  SECTION("no usable method") {
    Pair p;
    AuthTor tor{"FUTUREAUTH"};
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::string("pw"), s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK(s.value->error().code == make_error_code(OnionErrc::command_failed));
    CHECK_THAT(s.value->error().message, Catch::Contains("FUTUREAUTH"));
  }
  SECTION("tor refuses the password") {
    Pair p;
    AuthTor tor{"HASHEDPASSWORD"};
    tor.expect_authenticate = "AUTHENTICATE \"right\"";
    p.tor->respond = [&](FakeTor& t, const std::string& l) { tor(t, l); };
    Slot<Status> s;
    p.client->authenticate(std::string("wrong"), s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK(s.value->error().code == make_error_code(OnionErrc::command_failed));
    CHECK_THAT(s.value->error().message, Catch::Contains("515"));
  }
  SECTION("malformed PROTOCOLINFO") {
    Pair p;
    p.tor->respond = [](FakeTor& t, const std::string&) { t.send("250-PROTOCOLINFO 1\r\n250 OK\r\n"); };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK(s.value->error().code == make_error_code(OnionErrc::control_protocol));
  }
  SECTION("malformed AUTHCHALLENGE reply") {
    Pair p;
    p.tor->respond = [&](FakeTor& t, const std::string& l) {
      if (l == "PROTOCOLINFO 1") t.send(protocolinfo("SAFECOOKIE", good_cookie));
      else t.send("250 AUTHCHALLENGE SERVERHASH=abcd SERVERNONCE=\r\n");
    };
    Slot<Status> s;
    p.client->authenticate(std::nullopt, s.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready(); }));
    REQUIRE_FALSE(*s.value);
    CHECK(s.value->error().code == make_error_code(OnionErrc::control_protocol));
  }
}

TEST_CASE("secrets never reach the debug log", "[control_client][auth]") {
  REQUIRE(logging::configure({"info", "", {"onion=debug"}}));
  std::ostringstream out;
  logging::set_sinks({std::make_shared<spdlog::sinks::ostream_sink_mt>(out)});
  {
    Pair p;
    AuthTor tor{"HASHEDPASSWORD"};
    tor.expect_authenticate = "AUTHENTICATE \"hunter2-secret\"";
    p.tor->respond = [&](FakeTor& t, const std::string& l) {
      if (l.rfind("ADD_ONION", 0) == 0) t.send("250-ServiceID=abc\r\n250-PrivateKey=ED25519-V3:c2VjcmV0a2V5\r\n250 OK\r\n");
      else tor(t, l);
    };
    Slot<Status> s;
    Slot<Result<Reply>> add;
    p.client->authenticate(std::string("hunter2-secret"), s.fn());
    p.client->command("ADD_ONION ED25519-V3:bXlrZXlibG9i Port=80", add.fn());
    REQUIRE(run_until(p.io, [&] { return s.ready() && add.ready(); }));
    CHECK(*s.value);
  }
  REQUIRE(logging::configure({"info", "", {}}));
  const std::string log = out.str();
  CHECK_THAT(log, Catch::Contains("control > PROTOCOLINFO 1"));
  CHECK_THAT(log, Catch::Contains("<redacted>"));
  CHECK_THAT(log, !Catch::Contains("hunter2"));
  CHECK_THAT(log, !Catch::Contains("bXlrZXlibG9i"));
  CHECK_THAT(log, !Catch::Contains("c2VjcmV0a2V5"));
}

TEST_CASE("connect_unix and connect_tcp reach a listening tor", "[control_client]") {
  asio::io_context io;
  TempDir dir;
  const std::string path = (dir.path / "control.sock").string();

  Local::acceptor ua(io, Local::endpoint(path));
  std::unique_ptr<FakeTor> utor;
  ua.async_accept([&](const boost::system::error_code& ec, Local::socket s) {
    REQUIRE_FALSE(ec);
    utor = std::make_unique<FakeTor>(std::move(s));
    utor->respond = [](FakeTor& t, const std::string&) { t.send("250-version=0.4.9.11\r\n250 OK\r\n"); };
  });
  Slot<Result<std::shared_ptr<ControlClient>>> uc;
  ControlClient::connect_unix(io, path, uc.fn());
  REQUIRE(run_until(io, [&] { return uc.ready(); }));
  REQUIRE(*uc.value);
  Slot<Result<std::string>> uv;
  (**uc.value)->getinfo("version", uv.fn());
  REQUIRE(run_until(io, [&] { return uv.ready(); }));
  REQUIRE(*uv.value);
  CHECK(**uv.value == "0.4.9.11");

  asio::ip::tcp::acceptor ta(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::unique_ptr<FakeTor> ttor;
  ta.async_accept([&](const boost::system::error_code& ec, asio::ip::tcp::socket s) {
    REQUIRE_FALSE(ec);
    ttor = std::make_unique<FakeTor>(std::move(s));
    ttor->respond = [](FakeTor& t, const std::string&) { t.send("250-version=0.4.9.11\r\n250 OK\r\n"); };
  });
  Slot<Result<std::shared_ptr<ControlClient>>> tc;
  ControlClient::connect_tcp(io, ta.local_endpoint(), tc.fn());
  REQUIRE(run_until(io, [&] { return tc.ready(); }));
  REQUIRE(*tc.value);
  Slot<Result<std::string>> tv;
  (**tc.value)->getinfo("version", tv.fn());
  REQUIRE(run_until(io, [&] { return tv.ready(); }));
  REQUIRE(*tv.value);
  CHECK(**tv.value == "0.4.9.11");

  (**uc.value)->close();
  (**tc.value)->close();
  settle(io);
}

TEST_CASE("connect errors", "[control_client]") {
  asio::io_context io;
  TempDir dir;
  Slot<Result<std::shared_ptr<ControlClient>>> absent, too_long, remote, refused;
  ControlClient::connect_unix(io, (dir.path / "absent.sock").string(), absent.fn());
  ControlClient::connect_unix(io, "/tmp/" + std::string(200, 'x'), too_long.fn());
  ControlClient::connect_tcp(io, {asio::ip::make_address("192.0.2.1"), 9051}, remote.fn());
  CHECK_FALSE(remote.ready());
  // A loopback port nobody listens on: bind one, learn it, close it.
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    port = a.local_endpoint().port();
  }
  ControlClient::connect_tcp(io, {asio::ip::address_v4::loopback(), port}, refused.fn());
  REQUIRE(run_until(io, [&] { return absent.ready() && too_long.ready() && remote.ready() && refused.ready(); }));
  REQUIRE_FALSE(*absent.value);
  CHECK(absent.value->error().code == make_error_code(OnionErrc::control_io));
  CHECK_THAT(absent.value->error().message, Catch::Contains("absent.sock"));
  REQUIRE_FALSE(*too_long.value);
  CHECK(too_long.value->error().code == make_error_code(OnionErrc::control_io));
  REQUIRE_FALSE(*remote.value);
  CHECK(remote.value->error().code == std::make_error_code(std::errc::permission_denied));
  CHECK_THAT(remote.value->error().message, Catch::Contains("192.0.2.1:9051"));
  REQUIRE_FALSE(*refused.value);
  CHECK(refused.value->error().code == make_error_code(OnionErrc::control_io));
}
