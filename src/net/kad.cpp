#include "shardnode/net/kad.h"

#include <sodium.h>

#include <algorithm>
#include <bit>

#include "kad.pb.h"
#include "shardnode/net/errors.h"

namespace shardnode::net::kad {
namespace {

Error malformed(const std::string& what) { return Error{MssErrc::malformed, "kad: " + what}; }

void put_peer(pb::KadMessage::Peer* out, const Peer& p) {
  out->set_id(p.id.bytes().data(), p.id.bytes().size());
  for (const auto& a : p.addrs) {
    Bytes b = a.to_bytes();
    out->add_addrs(b.data(), b.size());
  }
  out->set_connection(static_cast<pb::KadMessage::ConnectionType>(p.connection));
}

// Appends the peers that decode; counts the rest in `skipped`.
Status take_peers(const google::protobuf::RepeatedPtrField<pb::KadMessage::Peer>& in, std::vector<Peer>& out,
                  std::size_t& skipped, const Limits& limits) {
  for (const auto& p : in) {
    if (static_cast<std::size_t>(p.addrs_size()) > limits.max_addrs)
      return malformed("a peer entry with " + std::to_string(p.addrs_size()) + " addresses (at most " +
                       std::to_string(limits.max_addrs) + ")");
    auto id = PeerId::from_bytes(as_bytes(p.id()));
    if (!id) {
      ++skipped;
      continue;
    }
    Peer peer{std::move(*id), {}, ConnectionType::not_connected};
    const int c = p.connection();
    peer.connection = c >= 0 && c <= 3 ? static_cast<ConnectionType>(c) : ConnectionType::not_connected;
    for (const auto& a : p.addrs()) {
      auto ma = Multiaddr::from_bytes(as_bytes(a));
      if (ma) peer.addrs.push_back(std::move(*ma));
      else ++skipped;
    }
    out.push_back(std::move(peer));
  }
  return {};
}

}  // namespace

Bytes encode(const Message& m) {
  pb::KadMessage out;
  out.set_type(static_cast<pb::KadMessage::MessageType>(m.type));
  out.set_key(m.key.data(), m.key.size());
  if (m.record) {
    auto* r = out.mutable_record();
    r->set_key(m.record->key.data(), m.record->key.size());
    r->set_value(m.record->value.data(), m.record->value.size());
    r->set_timereceived(m.record->time_received);
  }
  for (const auto& p : m.closer) put_peer(out.add_closerpeers(), p);
  for (const auto& p : m.providers) put_peer(out.add_providerpeers(), p);
  std::string s = out.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<Message> decode_kad_message(ByteView body, const Limits& limits) {
  if (body.size() > limits.max_message)
    return malformed("message of " + std::to_string(body.size()) + " bytes (at most " +
                     std::to_string(limits.max_message) + ")");
  pb::KadMessage in;
  if (!in.ParseFromArray(body.data(), static_cast<int>(body.size()))) return malformed("not a protobuf Message");
  const int t = in.type();
  if (t < 0 || t > 5) return malformed("unknown message type " + std::to_string(t));
  if (in.key().size() > limits.max_key)
    return malformed("key of " + std::to_string(in.key().size()) + " bytes (at most " + std::to_string(limits.max_key) + ")");
  if (static_cast<std::size_t>(in.closerpeers_size()) + static_cast<std::size_t>(in.providerpeers_size()) > limits.max_peers)
    return malformed(std::to_string(in.closerpeers_size() + in.providerpeers_size()) + " peers (at most " +
                     std::to_string(limits.max_peers) + ")");
  Message m;
  m.type = static_cast<MessageType>(t);
  m.key.assign(in.key().begin(), in.key().end());
  if (in.has_record()) {
    const auto& r = in.record();
    if (r.key().size() > limits.max_key) return malformed("record key too long");
    if (r.value().size() > limits.max_value)
      return malformed("record value of " + std::to_string(r.value().size()) + " bytes (at most " +
                       std::to_string(limits.max_value) + ")");
    if (r.timereceived().size() > 64) return malformed("record timeReceived too long");
    m.record = Record{Bytes(r.key().begin(), r.key().end()), Bytes(r.value().begin(), r.value().end()), r.timereceived()};
  }
  if (Status st = take_peers(in.closerpeers(), m.closer, m.skipped, limits); !st) return st.error();
  if (Status st = take_peers(in.providerpeers(), m.providers, m.skipped, limits); !st) return st.error();
  return m;
}

Key key_of(ByteView bytes) {
  Key k{};
  crypto_hash_sha256(k.data(), bytes.data(), bytes.size());
  return k;
}

Key key_of(const PeerId& peer) { return key_of(ByteView(peer.bytes().data(), peer.bytes().size())); }

Key distance(const Key& a, const Key& b) {
  Key d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(a[i] ^ b[i]);
  return d;
}

unsigned common_prefix_length(const Key& a, const Key& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<std::uint8_t>(a[i] ^ b[i]);
    if (x != 0) return static_cast<unsigned>(i * 8 + static_cast<std::size_t>(std::countl_zero(x)));
  }
  return 256;
}

Bytes key_in_bucket(const Key& self, unsigned cpl, Random& rng) {
  cpl = std::min(cpl, 23u);
  Bytes k(32);
  for (;;) {
    for (std::size_t i = 0; i < k.size(); i += 8) {
      const std::uint64_t r = rng.next_u64();
      for (std::size_t j = 0; j < 8; ++j) k[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    if (common_prefix_length(self, key_of(k)) == cpl) return k;
  }
}

}  // namespace shardnode::net::kad
