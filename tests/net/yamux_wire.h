// Raw yamux frames for the tests: build them, split a session's output into headers.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shardnode/net/yamux.h"

namespace shardnode::net::yamux_test {

using Kind = YamuxSession::Event::Kind;

constexpr std::uint8_t kData = 0, kWindowUpdate = 1, kPing = 2, kGoAway = 3;
constexpr std::uint16_t kSyn = 1, kAck = 2, kFin = 4, kRst = 8;
constexpr std::uint32_t kWindow = 256 * 1024;

inline void put32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// One raw frame: header (+ body for data frames).
inline Bytes frame(std::uint8_t type, std::uint16_t flags, std::uint32_t id, std::uint32_t length, ByteView body = {},
                   std::uint8_t version = 0) {
  Bytes out{version, type, static_cast<std::uint8_t>(flags >> 8), static_cast<std::uint8_t>(flags)};
  put32(out, id);
  put32(out, length);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

inline Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 31 + i / 251) & 0xff);
  return b;
}

inline std::string str(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

struct Frame {
  std::uint8_t type;
  std::uint16_t flags;
  std::uint32_t id;
  std::uint32_t length;
};

// Splits a byte string of complete frames (what a session sends) into headers.
inline std::vector<Frame> parse(const Bytes& b) {
  std::vector<Frame> out;
  std::size_t pos = 0;
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
           std::uint32_t{b[at + 3]};
  };
  while (pos + 12 <= b.size()) {
    Frame f{b[pos + 1], static_cast<std::uint16_t>((b[pos + 2] << 8) | b[pos + 3]), be32(pos + 4), be32(pos + 8)};
    out.push_back(f);
    pos += 12 + (f.type == kData ? f.length : 0);
  }
  REQUIRE(pos == b.size());
  return out;
}

inline std::vector<YamuxSession::Event> drain(YamuxSession& s) {
  std::vector<YamuxSession::Event> out;
  while (auto e = s.next_event()) out.push_back(*e);
  return out;
}

inline bool has_event(const std::vector<YamuxSession::Event>& events, Kind kind, std::uint32_t id) {
  for (const auto& e : events) {
    if (e.kind == kind && e.id == id) return true;
  }
  return false;
}

}  // namespace shardnode::net::yamux_test
