// identify (/ipfs/id/1.0.0) and ping (/ipfs/ping/1.0.0) message codecs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/result.h"
#include "shardnode/net/peer_record.h"

namespace shardnode::net {

inline constexpr const char* kIdentifyProtocol = "/ipfs/id/1.0.0";
// identify push: the same message, sent unasked when what identify says changes.
inline constexpr const char* kIdentifyPushProtocol = "/ipfs/id/push/1.0.0";
inline constexpr const char* kPingProtocol = "/ipfs/ping/1.0.0";
inline constexpr std::size_t kIdentifyMaxMessage = 64 * 1024;
inline constexpr std::size_t kPingSize = 32;

struct IdentifyInfo {
  std::string protocol_version = "ipfs/0.1.0";
  std::string agent_version;
  Ed25519PublicKey public_key;
  std::vector<Multiaddr> listen_addrs;
  std::optional<Multiaddr> observed_addr;
  std::vector<std::string> protocols;
  std::size_t skipped_addrs = 0;  // decode: listen addresses we cannot represent (dns, quic, ws...)
  // signedPeerRecord: encode sends `envelope`; decode keeps the record only if it opens
  // (peer_record.h) and is the remote's own - otherwise it is dropped and
  // `record_rejected` says why, without failing identify (as js-libp2p does).
  std::optional<SignedPeerRecord> signed_record;
  std::optional<Error> record_rejected;
};

// The protobuf body (without the length prefix).
Bytes encode_identify(const IdentifyInfo& info);
// Checks that the advertised key belongs to `remote` (the peer proven by Noise).
// Listen addresses in protocols we do not support are skipped and counted.
Result<IdentifyInfo> decode_identify(ByteView body, const PeerId& remote);

}  // namespace shardnode::net
