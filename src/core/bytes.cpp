#include "shardnode/core/bytes.h"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace shardnode {

std::string hex_encode(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (auto c : b) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<Bytes> hex_decode(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  Bytes out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int hi = hex_value(s[i]);
    int lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
  }
  return out;
}

static constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";

std::string base32_encode(ByteView b) {
  std::string out;
  out.reserve((b.size() * 8 + 4) / 5);
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto c : b) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kBase32[(acc >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kBase32[(acc << (5 - bits)) & 0x1f]);
  return out;
}

std::optional<Bytes> base32_decode(std::string_view s) {
  // Valid unpadded lengths leave 0, 2, 4, 5 or 7 characters in the last group.
  switch (s.size() % 8) {
    case 1: case 3: case 6: return std::nullopt;
    default: break;
  }
  Bytes out;
  out.reserve(s.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    int v;
    if (ch >= 'a' && ch <= 'z') v = ch - 'a';
    else if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= '2' && ch <= '7') v = ch - '2' + 26;
    else return std::nullopt;
    acc = (acc << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical
  return out;
}

static constexpr char kBase58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

std::string base58_encode(ByteView b) {
  std::size_t zeros = 0;
  while (zeros < b.size() && b[zeros] == 0) ++zeros;
  // log(256)/log(58) ~ 1.366
  std::vector<std::uint8_t> digits((b.size() - zeros) * 138 / 100 + 1, 0);
  std::size_t len = 0;
  for (std::size_t i = zeros; i < b.size(); ++i) {
    std::uint32_t carry = b[i];
    std::size_t j = 0;
    for (auto it = digits.rbegin(); (carry != 0 || j < len) && it != digits.rend(); ++it, ++j) {
      carry += 256u * *it;
      *it = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    len = j;
  }
  auto it = digits.begin() + static_cast<std::ptrdiff_t>(digits.size() - len);
  while (it != digits.end() && *it == 0) ++it;
  std::string out(zeros, '1');
  for (; it != digits.end(); ++it) out.push_back(kBase58[*it]);
  return out;
}

std::optional<Bytes> base58_decode(std::string_view s) {
  static const std::array<std::int8_t, 128> table = [] {
    std::array<std::int8_t, 128> t{};
    t.fill(-1);
    for (int i = 0; i < 58; ++i) t[static_cast<std::size_t>(kBase58[i])] = static_cast<std::int8_t>(i);
    return t;
  }();
  std::size_t zeros = 0;
  while (zeros < s.size() && s[zeros] == '1') ++zeros;
  // log(58)/log(256) ~ 0.733
  std::vector<std::uint8_t> b256((s.size() - zeros) * 733 / 1000 + 1, 0);
  std::size_t len = 0;
  for (std::size_t i = zeros; i < s.size(); ++i) {
    auto ch = static_cast<unsigned char>(s[i]);
    if (ch >= 128 || table[ch] < 0) return std::nullopt;
    std::uint32_t carry = static_cast<std::uint32_t>(table[ch]);
    std::size_t j = 0;
    for (auto it = b256.rbegin(); (carry != 0 || j < len) && it != b256.rend(); ++it, ++j) {
      carry += 58u * *it;
      *it = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    len = j;
  }
  auto it = b256.begin() + static_cast<std::ptrdiff_t>(b256.size() - len);
  while (it != b256.end() && *it == 0) ++it;
  Bytes out(zeros, 0);
  out.insert(out.end(), it, b256.end());
  return out;
}

std::string base64_encode(ByteView b) {
  std::string out(sodium_base64_ENCODED_LEN(b.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

std::optional<Bytes> base64_decode(std::string_view s) {
  Bytes out(s.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != s.data() + s.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

void secure_wipe(void* p, std::size_t n) { sodium_memzero(p, n); }

}  // namespace shardnode
