// The SOCKS5 CONNECT codec: byte-exact requests, every reply address type, each
// reply code, input fed byte by byte, and protocol violations.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "shardnode/core/errors.h"
#include "shardnode/onion/socks5.h"
#include "shardnode/onion/errors.h"

using namespace shardnode;
using namespace shardnode::onion;

namespace {

using Bytes = std::vector<std::uint8_t>;

const std::string kHost = "d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd.onion";

Bytes bytes(std::initializer_list<int> v) {
  Bytes out;
  for (int b : v) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }

const Bytes kMethodOk = bytes({5, 2});
const Bytes kAuthOk = bytes({1, 0});
// tor's usual reply: ATYP 1, 0.0.0.0:0.
Bytes reply_v4(int code) { return bytes({5, code, 0, 1, 0, 0, 0, 0, 0, 0}); }
// tor's reply on an OnionTrafficOnly port: ATYP 4, 22 bytes.
Bytes reply_v6(int code) {
  Bytes b = bytes({5, code, 0, 4});
  b.resize(22, 0);
  return b;
}

Socks5Connect make(const std::string& host = kHost, std::uint16_t port = 4001) {
  auto c = Socks5Connect::create(host, port, "peer-1", "s3cret");
  REQUIRE(c);
  return std::move(*c);
}

// Drives the codec through greeting and auth; leaves it waiting for the CONNECT reply.
void to_connect_phase(Socks5Connect& c) {
  CHECK(c.take_output() == bytes({5, 1, 2}));
  auto s = c.feed(kMethodOk);
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::need_more);
  CHECK(c.take_output() == cat(bytes({1, 6}), cat(str("peer-1"), cat(bytes({6}), str("s3cret")))));
  s = c.feed(kAuthOk);
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::need_more);
  Bytes want = cat(bytes({5, 1, 0, 3, static_cast<int>(kHost.size())}), str(kHost));
  want = cat(want, bytes({0x0f, 0xa1}));  // 4001
  CHECK(c.take_output() == want);
}

Error feed_error(Socks5Connect& c, const Bytes& in) {
  auto s = c.feed(in);
  REQUIRE_FALSE(s);
  return s.error();
}

}  // namespace

TEST_CASE("socks5 handshake is byte exact and succeeds", "[socks5]") {
  auto c = make();
  to_connect_phase(c);
  CHECK(c.take_output().empty());
  auto s = c.feed(reply_v4(0));
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::connected);
  CHECK(c.reply() == Socks5Reply::succeeded);
  CHECK(c.take_leftover().empty());
  // Finished: further input is a usage error.
  auto e = feed_error(c, bytes({1}));
  CHECK(e.code == make_error_code(SocksErrc::bad_state));
}

TEST_CASE("socks5 reply address types", "[socks5]") {
  SECTION("ATYP 1 (IPv4, 10 bytes)") {
    auto c = make();
    to_connect_phase(c);
    auto s = c.feed(bytes({5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90}));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::connected);
  }
  SECTION("ATYP 4 (IPv6, 22 bytes) as OnionTrafficOnly answers") {
    auto c = make();
    to_connect_phase(c);
    Bytes r = reply_v6(0);
    auto s = c.feed(Bytes(r.begin(), r.end() - 1));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::need_more);
    s = c.feed(Bytes(r.end() - 1, r.end()));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::connected);
  }
  SECTION("ATYP 3 (domain, length-prefixed)") {
    auto c = make();
    to_connect_phase(c);
    Bytes r = cat(cat(bytes({5, 0, 0, 3, 9}), str("localhost")), bytes({0, 80}));
    auto s = c.feed(Bytes(r.begin(), r.end() - 2));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::need_more);
    s = c.feed(Bytes(r.end() - 2, r.end()));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::connected);
  }
  SECTION("ATYP 3 with an empty domain") {
    auto c = make();
    to_connect_phase(c);
    auto s = c.feed(bytes({5, 0, 0, 3, 0, 0, 0}));
    REQUIRE(s);
    CHECK(*s == Socks5Connect::State::connected);
  }
}

TEST_CASE("socks5 leftover bytes after the reply are application data", "[socks5]") {
  auto c = make();
  CHECK(c.take_output().size() == 3);
  // Everything the proxy sends in one read: method, auth, reply and early data.
  auto s = c.feed(cat(cat(kMethodOk, kAuthOk), cat(reply_v6(0), str("/multistream/1.0.0\n"))));
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::connected);
  CHECK(c.take_leftover() == str("/multistream/1.0.0\n"));
  CHECK(c.take_leftover().empty());
  // Both requests were queued, in order.
  auto out = c.take_output();
  CHECK(out.size() == 1 + 1 + 6 + 1 + 6 + 5 + kHost.size() + 2);
  CHECK(out[0] == 1);
  CHECK(out[15] == 5);
}

TEST_CASE("socks5 every reply code", "[socks5]") {
  struct Case {
    int code;
    Socks5Reply reply;
    bool retryable;
  };
  const Case cases[] = {
      {1, Socks5Reply::general_failure, true},
      {2, Socks5Reply::not_allowed, false},
      {3, Socks5Reply::network_unreachable, false},
      {4, Socks5Reply::host_unreachable, true},
      {5, Socks5Reply::connection_refused, false},
      {6, Socks5Reply::ttl_expired, true},
      {7, Socks5Reply::command_not_supported, false},
      {8, Socks5Reply::address_type_not_supported, false},
      {0xF0, Socks5Reply::onion_descriptor_not_found, true},
      {0xF1, Socks5Reply::onion_descriptor_invalid, false},
      {0xF2, Socks5Reply::onion_intro_failed, true},
      {0xF3, Socks5Reply::onion_rendezvous_failed, true},
      {0xF4, Socks5Reply::onion_missing_client_auth, false},
      {0xF5, Socks5Reply::onion_wrong_client_auth, false},
      {0xF6, Socks5Reply::onion_bad_address, false},
      {0xF7, Socks5Reply::onion_intro_timed_out, true},
  };
  for (const auto& tc : cases) {
    INFO("code " << tc.code);
    for (bool v6 : {false, true}) {
      auto c = make();
      to_connect_phase(c);
      auto s = c.feed(v6 ? reply_v6(tc.code) : reply_v4(tc.code));
      REQUIRE(s);
      CHECK(*s == Socks5Connect::State::failed);
      CHECK(c.reply() == tc.reply);
      CHECK(is_retryable(c.reply()) == tc.retryable);
      CHECK(std::string(describe(c.reply())).find("unknown") == std::string::npos);
    }
  }
  CHECK_FALSE(is_retryable(Socks5Reply::succeeded));
  CHECK(std::string(describe(Socks5Reply::onion_descriptor_not_found)) == "onion service descriptor can not be found");
  // A code outside RFC 1928 and tor's set still fails cleanly.
  auto c = make();
  to_connect_phase(c);
  auto s = c.feed(reply_v4(0x42));
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::failed);
  CHECK(std::string(describe(c.reply())) == "unknown SOCKS5 reply code");
  CHECK_FALSE(is_retryable(c.reply()));
}

TEST_CASE("socks5 input fed byte by byte", "[socks5]") {
  for (bool v6 : {false, true}) {
    auto c = make();
    CHECK(c.take_output().size() == 3);
    Bytes all = cat(cat(kMethodOk, kAuthOk), (v6 ? reply_v6(0xF0) : reply_v4(0xF0)));
    std::size_t outputs = 0;
    Socks5Connect::State last = Socks5Connect::State::need_more;
    for (std::size_t i = 0; i < all.size(); ++i) {
      auto s = c.feed(Bytes{all[i]});
      REQUIRE(s);
      last = *s;
      if (!c.take_output().empty()) ++outputs;
      if (i + 1 < all.size()) CHECK(last == Socks5Connect::State::need_more);
    }
    CHECK(outputs == 2);  // auth request, CONNECT request
    CHECK(last == Socks5Connect::State::failed);
    CHECK(c.reply() == Socks5Reply::onion_descriptor_not_found);
  }
  // Domain reply byte by byte, the length byte arriving on its own.
  auto c = make();
  to_connect_phase(c);
  Bytes r = cat(cat(bytes({5, 0, 0, 3, 4}), str("host")), bytes({0x12, 0x34}));
  for (std::size_t i = 0; i < r.size(); ++i) {
    auto s = c.feed(Bytes{r[i]});
    REQUIRE(s);
    CHECK(*s == (i + 1 == r.size() ? Socks5Connect::State::connected : Socks5Connect::State::need_more));
  }
  CHECK(c.take_leftover().empty());
  // An empty feed changes nothing.
  auto d = make();
  auto s = d.feed({});
  REQUIRE(s);
  CHECK(*s == Socks5Connect::State::need_more);
}

TEST_CASE("socks5 protocol violations", "[socks5][malformed]") {
  auto proto = make_error_code(SocksErrc::protocol);
  SECTION("method reply with version 4") {
    auto c = make();
    CHECK(feed_error(c, bytes({4, 2})).code == proto);
  }
  SECTION("no acceptable method") {
    auto c = make();
    CHECK(feed_error(c, bytes({5, 0xFF})).code == make_error_code(SocksErrc::no_acceptable_method));
  }
  SECTION("a method we did not offer") {
    auto c = make();
    CHECK(feed_error(c, bytes({5, 0})).code == proto);
    auto d = make();
    CHECK(feed_error(d, bytes({5, 1})).code == proto);
  }
  SECTION("auth reply with version 5") {
    auto c = make();
    REQUIRE(c.feed(kMethodOk));
    CHECK(feed_error(c, bytes({5, 0})).code == proto);
  }
  SECTION("auth failure") {
    auto c = make();
    REQUIRE(c.feed(kMethodOk));
    auto e = feed_error(c, bytes({1, 1}));
    CHECK(e.code == make_error_code(SocksErrc::auth_failed));
    CHECK(c.take_output().empty());  // no CONNECT after a failed auth
  }
  SECTION("CONNECT reply with version 4") {
    auto c = make();
    to_connect_phase(c);
    CHECK(feed_error(c, bytes({4, 0, 0, 1})).code == proto);
  }
  SECTION("reserved byte not zero") {
    auto c = make();
    to_connect_phase(c);
    CHECK(feed_error(c, bytes({5, 0, 1, 1, 0, 0, 0, 0, 0, 0})).code == proto);
  }
  SECTION("unknown address types") {
    for (int atyp : {0, 2, 5, 0xFF}) {
      auto c = make();
      to_connect_phase(c);
      CHECK(feed_error(c, bytes({5, 0, 0, atyp})).code == proto);
    }
  }
  SECTION("garbage") {
    auto c = make();
    Bytes junk = str("HTTP/1.0 400 Bad Request\r\n\r\n");
    CHECK(feed_error(c, junk).code == proto);
    // The codec stays failed.
    auto e = feed_error(c, kMethodOk);
    CHECK(e.code == make_error_code(SocksErrc::bad_state));
    CHECK(c.take_output().empty());
  }
}

TEST_CASE("socks5 create rejects unusable requests", "[socks5][malformed]") {
  auto bad = make_error_code(SocksErrc::bad_request);
  auto rejects = [&](const std::string& host, std::uint16_t port, const std::string& user, const std::string& pass) {
    INFO(host << " " << port << " " << user.size() << " " << pass.size());
    auto c = Socks5Connect::create(host, port, user, pass);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == bad);
  };
  const std::vector<std::string> hosts = {"", "127.0.0.1", "10.1.2.3", "127.1", "0x7f000001", "2130706433", "1.2.3.4.",
                                 "::1", "[::1]", "fe80::1%eth0", "2001:db8::1", "::ffff:1.2.3.4", "host:80",
                                 "a b", "a\tb", "tab\n", std::string("nul\0x", 5), "del\x7f"};
  for (const auto& host : hosts) rejects(host, 80, "u", "p");
  rejects(std::string(256, 'a'), 80, "u", "p");
  rejects("example.onion", 0, "u", "p");
  rejects("example.onion", 80, "", "p");
  rejects("example.onion", 80, "u", "");
  rejects("example.onion", 80, std::string(256, 'u'), "p");
  rejects("example.onion", 80, "u", std::string(256, 'p'));

  // Limits are inclusive: 255-byte host, username and password are fine.
  auto c = Socks5Connect::create(std::string(255, 'a'), 65535, std::string(255, 'u'), std::string(255, 'p'));
  REQUIRE(c);
  CHECK(c->take_output() == bytes({5, 1, 2}));
  REQUIRE(c->feed(kMethodOk));
  auto auth = c->take_output();
  REQUIRE(auth.size() == 1 + 1 + 255 + 1 + 255);
  CHECK(auth[1] == 255);
  REQUIRE(c->feed(kAuthOk));
  auto conn = c->take_output();
  REQUIRE(conn.size() == 5 + 255 + 2);
  CHECK(conn[4] == 255);
  CHECK(conn[260] == 0xff);
  CHECK(conn[261] == 0xff);
  // Host names that merely contain digits are host names.
  CHECK(Socks5Connect::create("1.example", 80, "u", "p"));
  CHECK(Socks5Connect::create("localhost", 80, "u", "p"));
}
