// BeaconTracker: the beacon topic's validator (malformed, forged, out-of-window,
// duplicate headers) and the head (highest slot, ties by id).
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "../support/proto_writer.h"
#include "../support/shard_keys.h"
#include "shardnode/core/errors.h"
#include "shardnode/shard/beacon_tracker.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;
using pubsub::ValidationResult;

namespace {

using test::h32;
using test::vkey;

constexpr std::uint64_t kGenesis = 1'800'000'000'000;
constexpr std::uint64_t kSlot = 2000;

BeaconTrackerConfig cfg() {
  BeaconTrackerConfig c;
  c.genesis_ms = kGenesis;
  c.slot_ms = kSlot;
  c.max_past_slots = 4;
  c.max_future_slots = 1;
  return c;
}

// Mid-slot `s`.
std::uint64_t at(std::uint64_t s) { return kGenesis + s * kSlot + kSlot / 2; }

using test::field_bytes;
using test::field_varint;

}  // namespace

TEST_CASE("beacon tracker slot clock", "[shard][beacon]") {
  BeaconTracker t(cfg());
  CHECK(t.slot_at(0) == 0);
  CHECK(t.slot_at(kGenesis - 1) == 0);
  CHECK(t.slot_at(kGenesis) == 0);
  CHECK(t.slot_at(kGenesis + kSlot - 1) == 0);
  CHECK(t.slot_at(kGenesis + kSlot) == 1);
  CHECK(t.slot_start_ms(3) == kGenesis + 3 * kSlot);
  CHECK(t.slot_start_ms(~0ULL) == ~0ULL);
  BeaconTrackerConfig zero;
  zero.slot_ms = 0;  // treated as 1, never a division by zero
  BeaconTracker z(zero);
  CHECK(z.slot_at(5) == 5);
  CHECK_FALSE(t.head());
}

TEST_CASE("beacon tracker accepts valid headers and follows the head", "[shard][beacon]") {
  BeaconTracker t(cfg());
  std::vector<BeaconHead> changes;
  t.on_head_changed([&](const BeaconHead& h) { changes.push_back(h); });
  const auto k1 = vkey(1), k2 = vkey(2);

  const auto b10 = make_beacon_header(k1, 10, h32(0), h32(1));
  auto r = t.on_message(encode(b10), at(10));
  CHECK(r.result == ValidationResult::accept);
  CHECK_FALSE(r.code);
  CHECK(r.reason.empty());
  REQUIRE(r.header);
  CHECK(*r.header == b10);
  REQUIRE(r.hash);
  CHECK(*r.hash == beacon_hash(b10));
  CHECK(r.new_head);
  REQUIRE(t.head());
  CHECK(t.head()->hash == beacon_hash(b10));
  CHECK(t.known(beacon_hash(b10)));

  // A later slot (one ahead of ours is allowed) becomes the head.
  const auto b11 = make_beacon_header(k2, 11, beacon_hash(b10), h32(2));
  r = t.on_message(encode(b11), at(10));
  CHECK(r.result == ValidationResult::accept);
  CHECK(r.new_head);
  CHECK(t.head()->header == b11);

  // An earlier slot, still in the window, is accepted but is not the head.
  const auto b9 = make_beacon_header(k2, 9, h32(0), h32(3));
  r = t.on_message(encode(b9), at(11));
  CHECK(r.result == ValidationResult::accept);
  CHECK_FALSE(r.new_head);
  CHECK(t.head()->header == b11);
  CHECK(changes.size() == 2);
  CHECK(changes.back().header == b11);
  CHECK(t.counters().accepted == 3);
  CHECK(t.counters().head_changes == 2);

  // Our own header counts like a received one.
  const auto b12 = make_beacon_header(k1, 12, beacon_hash(b11), h32(4));
  r = t.on_local(b12, at(12));
  CHECK(r.result == ValidationResult::accept);
  CHECK(t.head()->header == b12);
}

TEST_CASE("beacon head ties at one slot are broken by the smallest id, in any arrival order", "[shard][beacon]") {
  std::vector<BeaconHeader> rivals;
  for (std::uint8_t i = 1; i <= 6; ++i) rivals.push_back(make_beacon_header(vkey(i), 20, h32(9), h32(i)));
  const auto best = std::min_element(rivals.begin(), rivals.end(), [](const auto& a, const auto& b) {
    return beacon_hash(a) < beacon_hash(b);
  });
  std::vector<std::size_t> order(rivals.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  int permutations = 0;
  do {
    BeaconTracker t(cfg());
    for (auto i : order) CHECK(t.on_message(encode(rivals[i]), at(20)).result == ValidationResult::accept);
    REQUIRE(t.head());
    CHECK(t.head()->header == *best);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()) && permutations < 40);
  CHECK(BeaconTracker::better(5, h32(9), 4, h32(0)));
  CHECK(BeaconTracker::better(5, h32(1), 5, h32(2)));
  CHECK_FALSE(BeaconTracker::better(5, h32(2), 5, h32(2)));
  CHECK_FALSE(BeaconTracker::better(4, h32(0), 5, h32(9)));
}

TEST_CASE("beacon tracker ignores duplicates and slots outside the window", "[shard][beacon]") {
  BeaconTracker t(cfg());
  const auto k = vkey(3);
  const auto b = make_beacon_header(k, 50, h32(0), h32(1));
  REQUIRE(t.on_message(encode(b), at(50)).result == ValidationResult::accept);
  auto r = t.on_message(encode(b), at(50));
  CHECK(r.result == ValidationResult::ignore);
  CHECK(r.code == ShardErrc::duplicate);
  CHECK(t.counters().ignored == 1);

  // Two slots ahead with max_future_slots = 1: ignored (our clock may be behind), not the head.
  const auto ahead = make_beacon_header(k, 52, h32(0), h32(2));
  r = t.on_message(encode(ahead), at(50));
  CHECK(r.result == ValidationResult::ignore);
  CHECK(r.code == ShardErrc::future);
  CHECK(t.head()->header == b);
  // ... and taken once its time has come.
  CHECK(t.on_message(encode(ahead), at(51)).result == ValidationResult::accept);
  CHECK(t.head()->header == ahead);
  // A far-future slot near the top of the range never wraps around.
  const auto far = make_beacon_header(k, ~0ULL, h32(0), h32(3));
  CHECK(t.on_message(encode(far), at(51)).code == ShardErrc::future);

  // max_past_slots = 4: slot 46 is the oldest taken at slot 50, slot 45 is too old.
  const auto old_ok = make_beacon_header(k, 46, h32(0), h32(4));
  const auto old_bad = make_beacon_header(k, 45, h32(0), h32(5));
  CHECK(t.on_message(encode(old_ok), at(50)).result == ValidationResult::accept);
  r = t.on_message(encode(old_bad), at(50));
  CHECK(r.result == ValidationResult::ignore);
  CHECK(r.code == ShardErrc::too_old);
  CHECK(t.head()->header == ahead);

  // Out-of-window checks come before the signature: a forged old header is ignored, not rejected.
  auto forged_old = old_bad;
  forged_old.signature[0] ^= 1;
  CHECK(t.on_message(encode(forged_old), at(50)).result == ValidationResult::ignore);
}

TEST_CASE("beacon tracker forgets ids that leave the window and caps what it holds", "[shard][beacon]") {
  auto c = cfg();
  c.max_known = 3;
  BeaconTracker t(c);
  const auto k = vkey(4);
  std::vector<BeaconHeader> hs;
  for (std::uint64_t s = 100; s < 105; ++s) {
    hs.push_back(make_beacon_header(k, s, h32(0), h32(static_cast<std::uint8_t>(s))));
    REQUIRE(t.on_message(encode(hs.back()), at(s)).result == ValidationResult::accept);
  }
  CHECK(t.known_count() == 3);  // the lowest slots went first
  CHECK_FALSE(t.known(beacon_hash(hs[0])));
  CHECK(t.known(beacon_hash(hs[4])));
  CHECK(t.head()->header == hs[4]);
  t.prune(at(200));  // everything left the window; the head stays the head
  CHECK(t.known_count() == 0);
  REQUIRE(t.head());
  CHECK(t.head()->header == hs[4]);
}

TEST_CASE("beacon tracker rejects malformed, oversize and forged headers", "[shard][beacon][malformed]") {
  BeaconTracker t(cfg());
  const auto k = vkey(5);
  const auto b = make_beacon_header(k, 30, h32(7), h32(8));
  const Bytes enc = encode(b);

  for (std::size_t n = 0; n < enc.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    auto r = t.on_message(ByteView(enc).first(n), at(30));
    CHECK(r.result == ValidationResult::reject);
    CHECK(r.code == ShardErrc::malformed);
    CHECK_FALSE(r.header);
  }
  CHECK(t.on_message(Bytes{0xff, 0xff, 0xff}, at(30)).code == ShardErrc::malformed);

  // Wrong field sizes.
  for (int field = 2; field <= 5; ++field) {
    Bytes m;
    field_varint(m, 1, b.slot);
    field_bytes(m, 2, Bytes(field == 2 ? 31 : 32, 1));
    field_bytes(m, 3, Bytes(field == 3 ? 33 : 32, 2));
    field_bytes(m, 4, field == 4 ? Bytes(16, 3) : Bytes(b.proposer.bytes.begin(), b.proposer.bytes.end()));
    field_bytes(m, 5, Bytes(field == 5 ? 63 : 64, 4));
    INFO("field " << field);
    CHECK(t.on_message(m, at(30)).code == ShardErrc::malformed);
  }
  // Non-canonical: an unknown field appended; the same fields out of order.
  Bytes extra = enc;
  field_varint(extra, 9, 1);
  CHECK(t.on_message(extra, at(30)).code == ShardErrc::malformed);
  Bytes reordered;
  field_bytes(reordered, 2, b.parent_hash);
  field_varint(reordered, 1, b.slot);
  field_bytes(reordered, 3, b.state_root);
  field_bytes(reordered, 4, b.proposer.bytes);
  field_bytes(reordered, 5, b.signature);
  CHECK(t.on_message(reordered, at(30)).code == ShardErrc::malformed);

  // Oversize.
  CHECK(t.on_message(Bytes(t.config().limits.max_encoded + 1, 0), at(30)).code == ShardErrc::oversize);

  // Bad signatures: a flipped signature bit, a changed field under a valid signature,
  // another key's signature.
  BeaconHeader forged = b;
  forged.signature[10] ^= 0x20;
  auto r = t.on_message(encode(forged), at(30));
  CHECK(r.result == ValidationResult::reject);
  CHECK(r.code == ShardErrc::bad_signature);
  REQUIRE(r.hash);  // the header parsed
  forged = b;
  forged.state_root[0] ^= 1;
  CHECK(t.on_message(encode(forged), at(30)).code == ShardErrc::bad_signature);
  forged = b;
  forged.proposer = vkey(6).public_key();
  CHECK(t.on_message(encode(forged), at(30)).code == ShardErrc::bad_signature);

  CHECK_FALSE(t.head());
  CHECK(t.counters().accepted == 0);
  CHECK(t.counters().rejected > 0);
  // The genuine header is still taken after all that.
  CHECK(t.on_message(enc, at(30)).result == ValidationResult::accept);
  CHECK(t.head()->header == b);
}
