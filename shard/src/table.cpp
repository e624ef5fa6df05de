#include "shardnode/shard/table.h"

#include <algorithm>

#include "shardnode/core/errors.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

void PreferenceTable::erase(std::map<PeerId, ShardPreference>::iterator it) {
  by_expiry_.erase({it->second.expires_at, it->first});
  by_peer_.erase(it);
}

PreferenceTable::Outcome PreferenceTable::insert(ShardPreference rec, std::uint64_t now) {
  if (rec.expires_at <= now) return Outcome::expired;
  if (rec.expires_at - now > limits_.max_ttl) return Outcome::ttl_too_long;
  PeerId peer = rec.peer_id();
  auto it = by_peer_.find(peer);
  if (it != by_peer_.end()) {
    if (rec.seq <= it->second.seq) return Outcome::stale_or_duplicate;
    by_expiry_.erase({it->second.expires_at, peer});
    by_expiry_.emplace(rec.expires_at, peer);
    it->second = std::move(rec);
    return Outcome::updated;
  }
  if (by_peer_.size() >= limits_.max_entries) {
    if (by_expiry_.empty() || rec.expires_at <= by_expiry_.begin()->first) return Outcome::full;
    erase(by_peer_.find(by_expiry_.begin()->second));
  }
  by_expiry_.emplace(rec.expires_at, peer);
  by_peer_.emplace(std::move(peer), std::move(rec));
  return Outcome::added;
}

std::size_t PreferenceTable::evict_expired(std::uint64_t now) {
  std::size_t n = 0;
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    erase(by_peer_.find(by_expiry_.begin()->second));
    ++n;
  }
  return n;
}

std::vector<PeerId> PreferenceTable::peers_on(std::uint32_t shard) const {
  std::vector<PeerId> out;
  for (const auto& [peer, rec] : by_peer_)
    if (rec.contains(shard)) out.push_back(peer);
  return out;
}

std::optional<ShardPreference> PreferenceTable::get(const PeerId& peer) const {
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return std::nullopt;
  return it->second;
}

std::vector<ShardPreference> PreferenceTable::snapshot(std::size_t max_count) const {
  std::vector<ShardPreference> out;
  out.reserve(std::min(max_count, by_peer_.size()));
  for (auto it = by_expiry_.rbegin(); it != by_expiry_.rend() && out.size() < max_count; ++it)
    out.push_back(by_peer_.at(it->second));
  return out;
}

const char* to_string(PreferenceTable::Outcome o) {
  switch (o) {
    case PreferenceTable::Outcome::added: return "added";
    case PreferenceTable::Outcome::updated: return "updated";
    case PreferenceTable::Outcome::stale_or_duplicate: return "stale or duplicate";
    case PreferenceTable::Outcome::expired: return "expired";
    case PreferenceTable::Outcome::ttl_too_long: return "ttl too long";
    case PreferenceTable::Outcome::full: return "table full";
  }
  return "unknown";
}

PreferenceVerdict validate_preference_message(ByteView data, const PeerId& /*forwarder*/, std::uint64_t now,
                                              const PreferenceLimits& limits, PreferenceTable& table) {
  using pubsub::ValidationResult;
  PreferenceVerdict v;
  auto rec = decode_preference(data, limits);
  if (!rec) {
    v.result = ValidationResult::reject;
    v.code = rec.error().code;
    v.reason = rec.error().what();
    return v;
  }
  const std::uint64_t seq = rec->seq, expires_at = rec->expires_at;
  v.outcome = table.insert(std::move(rec).value(), now);
  switch (*v.outcome) {
    case PreferenceTable::Outcome::added:
    case PreferenceTable::Outcome::updated:
    case PreferenceTable::Outcome::full:
      v.result = ValidationResult::accept;
      break;
    case PreferenceTable::Outcome::stale_or_duplicate:
      v.result = ValidationResult::ignore;
      v.code = ShardErrc::stale;
      v.reason = "shard preference: seq " + std::to_string(seq) + " not newer than the record held";
      break;
    case PreferenceTable::Outcome::expired:
      v.result = ValidationResult::reject;
      v.code = ShardErrc::expired;
      v.reason = "shard preference: expired at " + std::to_string(expires_at) + ", now " + std::to_string(now);
      break;
    case PreferenceTable::Outcome::ttl_too_long:
      v.result = ValidationResult::reject;
      v.code = ShardErrc::future;
      v.reason = "shard preference: expires " + std::to_string(expires_at - now) + " s from now, cap " +
                 std::to_string(table.limits().max_ttl);
      break;
  }
  return v;
}

}  // namespace shardnode::shard
