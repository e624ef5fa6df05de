// The pubsub router: floodsub (/floodsub/1.0.0) and gossipsub (/meshsub/1.1.0 and
// /meshsub/1.2.0 with IDONTWANT), with peer scoring and spam-source flagging.
//
// Sans-IO: inputs are peer added/removed, an RPC from a peer, a heartbeat, our own
// publish/subscribe, and validation results - each with `now`. Outputs are taken:
// RPCs to send (coalesced per peer), deliveries to the application, peers to
// disconnect, PX candidates to dial. No sockets, no clocks, no global randomness:
// the same router runs in a node, in a 1,000-node simulation and in the
// deanonymization harness.
//
// Message policy: StrictNoSign only (from/seqno/signature/key absent), so a relay is
// indistinguishable from the origin by the message itself. Message ids come from a
// content hash (configurable).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shardnode/core/random.h"
#include "shardnode/core/result.h"
#include "shardnode/pubsub/mcache.h"
#include "shardnode/pubsub/score.h"
#include "shardnode/pubsub/stem.h"
#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

using MessageIdFn = std::function<MessageId(const Message&)>;
// Default: the first 20 bytes of SHA-256(u64le(len(topic)) || topic || data).
MessageId default_message_id(const Message& m);

struct GossipsubConfig {
  // Mesh degree (gossipsub-v1.0/v1.1 defaults).
  std::size_t d = 6, d_lo = 4, d_hi = 12, d_lazy = 6, d_score = 4, d_out = 2;
  // Inbound GRAFTs are accepted while the mesh is smaller than this (0: D_hi, as the
  // spec and go do; D keeps meshes near D, see docs/BENCHMARKS.md). Outbound peers are
  // always accepted (D_out).
  std::size_t graft_accept_limit = 0;
  Duration heartbeat_interval = std::chrono::seconds(1);
  Duration fanout_ttl = std::chrono::seconds(60);
  std::size_t mcache_len = 5, mcache_gossip = 3;
  Duration seen_ttl = std::chrono::seconds(120);
  Duration prune_backoff = std::chrono::seconds(60);
  Duration unsubscribe_backoff = std::chrono::seconds(10);
  Duration graft_flood_threshold = std::chrono::seconds(10);
  bool do_px = true;
  std::size_t prune_peers = 16;                 // PX peers offered in a PRUNE
  bool flood_publish = true;                    // default for every topic
  std::set<TopicId> flood_publish_off;          // topics where own messages use the mesh only
  double gossip_factor = 0.25;
  std::size_t opportunistic_graft_ticks = 60, opportunistic_graft_peers = 2;
  std::size_t max_ihave_length = 5000, max_ihave_messages = 10;
  Duration iwant_followup_time = std::chrono::seconds(3);
  std::size_t gossip_retransmission = 3;
  std::size_t idontwant_size_threshold = 1024;  // send IDONTWANT for messages at least this big
  std::size_t max_idontwant_messages = 1000;    // per peer per heartbeat
  std::size_t idontwant_ttl_heartbeats = 3;
  std::size_t max_pending_validations = 1024;
  std::size_t max_topics_per_peer = 256;
  std::size_t max_message_size = 1024 * 1024;
  std::set<PeerId> explicit_peers;
  MessageIdFn message_id = default_message_id;
  // The choke extension (libp2p/specs PR 681). A peer's CHOKE is always honoured (we
  // send it IHAVE instead of the messages we relay; our own messages are still pushed);
  // `enabled` makes us choke our own mesh peers, from first-delivery statistics: for
  // each message, every mesh peer is a trial, credited when its copy (or, if we choked
  // it, its IHAVE) came within `first_window` of the first; a moving average of that
  // share ranks the peers, the best `unchoked` keep pushing and the rest are choked. A
  // choked peer is unchoked at once when its copy is the first of a message (it would
  // have been first), or at a heartbeat when its share beats the worst kept peer's by
  // `unchoke_margin`.
  struct Choke {
    bool enabled = false;
    std::size_t unchoked = 3;            // mesh peers per topic left pushing to us (at least 1)
    std::size_t min_trials = 10;         // messages a peer is judged on before it can be choked
    Duration first_window = std::chrono::milliseconds(10);
    double alpha = 0.05;                 // weight of one message in the moving average
    double unchoke_margin = 0.1;
    std::size_t max_changes = 2;         // CHOKE/UNCHOKE we send per topic per heartbeat
    std::size_t max_received = 16;       // CHOKE/UNCHOKE a peer may send per heartbeat before P7
    // A choked peer's IHAVE for a message a peer still pushing to us already has (it
    // sent IDONTWANT) waits this long for that copy before we IWANT it (the spec's
    // "IDONTWANT information"). Checked at the router's next input or heartbeat.
    Duration iwant_delay = std::chrono::milliseconds(100);
    // Defer every IWANT to a choked peer while a mesh peer still pushes to us, hint or
    // not: fewer duplicates, later deliveries (docs/BENCHMARKS.md has both).
    bool defer_all_iwants = false;
  } choke;
  // Latency-aware mesh (latency.cpp). Round trips come from observe_rtt() (the
  // service pings each peer) and from the answers to our IWANTs. When on, the mesh
  // slots that D_score's best scorers and D_out's outbound peers do not hold go to
  // the fastest peers: a graft picks the fastest eligible peers, an oversubscribed
  // mesh keeps the fastest, and every swap_ticks heartbeats the slowest unprotected
  // mesh peer is swapped for a clearly faster candidate. Being fast never protects a
  // peer from the score, and never takes a D_score or D_out slot.
  struct Latency {
    bool enabled = false;
    std::size_t swap_ticks = 10;  // heartbeats between swap rounds (0: no swaps)
    double swap_ratio = 1.5;      // swap when the mesh peer's RTT is over this times the candidate's
    Duration swap_margin = std::chrono::milliseconds(50);  // ... and over it by at least this much
    std::size_t max_swaps = 1;    // per topic per swap round
    double alpha = 0.25;          // weight of a new sample in a peer's RTT average
  } latency;
  // Dandelion++ stem phase (stem.h). When on, our own messages are never flood-
  // published: they leave on the stem, and we forward them like any relay when they
  // come back in gossip.
  StemConfig stem;

  // Scoring and spam sources.
  bool scoring = true;
  enum class FlagPolicy { flag_only, disconnect_and_ban };
  FlagPolicy flag_policy = FlagPolicy::disconnect_and_ban;
  Duration ban_duration = std::chrono::minutes(10);
  // Penalty (P7 units) for a GRAFT on a topic we do not know: go ignores these; we
  // also count them, so a peer that sprays GRAFTs ends up flagged.
  double unknown_topic_graft_penalty = 1.0;
  // Penalty (P7 units) per message on a topic we are not subscribed to (and did not
  // leave within unsubscribe_backoff): nobody honest sends us one, so it is dropped
  // before any hashing or validation and its sender pays.
  double unsubscribed_message_penalty = 1.0;
  // Penalty (P7 units) per RPC that asks again for a message already sent
  // gossip_retransmission times (IWANT spam; go only caps the replies).
  double iwant_excess_penalty = 1.0;

  Status validate() const;
};

// A synchronous verdict, or nullopt: the application answers later with
// Router::report_validation().
using Validator = std::function<std::optional<ValidationResult>(const PeerId& source, const Message&)>;

struct Delivery {
  TopicId topic;
  MessageId id;
  Message message;
  PeerId source;  // the peer we got it from (ourselves for our own messages)
};

struct Outgoing {
  PeerId to;
  Rpc rpc;
  // The first `own` entries of rpc.publish are our own messages (a sender's queue
  // puts them ahead of forwards, pubsub/outbound_queue.h).
  std::size_t own = 0;
};

// One message on the stem protocol (not part of a gossipsub RPC).
struct StemOutgoing {
  PeerId to;
  Message message;
};

struct FlaggedPeer {
  PeerId peer;
  TimePoint since;
  double score;
  ScoreBreakdown breakdown;
};

struct RouterCounters {
  std::uint64_t messages_received = 0, messages_duplicate = 0, messages_delivered = 0, messages_invalid = 0,
                messages_ignored = 0, messages_published = 0, messages_forwarded = 0,
                messages_unsubscribed = 0,  // on a topic we are not on (also counted as ignored)
                messages_graylisted = 0;    // left unread: the rest of an RPC whose sender fell below graylist in it
  std::uint64_t validation_queue_dropped = 0, rpcs_graylisted = 0, sign_policy_rejected = 0;
  std::uint64_t ihave_ignored = 0, iwant_ignored = 0, idontwant_ignored = 0, broken_promises = 0;
  std::uint64_t graft_rejected = 0, graft_backoff_violations = 0, peers_flagged = 0, subscriptions_ignored = 0;
  std::uint64_t sends_suppressed_by_idontwant = 0;
  std::uint64_t chokes_sent = 0, unchokes_sent = 0, chokes_received = 0, unchokes_received = 0;
  std::uint64_t sends_lazy = 0;  // messages announced (IHAVE) instead of pushed: the peer choked us
  std::uint64_t latency_swaps = 0;  // slow mesh peers swapped for faster ones (GossipsubConfig::latency)
};

class Router {
 public:
  Router(PeerId self, GossipsubConfig cfg, Random& rng, PeerScoreParams score_params = PeerScoreParams::defaults(),
         PeerScoreThresholds thresholds = PeerScoreThresholds::defaults());
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // ---- peers ----
  // `colocation_key`: what P6 groups peers by (the IP for TCP; empty for onion peers,
  // which turns P6 off for them). Returns false for a banned peer (close it).
  bool add_peer(const PeerId& peer, PeerProtocol proto, bool outbound, const std::string& colocation_key,
                TimePoint now);
  void remove_peer(const PeerId& peer, TimePoint now);

  // ---- inputs ----
  void handle_rpc(const PeerId& from, Rpc rpc, TimePoint now);
  void heartbeat(TimePoint now);
  void subscribe(const TopicId& topic, TimePoint now);
  void unsubscribe(const TopicId& topic, TimePoint now);
  Result<MessageId> publish(const TopicId& topic, Bytes data, TimePoint now);
  void set_validator(const TopicId& topic, Validator v) { validators_[topic] = std::move(v); }
  void report_validation(const MessageId& id, ValidationResult r, TimePoint now);
  // A message that arrived on the stem protocol (ignored unless stem is on).
  void handle_stem(const PeerId& from, Message msg, TimePoint now);
  // A stem message could not be sent to `to` because the peer does not speak the
  // stem protocol: route it again, and use `to` for no stem while it is connected.
  // (After a transient failure, drop the message instead: its embargo covers it.)
  void stem_undeliverable(const PeerId& to, Message msg, TimePoint now);
  // A measured round trip to `peer` (a ping; IWANT answers are measured here).
  void observe_rtt(const PeerId& peer, Duration rtt);

  // ---- outputs ----
  // RPCs to send, in order. IDONTWANTs come first as control-only RPCs, so a peer
  // learns we have a message before the (possibly large) copies we forward arrive.
  std::vector<Outgoing> take_sends();
  std::vector<Delivery> take_deliveries();
  std::vector<PeerId> take_disconnects();
  // Peer exchange: peers offered in PRUNEs of peers scoring at least accept_px, with
  // the signed peer record the PRUNE carried for each, if any (unverified here: the
  // caller opens it).
  struct PxCandidate {
    PeerId peer;
    std::optional<Bytes> signed_record;
    bool operator==(const PxCandidate&) const = default;
  };
  std::vector<PxCandidate> take_px_candidates();
  // Where make_prune finds the signed peer record it offers with each PX peer (the
  // envelope bytes; none: the peer is offered by id only, as the spec allows).
  void set_record_source(std::function<std::optional<Bytes>(const PeerId&)> f) { record_source_ = std::move(f); }
  std::vector<StemOutgoing> take_stem_sends() { return std::exchange(stem_out_, {}); }
  // Stem mode: ids of our own messages that have now entered gossip (seen back, or
  // gossiped by us when the embargo ended). Until then, only we and the stem have them.
  std::vector<MessageId> take_own_gossiped() { return std::exchange(own_gossiped_, {}); }
  bool has_output() const {
    return !outbox_.empty() || !idontwant_out_.empty() || !deliveries_.empty() || !disconnects_.empty() ||
           !stem_out_.empty() || !own_gossiped_.empty();
  }

  // ---- queries ----
  const PeerId& self() const { return self_; }
  std::set<PeerId> mesh(const TopicId& topic) const;
  std::set<PeerId> fanout(const TopicId& topic) const;
  std::set<PeerId> topic_peers(const TopicId& topic) const;
  bool subscribed(const TopicId& topic) const { return subscriptions_.count(topic) != 0; }
  std::size_t peer_count() const { return peers_.size(); }
  double score(const PeerId& peer, TimePoint now) const;
  std::vector<FlaggedPeer> flagged_peers() const;
  bool is_flagged(const PeerId& peer) const { return flagged_.count(peer) != 0; }
  const RouterCounters& counters() const { return counters_; }
  const GossipsubConfig& config() const { return cfg_; }
  PeerScore* scoring() { return score_.get(); }
  bool in_backoff(const TopicId& topic, const PeerId& peer, TimePoint now) const;
  // Choke extension: mesh peers we choked on `topic`, and those that choked us.
  std::set<PeerId> choked(const TopicId& topic) const;
  std::set<PeerId> choked_by(const TopicId& topic) const;
  // The peer's smoothed round trip, if measured.
  std::optional<Duration> rtt(const PeerId& peer) const;
  // The stem phase's state, or nullptr when it is off.
  const StemState* stem() const { return stem_.get(); }

 private:
  struct PeerState;
  struct Pending;
  PeerState* peer(const PeerId& p);
  Rpc& out(const PeerId& p) { return outbox_[p]; }
  bool is_gossipsub(const PeerState& ps) const;
  double peer_score(const PeerId& p, TimePoint now) const;

  void handle_subscription(const PeerId& from, PeerState& ps, const SubOpts& s, TimePoint now);
  void handle_message(const PeerId& from, Message msg, TimePoint now);
  // The topic's validator now, or queued for report_validation(); then finish_validation().
  void validate(const MessageId& id, Message msg, const PeerId& source, TimePoint now);
  void finish_validation(const MessageId& id, Message msg, const PeerId& source, ValidationResult r, TimePoint now);
  void forward(const MessageId& id, const Message& msg, const PeerId& source, TimePoint now);
  // End of the stem: gossip `msg` as a relay would (mesh peers, or D topic peers when
  // we are not subscribed). Our own message skips validation and delivery.
  void fluff(const MessageId& id, Message msg, bool own, TimePoint now);
  void stem_send(const PeerId& to, const MessageId& id, Message msg, std::optional<PeerId> from, TimePoint now);
  void stem_heartbeat(TimePoint now);
  void reroute_stem(Message msg, TimePoint now);
  bool on_topic(const PeerId& p, const TopicId& topic) const;
  void handle_ihave(const PeerId& from, PeerState& ps, const ControlIHave& ih, TimePoint now);
  void handle_iwant(const PeerId& from, PeerState& ps, const ControlIWant& iw, TimePoint now);
  void handle_graft(const PeerId& from, PeerState& ps, const ControlGraft& g, std::vector<ControlPrune>& prunes,
                    TimePoint now);
  void handle_prune(const PeerId& from, PeerState& ps, const ControlPrune& p, TimePoint now);
  void handle_idontwant(const PeerId& from, PeerState& ps, const ControlIDontWant& d, TimePoint now);
  // Choke extension (choke.cpp).
  void handle_choke(const PeerId& from, PeerState& ps, const Control& c, TimePoint now);
  // A copy (`announced` false) or a choked peer's IHAVE of `id` from mesh peer `from`.
  void choke_note(const PeerId& from, const TopicId& topic, const MessageId& id, bool first, TimePoint now);
  void choke_heartbeat(TimePoint now);
  void set_choked(const TopicId& topic, const PeerId& p, bool choked);
  void forget_choke(const TopicId& topic, const PeerId& p);  // (re)grafted: unchoked both ways, judged anew
  // Whether a mesh peer still pushing to us on `topic` told us it has `id`.
  bool pushed_soon(const TopicId& topic, const MessageId& id) const;
  void flush_deferred_iwants(TimePoint now);

  ControlPrune make_prune(const TopicId& topic, const PeerId& to, bool px, bool unsubscribe, TimePoint now);
  void add_backoff(const TopicId& topic, const PeerId& peer, Duration d, TimePoint now);
  void graft_peer(const TopicId& topic, const PeerId& p, TimePoint now);
  void prune_peer(const TopicId& topic, const PeerId& p, bool px, TimePoint now);
  // A peer we may graft on `topic`: gossipsub, not in the mesh, not explicit, not in
  // backoff, score >= 0.
  bool graftable(const TopicId& topic, const PeerId& p, const PeerState& ps, TimePoint now) const;
  void maintain_mesh(const TopicId& topic, TimePoint now);
  void maintain_fanout(TimePoint now);
  void emit_gossip(TimePoint now);
  void check_promises(TimePoint now);
  void update_flags(TimePoint now);
  void flag(const PeerId& p, TimePoint now);  // below graylist: log, count, maybe disconnect and ban
  // Up to n random topic peers matching pred (with the latency-aware mesh: the fastest).
  std::vector<PeerId> select_peers(const TopicId& topic, std::size_t n,
                                   const std::function<bool(const PeerId&, const PeerState&)>& pred,
                                   bool fastest = false);
  // Latency-aware mesh (latency.cpp).
  void sort_by_rtt(std::vector<PeerId>& peers) const;  // stable: fastest first, unmeasured last
  // Mesh peers whose slot latency may not take: the D_score best scorers, and the
  // outbound peers while the mesh has no more than D_out of them.
  std::set<PeerId> latency_protected(const TopicId& topic, TimePoint now) const;
  void latency_swap(const TopicId& topic, TimePoint now);

  PeerId self_;
  GossipsubConfig cfg_;
  Random& rng_;
  PeerScoreThresholds thresholds_;
  std::unique_ptr<PeerScore> score_;
  std::map<PeerId, std::unique_ptr<PeerState>> peers_;
  std::map<TopicId, std::set<PeerId>> topic_peers_;
  std::map<TopicId, std::set<PeerId>> mesh_;
  std::map<TopicId, std::set<PeerId>> fanout_;
  std::map<TopicId, TimePoint> fanout_last_publish_;
  std::set<TopicId> subscriptions_;
  std::map<TopicId, TimePoint> left_;  // topics we unsubscribed from lately, and when
  std::map<TopicId, std::map<PeerId, TimePoint>> backoff_;
  std::map<TopicId, Validator> validators_;
  MessageCache mcache_;
  SeenCache seen_;
  std::unordered_map<MessageId, std::unique_ptr<Pending>, BytesHash> pending_;
  std::unordered_map<MessageId, std::map<PeerId, TimePoint>, BytesHash> promises_;
  std::map<PeerId, FlaggedPeer> flagged_;
  std::map<PeerId, TimePoint> banned_until_;
  std::map<PeerId, Rpc> outbox_;
  std::map<PeerId, std::size_t> own_out_;  // how many of outbox_[p].publish, at the front, are ours
  std::map<PeerId, std::vector<MessageId>> idontwant_out_;  // sent as their own RPCs, first
  std::vector<Delivery> deliveries_;
  std::vector<PeerId> disconnects_;
  std::vector<PxCandidate> px_candidates_;
  std::function<std::optional<Bytes>(const PeerId&)> record_source_;
  std::unique_ptr<StemState> stem_;
  std::vector<StemOutgoing> stem_out_;
  std::vector<MessageId> own_gossiped_;
  RouterCounters counters_;
  std::uint64_t heartbeat_ticks_ = 0;
  // Choke extension.
  struct ChokeStats {
    double share = 1.0;  // moving average of first (or near-first) deliveries
    std::size_t trials = 0;
  };
  struct FirstCopy {
    TopicId topic;
    TimePoint at;
    std::vector<PeerId> credited;  // mesh peers whose copy or IHAVE came within first_window
  };
  std::map<TopicId, std::map<PeerId, ChokeStats>> choke_stats_;
  std::map<TopicId, std::set<PeerId>> choked_out_;  // mesh peers we choked
  std::map<TopicId, std::set<PeerId>> choked_by_;   // mesh peers that choked us
  std::unordered_map<MessageId, FirstCopy, BytesHash> first_copy_;
  struct DeferredIWant {
    PeerId peer;
    TimePoint at;
  };
  std::unordered_map<MessageId, DeferredIWant, BytesHash> deferred_iwant_;
};

}  // namespace shardnode::pubsub
