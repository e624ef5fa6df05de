#include "shardnode/shard/beacon_tracker.h"
#include "shardnode/shard/errors.h"

#include <limits>

#include "shard.pb.h"
#include "wire.h"

namespace shardnode::shard {

namespace {

// The header's fields without the signature check (decode_beacon_header verifies;
// the tracker checks slot and duplicates first).
Result<BeaconHeader> parse_unverified(ByteView data, const BeaconLimits& limits) {
  pb::BeaconHeader m;
  if (Status st = wire::parse_canonical(data, limits.max_encoded, m, "beacon header"); !st) return st.error();
  BeaconHeader b;
  b.slot = m.slot();
  if (!wire::copy_fixed(m.parent_hash(), b.parent_hash) || !wire::copy_fixed(m.state_root(), b.state_root) ||
      !wire::copy_fixed(m.proposer(), b.proposer.bytes) || !wire::copy_fixed(m.signature(), b.signature))
    return wire::fail(ShardErrc::malformed, "beacon header: a field has the wrong size");
  return b;
}

}  // namespace

BeaconTracker::BeaconTracker(BeaconTrackerConfig cfg) : cfg_(cfg) {
  if (cfg_.slot_ms == 0) cfg_.slot_ms = 1;
  if (cfg_.max_known == 0) cfg_.max_known = 1;
}

std::uint64_t BeaconTracker::slot_at(std::uint64_t now_ms) const {
  return now_ms < cfg_.genesis_ms ? 0 : (now_ms - cfg_.genesis_ms) / cfg_.slot_ms;
}

std::uint64_t BeaconTracker::slot_start_ms(std::uint64_t slot) const {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (slot > (kMax - cfg_.genesis_ms) / cfg_.slot_ms) return kMax;
  return cfg_.genesis_ms + slot * cfg_.slot_ms;
}

void BeaconTracker::prune(std::uint64_t now_ms) {
  const std::uint64_t current = slot_at(now_ms);
  while (!by_slot_.empty()) {
    const auto& [slot, id] = *by_slot_.begin();
    if (slot + cfg_.max_past_slots >= current && known_.size() <= cfg_.max_known) break;
    known_.erase(id);
    by_slot_.erase(by_slot_.begin());
  }
}

BeaconCheck BeaconTracker::on_message(ByteView data, std::uint64_t now_ms) {
  BeaconCheck out;
  auto verdict = [&](pubsub::ValidationResult r, ShardErrc code, std::string reason) {
    out.result = r;
    out.code = code;
    out.reason = std::move(reason);
    ++(r == pubsub::ValidationResult::ignore ? counters_.ignored : counters_.rejected);
    return out;
  };
  auto parsed = parse_unverified(data, cfg_.limits);
  if (!parsed) {
    const auto code = parsed.error().code == ShardErrc::oversize ? ShardErrc::oversize : ShardErrc::malformed;
    return verdict(pubsub::ValidationResult::reject, code, parsed.error().what());
  }
  const BeaconHeader& b = *parsed;
  out.hash = beacon_hash(b);
  const std::uint64_t current = slot_at(now_ms);
  if (b.slot > current && b.slot - current > cfg_.max_future_slots)
    return verdict(pubsub::ValidationResult::ignore, ShardErrc::future,
                   "beacon slot " + std::to_string(b.slot) + " is ahead of slot " + std::to_string(current));
  if (b.slot < current && current - b.slot > cfg_.max_past_slots)
    return verdict(pubsub::ValidationResult::ignore, ShardErrc::too_old,
                   "beacon slot " + std::to_string(b.slot) + " is too old (slot " + std::to_string(current) + ")");
  if (known_.count(*out.hash)) return verdict(pubsub::ValidationResult::ignore, ShardErrc::duplicate, "already known");
  if (!verify(b))
    return verdict(pubsub::ValidationResult::reject, ShardErrc::bad_signature,
                   "beacon header: signature does not verify");

  out.result = pubsub::ValidationResult::accept;
  ++counters_.accepted;
  known_.emplace(*out.hash, b.slot);
  by_slot_.emplace(b.slot, *out.hash);
  if (!head_ || better(b.slot, *out.hash, head_->header.slot, head_->hash)) {
    head_ = BeaconHead{b, *out.hash};
    out.new_head = true;
    ++counters_.head_changes;
  }
  out.header = b;
  prune(now_ms);  // the head itself is never the lowest slot held unless alone
  if (out.new_head && on_head_changed_) on_head_changed_(*head_);
  return out;
}

}  // namespace shardnode::shard
