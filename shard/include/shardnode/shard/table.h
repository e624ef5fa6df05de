// The preference table: the newest valid shard-preference record per peer, used to
// find peers for a shard (jumps) and to answer table requests from joining nodes.
// Sans-IO: every time-dependent call takes `now` in unix seconds. Records handed to
// insert() must already be verified (decode_preference() or make_preference()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/pubsub/types.h"
#include "shardnode/shard/preference.h"

namespace shardnode::shard {

struct TableLimits {
  std::size_t max_entries = 10000;
  // Records may live at most this long past `now` on arrival; a record that claims
  // more is rejected. Includes slack for clocks that run ahead.
  std::uint64_t max_ttl = 3600;
};

class PreferenceTable {
 public:
  enum class Outcome {
    added,               // a peer the table did not hold
    updated,             // replaced the peer's record with a higher seq
    stale_or_duplicate,  // seq <= the held record's seq
    expired,             // expires_at <= now
    ttl_too_long,        // expires_at - now > max_ttl
    full,                // table full and this record expires no later than every held one
  };

  explicit PreferenceTable(TableLimits limits = {}) : limits_(limits) {}

  // When full, the soonest-expiring record is evicted to make room, unless the new
  // record would itself be the soonest to expire (then it is not stored: `full`).
  Outcome insert(ShardPreference rec, std::uint64_t now);
  // Removes every record with expires_at <= now; returns how many.
  std::size_t evict_expired(std::uint64_t now);

  // Peers whose record lists `shard`, in peer-id order. Records past their expiry
  // stay until evict_expired() runs (the node calls it on a timer).
  std::vector<PeerId> peers_on(std::uint32_t shard) const;
  std::optional<ShardPreference> get(const PeerId& peer) const;
  // Newest first (latest expires_at, ties by peer id), at most max_count records.
  // Records are re-announced with a fixed TTL, so the latest expiry is the freshest.
  std::vector<ShardPreference> snapshot(std::size_t max_count) const;
  std::size_t size() const { return by_peer_.size(); }
  const TableLimits& limits() const { return limits_; }

 private:
  void erase(std::map<PeerId, ShardPreference>::iterator it);

  TableLimits limits_;
  std::map<PeerId, ShardPreference> by_peer_;
  std::set<std::pair<std::uint64_t, PeerId>> by_expiry_;  // (expires_at, peer)
};

const char* to_string(PreferenceTable::Outcome o);

// The verdict for a message on kPreferenceTopic, for the pubsub validator hook.
struct PreferenceVerdict {
  pubsub::ValidationResult result = pubsub::ValidationResult::reject;
  std::error_code code;                     // empty when accepted
  std::string reason;                       // for logs; empty when accepted
  std::optional<PreferenceTable::Outcome> outcome;  // set once the record decoded
};

// Decodes and verifies `data`, then inserts it into `table` (so an accepted record
// is stored). Mapping:
//   decode/verify failure (oversize, malformed, wrong shard_count, bad signature) -> reject
//   TTL over max_ttl                                                             -> reject
//   expired                                                                      -> reject
//   stale or duplicate seq                                                       -> ignore
//   added, updated, or valid but not stored because the table is full            -> accept
// Expired is a reject, not an ignore: nodes re-announce long before their records
// expire and a record is gossiped once, when published, so an honest forwarder only
// relays live records; an expired one on the wire is a replay (or a clock off by more
// than the TTL) and its forwarder earns the invalid-message penalty.
// `forwarder` is the pubsub propagation source. Records are relayed by anyone, and
// authorship comes from the signature, so it plays no part in the verdict.
PreferenceVerdict validate_preference_message(ByteView data, const PeerId& forwarder, std::uint64_t now,
                                              const PreferenceLimits& limits, PreferenceTable& table);

}  // namespace shardnode::shard
