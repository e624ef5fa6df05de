// Gossipsub v1.1 peer scoring (libp2p specs, gossipsub-v1.1.md "Peer Scoring"),
// sans-IO: the router reports events and asks for scores, always passing `now`;
// nothing here reads a clock, does I/O or throws on inputs.
//
//   Score(p) = TopicCap(Σ_t topic_weight(t) * (P1 + P2 + P3 + P3b + P4)(t)) + P5 + P6 + P7
//
// (each term already multiplied by its weight). Semantics follow go-libp2p-pubsub's
// score.go / score_params.go; the deliberate differences are listed on PeerScore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

// The per-interval decay factor that takes a counter of 1 down to `decay_to_zero`
// after `decay_time` (go's ScoreParameterDecayWithBase): decay_to_zero^(interval/time).
double score_parameter_decay(Duration decay_time, Duration decay_interval = std::chrono::seconds(1),
                             double decay_to_zero = 0.01);

struct TopicScoreParams {
  double topic_weight = 1.0;  // >= 0

  // P1, time in mesh: floor(time_in_mesh / quantum), capped; weight >= 0.
  double time_in_mesh_weight = 0.0;
  Duration time_in_mesh_quantum = std::chrono::seconds(1);  // > 0
  double time_in_mesh_cap = 0.0;

  // P2, first message deliveries: a decaying counter, capped; weight >= 0.
  double first_message_deliveries_weight = 0.0;
  double first_message_deliveries_decay = 0.5;
  double first_message_deliveries_cap = 0.0;

  // P3, mesh message deliveries: first and near-first deliveries (during validation,
  // or within `window` after it) by mesh peers. Once a peer has been in the mesh for
  // longer than `activation`, a counter below `threshold` costs deficit^2; weight <= 0.
  double mesh_message_deliveries_weight = 0.0;
  double mesh_message_deliveries_decay = 0.5;
  double mesh_message_deliveries_cap = 0.0;
  double mesh_message_deliveries_threshold = 0.0;
  Duration mesh_message_deliveries_window = std::chrono::milliseconds(10);
  Duration mesh_message_deliveries_activation = std::chrono::seconds(5);

  // P3b, sticky mesh failure penalty: += deficit^2 when pruned with an active P3
  // deficit; weight <= 0.
  double mesh_failure_penalty_weight = 0.0;
  double mesh_failure_penalty_decay = 0.5;

  // P4, invalid messages: counter^2; weight <= 0. The decay must be in (0, 1) even
  // when the weight is 0.
  double invalid_message_deliveries_weight = 0.0;
  double invalid_message_deliveries_decay = 0.5;

  // A starting point; see score.cpp for the reasoning behind each value.
  static TopicScoreParams defaults();
  Status validate() const;
};

struct PeerScoreParams {
  std::map<TopicId, TopicScoreParams> topics;  // only these topics are scored (P1-P4)

  // Caps the positive part of the summed topic scores (0 = no cap); >= 0.
  double topic_score_cap = 0.0;

  // P5: the application's opinion of a peer (any real value), times the weight.
  // Required (as in go): use a function returning 0 to disable.
  double app_specific_weight = 0.0;
  std::function<double(const PeerId&)> app_specific_score;

  // P6: (connected peers sharing the colocation key - threshold)^2 when above the
  // threshold; weight <= 0, threshold >= 1 when enabled. The key is whatever the
  // transport says identifies the source network address (the IP for TCP). Peers
  // with an empty key (onion connections: no IP) are never penalised nor counted.
  // Whitelisted keys are matched exactly (normalise keys, e.g. IPv6 to a /64, before
  // passing them to add_peer).
  double ip_colocation_factor_weight = 0.0;
  std::size_t ip_colocation_factor_threshold = 1;
  std::set<std::string> ip_colocation_factor_whitelist;

  // P7: (counter - threshold)^2 above the threshold; the counter decays.
  // weight <= 0; decay in (0, 1) when enabled; threshold >= 0.
  double behaviour_penalty_weight = 0.0;
  double behaviour_penalty_threshold = 0.0;
  double behaviour_penalty_decay = 0.5;

  Duration decay_interval = std::chrono::seconds(1);  // >= 1 s
  double decay_to_zero = 0.01;                        // in (0, 1)
  Duration retain_score = std::chrono::hours(1);      // >= 0 (0: forget at once)

  // Memory bounds (not in go's parameters).
  Duration seen_ttl = std::chrono::seconds(120);  // delivery records live this long (go: TimeCacheDuration)
  std::size_t max_delivery_records = 65536;       // oldest evicted beyond this; >= 1
  std::size_t max_retained_peers = 8192;          // soonest-expiring evicted beyond this

  static PeerScoreParams defaults();  // no topics: add them (set_topic_params) per deployment
  Status validate() const;
};

struct PeerScoreThresholds {
  double gossip = 0.0;               // below: no gossip to/from the peer; <= 0
  double publish = 0.0;              // below: no flood-publish to the peer; <= gossip
  double graylist = 0.0;             // below: ignore the peer's RPCs entirely; <= publish
  double accept_px = 0.0;            // below: ignore the peer's PX; >= 0
  double opportunistic_graft = 0.0;  // mesh median below this: graft better peers; >= 0

  static PeerScoreThresholds defaults();  // -10, -50, -80, 10, 20
  Status validate() const;
};

// Why a message was not delivered.
enum class RejectReason {
  invalid,           // validation failed: P4 for the sender, for peers that sent it during
                     // validation and for later duplicates
  signature_policy,  // violates the signature policy (StrictNoSign: from/seqno/signature/key
                     // present): P4 for the sender only; the id is untrusted, so no record
  self_origin,       // claims to come from us: P4 for the sender only, no delivery record
  ignored,           // validator said ignore: nobody is penalised, duplicates neither
  throttled,         // validation was throttled: unknown validity, nobody is penalised
  queue_full,        // dropped before validation: no penalty, no record change
  blacklisted,       // from a blacklisted peer/source: no penalty
};

// Each term is the weighted contribution to the score (topic terms also times the
// topic weight), next to the raw counter it came from.
struct TopicScoreBreakdown {
  TopicId topic;
  bool in_mesh = false;
  Duration time_in_mesh{};
  bool mesh_deliveries_active = false;
  double first_message_deliveries = 0.0, mesh_message_deliveries = 0.0;
  double mesh_failure_penalty = 0.0, invalid_message_deliveries = 0.0;
  double p1 = 0.0, p2 = 0.0, p3 = 0.0, p3b = 0.0, p4 = 0.0;
  double total = 0.0;  // p1 + p2 + p3 + p3b + p4
};

struct ScoreBreakdown {
  bool known = false, connected = false;
  double total = 0.0;
  // p1..p4 summed over topics, before the topic cap; topic_cap_adjustment (<= 0) is
  // what the cap removed, so total == p1+p2+p3+p3b+p4+topic_cap_adjustment+p5+p6+p7.
  double p1 = 0.0, p2 = 0.0, p3 = 0.0, p3b = 0.0, p4 = 0.0;
  double topic_cap_adjustment = 0.0;
  double p5 = 0.0, p6 = 0.0, p7 = 0.0;
  double app_specific_score = 0.0;   // raw P5 value from the hook
  std::size_t colocated_peers = 0;   // connected peers sharing this peer's key (0: none/whitelisted)
  double behaviour_penalty = 0.0;    // raw P7 counter
  std::vector<TopicScoreBreakdown> topics;
};

// One line for logs, e.g. "score -400.00 = p4 -400.00 [t: invalid 2.00 -> p4 -400.00]".
std::string describe(const ScoreBreakdown& b);

// Differences from go-libp2p-pubsub (all documented in score.cpp):
//  - P1 and the P3 activation are computed from `now` at score time (go caches them at
//    refresh); the P3 active flag ends at prune, as in rust-libp2p (go keeps P3 applying
//    to a pruned peer until it is grafted again).
//  - Retention: a disconnected peer is retained only with a negative score (go: <= 0),
//    and retained peers neither count towards nor receive P6.
//  - Events for peers that were never added are ignored (go too), and graft() of a
//    disconnected (retained) peer is ignored.
class PeerScore {
 public:
  // `params` should have passed validate() (create() checks); invalid values cannot
  // cause UB or exceptions, only meaningless scores. The decay clock starts at the
  // first refresh().
  explicit PeerScore(PeerScoreParams params);
  static Result<PeerScore> create(PeerScoreParams params);

  const PeerScoreParams& params() const { return params_; }
  // Replaces P5's hook (the application's opinion of a peer, e.g. the shard layer's
  // credit for collations by known validators); null: P5 is 0. The hook must outlive
  // its use: its owner sets null before it goes.
  void set_app_specific_score(std::function<double(const PeerId&)> f) { params_.app_specific_score = std::move(f); }
  // Adds or replaces a topic's parameters; lowered caps re-cap existing counters.
  Status set_topic_params(const TopicId& topic, TopicScoreParams p);

  // ---- peers ----
  // A connection came up. `colocation_key`: see P6 (empty = no key). Re-adding a
  // retained peer restores its counters; re-adding a connected one updates its key.
  void add_peer(const PeerId& peer, const std::string& colocation_key, TimePoint now);
  // The last connection went away: retained until now + retain_score if the score is
  // negative (first-delivery counters zeroed, P3b applied if it was under-delivering),
  // otherwise forgotten.
  void remove_peer(const PeerId& peer, TimePoint now);
  void graft(const PeerId& peer, const TopicId& topic, TimePoint now);
  void prune(const PeerId& peer, const TopicId& topic, TimePoint now);

  // ---- messages ----
  // First sight of a message, before validation.
  void validate_message(const MessageId& id, const TopicId& topic, TimePoint now);
  // Validation accepted the message `from` sent first.
  void deliver_message(const PeerId& from, const MessageId& id, const TopicId& topic, TimePoint now);
  void reject_message(const PeerId& from, const MessageId& id, const TopicId& topic, RejectReason reason,
                      TimePoint now);
  // `from` sent a message we had already seen.
  void duplicate_message(const PeerId& from, const MessageId& id, const TopicId& topic, TimePoint now);

  // P7: the router saw misbehaviour (broken IWANT promise, GRAFT during backoff...).
  // Non-positive or non-finite counts are ignored.
  void add_penalty(const PeerId& peer, double count);

  // Call every heartbeat: decays counters once per whole elapsed decay_interval
  // (however often it is called), purges expired retained peers and delivery records.
  void refresh(TimePoint now);

  // ---- queries ----
  double score(const PeerId& peer, TimePoint now) const;  // 0 for unknown peers
  ScoreBreakdown breakdown(const PeerId& peer, TimePoint now) const;
  bool known(const PeerId& peer) const;      // has a record (connected, or retained and not yet purged)
  bool connected(const PeerId& peer) const;
  std::size_t peer_count() const { return peers_.size(); }
  std::size_t retained_count() const { return retained_.size(); }
  std::size_t delivery_record_count() const { return deliveries_.size(); }

 private:
  struct TopicStats {
    bool in_mesh = false;
    TimePoint graft_time{};
    double first_message_deliveries = 0.0;
    double mesh_message_deliveries = 0.0;
    double mesh_failure_penalty = 0.0;
    double invalid_message_deliveries = 0.0;
  };
  struct PeerStats {
    bool connected = true;
    TimePoint expire{};  // retention end, when !connected
    std::string colocation_key;
    double behaviour_penalty = 0.0;
    std::map<TopicId, TopicStats> topics;  // scored topics only
  };
  enum class DeliveryStatus { unknown, valid, invalid, ignored, throttled };
  struct DeliveryRecord {
    DeliveryStatus status = DeliveryStatus::unknown;
    TimePoint first_seen{};
    TimePoint validated{};
    std::set<PeerId> peers;  // known peers that sent it (while unknown) or near-first (while valid)
  };

  double compute(const PeerId& peer, const PeerStats& st, TimePoint now, ScoreBreakdown* out) const;
  const PeerStats* live(const PeerId& peer, TimePoint now) const;
  TopicStats* topic_stats(PeerStats& st, const TopicId& topic);
  bool mesh_deliveries_active(const TopicStats& ts, const TopicScoreParams& tp, TimePoint now) const;
  void apply_mesh_failure(TopicStats& ts, const TopicScoreParams& tp, TimePoint now);
  void mark_invalid(const PeerId& peer, const TopicId& topic);
  void mark_first(const PeerId& peer, const TopicId& topic);
  void mark_near_first(const PeerId& peer, const TopicId& topic, TimePoint now, std::optional<TimePoint> validated);
  DeliveryRecord& record(const MessageId& id, TimePoint now);
  void expire_records(TimePoint now);
  void forget(std::map<PeerId, PeerStats>::iterator it);
  void uncount_colocation(const std::string& key);

  PeerScoreParams params_;
  std::map<PeerId, PeerStats> peers_;
  std::map<std::string, std::size_t> colocation_counts_;  // connected peers per non-empty key
  std::set<std::pair<TimePoint, PeerId>> retained_;       // (expiry, peer) of disconnected peers
  // Looked up once or twice per copy received, never iterated. Hashed like the seen
  // cache: ids are content hashes (SHA-256 by default), so filling one bucket costs a
  // preimage search per message. (An ordered map cost 8-10 % of a node's time at 30k
  // messages/s: a 32-byte compare per level, 2 min of ids, docs/BENCHMARKS.md.)
  std::unordered_map<MessageId, DeliveryRecord, BytesHash> deliveries_;
  std::deque<std::pair<TimePoint, MessageId>> delivery_expiry_;  // creation order
  std::optional<TimePoint> last_decay_;
};

}  // namespace shardnode::pubsub
