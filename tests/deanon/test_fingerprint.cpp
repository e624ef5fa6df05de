// Subscription fingerprinting (deanon/fingerprint.h) on real routers and real shard
// managers: in plain mode observers linked to every node attribute validators to
// their hosts from fanout publishes; with the manager's cover shards a host never
// sends its own message on a shard it does not announce, so the true hosts give no
// signal at all.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

#include "shardnode/deanon/fingerprint.h"

using namespace shardnode;
using namespace shardnode::deanon;
using namespace std::chrono_literals;

namespace {

// Small and fast (every node runs a real shard manager, and every node verifies every
// announcement): 24 nodes, 6 shards, one day of 5 epochs.
FingerprintConfig small(SubscriptionMode mode, double observer_fraction, std::uint64_t seed) {
  FingerprintConfig c;
  c.nodes = 24;
  c.degree = 6;
  c.shards = 6;
  c.observers = 2;
  c.observer_fraction = observer_fraction;
  c.validators = 32;
  c.days = 1;
  c.epochs_per_day = 5;
  c.mode = mode;
  c.runs = 1;
  c.seed = seed;
  return c;
}

}  // namespace

TEST_CASE("bad fingerprinting configs are refused", "[deanon][fingerprint]") {
  CHECK(FingerprintConfig{}.validate());
  FingerprintConfig c;
  c.observers = 0;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.observer_fraction = 0.0;
  CHECK_FALSE(c.validate());
  c.observer_fraction = 1.5;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.degree = c.nodes + c.observers;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.cover_shards = c.shards + 1;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.plain_shards = 0;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.days = 0;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.epoch_length = 0ms;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.min_signals = 0;
  CHECK_FALSE(c.validate());
  c = FingerprintConfig{};
  c.runs = 0;
  CHECK_FALSE(c.validate());
  CHECK_THROWS_AS(run_fingerprint(c), std::invalid_argument);
  CHECK_THROWS_AS(run_fingerprint_once(c, 0), std::invalid_argument);
}

TEST_CASE("plain mode: observers linked to every node attribute most validators", "[deanon][fingerprint]") {
  FingerprintConfig c = small(SubscriptionMode::plain, 1.0, 3);
  c.runs = 2;
  const FingerprintResult r = run_fingerprint(c);
  INFO("coverage " << r.coverage.mean << ", precision " << r.precision.mean << ", signals/validator "
                   << r.signals_per_validator.mean);
  CHECK(r.hosts_next_to_observer.mean == 1.0);
  CHECK(r.coverage.mean > 0.5);
  CHECK(r.precision.mean >= 0.9);
  // A host not subscribed to its duty shard fanout-publishes to its observer neighbours,
  // one hop before anyone else can: nearly every signal names the host.
  CHECK(r.signals_from_host.mean >= 0.9);
  for (const FingerprintRun& run : r.runs) {
    CHECK(run.messages == 32 * 5);
    CHECK(run.published == run.messages);
    CHECK(run.stem_failures == 0);
    REQUIRE(run.coverage_by_day.size() == 1);
    CHECK(run.coverage == run.coverage_by_day.back());
    CHECK(run.latency_ms > 0.0);
    // The shard managers announced (start, the first re-announcement) and never
    // drew cover shards.
    CHECK(run.announcements >= 2 * 24);
    CHECK(run.cover_rotations == 0);
  }
}

TEST_CASE("plain mode: only hosts next to an observer can be attributed", "[deanon][fingerprint]") {
  FingerprintConfig c = small(SubscriptionMode::plain, 0.3, 5);
  c.observers = 1;
  c.runs = 1;
  const FingerprintRun r = run_fingerprint_once(c, 0);
  INFO("coverage " << r.coverage << ", hosts next to an observer " << r.hosts_next_to_observer);
  CHECK(r.hosts_next_to_observer < 1.0);
  CHECK(r.coverage <= r.hosts_next_to_observer);
  CHECK(r.coverage > 0.0);
}

TEST_CASE("plain mode: no attribution below min_signals", "[deanon][fingerprint]") {
  FingerprintConfig c = small(SubscriptionMode::plain, 1.0, 3);
  c.min_signals = 6;  // more than the 5 duties a validator has in a day
  c.runs = 1;
  const FingerprintRun r = run_fingerprint_once(c, 0);
  CHECK(r.signals > 0);
  CHECK(r.attributed == 0);
  CHECK(r.coverage == 0.0);
  CHECK(std::isnan(r.precision));
}

TEST_CASE("cover mode: the true hosts give no signal", "[deanon][fingerprint]") {
  const FingerprintResult r = run_fingerprint(small(SubscriptionMode::cover, 1.0, 3));
  INFO("coverage " << r.coverage.mean << ", signals/validator " << r.signals_per_validator.mean << ", stem failures "
                   << r.stem_failures.mean);
  CHECK(r.coverage.mean <= 0.01);
  for (const FingerprintRun& run : r.runs) {
    CHECK(run.signals_from_host == 0);
    CHECK(run.correct == 0);
    CHECK(run.published + run.stem_failures == run.messages);
    CHECK(run.reach > 0.5);
    // The managers drew cover shards at start and at every epoch's start, and
    // announced each draw.
    CHECK(run.cover_rotations >= 24 * 6);
    CHECK(run.announcements >= run.cover_rotations);
  }
}

TEST_CASE("a fingerprinting experiment is a pure function of its seed", "[deanon][fingerprint]") {
  FingerprintConfig c = small(SubscriptionMode::cover, 0.5, 42);
  c.nodes = 12;
  c.validators = 8;
  c.epochs_per_day = 1;
  c.days = 2;
  c.runs = 2;
  const FingerprintResult r = run_fingerprint(c);
  const auto a = to_json(r);
  CHECK(a == to_json(run_fingerprint(c)));
  CHECK(a["runs"][0]["seed"] != a["runs"][1]["seed"]);
  CHECK(a["config"]["mode"] == "cover");
  CHECK(a["metrics"]["coverage_by_day"].size() == 2);
  CHECK(a["metrics"]["coverage"]["runs"] == 2);
  const std::string table = to_table(r);
  CHECK(table.find("coverage after day 2") != std::string::npos);
  CHECK(table.find("stem failures") != std::string::npos);
  // Another seed, another experiment.
  c.seed = 43;
  const FingerprintRun other = run_fingerprint_once(c, 0);
  CHECK(other.seed != r.runs[0].seed);
  CHECK(other.latency_ms != r.runs[0].latency_ms);
}
