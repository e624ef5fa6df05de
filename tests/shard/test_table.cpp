#include <catch2/catch.hpp>

#include <algorithm>

#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"
#include "shardnode/shard/table.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;
using Outcome = PreferenceTable::Outcome;
using pubsub::ValidationResult;

namespace {

NodeKey key_from(std::uint8_t fill) { return std::move(NodeKey::from_seed(Bytes(32, fill)).value()); }

constexpr std::uint64_t kNow = 1'700'000'000;

ShardPreference pref(const NodeKey& k, std::uint64_t seq, std::uint64_t ttl, std::set<std::uint32_t> shards = {1}) {
  return make_preference(k, seq, kNow + ttl, 64, shards);
}

PeerId peer_of(const NodeKey& k) { return PeerId::from_public_key(k.public_key()); }

}  // namespace

TEST_CASE("the table keeps the newest record per peer and refuses stale ones", "[shard][table]") {
  const NodeKey k = key_from(1);
  PreferenceTable t;
  CHECK(t.insert(pref(k, 5, 600, {1}), kNow) == Outcome::added);
  CHECK(t.size() == 1);
  CHECK(t.insert(pref(k, 6, 600, {2}), kNow) == Outcome::updated);
  CHECK(t.size() == 1);
  auto held = t.get(peer_of(k));
  REQUIRE(held);
  CHECK(held->seq == 6);
  CHECK(held->contains(2));
  CHECK_FALSE(held->contains(1));

  CHECK(t.insert(pref(k, 6, 900, {3}), kNow) == Outcome::stale_or_duplicate);  // same seq
  CHECK(t.insert(pref(k, 4, 900, {3}), kNow) == Outcome::stale_or_duplicate);  // older seq
  CHECK(t.get(peer_of(k))->seq == 6);
  CHECK(t.peers_on(2) == std::vector<PeerId>{peer_of(k)});
  CHECK(t.peers_on(1).empty());
  CHECK_FALSE(t.get(peer_of(key_from(2))));
}

TEST_CASE("expired records and records with a TTL over the cap are not stored", "[shard][table]") {
  const NodeKey k = key_from(3);
  TableLimits lim;
  lim.max_ttl = 600;
  PreferenceTable t(lim);
  CHECK(t.insert(make_preference(k, 1, kNow, 64, {1}), kNow) == Outcome::expired);       // expires_at == now
  CHECK(t.insert(make_preference(k, 1, kNow - 1, 64, {1}), kNow) == Outcome::expired);
  CHECK(t.insert(make_preference(k, 1, 0, 64, {1}), kNow) == Outcome::expired);
  CHECK(t.insert(pref(k, 1, 601), kNow) == Outcome::ttl_too_long);
  CHECK(t.insert(make_preference(k, 1, UINT64_MAX, 64, {1}), kNow) == Outcome::ttl_too_long);
  CHECK(t.size() == 0);
  CHECK(t.insert(pref(k, 1, 600), kNow) == Outcome::added);
  CHECK(t.insert(pref(k, 2, 1), kNow) == Outcome::updated);
}

TEST_CASE("evict_expired removes exactly the records whose time has come", "[shard][table]") {
  PreferenceTable t;
  const NodeKey a = key_from(4), b = key_from(5), c = key_from(6);
  REQUIRE(t.insert(pref(a, 1, 100), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(b, 1, 200), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(c, 1, 300), kNow) == Outcome::added);
  CHECK(t.evict_expired(kNow + 99) == 0);
  CHECK(t.evict_expired(kNow + 100) == 1);
  CHECK_FALSE(t.get(peer_of(a)));
  CHECK(t.size() == 2);
  // An update moves a record's expiry: b now lives to +400.
  REQUIRE(t.insert(pref(b, 2, 400), kNow) == Outcome::updated);
  CHECK(t.evict_expired(kNow + 300) == 1);
  CHECK_FALSE(t.get(peer_of(c)));
  CHECK(t.get(peer_of(b)));
  CHECK(t.evict_expired(kNow + 10'000) == 1);
  CHECK(t.size() == 0);
  CHECK(t.evict_expired(kNow + 10'000) == 0);
  // A peer whose record was evicted can come back with any seq.
  CHECK(t.insert(pref(a, 1, 100), kNow + 50) == Outcome::added);
}

TEST_CASE("a full table evicts the soonest-expiring record", "[shard][table]") {
  TableLimits lim;
  lim.max_entries = 3;
  PreferenceTable t(lim);
  const NodeKey a = key_from(7), b = key_from(8), c = key_from(9), d = key_from(10), e = key_from(11);
  REQUIRE(t.insert(pref(a, 1, 100), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(b, 1, 200), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(c, 1, 300), kNow) == Outcome::added);
  CHECK(t.insert(pref(d, 1, 250), kNow) == Outcome::added);
  CHECK(t.size() == 3);
  CHECK_FALSE(t.get(peer_of(a)));
  CHECK(t.get(peer_of(d)));
  // A newcomer that would itself expire first is the one left out.
  CHECK(t.insert(pref(e, 1, 200), kNow) == Outcome::full);
  CHECK(t.insert(pref(e, 1, 50), kNow) == Outcome::full);
  CHECK_FALSE(t.get(peer_of(e)));
  CHECK(t.size() == 3);
  // Updating a held peer never evicts anyone.
  CHECK(t.insert(pref(b, 2, 10), kNow) == Outcome::updated);
  CHECK(t.size() == 3);
  CHECK(t.get(peer_of(b)));
  CHECK(t.get(peer_of(c)));
  CHECK(t.get(peer_of(d)));

  TableLimits none;
  none.max_entries = 0;
  PreferenceTable zero(none);
  CHECK(zero.insert(pref(a, 1, 100), kNow) == Outcome::full);
  CHECK(zero.size() == 0);
}

TEST_CASE("peers_on lists the peers serving a shard", "[shard][table]") {
  PreferenceTable t;
  const NodeKey a = key_from(12), b = key_from(13), c = key_from(14);
  REQUIRE(t.insert(pref(a, 1, 100, {0, 5}), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(b, 1, 100, {5, 63}), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(c, 1, 100, {}), kNow) == Outcome::added);
  std::vector<PeerId> on5 = {peer_of(a), peer_of(b)};
  std::sort(on5.begin(), on5.end());
  CHECK(t.peers_on(5) == on5);
  CHECK(t.peers_on(0) == std::vector<PeerId>{peer_of(a)});
  CHECK(t.peers_on(63) == std::vector<PeerId>{peer_of(b)});
  CHECK(t.peers_on(1).empty());
  CHECK(t.peers_on(64).empty());
  // Leaving a shard is an update like any other.
  REQUIRE(t.insert(pref(a, 2, 100, {0}), kNow) == Outcome::updated);
  CHECK(t.peers_on(5) == std::vector<PeerId>{peer_of(b)});
}

TEST_CASE("snapshot returns the freshest records first up to a count", "[shard][table]") {
  PreferenceTable t;
  const NodeKey a = key_from(15), b = key_from(16), c = key_from(17);
  REQUIRE(t.insert(pref(a, 1, 100), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(b, 1, 300), kNow) == Outcome::added);
  REQUIRE(t.insert(pref(c, 1, 200), kNow) == Outcome::added);
  auto all = t.snapshot(10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].peer_id() == peer_of(b));
  CHECK(all[1].peer_id() == peer_of(c));
  CHECK(all[2].peer_id() == peer_of(a));
  auto two = t.snapshot(2);
  REQUIRE(two.size() == 2);
  CHECK(two[0] == all[0]);
  CHECK(two[1] == all[1]);
  CHECK(t.snapshot(0).empty());
  // Snapshots hold verified records that decode again.
  for (const auto& rec : all) CHECK(decode_preference(encode(rec), {}));
}

TEST_CASE("preference messages map to accept ignore and reject", "[shard][table]") {
  const NodeKey k = key_from(18), fwd = key_from(19);
  const PeerId forwarder = peer_of(fwd);
  PreferenceTable t;
  const PreferenceLimits lim;

  auto v = validate_preference_message(encode(pref(k, 2, 600)), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::accept);
  CHECK(v.outcome == Outcome::added);
  CHECK_FALSE(v.code);
  CHECK(v.reason.empty());
  CHECK(t.get(peer_of(k)));

  v = validate_preference_message(encode(pref(k, 3, 600)), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::accept);
  CHECK(v.outcome == Outcome::updated);

  // Duplicates and older records are ignored: not propagated, no penalty.
  v = validate_preference_message(encode(pref(k, 3, 600)), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::ignore);
  CHECK(v.code == ShardErrc::stale);
  v = validate_preference_message(encode(pref(k, 1, 600)), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::ignore);
  CHECK(v.outcome == Outcome::stale_or_duplicate);

  // Expired is a replay: rejected.
  v = validate_preference_message(encode(make_preference(k, 9, kNow - 1, 64, {1})), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::reject);
  CHECK(v.code == ShardErrc::expired);
  CHECK(v.outcome == Outcome::expired);
  // A TTL over the cap is rejected.
  v = validate_preference_message(encode(pref(k, 9, t.limits().max_ttl + 1)), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::reject);
  CHECK(v.code == ShardErrc::future);

  // Decode failures are rejected and never reach the table.
  v = validate_preference_message(Bytes{0xff, 0xff}, forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::reject);
  CHECK(v.code == ShardErrc::malformed);
  CHECK_FALSE(v.outcome);
  CHECK_FALSE(v.reason.empty());
  Bytes flipped = encode(pref(k, 10, 600));
  flipped.back() ^= 0x80;
  v = validate_preference_message(flipped, forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::reject);
  CHECK(v.code == ShardErrc::bad_signature);
  v = validate_preference_message(encode(make_preference(k, 11, kNow + 60, 32, {1})), forwarder, kNow, lim, t);
  CHECK(v.result == ValidationResult::reject);
  CHECK(v.code == ShardErrc::wrong_shard_count);
  CHECK(t.get(peer_of(k))->seq == 3);

  // A valid record the full table does not keep is still accepted (propagated).
  TableLimits none;
  none.max_entries = 0;
  PreferenceTable zero(none);
  v = validate_preference_message(encode(pref(k, 1, 600)), forwarder, kNow, lim, zero);
  CHECK(v.result == ValidationResult::accept);
  CHECK(v.outcome == Outcome::full);
  CHECK(std::string(to_string(Outcome::full)) == "table full");
}
