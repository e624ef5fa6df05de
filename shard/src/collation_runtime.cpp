#include "shardnode/shard/collation_runtime.h"

#include <algorithm>
#include <cmath>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/shard/period.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

namespace {
auto log() { return logging::get("shard"); }
}  // namespace

CollationRuntime::CollationRuntime(CollationRuntimeConfig cfg, const PeerId& self, ShardIo& io,
                                   const ShardManager& manager, const Clock& clock, const WallClock& wall,
                                   CollationStore* store)
    : cfg_(std::move(cfg)), self_(self), io_(io), manager_(manager), clock_(clock), wall_(wall), store_(store) {
  if (cfg_.period_ms == 0) cfg_.period_ms = 1;
}

std::uint64_t CollationRuntime::current_period() const {
  return period_at(wall_.unix_ms(), cfg_.genesis_ms, cfg_.period_ms);
}

std::optional<Hash32> CollationRuntime::tip(std::uint32_t shard) const {
  auto it = tips_.find(shard);
  if (it == tips_.end()) return std::nullopt;
  return it->second.id;
}

std::map<std::uint32_t, Hash32> CollationRuntime::tips() const {
  std::map<std::uint32_t, Hash32> out;
  for (const auto& [k, t] : tips_) out.emplace(k, t.id);
  return out;
}

const SyncRecord* CollationRuntime::sync(std::uint32_t shard) const {
  auto it = syncs_.find(shard);
  return it == syncs_.end() ? nullptr : &it->second;
}

std::uint64_t CollationRuntime::add_collation_listener(CollationListener f) {
  const std::uint64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(f));
  return id;
}

void CollationRuntime::remove_collation_listener(std::uint64_t id) { listeners_.erase(id); }

// ---- validate and accept ----

bool CollationRuntime::known(const Hash32& id) const { return seen_.count(id) != 0 || (store_ && store_->contains(id)); }

bool CollationRuntime::remember(const Hash32& id) {
  if (!seen_.insert(id).second) return false;
  seen_order_.push_back(id);
  while (seen_order_.size() > cfg_.max_seen) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void CollationRuntime::accept(const Collation& c, const Hash32& id) {
  remember(id);
  ++counters_.accepted;
  auto [it, fresh] = tips_.try_emplace(c.header.shard, Tip{c.header.period, id});
  if (!fresh && (c.header.period > it->second.period || (c.header.period == it->second.period && id < it->second.id)))
    it->second = Tip{c.header.period, id};
  if (store_) {
    if (auto r = store_->put(c, static_cast<std::int64_t>(wall_.unix_ms())); !r)
      log()->error("collation store: {}", r.error().what());
  }
  // Listeners may remove themselves (or others) while we iterate: walk by id.
  for (auto l = listeners_.begin(); l != listeners_.end();) {
    const std::uint64_t lid = l->first;
    auto f = l->second;
    f(c, id);
    l = listeners_.upper_bound(lid);
  }
}

pubsub::ValidationResult CollationRuntime::validate(std::uint32_t shard, const PeerId& source, ByteView data) {
  auto pre = precheck(shard, source, data);
  if (pre.result != pubsub::ValidationResult::accept || !pre.collation || !pre.hash) return pre.result;
  return finish(shard, source, *pre.collation, *pre.hash, check_body_and_signature(*pre.collation));
}

CollationCheck CollationRuntime::precheck(std::uint32_t shard, const PeerId& source, ByteView data) {
  auto check = check_collation(data, shard, current_period(), cfg_.max_age_periods, cfg_.limits,
                               [this](const Hash32& h) { return known(h); }, /*verify=*/false);
  if (check.result == pubsub::ValidationResult::accept && check.collation && !proposer_allowed(*check.collation)) {
    check.result = pubsub::ValidationResult::reject;
    check.code = make_error_code(ShardErrc::unknown_proposer);
    check.reason = "its proposer is not a known validator";
    check.collation.reset();
  }
  if (check.result == pubsub::ValidationResult::reject) {
    ++counters_.rejected;
    log()->info("rejected a collation on shard {} from {}: {}", shard, source.to_string(), check.reason);
  }
  return check;
}

pubsub::ValidationResult CollationRuntime::finish(std::uint32_t shard, const PeerId& source, const Collation& c,
                                                  const Hash32& id, const Status& verified) {
  if (!verified) {
    ++counters_.rejected;
    log()->info("rejected a collation on shard {} from {}: {}", shard, source.to_string(), verified.error().what());
    return pubsub::ValidationResult::reject;
  }
  if (known(id)) return pubsub::ValidationResult::ignore;
  accept(c, id);
  credit(source, c);
  return pubsub::ValidationResult::accept;
}

// ---- known validators: P5 ----

bool CollationRuntime::proposer_allowed(const Collation& c) const {
  return !cfg_.known_validators_only || cfg_.known_validators.count(c.header.proposer.bytes) != 0;
}

void CollationRuntime::credit(const PeerId& source, const Collation& c) {
  if (source == self_ || cfg_.known_validators.count(c.header.proposer.bytes) == 0) return;
  decay_credit(clock_.now());
  double& v = credit_[source];
  v = std::min(cfg_.validator_credit_cap, v + 1.0);
}

void CollationRuntime::decay_credit(TimePoint now) {
  if (now <= credit_decayed_at_) return;
  const double half_lives = std::chrono::duration<double>(now - credit_decayed_at_).count() /
                            std::max(1e-3, std::chrono::duration<double>(cfg_.validator_credit_half_life).count());
  credit_decayed_at_ = now;
  if (credit_.empty()) return;
  const double f = std::exp2(-half_lives);
  for (auto& [peer, v] : credit_) v *= f;
  std::erase_if(credit_, [](const auto& e) { return e.second < 0.01; });
}

double CollationRuntime::app_score(const PeerId& peer) const {
  auto it = credit_.find(peer);
  return it == credit_.end() ? 0.0 : it->second;
}

// ---- serve ----

Result<Bytes> CollationRuntime::answer(const PeerId& peer, ByteView request) {
  if (!store_) return Error{ShardErrc::malformed, "this node keeps no collations"};
  if (cfg_.requests_per_minute > 0) {
    // A per-peer budget per minute of the monotonic clock: serving reads the store.
    const auto minute = std::chrono::duration_cast<std::chrono::minutes>(clock_.now()).count();
    auto& [m, n] = served_[peer];
    if (m != minute) m = minute, n = 0;
    if (++n > cfg_.requests_per_minute) {
      ++counters_.refused;
      return Error{ShardErrc::oversize,
                   "collation request rate limit (" + std::to_string(cfg_.requests_per_minute) + " per minute)"};
    }
  }
  auto req = decode_collation_request(request, cfg_.protocol);
  if (!req) {
    ++counters_.refused;
    return req.error();
  }
  CollationResponse resp;
  if (const auto* h = std::get_if<CollationHashRequest>(&*req)) {
    auto c = store_->get(h->hash);
    if (!c) return c.error();
    if (*c) resp.collations.push_back(encode(**c));
  } else {
    const auto& rr = std::get<CollationRangeRequest>(*req);
    const std::size_t count = std::min<std::size_t>(rr.max_count, cfg_.protocol.max_count);
    // Room for the count and length varints and the truncated byte.
    const std::size_t max_bytes = cfg_.protocol.max_response_bytes > 1024 ? cfg_.protocol.max_response_bytes - 1024 : 0;
    auto got = store_->range(rr.shard, rr.from_period, rr.to_period, count, max_bytes);
    if (!got) return got.error();
    for (const auto& c : got->collations) resp.collations.push_back(encode(c));
    resp.truncated = got->truncated;
  }
  ++counters_.served;
  return encode_collation_response(resp);
}

// ---- propose ----

Result<Hash32> CollationRuntime::propose(std::uint32_t shard, Bytes body) {
  if (!validator_) return Error{ShardErrc::bad_signature, "no validator key: this node does not propose collations"};
  // With the stem, a collation for a shard we are not on leaves on the stem like any
  // other: nobody sees us publish on a shard we do not announce.
  if (shard >= manager_.config().shard_count || (!cfg_.stem && !manager_.shards().count(shard)))
    return Error{ShardErrc::wrong_shard, "not on shard " + std::to_string(shard)};
  if (body.size() > cfg_.limits.max_body_bytes)
    return Error{ShardErrc::oversize, "collation body of " + std::to_string(body.size()) + " bytes"};
  const Hash32 parent = tip(shard).value_or(Hash32{});
  auto c = make_collation(*validator_, shard, current_period(), parent, std::move(body));
  const auto id = collation_hash(c.header);
  if (!cfg_.stem) {
    accept(c, id);
    if (auto r = io_.publish(collation_topic(shard), encode(c)); !r) return r.error();
    return id;
  }
  // On the stem: stored (served, our tip) only once pubsub reports it gossiped.
  auto r = io_.publish(collation_topic(shard), encode(c));
  if (!r) return r.error();
  if (stemming_.size() >= kMaxStemming) stemming_.erase(stemming_.begin());
  stemming_.emplace(*r, std::make_pair(std::move(c), id));
  return id;
}

void CollationRuntime::on_own_gossiped(const pubsub::MessageId& mid) {
  auto it = stemming_.find(mid);
  if (it == stemming_.end()) return;
  auto [c, id] = std::move(it->second);
  stemming_.erase(it);
  accept(c, id);
}

// ---- fetch (one request, no retry: the control API's `request`) ----

void CollationRuntime::fetch(const PeerId& peer, const CollationRequest& req,
                             std::function<void(Result<std::size_t>)> done) {
  std::optional<std::uint32_t> want_shard;
  if (const auto* rr = std::get_if<CollationRangeRequest>(&req)) want_shard = rr->shard;
  std::optional<Hash32> want_hash;
  if (const auto* hr = std::get_if<CollationHashRequest>(&req)) want_hash = hr->hash;
  io_.request(peer, kCollationProtocol, encode_collation_request(req), cfg_.protocol.max_response_bytes + 16,
              [this, peer, want_shard, want_hash, done = std::move(done)](Result<Bytes> r) {
                if (!r) return done(r.error());
                auto resp = decode_collation_response(*r, cfg_.protocol);
                if (!resp) {
                  io_.penalize(peer, 1);
                  return done(resp.error());
                }
                std::size_t fresh = 0, invalid = 0;
                for (const auto& e : resp->collations) {
                  auto c = decode_collation(e, cfg_.limits);
                  if (!c || (want_shard && c->header.shard != *want_shard) || !proposer_allowed(*c)) {
                    ++invalid;
                    continue;
                  }
                  const auto id = collation_hash(c->header);
                  if (want_hash && id != *want_hash) {
                    ++invalid;
                    continue;
                  }
                  if (known(id)) continue;
                  accept(*c, id);
                  ++fresh;
                }
                if (invalid > 0) {
                  io_.penalize(peer, static_cast<double>(invalid));
                  log()->info("{} invalid collation(s) in a response from {}", invalid, peer.to_string());
                }
                done(fresh);
              });
}

// ---- sync ----

void CollationRuntime::on_joined(std::uint32_t shard) {
  SyncRecord s;
  s.shard = shard;
  s.joined_ms = wall_.unix_ms();
  syncs_[shard] = std::move(s);
  in_flight_.erase(shard);  // an answer to the previous join is dropped
}

void CollationRuntime::on_left(std::uint32_t shard) {
  syncs_.erase(shard);
  in_flight_.erase(shard);
}

void CollationRuntime::on_jump_done(const JumpRecord& j) {
  if (j.completed) advance(j.shard);
}

void CollationRuntime::tick() {
  const auto now = clock_.now();
  decay_credit(now);
  // Requests past their deadline count as failures; their late answers are dropped.
  std::vector<std::uint32_t> expired;
  for (const auto& [k, f] : in_flight_)
    if (now >= f.deadline) expired.push_back(k);
  for (auto k : expired) {
    in_flight_.erase(k);
    auto it = syncs_.find(k);
    if (it == syncs_.end() || !it->second.paging_with) continue;
    ++it->second.timeouts;
    ++counters_.sync_timeouts;
    log()->info("collation sync of shard {}: {} did not answer in time", k, it->second.paging_with->to_string());
    drop_sync_peer(it->second, *it->second.paging_with, false);
  }
  if (cfg_.prune && store_) {
    const auto cur = current_period();
    if (cur > cfg_.max_age_periods)
      if (auto r = store_->prune_before(cur - cfg_.max_age_periods); !r)
        log()->error("collation store: {}", r.error().what());
  }
  std::vector<std::uint32_t> pending;
  for (const auto& [k, s] : syncs_)
    if (!s.done) pending.push_back(k);
  for (auto k : pending) advance(k);
  const auto minute = std::chrono::duration_cast<std::chrono::minutes>(now).count();
  if (minute != last_minute_) {
    last_minute_ = minute;
    std::erase_if(served_, [minute](const auto& e) { return e.second.first != minute; });
  }
}

void CollationRuntime::drop_sync_peer(SyncRecord& s, const PeerId& peer, bool bad) {
  (bad ? s.bad : s.failed).insert(peer);
  s.paging_with.reset();
}

// One range request at a time per shard: to the peer we are paging through, or else
// to the first connected peer the table lists on the shard that has not sent invalid
// collations (in table order). A new peer is asked for the whole window: the sync is
// done when one peer has answered all of it without truncation.
void CollationRuntime::advance(std::uint32_t shard) {
  if (!cfg_.sync_on_join) return;
  auto it = syncs_.find(shard);
  if (it == syncs_.end() || it->second.done || in_flight_.count(shard)) return;
  if (manager_.jump_in_progress(shard)) return;
  SyncRecord& s = it->second;
  if (s.requests == 0) {
    const auto cur = current_period();
    const auto keep = cfg_.max_age_periods;
    s.from_period = cur > keep ? cur - keep : 0;
    s.to_period = cur + 1;
    s.next_from = s.from_period;
  }
  std::optional<PeerId> to;
  if (s.paging_with && io_.connected(*s.paging_with) && !s.bad.count(*s.paging_with)) {
    to = s.paging_with;
  } else {
    s.paging_with.reset();
    s.next_from = s.from_period;
    for (const auto& p : manager_.table().peers_on(shard)) {
      if (p == self_ || s.bad.count(p) || s.failed.count(p) || !io_.connected(p)) continue;
      to = p;
      break;
    }
    if (!to) {
      s.failed.clear();  // everyone reachable failed once: try them again next tick
      return;
    }
  }
  const PeerId peer = *to;
  if (s.started_ms == 0) s.started_ms = wall_.unix_ms();
  CollationRangeRequest rr;
  rr.shard = shard;
  rr.from_period = s.next_from;
  rr.to_period = s.to_period;
  rr.max_count = static_cast<std::uint32_t>(std::min<std::size_t>(cfg_.sync_max_count, cfg_.protocol.max_count));
  ++s.requests;
  ++counters_.sync_requests;
  s.asked.push_back(peer);
  s.paging_with = peer;
  const std::uint64_t rid = next_request_id_++;
  in_flight_[shard] = InFlight{rid, clock_.now() + cfg_.request_timeout};
  io_.request(peer, kCollationProtocol, encode_collation_request(rr), cfg_.protocol.max_response_bytes + 16,
              [this, shard, rid, peer, from = rr.from_period](Result<Bytes> r) {
                on_sync_answer(shard, rid, peer, from, std::move(r));
              });
}

void CollationRuntime::on_sync_answer(std::uint32_t shard, std::uint64_t rid, const PeerId& peer, std::uint64_t from,
                                      Result<Bytes> r) {
  auto f = in_flight_.find(shard);
  if (f == in_flight_.end() || f->second.request_id != rid) return;  // left, re-joined or timed out since
  in_flight_.erase(f);
  auto it = syncs_.find(shard);
  if (it == syncs_.end()) return;
  SyncRecord& s = it->second;
  if (!r) {
    drop_sync_peer(s, peer, false);
    return advance(shard);
  }
  auto resp = decode_collation_response(*r, cfg_.protocol);
  if (!resp) {
    ++s.invalid;
    ++counters_.sync_invalid;
    io_.penalize(peer, 1);
    drop_sync_peer(s, peer, true);
    return advance(shard);
  }
  const auto cur = current_period();
  const auto keep = cfg_.max_age_periods;
  std::size_t invalid = 0, valid = 0;
  std::uint64_t last = from;
  for (const auto& e : resp->collations) {
    auto c = decode_collation(e, cfg_.limits);
    // Verified, and what we asked for: this shard, within the window.
    if (!c || c->header.shard != shard || c->header.period < from || c->header.period > s.to_period ||
        !proposer_allowed(*c)) {
      ++invalid;
      continue;
    }
    ++valid;
    last = std::max(last, c->header.period);
    if (c->header.period + keep < cur) continue;  // fell out of the window meanwhile
    const auto id = collation_hash(c->header);
    if (known(id)) continue;
    accept(*c, id);
    ++s.received;
    ++counters_.sync_received;
  }
  if (invalid > 0) {
    s.invalid += invalid;
    counters_.sync_invalid += invalid;
    io_.penalize(peer, static_cast<double>(invalid));
    log()->info("{} invalid collation(s) from {} syncing shard {}: asking another peer", invalid, peer.to_string(),
                shard);
    drop_sync_peer(s, peer, true);
    return advance(shard);
  }
  if (resp->truncated) {
    if (valid == 0) {  // truncated yet empty: no progress possible with this peer
      drop_sync_peer(s, peer, false);
      return advance(shard);
    }
    // Ask again from the last period received (its collations may continue); past it
    // if the answer did not get beyond `from`, so paging always advances.
    s.next_from = last > from ? last : from + 1;
    if (s.next_from <= s.to_period) return advance(shard);
  }
  s.done = true;
  s.finished_ms = wall_.unix_ms();
  s.completed_by = peer;
  s.paging_with.reset();
  if (on_sync_done_) on_sync_done_(s);
}

}  // namespace shardnode::shard
