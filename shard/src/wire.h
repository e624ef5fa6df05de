// Private helpers for the shard codecs: canonical big-endian field writers for the
// signing payloads, SHA-256, and the protobuf parse that insists on the canonical
// encoding. Not installed; only shard/src includes it.
#pragma once

#include <google/protobuf/message.h>

#include <array>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "shardnode/core/bytes.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/result.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard::wire {

// Domain tags are NUL-terminated in the payload, so no tag is a prefix of another.
inline void put_tag(Bytes& out, std::string_view tag) {
  out.insert(out.end(), tag.begin(), tag.end());
  out.push_back(0);
}
inline void put_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
inline void put_u64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
inline void put_bytes(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

std::array<std::uint8_t, 32> sha256(ByteView data);

inline std::string to_string(ByteView b) { return std::string(b.begin(), b.end()); }
inline Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

template <std::size_t N>
bool copy_fixed(const std::string& field, std::array<std::uint8_t, N>& out) {
  if (field.size() != N) return false;
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::uint8_t>(field[i]);
  return true;
}

inline Error fail(ShardErrc code, std::string message) { return Error{code, std::move(message)}; }

// Checks the size cap, parses, and requires that the bytes are exactly the canonical
// encoding of what was parsed (no unknown fields, no repeated or out-of-order fields,
// no explicit default values), so a signed message has a single wire form.
Status parse_canonical(ByteView data, std::size_t max_encoded, google::protobuf::Message& msg, const char* what);

template <class Pb>
Bytes serialize(const Pb& msg) {
  return to_bytes(msg.SerializeAsString());
}

}  // namespace shardnode::shard::wire
