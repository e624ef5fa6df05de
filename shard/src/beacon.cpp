#include "shardnode/shard/beacon.h"
#include "shardnode/shard/errors.h"

#include "shard.pb.h"
#include "wire.h"

namespace shardnode::shard {
namespace {
Bytes fields(std::string_view domain, const BeaconHeader& b) {
  Bytes out;
  out.reserve(domain.size() + 1 + 8 + 32 * 3);
  wire::put_tag(out, domain);
  wire::put_u64(out, b.slot);
  wire::put_bytes(out, b.parent_hash);
  wire::put_bytes(out, b.state_root);
  wire::put_bytes(out, b.proposer.bytes);
  return out;
}
}  // namespace

Bytes beacon_signing_bytes(const BeaconHeader& b) { return fields(kBeaconSigDomain, b); }
Hash32 beacon_hash(const BeaconHeader& b) { return wire::sha256(fields(kBeaconIdDomain, b)); }

BeaconHeader make_beacon_header(const ValidatorKey& key, std::uint64_t slot, const Hash32& parent,
                                const Hash32& state_root) {
  BeaconHeader b;
  b.slot = slot;
  b.parent_hash = parent;
  b.state_root = state_root;
  b.proposer = key.public_key();
  b.signature = key.sign(beacon_signing_bytes(b));
  return b;
}

bool verify(const BeaconHeader& b) { return b.proposer.verify(beacon_signing_bytes(b), b.signature); }

Bytes encode(const BeaconHeader& b) {
  pb::BeaconHeader m;
  m.set_slot(b.slot);
  m.set_parent_hash(wire::to_string(b.parent_hash));
  m.set_state_root(wire::to_string(b.state_root));
  m.set_proposer(wire::to_string(b.proposer.bytes));
  m.set_signature(wire::to_string(b.signature));
  return wire::serialize(m);
}

Result<BeaconHeader> decode_beacon_header(ByteView data, const BeaconLimits& limits) {
  pb::BeaconHeader m;
  if (Status st = wire::parse_canonical(data, limits.max_encoded, m, "beacon header"); !st) return st.error();
  BeaconHeader b;
  b.slot = m.slot();
  auto size_error = [](const char* what, std::size_t got, std::size_t want) {
    return wire::fail(ShardErrc::malformed, std::string("beacon header: ") + what + " of " + std::to_string(got) +
                                                " bytes, expected " + std::to_string(want));
  };
  if (!wire::copy_fixed(m.parent_hash(), b.parent_hash)) return size_error("parent hash", m.parent_hash().size(), 32);
  if (!wire::copy_fixed(m.state_root(), b.state_root)) return size_error("state root", m.state_root().size(), 32);
  if (!wire::copy_fixed(m.proposer(), b.proposer.bytes)) return size_error("proposer key", m.proposer().size(), 32);
  if (!wire::copy_fixed(m.signature(), b.signature)) return size_error("signature", m.signature().size(), 64);
  if (!verify(b)) return wire::fail(ShardErrc::bad_signature, "beacon header: signature does not verify");
  return b;
}

}  // namespace shardnode::shard
