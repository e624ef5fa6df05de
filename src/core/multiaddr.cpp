#include "shardnode/core/multiaddr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

#include "shardnode/core/errors.h"
#include "shardnode/core/varint.h"

namespace shardnode {
namespace {

Error bad(std::string msg) { return {CoreErrc::bad_encoding, "multiaddr: " + std::move(msg)}; }

std::optional<MaProto> proto_by_name(std::string_view n) {
  if (n == "ip4") return MaProto::ip4;
  if (n == "ip6") return MaProto::ip6;
  if (n == "tcp") return MaProto::tcp;
  if (n == "onion3") return MaProto::onion3;
  if (n == "p2p" || n == "ipfs") return MaProto::p2p;
  return std::nullopt;
}

const char* proto_name(MaProto p) {
  switch (p) {
    case MaProto::ip4: return "ip4";
    case MaProto::ip6: return "ip6";
    case MaProto::tcp: return "tcp";
    case MaProto::onion3: return "onion3";
    case MaProto::p2p: return "p2p";
  }
  return "?";
}

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535 || (!allow_zero && v == 0)) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;  // no leading zeros
  return static_cast<std::uint16_t>(v);
}

Result<MaComponent> parse_value(MaProto proto, std::string_view v) {
  switch (proto) {
    case MaProto::ip4: {
      std::uint8_t b[4];
      std::string s(v);
      if (inet_pton(AF_INET, s.c_str(), b) != 1) return bad("invalid ip4 address '" + s + "'");
      return MaComponent{proto, Bytes(b, b + 4)};
    }
    case MaProto::ip6: {
      std::uint8_t b[16];
      std::string s(v);
      if (inet_pton(AF_INET6, s.c_str(), b) != 1) return bad("invalid ip6 address '" + s + "'");
      return MaComponent{proto, Bytes(b, b + 16)};
    }
    case MaProto::tcp: {
      auto port = parse_port(v, true);
      if (!port) return bad("invalid tcp port '" + std::string(v) + "'");
      return MaComponent{proto, Bytes{static_cast<std::uint8_t>(*port >> 8), static_cast<std::uint8_t>(*port & 0xff)}};
    }
    case MaProto::onion3: {
      auto colon = v.find(':');
      if (colon == std::string_view::npos) return bad("onion3 needs <address>:<port>");
      auto pk = parse_onion_address(v.substr(0, colon));
      if (!pk) return bad(pk.error().message);
      auto port = parse_port(v.substr(colon + 1), false);
      if (!port) return bad("invalid onion3 port '" + std::string(v.substr(colon + 1)) + "' (1..65535)");
      // The 35 bytes of the address as parsed: the text may end in ".onion", which
      // base32 cannot decode (dereferencing that failed decode was finding 9).
      Bytes b = *base32_decode(onion_address(*pk));
      b.push_back(static_cast<std::uint8_t>(*port >> 8));
      b.push_back(static_cast<std::uint8_t>(*port & 0xff));
      return MaComponent{proto, std::move(b)};
    }
    case MaProto::p2p: {
      auto id = PeerId::parse(v);
      if (!id) return bad(id.error().message);
      return MaComponent{proto, id->bytes()};
    }
  }
  return bad("unsupported protocol");
}

std::string format_value(const MaComponent& c) {
  switch (c.proto) {
    case MaProto::ip4:
    case MaProto::ip6: {
      char buf[INET6_ADDRSTRLEN] = {};
      inet_ntop(c.proto == MaProto::ip4 ? AF_INET : AF_INET6, c.value.data(), buf, sizeof buf);
      return buf;
    }
    case MaProto::tcp: return std::to_string((c.value[0] << 8) | c.value[1]);
    case MaProto::onion3: {
      ByteView v(c.value);
      return base32_encode(v.first(35)) + ":" + std::to_string((v[35] << 8) | v[36]);
    }
    case MaProto::p2p: return base58_encode(c.value);
  }
  return "?";
}

// Checks a binary value (used by from_bytes, so malformed bytes never get in).
Status check_value(MaProto p, ByteView v) {
  switch (p) {
    case MaProto::ip4: if (v.size() != 4) return bad("ip4 value must be 4 bytes"); break;
    case MaProto::ip6: if (v.size() != 16) return bad("ip6 value must be 16 bytes"); break;
    case MaProto::tcp: if (v.size() != 2) return bad("tcp value must be 2 bytes"); break;
    case MaProto::onion3: {
      if (v.size() != 37) return bad("onion3 value must be 37 bytes");
      auto pk = parse_onion_address(base32_encode(v.first(35)));
      if (!pk) return bad(pk.error().message);
      if (((v[35] << 8) | v[36]) == 0) return bad("onion3 port must not be 0");
      break;
    }
    case MaProto::p2p: {
      auto id = PeerId::from_bytes(v);
      if (!id) return bad(id.error().message);
      break;
    }
  }
  return {};
}

}  // namespace

Result<Multiaddr> Multiaddr::parse(std::string_view text) {
  if (text.size() > 1024) return bad("longer than 1024 characters");
  if (text.empty() || text[0] != '/') return bad("must start with '/'");
  Multiaddr ma;
  std::size_t i = 1;
  while (i <= text.size()) {
    if (i == text.size()) {
      if (text.back() == '/' && text.size() > 1) return bad("trailing '/'");
      break;
    }
    auto slash = text.find('/', i);
    std::string_view name = text.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    if (name.empty()) return bad("empty protocol name");
    auto proto = proto_by_name(name);
    if (!proto) return bad("unsupported protocol '" + std::string(name) + "' (supported: ip4, ip6, tcp, onion3, p2p)");
    if (slash == std::string_view::npos) return bad("protocol '" + std::string(name) + "' needs a value");
    std::size_t vstart = slash + 1;
    auto vend = text.find('/', vstart);
    std::string_view value = text.substr(vstart, vend == std::string_view::npos ? std::string_view::npos : vend - vstart);
    if (value.empty()) return bad("protocol '" + std::string(name) + "' needs a value");
    auto c = parse_value(*proto, value);
    if (!c) return c.error();
    ma.parts_.push_back(std::move(*c));
    if (vend == std::string_view::npos) break;
    i = vend + 1;
    if (i == text.size()) return bad("trailing '/'");
  }
  if (ma.parts_.empty()) return bad("no components");
  return ma;
}

Result<Multiaddr> Multiaddr::from_bytes(ByteView b) {
  if (b.size() > 1024) return bad("longer than 1024 bytes");
  Multiaddr ma;
  std::size_t off = 0;
  while (off < b.size()) {
    auto code = decode_uvarint(b.subspan(off));
    if (code.status != VarintStatus::ok) return bad(std::string("protocol code: ") + shardnode::to_string(code.status));
    off += code.length;
    std::size_t len = 0;
    MaProto p;
    switch (code.value) {
      case 4: p = MaProto::ip4; len = 4; break;
      case 6: p = MaProto::tcp; len = 2; break;
      case 41: p = MaProto::ip6; len = 16; break;
      case 445: p = MaProto::onion3; len = 37; break;
      case 421: {
        p = MaProto::p2p;
        auto l = decode_uvarint(b.subspan(off));
        if (l.status != VarintStatus::ok) return bad(std::string("p2p length: ") + shardnode::to_string(l.status));
        off += l.length;
        if (l.value > b.size()) return bad("p2p length exceeds the address");
        len = static_cast<std::size_t>(l.value);
        break;
      }
      default: return bad("unsupported protocol code " + std::to_string(code.value));
    }
    if (b.size() - off < len) return bad(std::string(proto_name(p)) + " value truncated");
    ByteView v = b.subspan(off, len);
    if (Status s = check_value(p, v); !s) return s.error();
    ma.parts_.push_back({p, Bytes(v.begin(), v.end())});
    off += len;
  }
  if (ma.parts_.empty()) return bad("no components");
  // One limit for both forms: what we accept as bytes we can print and read back.
  if (ma.to_string().size() > 1024) return bad("text form longer than 1024 characters");
  return ma;
}

Multiaddr Multiaddr::tcp(std::string_view ip, std::uint16_t port) {
  std::string t = std::string(ip.find(':') == std::string_view::npos ? "/ip4/" : "/ip6/") + std::string(ip) +
                  "/tcp/" + std::to_string(port);
  auto r = parse(t);
  if (!r) throw std::invalid_argument(r.error().message);
  return *r;
}

Multiaddr Multiaddr::onion3(const Ed25519PublicKey& pk, std::uint16_t port) {
  Multiaddr ma;
  Bytes v = *base32_decode(onion_address(pk));
  v.push_back(static_cast<std::uint8_t>(port >> 8));
  v.push_back(static_cast<std::uint8_t>(port & 0xff));
  ma.parts_.push_back({MaProto::onion3, std::move(v)});
  return ma;
}

std::string Multiaddr::to_string() const {
  std::string out;
  for (const auto& c : parts_) out += std::string("/") + proto_name(c.proto) + "/" + format_value(c);
  return out;
}

Bytes Multiaddr::to_bytes() const {
  Bytes out;
  for (const auto& c : parts_) {
    append_uvarint(out, static_cast<std::uint64_t>(c.proto));
    if (c.proto == MaProto::p2p) append_uvarint(out, c.value.size());
    out.insert(out.end(), c.value.begin(), c.value.end());
  }
  return out;
}

std::optional<PeerId> Multiaddr::peer_id() const {
  if (parts_.empty() || parts_.back().proto != MaProto::p2p) return std::nullopt;
  auto id = PeerId::from_bytes(parts_.back().value);
  if (!id) return std::nullopt;
  return *id;
}

Multiaddr Multiaddr::without_peer_id() const {
  Multiaddr m = *this;
  if (!m.parts_.empty() && m.parts_.back().proto == MaProto::p2p) m.parts_.pop_back();
  return m;
}

Multiaddr Multiaddr::with_peer_id(const PeerId& id) const {
  Multiaddr m = without_peer_id();
  m.parts_.push_back({MaProto::p2p, id.bytes()});
  return m;
}

std::optional<Multiaddr::TcpEndpoint> Multiaddr::tcp_endpoint() const {
  auto base = without_peer_id();
  if (base.parts_.size() != 2) return std::nullopt;
  const auto& ip = base.parts_[0];
  const auto& tcp = base.parts_[1];
  if ((ip.proto != MaProto::ip4 && ip.proto != MaProto::ip6) || tcp.proto != MaProto::tcp) return std::nullopt;
  return TcpEndpoint{format_value(ip), static_cast<std::uint16_t>((tcp.value[0] << 8) | tcp.value[1]),
                     ip.proto == MaProto::ip6};
}

std::optional<Multiaddr::OnionEndpoint> Multiaddr::onion_endpoint() const {
  auto base = without_peer_id();
  if (base.parts_.size() != 1 || base.parts_[0].proto != MaProto::onion3) return std::nullopt;
  ByteView v(base.parts_[0].value);
  return OnionEndpoint{base32_encode(v.first(35)), static_cast<std::uint16_t>((v[35] << 8) | v[36])};
}

bool Multiaddr::is_onion() const {
  return !parts_.empty() && parts_.front().proto == MaProto::onion3;
}

bool Multiaddr::is_loopback() const {
  bool any_ip = false;
  for (const auto& c : parts_) {
    if (c.proto == MaProto::ip4) {
      any_ip = true;
      if (c.value[0] != 127) return false;
    } else if (c.proto == MaProto::ip6) {
      any_ip = true;
      static const std::uint8_t kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      if (std::memcmp(c.value.data(), kLoop, 16) != 0) return false;
    }
  }
  return any_ip;
}

}  // namespace shardnode
