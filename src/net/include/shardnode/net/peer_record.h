// Signed envelopes (libp2p RFC 0002) and the peer records they carry (RFC 0003): a
// peer's own statement of where it can be dialled, signed with its identity key, so
// that a third party (identify, gossipsub PRUNE peer exchange, the DHT, the peer
// store) can pass it on and nobody has to trust the messenger.
//
// The signature covers uvarint(len)||domain || uvarint(len)||payload_type ||
// uvarint(len)||payload; the domain ("libp2p-peer-record") is never on the wire. A
// peer record is accepted only if the envelope's key is Ed25519 (the only key type
// shardnode has), the signature verifies, the payload type is 0x0301, and the
// record's peer id is the signer's. Addresses we cannot represent are skipped and
// counted, as identify does; keeping only what may be dialled (onion-only mode) is
// the caller's decision. `envelope` keeps the exact bytes received, so a record is
// forwarded as its author signed it. Pure functions: no I/O, no clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

inline constexpr std::string_view kPeerRecordDomain = "libp2p-peer-record";
inline constexpr std::array<std::uint8_t, 2> kPeerRecordPayloadType{0x03, 0x01};
inline constexpr std::size_t kMaxEnvelopeSize = 4096;    // bytes of a whole envelope
inline constexpr std::size_t kMaxRecordAddresses = 16;   // addresses in one peer record

struct Envelope {
  Ed25519PublicKey key;
  Bytes payload_type;
  Bytes payload;
};

// Signs `payload` under `domain` and returns the envelope's protobuf.
Bytes seal_envelope(const NodeKey& key, std::string_view domain, ByteView payload_type, ByteView payload);
// Parses an envelope and verifies its signature under `domain`.
Result<Envelope> open_envelope(ByteView bytes, std::string_view domain, std::size_t max_size = kMaxEnvelopeSize);

struct PeerRecord {
  PeerId peer;
  std::uint64_t seq = 0;
  std::vector<Multiaddr> addrs;
  std::size_t skipped_addrs = 0;  // open: addresses we cannot represent
};

struct SignedPeerRecord {
  PeerRecord record;
  Ed25519PublicKey key;  // the signer (record.peer is its peer id)
  Bytes envelope;        // exactly as received or sealed
};

// The record of `key`'s peer, with at most kMaxRecordAddresses addresses (any /p2p
// suffix is dropped: the record names its peer).
SignedPeerRecord seal_peer_record(const NodeKey& key, std::uint64_t seq, const std::vector<Multiaddr>& addrs);
Result<SignedPeerRecord> open_peer_record(ByteView envelope);

}  // namespace shardnode::net
