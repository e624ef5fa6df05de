#include "shardnode/shard/manager.h"

#include <algorithm>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

namespace {
std::uint64_t secs(std::uint64_t ms) { return ms / 1000; }
}  // namespace

ShardManager::ShardManager(const NodeKey& key, ShardManagerConfig cfg, ShardIo& io)
    : key_(key), self_(PeerId::from_public_key(key.public_key())), cfg_(cfg), io_(io), table_(cfg.table) {}

void ShardManager::start(std::uint64_t now_ms) {
  if (started_) return;
  started_ = true;
  io_.subscribe(std::string(kPreferenceTopic));
  if (cfg_.cover_shards > 0) rotate_cover(now_ms);
  announce(now_ms);
  next_announce_ms_ = now_ms + std::min(cfg_.first_reannounce_ms, cfg_.announce_interval_ms);
  request_tables(now_ms);
}

void ShardManager::announce(std::uint64_t now_ms) {
  // Sequence numbers follow the clock, so they keep rising across restarts.
  seq_ = std::max(seq_ + 1, now_ms);
  auto rec = make_preference(key_, seq_, secs(now_ms + cfg_.record_ttl_ms), cfg_.shard_count, shards_);
  Bytes data = encode(rec);
  table_.insert(rec, secs(now_ms));  // we are in our own table: others ask it of us
  // An announcement made with no peers reached nobody: the first connection repeats it.
  announced_to_peers_ = !io_.connected_peers().empty();
  (void)io_.publish(std::string(kPreferenceTopic), std::move(data));  // failures are the driver's to log
  ++counters_.announcements;
  next_announce_ms_ = now_ms + cfg_.announce_interval_ms;
}

void ShardManager::request_tables(std::uint64_t now_ms) {
  std::size_t asked_now = 0;
  for (const auto& p : io_.connected_peers()) {
    if (asked_now + asked_.size() >= cfg_.table_request_peers && table_received_) break;
    if (asked_now >= cfg_.table_request_peers) break;
    if (asked_.count(p)) continue;
    asked_.insert(p);
    ++asked_now;
    ++counters_.table_requests_sent;
    io_.request_table(p, encode_table_request(cfg_.table_request_max));
  }
  next_table_request_ms_ = now_ms + 5000;
}

void ShardManager::tick(std::uint64_t now_ms) {
  if (!started_) return;
  if (cfg_.cover_shards > 0 && now_ms >= next_cover_ms_) {
    rotate_cover(now_ms);
    announce(now_ms);
  }
  if (now_ms >= next_announce_ms_) announce(now_ms);
  table_.evict_expired(secs(now_ms));
  if (!table_received_ && now_ms >= next_table_request_ms_) request_tables(now_ms);
  std::vector<std::uint32_t> pending;
  for (const auto& [s, _] : pending_) pending.push_back(s);
  for (auto s : pending) advance_jump(s, now_ms);
  maintain(now_ms);
}

// Joined shards whose jump is over keep up to peers_per_shard connections to the
// shard's peers: members who announce the shard later, or whose connection dropped,
// are dialled (each at most once per dial_retry_ms).
void ShardManager::maintain(std::uint64_t now_ms) {
  for (auto s : shards_)
    if (!pending_.count(s)) counters_.maintenance_dials += dial_shard_peers(s, now_ms);
}

pubsub::ValidationResult ShardManager::on_preference_message(ByteView data, const PeerId& source,
                                                             std::uint64_t now_ms) {
  PreferenceLimits limits;
  limits.shard_count = cfg_.shard_count;
  limits.max_encoded = cfg_.protocol.max_record_bytes;
  auto v = validate_preference_message(data, source, secs(now_ms), limits, table_);
  switch (v.result) {
    case pubsub::ValidationResult::accept:
      ++counters_.records_accepted;
      // Maybe a peer on a shard we are jumping to: the jump may dial it now.
      for (const auto& [shard, _] : std::map<std::uint32_t, JumpRecord>(pending_)) advance_jump(shard, now_ms);
      break;
    case pubsub::ValidationResult::reject:
      ++counters_.records_rejected;
      logging::get("shard")->debug("rejected preference record from {}: {}", source.to_string(), v.reason);
      break;
    case pubsub::ValidationResult::ignore:
      ++counters_.records_ignored;
      break;
  }
  return v.result;
}

// Gossip never replays old records to a new peer, so a new connection is where
// tables are exchanged: we ask every peer for its table once (it answers from its
// table, which the records gossiped since then keep current), and an announcement
// that went out while we had no peers is repeated now.
void ShardManager::on_peer_connected(const PeerId& peer, std::uint64_t now_ms) {
  if (!started_) return;
  if (!announced_to_peers_) {
    announce(now_ms);
    // Made before the peer's subscriptions arrive, this one may reach nobody either:
    // repeat it shortly, once the peer is known to be on the topic.
    next_announce_ms_ = now_ms + std::min(cfg_.first_reannounce_ms, cfg_.announce_interval_ms);
  }
  if (asked_.count(peer)) return;
  asked_.insert(peer);
  ++counters_.table_requests_sent;
  io_.request_table(peer, encode_table_request(cfg_.table_request_max));
}

Result<Bytes> ShardManager::answer_table_request(ByteView request) const {
  auto max = decode_table_request(request, cfg_.protocol);
  std::uint32_t n = cfg_.protocol.max_records > 0 ? static_cast<std::uint32_t>(cfg_.protocol.max_records) : 0;
  if (max) n = std::min(n, *max);
  else if (max.error().code != ShardErrc::oversize) return max.error();  // oversize asks get the cap
  std::vector<Bytes> records;
  std::size_t bytes = 0;
  for (const auto& r : table_.snapshot(n)) {
    Bytes e = encode(r);
    if (bytes + e.size() + 8 > cfg_.protocol.max_response_bytes) break;
    bytes += e.size() + 8;
    records.push_back(std::move(e));
  }
  ++counters_.table_requests_served;
  return encode_table_response(records);
}

void ShardManager::on_table_response(const PeerId& from, ByteView response, std::uint64_t now_ms) {
  ++counters_.table_responses;
  auto records = decode_table_response(response, cfg_.protocol);
  if (!records) {
    ++counters_.table_responses_malformed;
    io_.penalize(from, 1);
    logging::get("shard")->info("malformed table response from {}: {}", from.to_string(), records.error().what());
    return;
  }
  PreferenceLimits limits;
  limits.shard_count = cfg_.shard_count;
  limits.max_encoded = cfg_.protocol.max_record_bytes;
  std::size_t invalid = 0, stored = 0;
  for (const auto& r : *records) {
    auto rec = decode_preference(r, limits);
    if (!rec) {
      ++invalid;
      continue;
    }
    const auto outcome = table_.insert(*rec, secs(now_ms));
    if (outcome == PreferenceTable::Outcome::added || outcome == PreferenceTable::Outcome::updated) ++stored;
    // A live table legitimately holds records that expire in transit; only
    // undecodable, forged and over-long records count against the sender.
    if (outcome == PreferenceTable::Outcome::ttl_too_long) ++invalid;
  }
  counters_.table_records_invalid += invalid;
  if (invalid > 0) {
    io_.penalize(from, static_cast<double>(invalid));
    logging::get("shard")->info("table response from {}: {} invalid record(s) rejected", from.to_string(), invalid);
  }
  table_received_ = table_received_ || !records->empty();
  logging::get("shard")->debug("table from {}: {} records, {} new", from.to_string(), records->size(), stored);
  for (auto& [s, _] : std::map<std::uint32_t, JumpRecord>(pending_)) advance_jump(s, now_ms);
}

void ShardManager::on_table_failure(const PeerId& from) { asked_.erase(from); }

std::size_t ShardManager::peers_listed_on(std::uint32_t shard) const {
  std::size_t n = 0;
  for (const auto& p : table_.peers_on(shard))
    if (p != self_) ++n;
  return n;
}

// A fresh draw of cover shards, uniform over those that are not our own: the old
// ones not drawn again are left, the new ones joined. No jump records: nobody waits
// on them, and maintain() brings them to peers_per_shard.
void ShardManager::rotate_cover(std::uint64_t now_ms) {
  next_cover_ms_ = now_ms + cfg_.cover_epoch_ms;
  if (!rng_) {
    logging::get("shard")->error("cover subscriptions need a random source; none set");
    return;
  }
  std::vector<std::uint32_t> candidates;
  for (std::uint32_t s = 0; s < cfg_.shard_count; ++s)
    if (!shards_.count(s) || cover_.count(s)) candidates.push_back(s);
  rng_->shuffle(candidates);
  candidates.resize(std::min(candidates.size(), cfg_.cover_shards));
  const std::set<std::uint32_t> next(candidates.begin(), candidates.end());
  for (auto s : cover_)
    if (!next.count(s)) {
      shards_.erase(s);
      io_.unsubscribe(collation_topic(s));
    }
  for (auto s : next)
    if (!cover_.count(s)) {
      shards_.insert(s);
      io_.subscribe(collation_topic(s));
    }
  cover_ = next;
  ++counters_.cover_rotations;
}

Status ShardManager::join(std::uint32_t shard, std::uint64_t now_ms) {
  if (shard >= cfg_.shard_count)
    return Error{ShardErrc::wrong_shard, "shard " + std::to_string(shard) + " does not exist (shard_count " +
                                             std::to_string(cfg_.shard_count) + ")"};
  // A cover shard we now work on becomes ours. Already subscribed, it is still a
  // jump that completes as soon as its mesh is big enough (at once, mostly), so
  // whoever waits on the jump hears of it.
  const bool was_cover = cover_.erase(shard) != 0;
  if (!was_cover && !shards_.insert(shard).second) return {};
  if (!was_cover) io_.subscribe(collation_topic(shard));
  JumpRecord j;
  j.shard = shard;
  j.started_ms = now_ms;
  pending_[shard] = j;
  // (Our announced set is the same when a cover shard becomes ours: no new record,
  // which would mark the moment.)
  if (started_ && !was_cover) announce(now_ms);
  advance_jump(shard, now_ms);
  return {};
}

Status ShardManager::leave(std::uint32_t shard, std::uint64_t now_ms) {
  if (cover_.count(shard) || !shards_.erase(shard))
    return Error{ShardErrc::wrong_shard, "not on shard " + std::to_string(shard)};
  pending_.erase(shard);
  io_.unsubscribe(collation_topic(shard));
  if (started_) announce(now_ms);
  return {};
}

Status ShardManager::jump(std::uint32_t from, std::uint32_t to, std::uint64_t now_ms) {
  if (to >= cfg_.shard_count) return Error{ShardErrc::wrong_shard, "shard " + std::to_string(to) + " does not exist"};
  if (!shards_.count(from) || cover_.count(from))
    return Error{ShardErrc::wrong_shard, "not on shard " + std::to_string(from)};
  shards_.erase(from);
  pending_.erase(from);
  io_.unsubscribe(collation_topic(from));
  return join(to, now_ms);
}

void ShardManager::advance_jump(std::uint32_t shard, std::uint64_t now_ms) {
  auto it = pending_.find(shard);
  if (it == pending_.end()) return;
  JumpRecord& j = it->second;
  const std::string topic = collation_topic(shard);
  const std::size_t listed = peers_listed_on(shard);
  const std::size_t target = std::min(cfg_.jump_mesh_target, listed);
  const std::size_t mesh = io_.mesh_size(topic);
  auto finish = [&](bool ok) {
    j.finished_ms = now_ms;
    j.completed = ok;
    ++(ok ? counters_.jumps_completed : counters_.jumps_failed);
    logging::get("shard")->info("jump to shard {} {} after {} ms ({} dialled, mesh {})", shard,
                                ok ? "completed" : "timed out", j.took_ms(), j.dialled, mesh);
    jumps_.push_back(j);
    JumpRecord done = j;
    pending_.erase(it);
    if (on_jump_done_) on_jump_done_(done);
  };
  if (target > 0 && mesh >= target) return finish(true);
  // Nobody on the shard in our table: ask beyond it (the DHT), again every dial_retry_ms.
  if (listed == 0 && (j.member_lookups == 0 || now_ms >= j.last_lookup_ms + cfg_.dial_retry_ms) &&
      now_ms < j.started_ms + cfg_.jump_timeout_ms) {
    ++j.member_lookups;
    ++counters_.member_lookups;
    j.last_lookup_ms = now_ms;
    io_.find_members(shard);
  }
  // A table that lists nobody else on the shard may just be incomplete, so the jump
  // waits; if the shard is still empty at the deadline, being subscribed was all a
  // jump could do, and it counts as done.
  if (now_ms >= j.started_ms + cfg_.jump_timeout_ms) return finish(listed == 0);
  j.dialled += dial_shard_peers(shard, now_ms);
}

// Dials the shard's peers we are not connected to, up to peers_per_shard connected
// ones (a dial in flight counts until dial_retry_ms has passed). Returns the dials made.
std::size_t ShardManager::dial_shard_peers(std::uint32_t shard, std::uint64_t now_ms) {
  std::size_t connected = 0, dialled = 0;
  std::vector<PeerId> candidates;
  for (const auto& p : table_.peers_on(shard)) {
    if (p == self_) continue;
    auto d = dialled_at_.find(p);
    if (io_.connected(p)) {
      if (d != dialled_at_.end()) dialled_at_.erase(d);
      ++connected;
    } else if (d != dialled_at_.end() && now_ms < d->second + cfg_.dial_retry_ms) {
      ++connected;  // a dial in flight counts; it is asked again only after dial_retry_ms
    } else {
      candidates.push_back(p);
    }
  }
  for (const auto& p : candidates) {
    if (connected >= cfg_.peers_per_shard) break;
    auto rec = table_.get(p);
    if (!rec) continue;
    io_.dial(p, rec->node_key);
    dialled_at_[p] = now_ms;
    ++dialled;
    ++connected;
  }
  return dialled;
}

}  // namespace shardnode::shard
