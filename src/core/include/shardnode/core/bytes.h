// Byte buffers and the text encodings the node needs: hex, RFC 4648 base32
// (onion addresses), base58btc (peer ids), base64 (tor's key blobs).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardnode {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string hex_encode(ByteView b);
std::optional<Bytes> hex_decode(std::string_view s);  // nullopt on odd length or non-hex

// RFC 4648 base32, lowercase, no padding. Decoding accepts either case, rejects
// padding, characters outside the alphabet and non-zero trailing bits.
std::string base32_encode(ByteView b);
std::optional<Bytes> base32_decode(std::string_view s);

// Bitcoin alphabet base58 (multibase 'z' without the prefix).
std::string base58_encode(ByteView b);
std::optional<Bytes> base58_decode(std::string_view s);

// Standard base64 with padding.
std::string base64_encode(ByteView b);
std::optional<Bytes> base64_decode(std::string_view s);

// Overwrites a buffer in a way the compiler may not elide (for key material).
void secure_wipe(void* p, std::size_t n);

}  // namespace shardnode
