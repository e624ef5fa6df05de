#include "shardnode/core/varint.h"

namespace shardnode {

VarintResult decode_uvarint(ByteView in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i >= kMaxVarintBytes) return {VarintStatus::overflow};
    const std::uint8_t b = in[i];
    v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return {VarintStatus::non_minimal};  // trailing zero group
      return {VarintStatus::ok, v, i + 1};
    }
  }
  if (in.size() >= kMaxVarintBytes) return {VarintStatus::overflow};
  return {VarintStatus::incomplete};
}

void append_uvarint(Bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::size_t uvarint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

const char* to_string(VarintStatus s) {
  switch (s) {
    case VarintStatus::ok: return "ok";
    case VarintStatus::incomplete: return "truncated varint";
    case VarintStatus::overflow: return "varint longer than 9 bytes";
    case VarintStatus::non_minimal: return "non-minimal varint";
  }
  return "?";
}

}  // namespace shardnode
