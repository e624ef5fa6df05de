#include <catch2/catch.hpp>

#include <stdexcept>

#include "../support/proto_writer.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"
#include "shardnode/shard/preference.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;

namespace {

NodeKey key_from(std::uint8_t fill) { return std::move(NodeKey::from_seed(Bytes(32, fill)).value()); }

using test::field_bytes;
using test::field_varint;

struct Raw {
  Bytes key, bits, sig;
  std::uint64_t seq = 0, expires_at = 0;
  std::uint32_t shard_count = 0;
  Bytes encode() const {
    Bytes out;
    field_bytes(out, 1, key);
    field_varint(out, 2, seq);
    field_varint(out, 3, expires_at);
    field_varint(out, 4, shard_count);
    field_bytes(out, 5, bits);
    field_bytes(out, 6, sig);
    return out;
  }
};

Raw raw_of(const ShardPreference& p) {
  Raw r;
  r.key.assign(p.node_key.bytes.begin(), p.node_key.bytes.end());
  r.seq = p.seq;
  r.expires_at = p.expires_at;
  r.shard_count = p.shard_count;
  r.bits = shard_bitfield(p.shards, p.shard_count);
  r.sig.assign(p.signature.begin(), p.signature.end());
  return r;
}

// Signs a raw record's fields as given (for checks that must fail after the signature).
void resign(Raw& r, const NodeKey& k) {
  ShardPreference p;
  std::copy_n(r.key.begin(), 32, p.node_key.bytes.begin());
  p.seq = r.seq;
  p.expires_at = r.expires_at;
  p.shard_count = r.shard_count;
  p.shards.assign(r.shard_count, false);
  for (std::size_t k2 = 0; k2 < r.shard_count && k2 / 8 < r.bits.size(); ++k2)
    p.shards[k2] = ((static_cast<unsigned>(r.bits[k2 / 8]) >> (k2 % 8)) & 1u) != 0;
  const auto sig = k.sign(signing_bytes(p));
  r.sig.assign(sig.begin(), sig.end());
}

std::error_code decode_error(ByteView data, const PreferenceLimits& lim = {}) {
  auto r = decode_preference(data, lim);
  if (r) return {};
  return r.error().code;
}

}  // namespace

TEST_CASE("a shard preference round-trips through encode and decode", "[shard][preference]") {
  const NodeKey k = key_from(1);
  const ShardPreference p = make_preference(k, 7, 1'700'000'000, 64, {0, 9, 63});
  CHECK(p.node_key == k.public_key());
  CHECK(p.peer_id() == PeerId::from_public_key(k.public_key()));
  CHECK(p.shards.size() == 64);
  CHECK(p.contains(0));
  CHECK(p.contains(9));
  CHECK(p.contains(63));
  CHECK_FALSE(p.contains(1));
  CHECK_FALSE(p.contains(64));
  CHECK_FALSE(p.contains(UINT32_MAX));
  CHECK(verify(p));

  const Bytes enc = encode(p);
  CHECK(enc == raw_of(p).encode());  // the test writer agrees with the encoder
  auto back = decode_preference(enc, {});
  REQUIRE(back);
  CHECK(*back == p);

  // No shards at all is a valid record (a node serving none).
  const ShardPreference none = make_preference(k, 1, 100, 64, {});
  auto none_back = decode_preference(encode(none), {});
  REQUIRE(none_back);
  CHECK(*none_back == none);
}

TEST_CASE("the shard bitfield is LSB-first and exactly ceil(shard_count/8) bytes", "[shard][preference]") {
  const NodeKey k = key_from(2);
  const ShardPreference p = make_preference(k, 1, 100, 64, {0, 9, 63});
  CHECK(shard_bitfield(p.shards, 64) == Bytes{0x01, 0x02, 0, 0, 0, 0, 0, 0x80});
  const ShardPreference q = make_preference(k, 1, 100, 10, {1, 9});
  CHECK(shard_bitfield(q.shards, 10) == Bytes{0x02, 0x02});
  CHECK(shard_bitfield({}, 1).size() == 1);
  CHECK(shard_bitfield({}, 0).empty());
  PreferenceLimits ten;
  ten.shard_count = 10;
  auto back = decode_preference(encode(q), ten);
  REQUIRE(back);
  CHECK(*back == q);
}

TEST_CASE("the preference signing payload is domain-separated and covers every field", "[shard][preference]") {
  const NodeKey k = key_from(3);
  const ShardPreference p = make_preference(k, 5, 1000, 16, {3});
  const Bytes sb = signing_bytes(p);
  const std::string domain = "shardnode/shard-pref/v1";
  REQUIRE(sb.size() == domain.size() + 1 + 32 + 8 + 8 + 4 + 4 + 2);
  CHECK(std::string(sb.begin(), sb.begin() + static_cast<std::ptrdiff_t>(domain.size())) == domain);
  CHECK(sb[domain.size()] == 0);
  // The payload is not the protobuf encoding, and signing the encoding would not verify.
  CHECK(sb != encode(p));

  auto changed = [&](auto mutate) {
    ShardPreference q = p;
    mutate(q);
    return signing_bytes(q) != sb && !verify(q);
  };
  CHECK(changed([](ShardPreference& q) { q.seq += 1; }));
  CHECK(changed([](ShardPreference& q) { q.expires_at += 1; }));
  CHECK(changed([](ShardPreference& q) { q.shards[4] = true; }));
  CHECK(changed([](ShardPreference& q) { q.node_key = key_from(4).public_key(); }));
  CHECK(changed([](ShardPreference& q) {
    q.shard_count = 17;
    q.shards.push_back(false);
  }));
}

TEST_CASE("make_preference refuses shards outside shard_count", "[shard][preference]") {
  const NodeKey k = key_from(5);
  CHECK_THROWS_AS(make_preference(k, 1, 100, 64, {64}), std::out_of_range);
  CHECK_NOTHROW(make_preference(k, 1, 100, 64, {63}));
}

TEST_CASE("truncated and garbage preference bytes are rejected as malformed", "[shard][preference]") {
  const NodeKey k = key_from(6);
  const Bytes enc = encode(make_preference(k, 3, 500, 64, {1, 2}));
  for (std::size_t n = 0; n < enc.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(decode_error(ByteView(enc).first(n)) == ShardErrc::malformed);
  }
  CHECK(decode_error(Bytes{0xff, 0xff, 0xff}) == ShardErrc::malformed);
  CHECK(decode_error(Bytes{0x0a, 0x05, 0x01}) == ShardErrc::malformed);  // length past the end
  const std::string text = "not a protobuf at all, just some text";
  CHECK(decode_error(as_bytes(text)) == ShardErrc::malformed);
  CHECK(decode_error(Bytes(200, 0x00)) == ShardErrc::malformed);
}

TEST_CASE("preference keys and signatures of the wrong size are rejected", "[shard][preference]") {
  const NodeKey k = key_from(7);
  const Raw good = raw_of(make_preference(k, 3, 500, 64, {1}));
  REQUIRE(decode_preference(good.encode(), {}));
  for (std::size_t len : {std::size_t{0}, std::size_t{31}, std::size_t{33}, std::size_t{36}}) {
    Raw r = good;
    r.key.resize(len, 0x42);
    INFO("key of " << len << " bytes");
    CHECK(decode_error(r.encode()) == ShardErrc::malformed);
  }
  for (std::size_t len : {std::size_t{0}, std::size_t{63}, std::size_t{65}}) {
    Raw r = good;
    r.sig.resize(len, 0x42);
    INFO("signature of " << len << " bytes");
    CHECK(decode_error(r.encode()) == ShardErrc::malformed);
  }
}

TEST_CASE("a flipped signature bit or an altered field fails verification", "[shard][preference]") {
  const NodeKey k = key_from(8);
  const ShardPreference p = make_preference(k, 3, 500, 64, {1});
  Bytes enc = encode(p);
  enc.back() ^= 0x01;  // the signature is the last field
  CHECK(decode_error(enc) == ShardErrc::bad_signature);

  Raw r = raw_of(p);
  r.seq = 4;
  CHECK(decode_error(r.encode()) == ShardErrc::bad_signature);
  r = raw_of(p);
  r.bits[0] = 0x04;
  CHECK(decode_error(r.encode()) == ShardErrc::bad_signature);
  r = raw_of(p);
  const NodeKey other = key_from(9);
  r.key.assign(other.public_key().bytes.begin(), other.public_key().bytes.end());
  CHECK(decode_error(r.encode()) == ShardErrc::bad_signature);
}

TEST_CASE("preference bitfields of the wrong length or with bits beyond shard_count are rejected", "[shard][preference]") {
  const NodeKey k = key_from(10);
  PreferenceLimits ten;
  ten.shard_count = 10;
  const Raw good = raw_of(make_preference(k, 1, 100, 10, {0, 9}));
  REQUIRE(decode_preference(good.encode(), ten));

  Raw shorter = good;
  shorter.bits.pop_back();
  resign(shorter, k);
  CHECK(decode_error(shorter.encode(), ten) == ShardErrc::malformed);

  Raw longer = good;
  longer.bits.push_back(0);
  CHECK(decode_error(longer.encode(), ten) == ShardErrc::malformed);

  Raw empty = good;
  empty.bits.clear();
  CHECK(decode_error(empty.encode(), ten) == ShardErrc::malformed);

  for (unsigned bit = 2; bit < 8; ++bit) {  // shards 10..15 do not exist
    Raw extra = good;
    extra.bits[1] = static_cast<std::uint8_t>(extra.bits[1] | (1u << bit));
    INFO("bit " << bit << " of byte 1");
    CHECK(decode_error(extra.encode(), ten) == ShardErrc::malformed);
  }
}

TEST_CASE("a preference for another shard count is rejected", "[shard][preference]") {
  const NodeKey k = key_from(11);
  const Bytes enc = encode(make_preference(k, 1, 100, 32, {5}));
  CHECK(decode_error(enc) == ShardErrc::wrong_shard_count);  // configured: 64
  PreferenceLimits lim;
  lim.shard_count = 32;
  CHECK(decode_preference(enc, lim));
  Raw zero = raw_of(make_preference(k, 1, 100, 64, {}));
  zero.shard_count = 0;
  CHECK(decode_error(zero.encode()) == ShardErrc::wrong_shard_count);
}

TEST_CASE("an oversized preference is rejected before parsing", "[shard][preference]") {
  const NodeKey k = key_from(12);
  const Bytes enc = encode(make_preference(k, 1, 100, 64, {5}));
  PreferenceLimits lim;
  lim.max_encoded = enc.size() - 1;
  CHECK(decode_error(enc, lim) == ShardErrc::oversize);
  lim.max_encoded = enc.size();
  CHECK(decode_preference(enc, lim));
  // A huge shard count cannot fit under the default 1 KiB cap.
  PreferenceLimits many;
  many.shard_count = 10000;
  CHECK(decode_error(encode(make_preference(k, 1, 100, 10000, {9999})), many) == ShardErrc::oversize);
}

TEST_CASE("non-canonical preference encodings are rejected", "[shard][preference]") {
  const NodeKey k = key_from(13);
  const Raw good = raw_of(make_preference(k, 2, 100, 64, {5}));
  Bytes unknown = good.encode();
  field_varint(unknown, 15, 1);  // an unknown field
  CHECK(decode_error(unknown) == ShardErrc::malformed);
  Bytes repeated = good.encode();
  field_varint(repeated, 2, 2);  // seq again, after the signature
  CHECK(decode_error(repeated) == ShardErrc::malformed);
  // seq = 0 written out instead of omitted (the record is otherwise valid).
  const Raw zero_seq = raw_of(make_preference(k, 0, 100, 64, {5}));
  REQUIRE(decode_preference(zero_seq.encode(), {}));
  Bytes explicit_zero;
  field_bytes(explicit_zero, 1, zero_seq.key);
  append_uvarint(explicit_zero, 2 << 3);
  append_uvarint(explicit_zero, 0);
  field_varint(explicit_zero, 3, zero_seq.expires_at);
  field_varint(explicit_zero, 4, zero_seq.shard_count);
  field_bytes(explicit_zero, 5, zero_seq.bits);
  field_bytes(explicit_zero, 6, zero_seq.sig);
  CHECK(decode_error(explicit_zero) == ShardErrc::malformed);
  // Fields out of order: seq after expires_at.
  Bytes reordered;
  field_bytes(reordered, 1, good.key);
  field_varint(reordered, 3, good.expires_at);
  field_varint(reordered, 2, good.seq);
  field_varint(reordered, 4, good.shard_count);
  field_bytes(reordered, 5, good.bits);
  field_bytes(reordered, 6, good.sig);
  CHECK(decode_error(reordered) == ShardErrc::malformed);
}

TEST_CASE("shard errors have their own category and map to conditions", "[shard][errors]") {
  const std::error_code ec = ShardErrc::bad_signature;
  CHECK(std::string(ec.category().name()) == "shard");
  CHECK(ec.message() == "bad signature");
  CHECK(ec == Condition::invalid_input);
  CHECK(std::error_code(ShardErrc::oversize) == Condition::resource_exhausted);
  CHECK(std::error_code(ShardErrc::duplicate) == Condition::already_exists);
  CHECK(std::error_code(ShardErrc::stale) == Condition::already_exists);
  CHECK(std::error_code(ShardErrc::expired) == Condition::state_violation);
  CHECK(std::error_code(ShardErrc::too_old) == Condition::state_violation);
  for (int c = 1; c <= static_cast<int>(ShardErrc::unknown_proposer); ++c)
    CHECK(std::error_code(c, shard_category()).message().find("unknown") == std::string::npos);
}
