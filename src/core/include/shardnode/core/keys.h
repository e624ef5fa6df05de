// Ed25519 node identity. One 32-byte seed yields the libp2p peer id and the
// Tor v3 onion address (the onion address *is* the public key plus a checksum).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"

namespace shardnode {

struct Ed25519PublicKey {
  std::array<std::uint8_t, 32> bytes{};
  bool operator==(const Ed25519PublicKey&) const = default;
  bool verify(ByteView message, ByteView signature) const;
};

// libp2p key protobuf (peer-ids spec): PublicKey/PrivateKey { Type = 1; Data = 2; }.
Bytes encode_libp2p_public_key(const Ed25519PublicKey& pk);
Result<Ed25519PublicKey> decode_libp2p_public_key(ByteView pb);

// The node's secret key. Move-only; the secret is wiped on destruction and never
// has a printable form except tor_expanded_key_base64(), which exists only to be
// handed to tor over the owning control socket.
class NodeKey {
 public:
  static NodeKey generate();
  static Result<NodeKey> from_seed(ByteView seed);
  // The libp2p PrivateKey protobuf: 08 01 12 40 || seed || public key. This is the
  // on-disk format (as go-libp2p/rust-libp2p store keys); the embedded public key is
  // checked against the seed so corruption is detected.
  static Result<NodeKey> from_libp2p_private_key(ByteView pb);
  Bytes to_libp2p_private_key() const;

  NodeKey(NodeKey&& o) noexcept;
  NodeKey& operator=(NodeKey&& o) noexcept;
  NodeKey(const NodeKey&) = delete;
  NodeKey& operator=(const NodeKey&) = delete;
  ~NodeKey();

  const Ed25519PublicKey& public_key() const { return pk_; }
  std::array<std::uint8_t, 64> sign(ByteView message) const;

  // base64(SHA-512(seed) with the scalar clamped): the key blob tor's
  // `ADD_ONION ED25519-V3:<blob>` expects. Secret: never log it.
  std::string tor_expanded_key_base64() const;

 private:
  NodeKey() = default;
  std::array<std::uint8_t, 64> sk_{};  // libsodium layout: seed || public key
  Ed25519PublicKey pk_;
};

// libp2p peer id: the identity multihash of the public-key protobuf (Ed25519
// protobufs are 36 bytes, under the 42-byte inlining limit), base58btc text "12D3KooW…".
class PeerId {
 public:
  static PeerId from_public_key(const Ed25519PublicKey& pk);
  static Result<PeerId> from_bytes(ByteView multihash);
  static Result<PeerId> parse(std::string_view text);  // base58btc legacy form

  const Bytes& bytes() const { return mh_; }
  std::string to_string() const;
  // The Ed25519 key inlined in an identity multihash, if this id carries one.
  Result<Ed25519PublicKey> public_key() const;
  bool operator==(const PeerId&) const = default;
  bool operator<(const PeerId& o) const { return mh_ < o.mh_; }

 private:
  Bytes mh_;
};

// Tor v3 onion address (rend-spec-v3 §6):
//   base32(PUBKEY || SHA3-256(".onion checksum" || PUBKEY || 0x03)[:2] || 0x03)
std::string onion_address(const Ed25519PublicKey& pk);  // 56 chars, no ".onion"
// Accepts an optional ".onion" suffix and either case; checks length, version and checksum.
Result<Ed25519PublicKey> parse_onion_address(std::string_view text);

// SHA3-256 via OpenSSL.
std::array<std::uint8_t, 32> sha3_256(ByteView data);

}  // namespace shardnode
