#include "shardnode/net/identify.h"

#include "identify.pb.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {

Bytes encode_identify(const IdentifyInfo& info) {
  pb::Identify m;
  m.set_protocolversion(info.protocol_version);
  m.set_agentversion(info.agent_version);
  Bytes pk = encode_libp2p_public_key(info.public_key);
  m.set_publickey(pk.data(), pk.size());
  for (const auto& a : info.listen_addrs) {
    Bytes b = a.to_bytes();
    m.add_listenaddrs(b.data(), b.size());
  }
  if (info.observed_addr) {
    Bytes b = info.observed_addr->to_bytes();
    m.set_observedaddr(b.data(), b.size());
  }
  for (const auto& p : info.protocols) m.add_protocols(p);
  if (info.signed_record) m.set_signedpeerrecord(info.signed_record->envelope.data(), info.signed_record->envelope.size());
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<IdentifyInfo> decode_identify(ByteView body, const PeerId& remote) {
  if (body.size() > kIdentifyMaxMessage) return Error{HostErrc::message_too_large, "identify: message too large"};
  pb::Identify m;
  if (!m.ParseFromArray(body.data(), static_cast<int>(body.size())))
    return Error{MssErrc::malformed, "identify: malformed protobuf"};
  if (!m.has_publickey()) return Error{MssErrc::malformed, "identify: no public key"};
  auto pk = decode_libp2p_public_key(as_bytes(m.publickey()));
  if (!pk) return Error{MssErrc::malformed, "identify: " + pk.error().message};
  if (!(PeerId::from_public_key(*pk) == remote))
    return Error{NoiseErrc::peer_id_mismatch, "identify: public key does not match the connection's peer id"};
  IdentifyInfo info;
  info.protocol_version = m.protocolversion();
  info.agent_version = m.agentversion();
  info.public_key = *pk;
  for (const auto& a : m.listenaddrs()) {
    auto ma = Multiaddr::from_bytes(as_bytes(a));
    if (ma) info.listen_addrs.push_back(std::move(*ma));
    else ++info.skipped_addrs;
  }
  if (m.has_observedaddr()) {
    auto ma = Multiaddr::from_bytes(as_bytes(m.observedaddr()));
    if (ma) info.observed_addr = std::move(*ma);
  }
  for (const auto& p : m.protocols()) info.protocols.push_back(p);
  if (m.has_signedpeerrecord()) {
    auto rec = open_peer_record(as_bytes(m.signedpeerrecord()));
    if (!rec) info.record_rejected = rec.error();
    else if (!(rec->record.peer == remote))
      info.record_rejected = Error{RecordErrc::peer_mismatch, "identify: the signed peer record is another peer's"};
    else info.signed_record = std::move(*rec);
  }
  return info;
}

}  // namespace shardnode::net
