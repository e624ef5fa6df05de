// Subscription fingerprinting in the style of Heimbach et al. 2024: well-connected
// observers that know which shards each neighbour announces link a validator to
// its host when the host sends a message on a shard it does not announce (a
// gossipsub fanout publish). Measured over simulated days of validator duties on
// the shipped code on the simulator - real gossipsub routers and real shard managers
// (shard/sim/shard_sim.h: announcements, preference tables, cover shards) - in
// today's "plain" mode and in the "cover subscriptions" mode. Deterministic from the
// seed. See deanon/README.md.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"
#include "shardnode/deanon/stats.h"

namespace shardnode::deanon {

enum class SubscriptionMode {
  // Long-lived shards joined through the shard manager (redrawn daily by jumps);
  // own duty messages on other shards are flood-published from the host without
  // subscribing (fanout).
  plain,
  // The shard manager's cover shards (ShardManagerConfig::cover_shards), redrawn by
  // the manager every epoch, with the stem phase on (pubsub/stem.h): own messages
  // leave on the stem - on a shard the host is not on, to an outbound peer that
  // is - and are never flood-published.
  cover,
};

const char* to_string(SubscriptionMode m);

struct FingerprintConfig {
  std::uint32_t nodes = 200;  // honest nodes
  // Random regular graph over the honest nodes and the observers together.
  std::uint32_t degree = 8;
  std::uint32_t shards = 32;  // shard::collation_topic(k); the managers' shard_count
  std::uint32_t observers = 4;
  // Each observer is also linked to round(fraction * nodes) random honest nodes.
  double observer_fraction = 0.5;
  std::uint32_t validators = 400;  // hosts drawn uniformly (with replacement) among honest nodes
  std::uint32_t days = 3;
  std::uint32_t epochs_per_day = 24;
  // Heartbeats run throughout. Far shorter than Ethereum's 6.4 minutes, but not
  // below gossipsub's unsubscribe backoff (10 s) and gossip window (3 heartbeats):
  // shorter epochs break cover mode's per-epoch resubscriptions (meshes stay in
  // backoff) and let late IWANT replies cross an epoch boundary (deanon/README.md).
  Duration epoch_length = std::chrono::seconds(12);
  SubscriptionMode mode = SubscriptionMode::plain;
  std::uint32_t plain_shards = 2;  // plain: long-lived subscriptions per node
  std::uint32_t cover_shards = 2;  // cover: k, redrawn by the manager every epoch
  // ShardManagerConfig::peers_per_shard: connections a manager keeps to each of its
  // shards' peers, dialling whom its table lists. 0 (not the node's 4): the
  // simulator never closes a link (a node caps them, net.max_connections), so the
  // dials of per-epoch cover redraws would grow the graph towards a complete one,
  // and observers that announce every shard would be dialled by everyone. The
  // topology stays the experiment's: the random graph plus the observers' links.
  std::uint32_t peers_per_shard = 0;
  std::uint32_t min_signals = 2;   // signals needed before a validator is attributed
  Duration latency = std::chrono::milliseconds(20);  // every link: latency + U[0, jitter]
  Duration jitter = std::chrono::milliseconds(10);
  Duration warmup = std::chrono::seconds(2);  // before the first epoch: meshes form
  std::uint32_t runs = 5;
  std::uint64_t seed = 1;

  Status validate() const;
};

struct FingerprintRun {
  std::uint64_t seed = 0;  // the run's derived seed
  std::uint64_t messages = 0;       // duties (one message each)
  std::uint64_t published = 0;      // reached gossip (cover: minus stem failures)
  std::uint64_t stem_failures = 0;      // cover: no outbound peer of the host on the shard
  std::uint64_t stem_via_observer = 0;  // cover: messages an observer got on the stem
  // First observer receipts from a neighbour that announces the shard neither by its
  // subscription nor by its preference record (as the receiving observer knows them).
  std::uint64_t signals = 0;
  std::uint64_t signals_from_host = 0;  // ... whose sender was the validator's true host
  // First observer receipts whose sender announced the shard one way only: by its
  // pubsub subscription (not its preference record in the observer's table), or by
  // its record only. Either suppresses a signal.
  std::uint64_t announced_by_subscription_only = 0;
  std::uint64_t announced_by_record_only = 0;
  std::uint64_t announcements = 0;    // preference records published by the honest managers
  std::uint64_t cover_rotations = 0;  // cover-shard redraws by the honest managers
  std::uint32_t attributed = 0;         // validators attributed after the last day
  std::uint32_t correct = 0;
  std::vector<double> coverage_by_day;  // correct / validators with the signals up to each day's end
  double coverage = 0.0;                // after the last day
  double precision = 0.0;               // correct / attributed (NaN when nothing is attributed)
  double signals_per_validator = 0.0;
  double hosts_next_to_observer = 0.0;  // fraction of validators whose host is linked to an observer
  // From the host's duty (its intent to publish) to each honest node's first
  // delivery: mean per message, then over messages. Includes the stem's delay.
  double latency_ms = 0.0;
  // Fraction of the honest nodes subscribed to the shard when the message entered
  // gossip that delivered it: mean over published messages.
  double reach = 0.0;
};

struct FingerprintResult {
  FingerprintConfig config;
  std::vector<FingerprintRun> runs;
  std::vector<Summary> coverage_by_day;
  Summary coverage, precision, signals_per_validator, signals_from_host, hosts_next_to_observer, latency_ms, reach,
      stem_failures, stem_via_observer;  // the last two as fractions of messages
};

// Run `run_index` (0-based); its seed is derived from (cfg.seed, run_index) alone.
// Throws std::invalid_argument on a bad config.
FingerprintRun run_fingerprint_once(const FingerprintConfig& cfg, std::uint32_t run_index);
// All cfg.runs runs and their summaries (95 % Student t over runs).
FingerprintResult run_fingerprint(const FingerprintConfig& cfg);

nlohmann::json to_json(const FingerprintResult& r);
std::string to_table(const FingerprintResult& r);

}  // namespace shardnode::deanon
