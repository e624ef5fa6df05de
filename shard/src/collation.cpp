#include "shardnode/shard/collation.h"
#include "shardnode/shard/errors.h"

#include <utility>

#include "shard.pb.h"
#include "wire.h"

namespace shardnode::shard {
namespace {

// Size caps, canonical protobuf and field sizes; no hashes or signatures.
Result<Collation> parse(ByteView data, const CollationLimits& limits) {
  pb::Collation m;
  if (Status st = wire::parse_canonical(data, limits.max_encoded, m, "collation"); !st) return st.error();
  if (!m.has_header()) return wire::fail(ShardErrc::malformed, "collation: no header");
  const auto& h = m.header();
  Collation c;
  c.header.shard = h.shard();
  c.header.period = h.period();
  if (!wire::copy_fixed(h.parent_hash(), c.header.parent_hash))
    return wire::fail(ShardErrc::malformed,
                      "collation: parent hash of " + std::to_string(h.parent_hash().size()) + " bytes, expected 32");
  if (!wire::copy_fixed(h.proposer(), c.header.proposer.bytes))
    return wire::fail(ShardErrc::malformed,
                      "collation: proposer key of " + std::to_string(h.proposer().size()) + " bytes, expected 32");
  if (!wire::copy_fixed(h.body_hash(), c.header.body_hash))
    return wire::fail(ShardErrc::malformed,
                      "collation: body hash of " + std::to_string(h.body_hash().size()) + " bytes, expected 32");
  if (!wire::copy_fixed(m.signature(), c.signature))
    return wire::fail(ShardErrc::malformed,
                      "collation: signature of " + std::to_string(m.signature().size()) + " bytes, expected 64");
  if (m.body().size() > limits.max_body_bytes)
    return wire::fail(ShardErrc::oversize, "collation: body of " + std::to_string(m.body().size()) +
                                               " bytes exceeds the cap of " + std::to_string(limits.max_body_bytes));
  c.body = wire::to_bytes(m.body());
  return c;
}

}  // namespace

Status check_body_and_signature(const Collation& c) {
  if (sha256(c.body) != c.header.body_hash)
    return wire::fail(ShardErrc::body_mismatch, "collation: body does not match header.body_hash");
  if (!c.header.proposer.verify(collation_signing_bytes(c.header), c.signature))
    return wire::fail(ShardErrc::bad_signature, "collation: signature does not verify");
  return {};
}

Hash32 sha256(ByteView data) { return wire::sha256(data); }

Bytes canonical_header_bytes(const CollationHeader& h) {
  Bytes out;
  out.reserve(4 + 8 + 32 * 3);
  wire::put_u32(out, h.shard);
  wire::put_u64(out, h.period);
  wire::put_bytes(out, h.parent_hash);
  wire::put_bytes(out, h.proposer.bytes);
  wire::put_bytes(out, h.body_hash);
  return out;
}

Bytes collation_signing_bytes(const CollationHeader& h) {
  Bytes out;
  wire::put_tag(out, kCollationSigDomain);
  wire::put_bytes(out, canonical_header_bytes(h));
  return out;
}

Hash32 collation_hash(const CollationHeader& h) {
  Bytes in;
  wire::put_tag(in, kCollationIdDomain);
  wire::put_bytes(in, canonical_header_bytes(h));
  return wire::sha256(in);
}

Collation make_collation(const ValidatorKey& key, std::uint32_t shard, std::uint64_t period, const Hash32& parent,
                         Bytes body) {
  Collation c;
  c.header.shard = shard;
  c.header.period = period;
  c.header.parent_hash = parent;
  c.header.proposer = key.public_key();
  c.header.body_hash = sha256(body);
  c.body = std::move(body);
  c.signature = key.sign(collation_signing_bytes(c.header));
  return c;
}

bool verify(const Collation& c) { return check_body_and_signature(c).ok(); }

Bytes encode(const Collation& c) {
  pb::Collation m;
  auto* h = m.mutable_header();
  h->set_shard(c.header.shard);
  h->set_period(c.header.period);
  h->set_parent_hash(wire::to_string(c.header.parent_hash));
  h->set_proposer(wire::to_string(c.header.proposer.bytes));
  h->set_body_hash(wire::to_string(c.header.body_hash));
  m.set_body(wire::to_string(c.body));
  m.set_signature(wire::to_string(c.signature));
  return wire::serialize(m);
}

Result<Collation> decode_collation(ByteView data, const CollationLimits& limits) {
  auto c = parse(data, limits);
  if (!c) return c;
  if (Status st = check_body_and_signature(*c); !st) return st.error();
  return c;
}

CollationCheck check_collation(ByteView data, std::uint32_t topic_shard, std::uint64_t current_period,
                               std::uint64_t max_age_periods, const CollationLimits& limits,
                               const std::function<bool(const Hash32&)>& seen, bool verify) {
  using pubsub::ValidationResult;
  CollationCheck out;
  auto verdict = [&out](ValidationResult r, std::error_code code, std::string reason) {
    out.result = r;
    out.code = code;
    out.reason = std::move(reason);
    return std::move(out);
  };
  auto c = parse(data, limits);
  if (!c) return verdict(ValidationResult::reject, c.error().code, c.error().what());
  const CollationHeader& h = c->header;
  out.hash = collation_hash(h);
  if (h.shard != topic_shard)
    return verdict(ValidationResult::reject, ShardErrc::wrong_shard,
                   "collation: shard " + std::to_string(h.shard) + " on the topic of shard " + std::to_string(topic_shard));
  if (h.period > current_period && h.period - current_period > 1)
    return verdict(ValidationResult::reject, ShardErrc::future,
                   "collation: period " + std::to_string(h.period) + ", current period " + std::to_string(current_period));
  if (current_period > max_age_periods && h.period < current_period - max_age_periods)
    return verdict(ValidationResult::ignore, ShardErrc::too_old,
                   "collation: period " + std::to_string(h.period) + " older than " + std::to_string(max_age_periods) +
                       " periods before " + std::to_string(current_period));
  if (seen && seen(*out.hash)) return verdict(ValidationResult::ignore, ShardErrc::duplicate, "collation: already seen");
  if (verify)
    if (Status st = check_body_and_signature(*c); !st)
      return verdict(ValidationResult::reject, st.error().code, st.error().what());
  out.result = ValidationResult::accept;
  out.collation = std::move(c).value();
  return out;
}

}  // namespace shardnode::shard
