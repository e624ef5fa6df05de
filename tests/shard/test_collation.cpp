#include <catch2/catch.hpp>

#include <set>

#include "../support/proto_writer.h"
#include "../support/shard_keys.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"
#include "shardnode/shard/beacon.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/period.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/validator_key.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;
using pubsub::ValidationResult;

namespace {

using test::h32;
using test::vkey;

Bytes body_of(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return b;
}

using test::field_bytes;
using test::field_varint;

struct RawCollation {
  std::uint32_t shard = 0;
  std::uint64_t period = 0;
  Bytes parent, proposer, body_hash, body, sig;
  bool header = true;
  Bytes encode() const {
    Bytes h;
    field_varint(h, 1, shard);
    field_varint(h, 2, period);
    field_bytes(h, 3, parent);
    field_bytes(h, 4, proposer);
    field_bytes(h, 5, body_hash);
    Bytes out;
    if (header) field_bytes(out, 1, h, true);
    field_bytes(out, 2, body);
    field_bytes(out, 3, sig);
    return out;
  }
};

template <std::size_t N>
Bytes vec(const std::array<std::uint8_t, N>& a) { return Bytes(a.begin(), a.end()); }

RawCollation raw_of(const Collation& c) {
  RawCollation r;
  r.shard = c.header.shard;
  r.period = c.header.period;
  r.parent = vec(c.header.parent_hash);
  r.proposer = vec(c.header.proposer.bytes);
  r.body_hash = vec(c.header.body_hash);
  r.body = c.body;
  r.sig = vec(c.signature);
  return r;
}

std::error_code decode_error(ByteView data, const CollationLimits& lim = {}) {
  auto r = decode_collation(data, lim);
  if (r) return {};
  return r.error().code;
}

bool never_seen(const Hash32&) { return false; }

}  // namespace

TEST_CASE("shard topics are versioned and collation topics parse strictly", "[shard][topics]") {
  CHECK(kPreferenceTopic == "/shardnode/shard-prefs/1");
  CHECK(kBeaconTopic == "/shardnode/beacon/1");
  CHECK(collation_topic(0) == "/shardnode/shard/0/collations/1");
  CHECK(collation_topic(17) == "/shardnode/shard/17/collations/1");
  for (std::uint32_t k : {0u, 1u, 9u, 10u, 63u, 1000u, 4294967295u}) {
    INFO(k);
    CHECK(shard_of_collation_topic(collation_topic(k)) == k);
  }
  for (const char* bad : {"/shardnode/shard//collations/1", "/shardnode/shard/01/collations/1",
                          "/shardnode/shard/00/collations/1", "/shardnode/shard/+1/collations/1",
                          "/shardnode/shard/-1/collations/1", "/shardnode/shard/ 1/collations/1",
                          "/shardnode/shard/1 /collations/1", "/shardnode/shard/0x1/collations/1",
                          "/shardnode/shard/1a/collations/1", "/shardnode/shard/4294967296/collations/1",
                          "/shardnode/shard/99999999999/collations/1", "/shardnode/shard/1/collations/2",
                          "/shardnode/shard/1/collations/1/", "/shardnode/shard/1/collations/10",
                          "/shardnode/shard/1/collations", "shardnode/shard/1/collations/1",
                          "/shardnode/shards/1/collations/1", "/shardnode/shard-prefs/1", "/shardnode/beacon/1", "",
                          "/shardnode/shard/1/2/collations/1"}) {
    INFO(bad);
    CHECK_FALSE(shard_of_collation_topic(bad));
  }
}

TEST_CASE("periods count fixed windows from genesis", "[shard][period]") {
  constexpr std::uint64_t g = 1'000'000;
  STATIC_REQUIRE(period_at(g, g, 12) == 0);
  CHECK(period_at(g - 1, g, 12) == 0);
  CHECK(period_at(0, g, 12) == 0);
  CHECK(period_at(g + 11, g, 12) == 0);
  CHECK(period_at(g + 12, g, 12) == 1);
  CHECK(period_at(g + 120, g, 12) == 10);
  CHECK(period_start(10, g, 12) == g + 120);
  CHECK(period_start(UINT64_MAX, g, 12) == UINT64_MAX);
  CHECK(period_at(period_start(12345, g, 7), g, 7) == 12345);
  CHECK(seconds_to_next_period(g, g, 12) == 12);
  CHECK(seconds_to_next_period(g + 5, g, 12) == 7);
  CHECK(seconds_to_next_period(g - 3, g, 12) == 3);
  CHECK(period_at(g + 5, g, 0) == 5);  // 0 treated as 1, never a division by zero
}

TEST_CASE("validator keys are deterministic from a seed and distinct from node keys", "[shard][collation]") {
  const ValidatorKey a = vkey(1), b = vkey(1), c = vkey(2);
  CHECK(a.public_key() == b.public_key());
  CHECK_FALSE(a.public_key() == c.public_key());
  CHECK_FALSE(ValidatorKey::generate().public_key() == ValidatorKey::generate().public_key());
  CHECK_FALSE(ValidatorKey::from_seed(Bytes(31, 1)));
  const Bytes msg = {1, 2, 3};
  CHECK(a.public_key().verify(msg, a.sign(msg)));
}

TEST_CASE("a collation round-trips and its hash covers every header field", "[shard][collation]") {
  const ValidatorKey k = vkey(3);
  const Collation c = make_collation(k, 5, 42, h32(0xaa), body_of(1000));
  CHECK(c.header.shard == 5);
  CHECK(c.header.period == 42);
  CHECK(c.header.proposer == k.public_key());
  CHECK(c.header.body_hash == sha256(c.body));
  CHECK(verify(c));
  const Bytes enc = encode(c);
  CHECK(enc == raw_of(c).encode());
  auto back = decode_collation(enc);
  REQUIRE(back);
  CHECK(*back == c);
  CHECK(collation_hash(back->header) == collation_hash(c.header));

  // An empty body is allowed.
  const Collation empty = make_collation(k, 0, 0, Hash32{}, {});
  auto empty_back = decode_collation(encode(empty));
  REQUIRE(empty_back);
  CHECK(*empty_back == empty);

  // SHA-256 of "abc" (FIPS 180-2 vector).
  const std::string abc = "abc";
  CHECK(hex_encode(sha256(as_bytes(abc))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  const Hash32 id = collation_hash(c.header);
  auto differs = [&](auto mutate) {
    CollationHeader h = c.header;
    mutate(h);
    return collation_hash(h) != id;
  };
  CHECK(differs([](CollationHeader& h) { h.shard += 1; }));
  CHECK(differs([](CollationHeader& h) { h.period += 1; }));
  CHECK(differs([](CollationHeader& h) { h.parent_hash[31] ^= 1; }));
  CHECK(differs([](CollationHeader& h) { h.proposer.bytes[0] ^= 1; }));
  CHECK(differs([](CollationHeader& h) { h.body_hash[5] ^= 1; }));
  // The id and the signing payload use different domains over the same header bytes.
  const Bytes hdr = canonical_header_bytes(c.header);
  CHECK(hdr.size() == 4 + 8 + 32 * 3);
  const Bytes sig_payload = collation_signing_bytes(c.header);
  CHECK(std::string(sig_payload.begin(), sig_payload.begin() + 22) == "shardnode/collation/v1");
  CHECK(id != sha256(sig_payload));
  CHECK(id != sha256(hdr));
}

TEST_CASE("truncated and garbage collation bytes are rejected as malformed", "[shard][collation]") {
  const Bytes enc = encode(make_collation(vkey(4), 1, 2, h32(1), body_of(40)));
  for (std::size_t n = 0; n < enc.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(decode_error(ByteView(enc).first(n)) == ShardErrc::malformed);
  }
  CHECK(decode_error(Bytes{0xff, 0xff, 0xff, 0xff}) == ShardErrc::malformed);
  const std::string text = "definitely not a collation";
  CHECK(decode_error(as_bytes(text)) == ShardErrc::malformed);
  CHECK(decode_error(Bytes(64, 0)) == ShardErrc::malformed);
}

TEST_CASE("collation fields of the wrong size are rejected", "[shard][collation]") {
  const RawCollation good = raw_of(make_collation(vkey(5), 1, 2, h32(1), body_of(40)));
  REQUIRE(decode_collation(good.encode()));
  auto resized = [&](Bytes RawCollation::*field, std::size_t len) {
    RawCollation r = good;
    (r.*field).resize(len, 0x11);
    return decode_error(r.encode());
  };
  for (std::size_t len : {std::size_t{0}, std::size_t{31}, std::size_t{33}}) {
    INFO(len);
    CHECK(resized(&RawCollation::parent, len) == ShardErrc::malformed);
    CHECK(resized(&RawCollation::proposer, len) == ShardErrc::malformed);
    CHECK(resized(&RawCollation::body_hash, len) == ShardErrc::malformed);
  }
  for (std::size_t len : {std::size_t{0}, std::size_t{63}, std::size_t{65}}) {
    INFO(len);
    CHECK(resized(&RawCollation::sig, len) == ShardErrc::malformed);
  }
  RawCollation headless = good;
  headless.header = false;
  CHECK(decode_error(headless.encode()) == ShardErrc::malformed);
  Bytes unknown = good.encode();
  field_varint(unknown, 9, 1);
  CHECK(decode_error(unknown) == ShardErrc::malformed);
}

TEST_CASE("a flipped signature bit or a forged header fails verification", "[shard][collation]") {
  const Collation c = make_collation(vkey(6), 1, 2, h32(1), body_of(40));
  Bytes enc = encode(c);
  enc.back() ^= 0x01;  // the signature is the last field
  CHECK(decode_error(enc) == ShardErrc::bad_signature);
  Collation forged = c;
  forged.header.period = 3;
  CHECK_FALSE(verify(forged));
  CHECK(decode_error(encode(forged)) == ShardErrc::bad_signature);
  forged = c;
  forged.header.proposer = vkey(7).public_key();
  CHECK(decode_error(encode(forged)) == ShardErrc::bad_signature);
}

TEST_CASE("a collation body that does not match its hash is rejected", "[shard][collation]") {
  const Collation c = make_collation(vkey(8), 1, 2, h32(1), body_of(40));
  Collation swapped = c;
  swapped.body[0] ^= 0xff;
  CHECK_FALSE(verify(swapped));
  CHECK(decode_error(encode(swapped)) == ShardErrc::body_mismatch);
  swapped.body = body_of(41);
  CHECK(decode_error(encode(swapped)) == ShardErrc::body_mismatch);
}

TEST_CASE("oversized collations are rejected", "[shard][collation]") {
  const ValidatorKey k = vkey(9);
  CollationLimits lim;
  lim.max_body_bytes = 100;
  lim.max_encoded = 10'000;
  CHECK(decode_collation(encode(make_collation(k, 1, 2, h32(1), body_of(100))), lim));
  CHECK(decode_error(encode(make_collation(k, 1, 2, h32(1), body_of(101))), lim) == ShardErrc::oversize);
  const Bytes enc = encode(make_collation(k, 1, 2, h32(1), body_of(50)));
  lim.max_encoded = enc.size() - 1;
  CHECK(decode_error(enc, lim) == ShardErrc::oversize);
  // Defaults: 1 MiB of body fits, a byte more does not.
  CHECK(decode_collation(encode(make_collation(k, 1, 2, h32(1), body_of(1024 * 1024)))));
  CHECK(decode_error(encode(make_collation(k, 1, 2, h32(1), body_of(1024 * 1024 + 1)))) == ShardErrc::oversize);
}

TEST_CASE("check_collation accepts valid collations and rejects or ignores the rest", "[shard][collation]") {
  const ValidatorKey k = vkey(10);
  const CollationLimits lim;
  constexpr std::uint64_t now = 100, max_age = 10;
  auto check = [&](const Collation& c, std::uint32_t topic_shard = 3,
                   const std::function<bool(const Hash32&)>& seen = never_seen) {
    return check_collation(encode(c), topic_shard, now, max_age, lim, seen);
  };
  const Collation good = make_collation(k, 3, now, h32(2), body_of(64));

  auto r = check(good);
  CHECK(r.result == ValidationResult::accept);
  CHECK_FALSE(r.code);
  REQUIRE(r.collation);
  CHECK(*r.collation == good);
  REQUIRE(r.hash);
  CHECK(*r.hash == collation_hash(good.header));

  SECTION("wrong shard") {
    r = check(good, 4);
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::wrong_shard);
    CHECK_FALSE(r.collation);
  }
  SECTION("period in the future") {
    CHECK(check(make_collation(k, 3, now + 1, h32(2), {})).result == ValidationResult::accept);
    r = check(make_collation(k, 3, now + 2, h32(2), {}));
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::future);
    CHECK(check(make_collation(k, 3, UINT64_MAX, h32(2), {})).code == ShardErrc::future);
  }
  SECTION("too old") {
    CHECK(check(make_collation(k, 3, now - max_age, h32(2), {})).result == ValidationResult::accept);
    r = check(make_collation(k, 3, now - max_age - 1, h32(2), {}));
    CHECK(r.result == ValidationResult::ignore);
    CHECK(r.code == ShardErrc::too_old);
    // Early periods: nothing is too old before max_age periods have passed.
    CHECK(check_collation(encode(make_collation(k, 3, 0, h32(2), {})), 3, 5, max_age, lim, never_seen).result ==
          ValidationResult::accept);
  }
  SECTION("duplicate") {
    std::set<Hash32> store = {collation_hash(good.header)};
    auto seen = [&](const Hash32& h) { return store.count(h) > 0; };
    r = check(good, 3, seen);
    CHECK(r.result == ValidationResult::ignore);
    CHECK(r.code == ShardErrc::duplicate);
    REQUIRE(r.hash);
    CHECK(*r.hash == collation_hash(good.header));
    CHECK(check(make_collation(k, 3, now, h32(3), {}), 3, seen).result == ValidationResult::accept);
  }
  SECTION("bad signature and body mismatch") {
    Bytes flipped = encode(good);
    flipped.back() ^= 0x40;
    r = check_collation(flipped, 3, now, max_age, lim, never_seen);
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::bad_signature);
    Collation swapped = good;
    swapped.body.push_back(0);
    r = check(swapped);
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::body_mismatch);
  }
  SECTION("malformed and oversize") {
    r = check_collation(Bytes{0xff, 0x01}, 3, now, max_age, lim, never_seen);
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::malformed);
    CHECK_FALSE(r.hash);
    CollationLimits small;
    small.max_body_bytes = 10;
    r = check_collation(encode(good), 3, now, max_age, small, never_seen);
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::oversize);
  }
}

TEST_CASE("a beacon header round-trips and rejects malformed or forged bytes", "[shard][beacon]") {
  const ValidatorKey k = vkey(11);
  const BeaconHeader b = make_beacon_header(k, 77, h32(5), h32(6));
  CHECK(b.proposer == k.public_key());
  CHECK(verify(b));
  const Bytes enc = encode(b);
  auto back = decode_beacon_header(enc);
  REQUIRE(back);
  CHECK(*back == b);
  CHECK(beacon_hash(*back) == beacon_hash(b));
  CHECK(beacon_hash(b) != sha256(beacon_signing_bytes(b)));

  for (std::size_t n = 0; n < enc.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    auto r = decode_beacon_header(ByteView(enc).first(n));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ShardErrc::malformed);
  }
  Bytes flipped = enc;
  flipped.back() ^= 0x01;
  CHECK(decode_beacon_header(flipped).error().code == ShardErrc::bad_signature);
  BeaconHeader forged = b;
  forged.slot = 78;
  CHECK_FALSE(verify(forged));
  CHECK(decode_beacon_header(encode(forged)).error().code == ShardErrc::bad_signature);
  forged = b;
  forged.state_root[0] ^= 1;
  CHECK(decode_beacon_header(encode(forged)).error().code == ShardErrc::bad_signature);

  // Wrong field sizes: parent hash of 31 bytes (hand-built).
  Bytes short_parent;
  field_varint(short_parent, 1, b.slot);
  field_bytes(short_parent, 2, Bytes(31, 5));
  field_bytes(short_parent, 3, vec(b.state_root));
  field_bytes(short_parent, 4, vec(b.proposer.bytes));
  field_bytes(short_parent, 5, vec(b.signature));
  CHECK(decode_beacon_header(short_parent).error().code == ShardErrc::malformed);
  Bytes extra = enc;
  field_varint(extra, 12, 3);
  CHECK(decode_beacon_header(extra).error().code == ShardErrc::malformed);

  BeaconLimits small;
  small.max_encoded = enc.size() - 1;
  CHECK(decode_beacon_header(enc, small).error().code == ShardErrc::oversize);
  CHECK(decode_beacon_header(Bytes{0xff, 0xff}).error().code == ShardErrc::malformed);
}
