// Shard-layer decoders: preference records (and the table they go into), the table
// protocol, collations, the collation protocol, beacon headers.
#include <variant>

#include "../fuzz.h"
#include "shardnode/shard/beacon.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/preference.h"
#include "shardnode/shard/table.h"
#include "shardnode/shard/table_protocol.h"

namespace shardnode::fuzz {
namespace {

// Records in the seeds expire far in the future; "now" sits before them.
constexpr std::uint64_t kNow = 1'700'000'000;

const PeerId& forwarder() {
  static const PeerId id = PeerId::from_public_key(NodeKey::from_seed(Bytes(32, 9))->public_key());
  return id;
}

void check_preference(const shard::ShardPreference& p, const shard::PreferenceLimits& lim) {
  SHARDNODE_FUZZ_CHECK(shard::verify(p));
  auto again = shard::decode_preference(shard::encode(p), lim);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == p);
}

}  // namespace

// The gossiped record through the topic's validator, into a small table.
SHARDNODE_FUZZ_TARGET(preference) {
  const shard::PreferenceLimits lim{.shard_count = 64, .max_encoded = 1024};
  if (auto p = shard::decode_preference(ByteView(data, size), lim)) check_preference(*p, lim);
  shard::PreferenceTable table(shard::TableLimits{.max_entries = 4, .max_ttl = 1ull << 40});
  (void)shard::validate_preference_message(ByteView(data, size), forwarder(), kNow, lim, table);
}

// First byte: request (even) or response (odd); a response's records go into a table.
SHARDNODE_FUZZ_TARGET(table_protocol) {
  Input in(data, size);
  const shard::TableProtocolLimits lim;
  if (in.flag()) {
    auto recs = shard::decode_table_response(in.rest(), lim);
    if (!recs) return;
    SHARDNODE_FUZZ_CHECK(recs->size() <= lim.max_records);
    auto again = shard::decode_table_response(shard::encode_table_response(*recs), lim);
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *recs);
    shard::PreferenceTable table(shard::TableLimits{.max_entries = 8, .max_ttl = 1ull << 40});
    for (const auto& r : *recs)
      (void)shard::validate_preference_message(r, forwarder(), kNow, shard::PreferenceLimits{}, table);
    (void)table.snapshot(16);
  } else {
    auto n = shard::decode_table_request(in.rest(), lim);
    if (n) SHARDNODE_FUZZ_CHECK(*n <= lim.max_records);
  }
}

SHARDNODE_FUZZ_TARGET(collation) {
  auto c = shard::decode_collation(ByteView(data, size));
  if (!c) return;
  (void)shard::verify(*c);
  (void)shard::collation_hash(c->header);
  auto again = shard::decode_collation(shard::encode(*c));
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *c);
}

// First byte: request (even) or response (odd); a response's collations decode too.
SHARDNODE_FUZZ_TARGET(collation_protocol) {
  Input in(data, size);
  const shard::CollationProtocolLimits lim;
  if (in.flag()) {
    auto resp = shard::decode_collation_response(in.rest(), lim);
    if (!resp) return;
    for (const auto& b : resp->collations)
      if (auto c = shard::decode_collation(b)) (void)shard::verify(*c);
    auto again = shard::decode_collation_response(shard::encode_collation_response(*resp), lim);
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *resp);
  } else {
    auto req = shard::decode_collation_request(in.rest(), lim);
    if (!req) return;
    auto again = shard::decode_collation_request(shard::encode_collation_request(*req), lim);
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *req);
  }
}

SHARDNODE_FUZZ_TARGET(beacon) {
  auto b = shard::decode_beacon_header(ByteView(data, size));
  if (!b) return;
  (void)shard::verify(*b);
  (void)shard::beacon_hash(*b);
  auto again = shard::decode_beacon_header(shard::encode(*b));
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *b);
}

}  // namespace shardnode::fuzz
