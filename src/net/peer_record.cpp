#include "shardnode/net/peer_record.h"

#include <algorithm>

#include "peer_record.pb.h"
#include "shardnode/core/varint.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace {

Bytes signing_bytes(std::string_view domain, ByteView type, ByteView payload) {
  Bytes out;
  out.reserve(domain.size() + type.size() + payload.size() + 12);
  auto put = [&](ByteView b) {
    append_uvarint(out, b.size());
    out.insert(out.end(), b.begin(), b.end());
  };
  put(as_bytes(domain));
  put(type);
  put(payload);
  return out;
}

Error malformed(std::string what) { return Error{RecordErrc::malformed, "peer record: " + std::move(what)}; }

}  // namespace

Bytes seal_envelope(const NodeKey& key, std::string_view domain, ByteView payload_type, ByteView payload) {
  pb::Envelope e;
  Bytes pk = encode_libp2p_public_key(key.public_key());
  e.set_public_key(pk.data(), pk.size());
  e.set_payload_type(payload_type.data(), payload_type.size());
  e.set_payload(payload.data(), payload.size());
  auto sig = key.sign(signing_bytes(domain, payload_type, payload));
  e.set_signature(sig.data(), sig.size());
  std::string s = e.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<Envelope> open_envelope(ByteView bytes, std::string_view domain, std::size_t max_size) {
  if (bytes.size() > max_size)
    return malformed("envelope of " + std::to_string(bytes.size()) + " bytes (at most " + std::to_string(max_size) + ")");
  pb::Envelope e;
  if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return malformed("envelope is not a protobuf");
  auto pk = decode_libp2p_public_key(as_bytes(e.public_key()));
  if (!pk) return Error{RecordErrc::bad_key, "peer record: " + pk.error().what()};
  if (e.signature().size() != 64) return Error{RecordErrc::bad_signature, "peer record: signature is not 64 bytes"};
  Envelope out;
  out.key = *pk;
  out.payload_type.assign(e.payload_type().begin(), e.payload_type().end());
  out.payload.assign(e.payload().begin(), e.payload().end());
  if (!out.key.verify(signing_bytes(domain, out.payload_type, out.payload), as_bytes(e.signature())))
    return Error{RecordErrc::bad_signature, "peer record: envelope signature does not verify"};
  return out;
}

SignedPeerRecord seal_peer_record(const NodeKey& key, std::uint64_t seq, const std::vector<Multiaddr>& addrs) {
  SignedPeerRecord out;
  out.key = key.public_key();
  out.record.peer = PeerId::from_public_key(out.key);
  out.record.seq = seq;
  pb::PeerRecord r;
  const Bytes& id = out.record.peer.bytes();
  r.set_peer_id(id.data(), id.size());
  r.set_seq(seq);
  for (const auto& a : addrs) {
    if (out.record.addrs.size() >= kMaxRecordAddresses) break;
    Multiaddr bare = a.without_peer_id();
    Bytes b = bare.to_bytes();
    r.add_addresses()->set_multiaddr(b.data(), b.size());
    out.record.addrs.push_back(std::move(bare));
  }
  std::string payload = r.SerializeAsString();
  out.envelope = seal_envelope(key, kPeerRecordDomain, kPeerRecordPayloadType, as_bytes(payload));
  return out;
}

Result<SignedPeerRecord> open_peer_record(ByteView envelope) {
  auto env = open_envelope(envelope, kPeerRecordDomain);
  if (!env) return env.error();
  if (!std::equal(env->payload_type.begin(), env->payload_type.end(), kPeerRecordPayloadType.begin(),
                  kPeerRecordPayloadType.end()))
    return Error{RecordErrc::wrong_type, "peer record: payload type is not libp2p-peer-record (0x0301)"};
  pb::PeerRecord r;
  if (!r.ParseFromArray(env->payload.data(), static_cast<int>(env->payload.size())))
    return malformed("payload is not a PeerRecord protobuf");
  if (static_cast<std::size_t>(r.addresses_size()) > kMaxRecordAddresses)
    return malformed(std::to_string(r.addresses_size()) + " addresses (at most " + std::to_string(kMaxRecordAddresses) + ")");
  auto id = PeerId::from_bytes(as_bytes(r.peer_id()));
  if (!id) return malformed("peer id: " + id.error().what());
  SignedPeerRecord out;
  out.key = env->key;
  if (!(*id == PeerId::from_public_key(out.key)))
    return Error{RecordErrc::peer_mismatch, "peer record: names " + id->to_string() + " but is signed by another key"};
  out.record.peer = std::move(*id);
  out.record.seq = r.seq();
  for (const auto& a : r.addresses()) {
    auto ma = Multiaddr::from_bytes(as_bytes(a.multiaddr()));
    // A /p2p suffix may only name the record's own peer; it is dropped.
    auto suffix = ma ? ma->peer_id() : std::nullopt;
    if (ma && (!suffix || *suffix == out.record.peer)) out.record.addrs.push_back(ma->without_peer_id());
    else ++out.record.skipped_addrs;
  }
  out.envelope.assign(envelope.begin(), envelope.end());
  return out;
}

}  // namespace shardnode::net
