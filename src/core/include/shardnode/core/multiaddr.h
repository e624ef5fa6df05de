// Multiaddrs (multiformats/multiaddr) for the protocols the node uses: ip4, ip6,
// tcp, onion3 and p2p. Any other protocol is rejected with a clear error. Text and
// binary forms round-trip. Nothing here resolves names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"

namespace shardnode {

enum class MaProto : std::uint32_t { ip4 = 4, tcp = 6, ip6 = 41, p2p = 421, onion3 = 445 };

struct MaComponent {
  MaProto proto;
  Bytes value;  // binary form: ip4 4 bytes, ip6 16, tcp 2 (big endian), onion3 35+2, p2p multihash
  bool operator==(const MaComponent&) const = default;
};

class Multiaddr {
 public:
  Multiaddr() = default;
  static Result<Multiaddr> parse(std::string_view text);
  static Result<Multiaddr> from_bytes(ByteView bytes);
  static Multiaddr tcp(std::string_view ip_text, std::uint16_t port);  // ip must be a literal; aborts otherwise
  static Multiaddr onion3(const Ed25519PublicKey& pk, std::uint16_t port);

  std::string to_string() const;
  Bytes to_bytes() const;
  const std::vector<MaComponent>& components() const { return parts_; }
  bool empty() const { return parts_.empty(); }

  // The trailing /p2p/<id>, if any.
  std::optional<PeerId> peer_id() const;
  Multiaddr without_peer_id() const;
  Multiaddr with_peer_id(const PeerId& id) const;  // replaces any existing /p2p

  // /ip4|ip6/<ip>/tcp/<port>[/p2p/..]: the literal IP and port.
  struct TcpEndpoint {
    std::string ip;
    std::uint16_t port;
    bool v6;
  };
  std::optional<TcpEndpoint> tcp_endpoint() const;
  // /onion3/<addr>:<port>[/p2p/..]: the 56-char address (no ".onion") and port.
  struct OnionEndpoint {
    std::string address;
    std::uint16_t port;
  };
  std::optional<OnionEndpoint> onion_endpoint() const;

  bool is_onion() const;
  // True when every IP component is loopback (127.0.0.0/8 or ::1). Addresses
  // without IP components (onion3) are not loopback.
  bool is_loopback() const;

  bool operator==(const Multiaddr&) const = default;

 private:
  std::vector<MaComponent> parts_;
};

}  // namespace shardnode
