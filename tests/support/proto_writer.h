// A hand-rolled proto3 writer, so tests can build messages the encoders never would
// (wrong field sizes, unknown or repeated fields, fields out of order). Defaults are
// omitted as in canonical proto3 unless asked for.
#pragma once

#include <cstdint>

#include "shardnode/core/bytes.h"
#include "shardnode/core/varint.h"

namespace shardnode::test {

inline void field_varint(Bytes& out, std::uint32_t field, std::uint64_t v) {
  if (v == 0) return;
  append_uvarint(out, std::uint64_t{field} << 3);
  append_uvarint(out, v);
}

inline void field_bytes(Bytes& out, std::uint32_t field, ByteView b, bool even_if_empty = false) {
  if (b.empty() && !even_if_empty) return;
  append_uvarint(out, (std::uint64_t{field} << 3) | 2);
  append_uvarint(out, b.size());
  out.insert(out.end(), b.begin(), b.end());
}

}  // namespace shardnode::test
