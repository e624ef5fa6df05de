// BeaconTracker: the validator of the global beacon topic (kBeaconTopic) and the
// beacon head. Sans-IO: every call takes `now_ms` (unix ms in a node, virtual in the
// simulator); it reads no clock.
//
// Slot clock: slot s covers [genesis_ms + s*slot_ms, genesis_ms + (s+1)*slot_ms).
//
// The verdict for a message, checks in order (cheap before the signature, so
// duplicates and out-of-window slots cost no signature check):
//   reject: over limits.max_encoded (oversize), not a canonical BeaconHeader or wrong
//           field sizes (malformed)
//   ignore: slot > current + max_future_slots (future: maybe our clock is behind),
//           slot + max_past_slots < current (too_old), id already known (duplicate)
//   reject: signature does not verify (bad_signature)
//   accept: otherwise; the header is remembered and may become the head.
// The head is the accepted header with the highest slot; between headers of the same
// slot the one with the lexicographically smallest id (beacon_hash) wins, so every
// node that holds the same headers picks the same head whatever their arrival order.
// There is no fork choice beyond that (no parent chain, no validator registry).
//
// Remembered ids are forgotten when their slot leaves the past window (prune), or the
// lowest slots first when more than max_known are held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "shardnode/core/bytes.h"
#include "shardnode/pubsub/types.h"
#include "shardnode/shard/beacon.h"

namespace shardnode::shard {

struct BeaconTrackerConfig {
  std::uint64_t genesis_ms = 0;          // slot 0 begins here
  std::uint64_t slot_ms = 12'000;        // 0 is treated as 1
  std::uint64_t max_past_slots = 32;     // older slots are ignored (and forgotten)
  std::uint64_t max_future_slots = 1;    // slots this far ahead of ours are still taken
  std::size_t max_known = 4096;          // remembered ids (duplicate suppression)
  BeaconLimits limits;
};

struct BeaconCheck {
  pubsub::ValidationResult result = pubsub::ValidationResult::reject;
  std::error_code code;                 // empty when accepted
  std::string reason;                   // for logs; empty when accepted
  std::optional<BeaconHeader> header;   // when accepted
  std::optional<Hash32> hash;           // beacon_hash, once the header parsed
  bool new_head = false;                // accepted and became the head
};

struct BeaconHead {
  BeaconHeader header;
  Hash32 hash{};
  bool operator==(const BeaconHead&) const = default;
};

struct BeaconCounters {
  std::uint64_t accepted = 0, rejected = 0, ignored = 0, head_changes = 0;
};

class BeaconTracker {
 public:
  explicit BeaconTracker(BeaconTrackerConfig cfg = {});

  std::uint64_t slot_at(std::uint64_t now_ms) const;
  // The unix ms a slot begins (saturates).
  std::uint64_t slot_start_ms(std::uint64_t slot) const;

  // The pubsub validator for kBeaconTopic (accepted headers are tracked).
  BeaconCheck on_message(ByteView data, std::uint64_t now_ms);
  // A header we made ourselves (a proposer): the same checks on its encoding, so it
  // becomes our head like any other before we publish it.
  BeaconCheck on_local(const BeaconHeader& h, std::uint64_t now_ms) { return on_message(encode(h), now_ms); }

  const std::optional<BeaconHead>& head() const { return head_; }
  // True if this id was accepted and is still remembered.
  bool known(const Hash32& id) const { return known_.count(id) != 0; }
  std::size_t known_count() const { return known_.size(); }
  // Forgets ids whose slot left the past window. on_message prunes as it goes; call
  // this from a timer to release memory when no beacon traffic arrives.
  void prune(std::uint64_t now_ms);
  const BeaconCounters& counters() const { return counters_; }
  const BeaconTrackerConfig& config() const { return cfg_; }
  void on_head_changed(std::function<void(const BeaconHead&)> f) { on_head_changed_ = std::move(f); }

  // True if (slot_a, id_a) beats (slot_b, id_b) as a head.
  static bool better(std::uint64_t slot_a, const Hash32& id_a, std::uint64_t slot_b, const Hash32& id_b) {
    return slot_a != slot_b ? slot_a > slot_b : id_a < id_b;
  }

 private:
  BeaconTrackerConfig cfg_;
  std::map<Hash32, std::uint64_t> known_;             // id -> slot
  std::set<std::pair<std::uint64_t, Hash32>> by_slot_;  // (slot, id), for pruning
  std::optional<BeaconHead> head_;
  BeaconCounters counters_;
  std::function<void(const BeaconHead&)> on_head_changed_;
};

}  // namespace shardnode::shard
