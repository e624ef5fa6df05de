// Unsigned varints as multiformats specifies them (LEB128, at most 9 bytes, i.e. 63
// bits, minimal encoding only). Decoding tells "need more bytes" apart from "malformed",
// so streaming decoders can wait for the rest.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shardnode/core/bytes.h"

namespace shardnode {

inline constexpr std::size_t kMaxVarintBytes = 9;

enum class VarintStatus { ok, incomplete, overflow, non_minimal };

struct VarintResult {
  VarintStatus status;
  std::uint64_t value = 0;
  std::size_t length = 0;  // bytes consumed when ok
};

VarintResult decode_uvarint(ByteView in);
void append_uvarint(Bytes& out, std::uint64_t v);  // v < 2^63
std::size_t uvarint_size(std::uint64_t v);
const char* to_string(VarintStatus s);

}  // namespace shardnode
