// Wire decoders: multistream-select (both roles), the Noise handshake payload,
// identify, signed peer records.
#include <string>
#include <vector>

#include "../fuzz.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/identify.h"
#include "shardnode/net/kad.h"
#include "shardnode/net/multistream.h"
#include "shardnode/net/noise.h"
#include "shardnode/net/peer_record.h"

namespace shardnode::fuzz {

// The first byte picks the role; the rest arrives in fuzzer-chosen pieces.
SHARDNODE_FUZZ_TARGET(multistream) {
  Input in(data, size);
  const bool dialer = in.flag();
  auto mss = dialer ? net::MultistreamSelect::dialer({"/yamux/1.0.0", "/mplex/6.7.0"})
                    : net::MultistreamSelect::listener({"/noise", "/yamux/1.0.0", "/meshsub/1.1.0"});
  while (!in.empty() && !mss.failed()) {
    (void)mss.take_bytes_to_send();
    if (!mss.received_bytes(in.chunk())) break;
    if (mss.done()) {
      SHARDNODE_FUZZ_CHECK(!mss.selected().empty());
      (void)mss.take_leftover();
    }
  }
}

SHARDNODE_FUZZ_TARGET(noise_payload) {
  auto p = net::decode_noise_payload(ByteView(data, size));
  if (!p) return;
  static const std::array<std::uint8_t, 32> static_pub{};
  (void)net::verify_noise_identity_sig(p->identity_key, ByteView(static_pub.data(), static_pub.size()),
                                       p->identity_sig);
  // What we decoded encodes and decodes to the same payload.
  auto again = net::decode_noise_payload(net::encode_noise_payload(*p));
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again));
  SHARDNODE_FUZZ_CHECK(again->identity_key == p->identity_key && again->identity_sig == p->identity_sig &&
                       again->stream_muxers == p->stream_muxers);
}

// Decoded against two remotes: one whose key the input may carry (a fixed test
// key, so seeds reach the accepting path) and the key the input itself claims.
SHARDNODE_FUZZ_TARGET(identify) {
  static const NodeKey key = NodeKey::from_seed(Bytes(32, 7)).value();
  static const PeerId remote = PeerId::from_public_key(key.public_key());
  auto info = net::decode_identify(ByteView(data, size), remote);
  if (!info) return;
  for (const auto& a : info->listen_addrs) (void)a.to_string();
  auto again = net::decode_identify(net::encode_identify(*info), remote);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again));
  SHARDNODE_FUZZ_CHECK(again->listen_addrs.size() == info->listen_addrs.size() &&
                       again->protocols == info->protocols && again->agent_version == info->agent_version);
  // A record that was kept is the remote's own and survives the round trip.
  SHARDNODE_FUZZ_CHECK(!info->signed_record || info->signed_record->record.peer == remote);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again->signed_record) == static_cast<bool>(info->signed_record));
}

// A Kademlia DHT message: what decodes re-encodes to a message that decodes equal.
SHARDNODE_FUZZ_TARGET(kad_message) {
  const net::kad::Limits limits;
  auto m = net::kad::decode_kad_message(ByteView(data, size), limits);
  if (!m) return;
  SHARDNODE_FUZZ_CHECK(m->closer.size() + m->providers.size() <= limits.max_peers);
  SHARDNODE_FUZZ_CHECK(m->key.size() <= limits.max_key);
  auto again = net::kad::decode_kad_message(net::kad::encode(*m), limits);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *m && again->skipped == 0);
}

// A signed envelope holding a peer record (RFC 0002/0003): whatever opens is
// signed by the peer it names, and opens again from its own bytes.
SHARDNODE_FUZZ_TARGET(peer_record) {
  auto r = net::open_peer_record(ByteView(data, size));
  if (!r) return;
  SHARDNODE_FUZZ_CHECK(r->record.peer == PeerId::from_public_key(r->key));
  SHARDNODE_FUZZ_CHECK(r->record.addrs.size() <= net::kMaxRecordAddresses);
  for (const auto& a : r->record.addrs) SHARDNODE_FUZZ_CHECK(!a.peer_id().has_value());
  auto again = net::open_peer_record(r->envelope);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && again->record.seq == r->record.seq &&
                       again->record.addrs == r->record.addrs);
}

}  // namespace shardnode::fuzz
