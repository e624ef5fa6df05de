#include <catch2/catch.hpp>
#include <sodium.h>

#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"

using namespace shardnode;

namespace {
// libp2p/specs peer-ids/peer-ids.md test vector (Ed25519).
constexpr const char* kSpecPrivate =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr const char* kSpecPublic = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr const char* kSpecSeed = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
// base58btc(identity multihash of kSpecPublic); matches rust-libp2p and others.
constexpr const char* kSpecPeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
// rend-spec-v3 §6 encoding of the same public key, computed independently (Python hashlib).
constexpr const char* kSpecOnion = "d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd";

NodeKey spec_key() { return std::move(NodeKey::from_seed(*hex_decode(kSpecSeed)).value()); }
}  // namespace

TEST_CASE("peer id encoding matches the libp2p spec test vector", "[keys]") {
  NodeKey k = spec_key();
  CHECK(hex_encode(encode_libp2p_public_key(k.public_key())) == kSpecPublic);
  CHECK(hex_encode(k.to_libp2p_private_key()) == kSpecPrivate);
  const PeerId id = PeerId::from_public_key(k.public_key());
  CHECK(id.to_string() == kSpecPeerId);
  auto parsed = PeerId::parse(kSpecPeerId);
  REQUIRE(parsed);
  CHECK(*parsed == id);
  auto pk = parsed->public_key();
  REQUIRE(pk);
  CHECK(*pk == k.public_key());
}

TEST_CASE("the spec's private key protobuf loads and re-encodes identically", "[keys]") {
  auto k = NodeKey::from_libp2p_private_key(*hex_decode(kSpecPrivate));
  REQUIRE(k);
  CHECK(hex_encode(k->to_libp2p_private_key()) == kSpecPrivate);
}

TEST_CASE("malformed key protobufs are rejected with a reason", "[keys]") {
  Bytes good = *hex_decode(kSpecPrivate);
  SECTION("truncated") {
    good.pop_back();
    auto r = NodeKey::from_libp2p_private_key(good);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Condition::invalid_input);
    CHECK_THAT(r.error().message, Catch::Contains("expected 68 bytes"));
  }
  SECTION("not Ed25519") {
    good[1] = 2;  // secp256k1
    auto r = NodeKey::from_libp2p_private_key(good);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("not an Ed25519"));
  }
  SECTION("public half does not match the seed") {
    good.back() ^= 1;
    auto r = NodeKey::from_libp2p_private_key(good);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("does not match"));
  }
  SECTION("public key protobuf with a wrong length byte") {
    Bytes pub = *hex_decode(kSpecPublic);
    pub[3] = 31;
    CHECK_FALSE(decode_libp2p_public_key(pub));
  }
  SECTION("seed of the wrong size") { CHECK_FALSE(NodeKey::from_seed(Bytes(31, 1))); }
}

TEST_CASE("malformed peer ids are rejected", "[keys]") {
  CHECK_FALSE(PeerId::parse(""));
  CHECK_FALSE(PeerId::parse("12D3KooW0000"));  // '0' is not base58
  CHECK_FALSE(PeerId::parse(std::string(200, 'z')));
  // identity multihash whose length byte disagrees with its size
  Bytes mh = PeerId::from_public_key(spec_key().public_key()).bytes();
  mh.pop_back();
  CHECK_FALSE(PeerId::from_bytes(mh));
  // unknown multihash code
  Bytes other = {0x13, 0x02, 0xaa, 0xbb};
  CHECK_FALSE(PeerId::from_bytes(other));
  // sha2-256 ids parse but carry no inline key
  Bytes sha(34, 0x11);
  sha[0] = 0x12;
  sha[1] = 32;
  auto id = PeerId::from_bytes(sha);
  REQUIRE(id);
  CHECK_FALSE(id->public_key());
  CHECK(id->to_string().rfind("Qm", 0) == 0);
}

TEST_CASE("onion address derivation follows rend-spec-v3", "[keys][onion]") {
  NodeKey k = spec_key();
  CHECK(onion_address(k.public_key()) == kSpecOnion);
  auto pk = parse_onion_address(std::string(kSpecOnion) + ".onion");
  REQUIRE(pk);
  CHECK(*pk == k.public_key());
  std::string upper = kSpecOnion;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(parse_onion_address(upper));
}

TEST_CASE("malformed onion addresses are rejected", "[keys][onion]") {
  std::string a = kSpecOnion;
  SECTION("checksum") {
    a[10] = a[10] == 'a' ? 'b' : 'a';
    auto r = parse_onion_address(a);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("checksum"));
  }
  SECTION("length") { CHECK_FALSE(parse_onion_address(a.substr(1))); }
  SECTION("alphabet") {
    a[0] = '1';
    CHECK_FALSE(parse_onion_address(a));
  }
  SECTION("version byte") {
    // Re-encode with version 4 and a correct-length body.
    Bytes raw = *base32_decode(a);
    raw[34] = 0x04;
    auto r = parse_onion_address(base32_encode(raw));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("version"));
  }
  SECTION("v2 address") { CHECK_FALSE(parse_onion_address("expyuzz4wqqyqhjn.onion")); }
}

TEST_CASE("tor's expanded key is a clamped scalar for the same public key", "[keys][onion]") {
  NodeKey k = NodeKey::generate();
  auto blob = base64_decode(k.tor_expanded_key_base64());
  REQUIRE(blob);
  REQUIRE(blob->size() == 64);
  CHECK(((*blob)[0] & 7) == 0);
  CHECK(((*blob)[31] & 0xc0) == 0x40);
  // scalar * B must be the public key.
  std::array<std::uint8_t, 32> pk{};
  REQUIRE(crypto_scalarmult_ed25519_base_noclamp(pk.data(), blob->data()) == 0);
  CHECK(pk == k.public_key().bytes);
}

TEST_CASE("signatures verify and tampering is detected", "[keys]") {
  NodeKey k = NodeKey::generate();
  const Bytes msg = {1, 2, 3};
  auto sig = k.sign(msg);
  CHECK(k.public_key().verify(msg, sig));
  Bytes other = {1, 2, 4};
  CHECK_FALSE(k.public_key().verify(other, sig));
  sig[0] ^= 1;
  CHECK_FALSE(k.public_key().verify(msg, sig));
  CHECK_FALSE(k.public_key().verify(msg, Bytes(10, 0)));  // wrong size
}

TEST_CASE("two generated keys differ", "[keys]") {
  CHECK_FALSE(NodeKey::generate().public_key() == NodeKey::generate().public_key());
}
