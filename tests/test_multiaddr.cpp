#include <catch2/catch.hpp>

#include "shardnode/core/multiaddr.h"

using namespace shardnode;

namespace {
Multiaddr ma(std::string_view s) {
  auto r = Multiaddr::parse(s);
  if (!r) FAIL(r.error().message);
  return *r;
}
}  // namespace

TEST_CASE("multiaddr text and binary forms round-trip (go-multiaddr vectors)", "[multiaddr]") {
  const std::pair<const char*, const char*> v[] = {
      {"/ip4/127.0.0.1/tcp/4001", "047f000001060fa1"},
      {"/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1"},
      {"/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
       "bd03adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e30304d2"},
      {"/ip4/1.2.3.4/tcp/80/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
       "0401020304060050a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"},
  };
  for (auto [text, hex] : v) {
    INFO(text);
    Multiaddr m = ma(text);
    CHECK(m.to_string() == text);
    CHECK(hex_encode(m.to_bytes()) == hex);
    auto back = Multiaddr::from_bytes(*hex_decode(hex));
    REQUIRE(back);
    CHECK(*back == m);
  }
  CHECK(ma("/ipfs/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq").to_string() ==
        "/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
}

TEST_CASE("multiaddr accessors: peer id, tcp and onion endpoints, loopback", "[multiaddr]") {
  auto m = ma("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  REQUIRE(m.peer_id());
  CHECK(m.peer_id()->to_string() == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  CHECK(m.without_peer_id().to_string() == "/ip4/127.0.0.1/tcp/4001");
  auto ep = m.tcp_endpoint();
  REQUIRE(ep);
  CHECK(ep->ip == "127.0.0.1");
  CHECK(ep->port == 4001);
  CHECK(m.is_loopback());
  CHECK_FALSE(ma("/ip4/10.0.0.1/tcp/1").is_loopback());
  CHECK(ma("/ip6/::1/tcp/1").is_loopback());
  auto o = ma("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234");
  CHECK(o.is_onion());
  CHECK_FALSE(o.is_loopback());
  CHECK_FALSE(o.tcp_endpoint());
  REQUIRE(o.onion_endpoint());
  CHECK(o.onion_endpoint()->port == 1234);
  NodeKey k = NodeKey::generate();
  auto mine = Multiaddr::onion3(k.public_key(), 4001);
  CHECK(mine.onion_endpoint()->address == onion_address(k.public_key()));
  CHECK(ma(mine.to_string()) == mine);
  // An address written with its ".onion" suffix means the same service (it crashed the
  // parser before: fuzz/regressions/multiaddr/onion-suffix, finding 9 in docs/FUZZING.md).
  auto suffixed = ma("/onion3/" + onion_address(k.public_key()) + ".onion:4001");
  CHECK(suffixed == mine);
  CHECK(suffixed.to_string() == mine.to_string());
  CHECK_FALSE(Multiaddr::parse("/onion3/" + onion_address(k.public_key()) + ".onion"));
}

TEST_CASE("malformed or unsupported multiaddr text is rejected with a reason", "[multiaddr]") {
  const std::pair<const char*, const char*> bad[] = {
      {"", "start with"},
      {"ip4/1.2.3.4", "start with"},
      {"/", "no components"},
      {"/ip4", "needs a value"},
      {"/ip4/", "needs a value"},
      {"/ip4/1.2.3.4/", "trailing"},
      {"/ip4/256.1.1.1", "invalid ip4"},
      {"/ip4/1.2.3", "invalid ip4"},
      {"/ip6/::zz", "invalid ip6"},
      {"/tcp/65536", "invalid tcp port"},
      {"/tcp/-1", "invalid tcp port"},
      {"/tcp/01", "invalid tcp port"},
      {"/dns4/example.com/tcp/1", "unsupported protocol 'dns4'"},
      {"/udp/1", "unsupported protocol 'udp'"},
      {"/unix/tmp/x", "unsupported protocol 'unix'"},
      {"/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd", "needs <address>:<port>"},
      {"/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:0", "invalid onion3 port"},
      {"/onion3/aww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1", "checksum"},
      {"/onion3/abc:1", "56"},
      {"/p2p/notbase58!", "base58"},
  };
  for (auto [text, why] : bad) {
    INFO(text);
    auto r = Multiaddr::parse(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(why));
  }
  CHECK_FALSE(Multiaddr::parse(std::string(2000, '/')));
}

TEST_CASE("malformed multiaddr bytes are rejected", "[multiaddr]") {
  const char* bad[] = {
      "",                      // empty
      "04",                    // ip4 without value
      "047f0000",              // ip4 truncated
      "060f",                  // tcp truncated
      "8080808080808080808080",// varint overflow
      "80",                    // truncated varint
      "8100",                  // non-minimal varint
      "1100",                  // unsupported code (udp=273? no: 0x11=17 is udp)
      "a503ff",                // p2p length beyond the end
      "a50302aabb",            // p2p with a bad multihash
      "bd03" "00",             // onion3 truncated
  };
  for (const char* hex : bad) {
    INFO(hex);
    CHECK_FALSE(Multiaddr::from_bytes(*hex_decode(hex)));
  }
  // onion3 with a bad checksum in binary form
  Bytes b = *hex_decode("bd03adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e30304d2");
  b[5] ^= 1;
  CHECK_FALSE(Multiaddr::from_bytes(b));
}
