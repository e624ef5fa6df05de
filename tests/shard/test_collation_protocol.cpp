// /shardnode/collations/1 codec: round trips and every malformed form.
#include <catch2/catch.hpp>

#include "shardnode/core/errors.h"
#include "shardnode/core/varint.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;

namespace {

Bytes range_bytes(std::uint64_t shard, std::uint64_t from, std::uint64_t to, std::uint64_t count) {
  Bytes b{kCollationRequestRange};
  append_uvarint(b, shard);
  append_uvarint(b, from);
  append_uvarint(b, to);
  append_uvarint(b, count);
  return b;
}

std::error_code request_error(const Bytes& b, const CollationProtocolLimits& lim = {}) {
  auto r = decode_collation_request(b, lim);
  return r ? std::error_code{} : r.error().code;
}

std::error_code response_error(const Bytes& b, const CollationProtocolLimits& lim) {
  auto r = decode_collation_response(b, lim);
  return r ? std::error_code{} : r.error().code;
}

}  // namespace

TEST_CASE("collation requests round trip", "[shard][collation_protocol]") {
  const CollationProtocolLimits lim;
  const std::vector<CollationRequest> reqs = {
      CollationRangeRequest{0, 0, 0, 0},
      CollationRangeRequest{7, 100, 10100, 256},
      CollationRangeRequest{0xffffffffu, (1ull << 62), (1ull << 62) + 5, 1},
      CollationHashRequest{},
  };
  for (const auto& q : reqs) {
    auto r = decode_collation_request(encode_collation_request(q), lim);
    REQUIRE(r);
    CHECK(*r == q);
  }
  CollationHashRequest h;
  for (std::size_t i = 0; i < h.hash.size(); ++i) h.hash[i] = static_cast<std::uint8_t>(i);
  const Bytes enc = encode_collation_request(h);
  CHECK(enc.size() == 33);
  CHECK(enc[0] == kCollationRequestHash);
  CHECK(std::get<CollationHashRequest>(decode_collation_request(enc, lim).value()) == h);
  CHECK(encode_collation_request(CollationRangeRequest{1, 2, 3, 4}) == Bytes{0x01, 1, 2, 3, 4});
}

TEST_CASE("malformed collation requests are refused", "[shard][collation_protocol][malformed]") {
  CHECK(request_error({}) == ShardErrc::malformed);                          // empty
  CHECK(request_error({0x00}) == ShardErrc::malformed);                      // unknown kinds
  CHECK(request_error({0x03, 1, 2, 3, 4}) == ShardErrc::malformed);
  CHECK(request_error({0xff}) == ShardErrc::malformed);
  CHECK(request_error(range_bytes(1, 6, 5, 1)) == ShardErrc::malformed);    // from > to
  CHECK(request_error(range_bytes(1ull << 32, 0, 0, 1)) == ShardErrc::malformed);  // shard over u32
  CHECK(request_error(range_bytes(1, 0, 10000, 256)) == std::error_code{});  // at both caps
  CHECK(request_error(range_bytes(1, 0, 10001, 1)) == ShardErrc::oversize);  // span over the cap
  CHECK(request_error(range_bytes(1, 5, 5 + 10001, 1)) == ShardErrc::oversize);
  CHECK(request_error(range_bytes(1, 0, 1, 257)) == ShardErrc::oversize);    // count over the cap (refused)

  SECTION("every truncation of a range request and a hash request is malformed") {
    const Bytes range = range_bytes(300, 1000, 2000, 200);
    for (std::size_t n = 0; n < range.size(); ++n) CHECK(request_error(Bytes(range.begin(), range.begin() + static_cast<std::ptrdiff_t>(n))) == ShardErrc::malformed);
    const Bytes hash = encode_collation_request(CollationHashRequest{});
    for (std::size_t n = 0; n < hash.size(); ++n) CHECK(request_error(Bytes(hash.begin(), hash.begin() + static_cast<std::ptrdiff_t>(n))) == ShardErrc::malformed);
  }
  SECTION("trailing bytes are malformed") {
    Bytes range = range_bytes(1, 2, 3, 4);
    range.push_back(0);
    CHECK(request_error(range) == ShardErrc::malformed);
    Bytes hash = encode_collation_request(CollationHashRequest{});
    hash.push_back(0);
    CHECK(request_error(hash) == ShardErrc::malformed);
  }
  SECTION("bad varints are malformed") {
    CHECK(request_error({0x01, 0x80, 0x00, 0, 0, 1}) == ShardErrc::malformed);  // non-minimal shard
    Bytes over{0x01};
    over.insert(over.end(), 12, 0xff);
    CHECK(request_error(over) == ShardErrc::malformed);  // overflow
  }
}

TEST_CASE("collation responses round trip", "[shard][collation_protocol]") {
  const CollationProtocolLimits lim;
  for (const auto& resp : {CollationResponse{}, CollationResponse{{}, true},
                           CollationResponse{{Bytes{1, 2, 3}, Bytes(300, 9)}, false},
                           CollationResponse{{Bytes{}, Bytes{4}}, true}}) {
    auto r = decode_collation_response(encode_collation_response(resp), lim);
    REQUIRE(r);
    CHECK(*r == resp);
  }
  CHECK(encode_collation_response(CollationResponse{{Bytes{7}}, true}) == Bytes{1, 1, 7, 1});
}

TEST_CASE("malformed collation responses are refused", "[shard][collation_protocol][malformed]") {
  CollationProtocolLimits lim;
  lim.max_count = 3;
  lim.max_collation_bytes = 8;
  const CollationResponse resp{{Bytes{1, 2, 3}, Bytes{}, Bytes(8, 9)}, true};
  const Bytes enc = encode_collation_response(resp);
  REQUIRE(decode_collation_response(enc, lim).value() == resp);

  SECTION("every truncation is malformed") {
    for (std::size_t n = 0; n < enc.size(); ++n)
      CHECK(response_error(Bytes(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(n)), lim) == ShardErrc::malformed);
  }
  SECTION("trailing bytes are malformed") {
    Bytes t = enc;
    t.push_back(0);
    CHECK(response_error(t, lim) == ShardErrc::malformed);
  }
  SECTION("a truncated byte other than 0 or 1 is malformed") {
    Bytes t = enc;
    t.back() = 2;
    CHECK(response_error(t, lim) == ShardErrc::malformed);
  }
  SECTION("too many collations, a collation too big, a response too big are oversize") {
    CHECK(response_error(encode_collation_response({{{1}, {2}, {3}, {4}}, false}), lim) == ShardErrc::oversize);
    CHECK(response_error(encode_collation_response({{Bytes(9, 1)}, false}), lim) == ShardErrc::oversize);
    lim.max_response_bytes = enc.size() - 1;
    CHECK(response_error(enc, lim) == ShardErrc::oversize);
  }
  SECTION("a count that claims more collations than there are bytes is malformed, not an allocation") {
    CHECK(response_error({0x03, 0x01, 0x07, 0x00}, lim) == ShardErrc::malformed);  // 3 claimed, 1 present
    CHECK(response_error({0x02, 0x00, 0x00}, lim) == ShardErrc::malformed);        // no room for the flag
    lim.max_count = std::size_t{1} << 40;
    CHECK(response_error({0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, lim) == ShardErrc::malformed);  // ~34G claimed
  }
  SECTION("bad varints are malformed") {
    CHECK(response_error({0x80, 0x00, 0x00}, lim) == ShardErrc::malformed);        // non-minimal count
    CHECK(response_error({0x01, 0x81, 0x00, 0x00, 0x00}, lim) == ShardErrc::malformed);  // non-minimal length
  }
}
