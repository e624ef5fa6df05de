// /shardnode/shard-table/1 codec: round trips and every malformed form.
#include <catch2/catch.hpp>

#include "shardnode/core/errors.h"
#include "shardnode/shard/table_protocol.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;

TEST_CASE("table requests round trip and malformed ones are refused", "[shard][table_protocol][malformed]") {
  TableProtocolLimits lim;
  for (std::uint32_t n : {0u, 1u, 127u, 128u, 2000u}) {
    auto r = decode_table_request(encode_table_request(n), lim);
    REQUIRE(r);
    CHECK(*r == n);
  }
  auto over = decode_table_request(encode_table_request(2001), lim);
  REQUIRE_FALSE(over);
  CHECK(over.error().code == ShardErrc::oversize);
  const std::vector<Bytes> bad = {
      {},                    // empty
      {0x80},                // truncated varint
      {0x80, 0x00},          // non-minimal
      {0x05, 0x00},          // trailing byte
      Bytes(12, 0xff),       // overflow
  };
  for (const auto& b : bad) {
    auto r = decode_table_request(b, lim);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ShardErrc::malformed);
  }
}

TEST_CASE("table responses round trip and malformed ones are refused", "[shard][table_protocol][malformed]") {
  TableProtocolLimits lim;
  lim.max_records = 3;
  lim.max_record_bytes = 8;
  const std::vector<Bytes> recs = {{1, 2, 3}, {}, {9, 9, 9, 9, 9, 9, 9, 9}};
  Bytes enc = encode_table_response(recs);
  auto r = decode_table_response(enc, lim);
  REQUIRE(r);
  CHECK(*r == recs);
  CHECK(decode_table_response(encode_table_response({}), lim).value().empty());

  SECTION("every truncation is malformed") {
    for (std::size_t n = 0; n < enc.size(); ++n) {
      auto t = decode_table_response(ByteView(enc.data(), n), lim);
      REQUIRE_FALSE(t);
      CHECK(t.error().code == ShardErrc::malformed);
    }
  }
  SECTION("trailing bytes are malformed") {
    Bytes t = enc;
    t.push_back(0);
    CHECK(decode_table_response(t, lim).error().code == ShardErrc::malformed);
  }
  SECTION("too many records, a record too big, a response too big are oversize") {
    CHECK(decode_table_response(encode_table_response({{1}, {2}, {3}, {4}}), lim).error().code == ShardErrc::oversize);
    CHECK(decode_table_response(encode_table_response({Bytes(9, 1)}), lim).error().code == ShardErrc::oversize);
    lim.max_response_bytes = enc.size() - 1;
    CHECK(decode_table_response(enc, lim).error().code == ShardErrc::oversize);
  }
  SECTION("a count that claims more records than there are bytes is malformed, not an allocation") {
    Bytes t = {0x03, 0x01, 0x07};  // 3 records, only one present
    CHECK(decode_table_response(t, lim).error().code == ShardErrc::malformed);
    lim.max_records = 1u << 30;
    Bytes huge = {0xff, 0xff, 0xff, 0x03};  // ~8M records claimed
    CHECK_FALSE(decode_table_response(huge, lim));
  }
}
