// [pubsub] settings -> pubsub structs. See pubsub_settings.h. The explicit checks
// below mirror the structs' validate() rules that span several keys, so the error
// can name them; validate() runs last as a backstop.
#include "shardnode/node/pubsub_settings.h"

#include <initializer_list>
#include <set>
#include <sstream>
#include <string>

#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"

namespace shardnode::node {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

Error bad(const std::string& keys, const std::string& what) { return Error{ConfigErrc::out_of_range, keys + ": " + what}; }

// A struct's validate() caught what the checks here did not (a rule added there later).
Error rejected(const char* what, const Error& e) {
  return Error{ConfigErrc::out_of_range, std::string("[pubsub] settings rejected by ") + what + ": " + e.what()};
}

// Integer settings used as sizes have ranges starting at 0 or more in the table.
std::size_t count(const Settings& s, std::string_view key) { return static_cast<std::size_t>(s.get_int(key)); }
Duration ms(const Settings& s, std::string_view key) { return milliseconds(s.get_int(key)); }
Duration secs(const Settings& s, std::string_view key) { return seconds(s.get_int(key)); }

bool unit_open(double v) { return v > 0.0 && v < 1.0; }

// `decay` must be in (0, 1) - always, or while `weight` is not 0.
Status need_decay(const Settings& s, const std::string& decay, const std::string& weight = {}) {
  const double d = s.get_real(decay);
  if (unit_open(d)) return {};
  if (weight.empty()) return bad(decay, "need a decay in (0, 1) (got " + num(d) + ")");
  if (s.get_real(weight) == 0.0) return {};
  return bad(decay + "/" + weight, "need a decay in (0, 1) while the weight is not 0 (got " + num(d) + ")");
}

// `key` must be positive while `weight` is not 0.
Status need_positive(const Settings& s, const std::string& key, const std::string& weight) {
  const double v = s.get_real(key);
  if (v > 0.0 || s.get_real(weight) == 0.0) return {};
  return bad(key + "/" + weight, "need a positive value while the weight is not 0 (got " + num(v) + ")");
}

Status check_topic_defaults(const Settings& s) {
  const std::string t = "pubsub.topic_";
  // P1
  if (Status st = need_positive(s, t + "time_in_mesh_cap", t + "time_in_mesh_weight"); !st) return st;
  // P2
  if (Status st = need_decay(s, t + "first_message_deliveries_decay", t + "first_message_deliveries_weight"); !st)
    return st;
  if (Status st = need_positive(s, t + "first_message_deliveries_cap", t + "first_message_deliveries_weight"); !st)
    return st;
  // P3 (the activation's minimum of 1 s is the table's)
  if (Status st = need_decay(s, t + "mesh_message_deliveries_decay", t + "mesh_message_deliveries_weight"); !st)
    return st;
  if (Status st = need_positive(s, t + "mesh_message_deliveries_cap", t + "mesh_message_deliveries_weight"); !st)
    return st;
  if (Status st = need_positive(s, t + "mesh_message_deliveries_threshold", t + "mesh_message_deliveries_weight"); !st)
    return st;
  // P3b
  if (Status st = need_decay(s, t + "mesh_failure_penalty_decay", t + "mesh_failure_penalty_weight"); !st) return st;
  // P4: the decay matters even with the weight at 0.
  if (Status st = need_decay(s, t + "invalid_message_deliveries_decay"); !st) return st;
  if (Status st = topic_score_params_from(s).validate(); !st) return rejected("TopicScoreParams::validate", st.error());
  return {};
}

}  // namespace

Result<pubsub::GossipsubConfig> gossipsub_config_from(const Settings& s) {
  pubsub::GossipsubConfig c;
  c.d = count(s, "pubsub.d");
  c.d_lo = count(s, "pubsub.d_lo");
  c.d_hi = count(s, "pubsub.d_hi");
  c.d_lazy = count(s, "pubsub.d_lazy");
  c.d_score = count(s, "pubsub.d_score");
  c.d_out = count(s, "pubsub.d_out");
  c.heartbeat_interval = ms(s, "pubsub.heartbeat_ms");
  c.fanout_ttl = secs(s, "pubsub.fanout_ttl_s");
  c.mcache_len = count(s, "pubsub.mcache_len");
  c.mcache_gossip = count(s, "pubsub.mcache_gossip");
  c.seen_ttl = secs(s, "pubsub.seen_ttl_s");
  c.prune_backoff = secs(s, "pubsub.prune_backoff_s");
  c.unsubscribe_backoff = secs(s, "pubsub.unsubscribe_backoff_s");
  c.graft_flood_threshold = secs(s, "pubsub.graft_flood_threshold_s");
  c.do_px = s.get_bool("pubsub.do_px");
  c.prune_peers = count(s, "pubsub.prune_peers");
  c.flood_publish = s.get_bool("pubsub.flood_publish");
  const auto& off = s.get_list("pubsub.flood_publish_off");
  c.flood_publish_off = std::set<pubsub::TopicId>(off.begin(), off.end());
  c.gossip_factor = s.get_real("pubsub.gossip_factor");
  c.stem.enabled = s.get_bool("pubsub.stem");
  c.stem.fluff_probability = s.get_real("pubsub.stem_fluff_probability");
  c.stem.epoch = secs(s, "pubsub.stem_epoch_s");
  c.stem.embargo = ms(s, "pubsub.stem_embargo_ms");
  c.stem.embargo_jitter_mean = ms(s, "pubsub.stem_embargo_jitter_ms");
  c.opportunistic_graft_ticks = count(s, "pubsub.opportunistic_graft_ticks");
  c.opportunistic_graft_peers = count(s, "pubsub.opportunistic_graft_peers");
  c.max_ihave_length = count(s, "pubsub.max_ihave_length");
  c.max_ihave_messages = count(s, "pubsub.max_ihave_messages");
  c.iwant_followup_time = ms(s, "pubsub.iwant_followup_ms");
  c.gossip_retransmission = count(s, "pubsub.gossip_retransmission");
  c.idontwant_size_threshold = count(s, "pubsub.idontwant_size_threshold");
  c.max_idontwant_messages = count(s, "pubsub.max_idontwant_messages");
  c.idontwant_ttl_heartbeats = count(s, "pubsub.idontwant_ttl_heartbeats");
  c.max_pending_validations = count(s, "pubsub.max_pending_validations");
  c.max_topics_per_peer = count(s, "pubsub.max_topics_per_peer");
  c.max_message_size = count(s, "pubsub.max_message_size");
  for (const auto& text : s.get_list("pubsub.explicit_peers")) {
    auto id = PeerId::parse(text);  // the table checked it already
    if (!id) return bad("pubsub.explicit_peers", "\"" + text + "\": " + id.error().what());
    c.explicit_peers.insert(*id);
  }
  c.scoring = s.get_bool("pubsub.scoring");
  c.flag_policy = s.get_string("pubsub.flag_policy") == "flag_only"
                      ? pubsub::GossipsubConfig::FlagPolicy::flag_only
                      : pubsub::GossipsubConfig::FlagPolicy::disconnect_and_ban;
  c.ban_duration = secs(s, "pubsub.ban_duration_s");
  c.unknown_topic_graft_penalty = s.get_real("pubsub.unknown_topic_graft_penalty");
  c.iwant_excess_penalty = s.get_real("pubsub.iwant_excess_penalty");

  auto got = [](std::initializer_list<std::size_t> v) {
    std::string out = " (got ";
    for (auto it = v.begin(); it != v.end(); ++it) out += (it == v.begin() ? "" : ", ") + std::to_string(*it);
    return out + ")";
  };
  if (!(c.d_lo <= c.d && c.d <= c.d_hi))
    return bad("pubsub.d_lo/pubsub.d/pubsub.d_hi", "need d_lo <= d <= d_hi" + got({c.d_lo, c.d, c.d_hi}));
  if (c.d_score > c.d) return bad("pubsub.d_score/pubsub.d", "need d_score <= d" + got({c.d_score, c.d}));
  if (!(c.d_out < c.d_lo && c.d_out <= c.d / 2))
    return bad("pubsub.d_out/pubsub.d_lo/pubsub.d",
               "need d_out < d_lo and d_out <= d/2" + got({c.d_out, c.d_lo, c.d}));
  if (c.mcache_gossip > c.mcache_len)
    return bad("pubsub.mcache_gossip/pubsub.mcache_len",
               "need mcache_gossip <= mcache_len" + got({c.mcache_gossip, c.mcache_len}));
  if (Status st = c.validate(); !st) return rejected("GossipsubConfig::validate", st.error());
  return c;
}

Result<pubsub::CodecLimits> codec_limits_from(const Settings& s) {
  pubsub::CodecLimits l;
  l.max_rpc_size = count(s, "pubsub.max_rpc_size");
  l.max_message_size = count(s, "pubsub.max_message_size");
  l.max_topic_length = count(s, "pubsub.max_topic_length");
  l.max_message_id_length = count(s, "pubsub.max_message_id_length");
  l.max_ids_per_control = count(s, "pubsub.max_ids_per_control");
  l.max_subscriptions = count(s, "pubsub.max_subscriptions_per_rpc");
  l.max_messages = count(s, "pubsub.max_messages_per_rpc");
  l.max_px_peers = count(s, "pubsub.max_px_peers");
  if (l.max_message_size > l.max_rpc_size)
    return bad("pubsub.max_message_size/pubsub.max_rpc_size",
               "need max_message_size <= max_rpc_size, or no RPC can carry the largest message (got " +
                   std::to_string(l.max_message_size) + ", " + std::to_string(l.max_rpc_size) + ")");
  return l;
}

Result<pubsub::PeerScoreThresholds> score_thresholds_from(const Settings& s) {
  pubsub::PeerScoreThresholds t = pubsub::PeerScoreThresholds::defaults();
  t.gossip = s.get_real("pubsub.score_gossip_threshold");
  t.publish = s.get_real("pubsub.score_publish_threshold");
  t.graylist = s.get_real("pubsub.score_graylist_threshold");
  t.accept_px = s.get_real("pubsub.score_accept_px_threshold");
  t.opportunistic_graft = s.get_real("pubsub.score_opportunistic_graft_threshold");
  // Signs (<= 0, >= 0) are the table's ranges; the order is checked here.
  if (t.publish > t.gossip)
    return bad("pubsub.score_publish_threshold/pubsub.score_gossip_threshold",
               "need publish <= gossip threshold (got " + num(t.publish) + ", " + num(t.gossip) + ")");
  if (t.graylist > t.publish)
    return bad("pubsub.score_graylist_threshold/pubsub.score_publish_threshold",
               "need graylist <= publish threshold (got " + num(t.graylist) + ", " + num(t.publish) + ")");
  if (Status st = t.validate(); !st) return rejected("PeerScoreThresholds::validate", st.error());
  return t;
}

pubsub::TopicScoreParams topic_score_params_from(const Settings& s) {
  pubsub::TopicScoreParams p = pubsub::TopicScoreParams::defaults();
  p.topic_weight = s.get_real("pubsub.topic_weight");
  p.time_in_mesh_weight = s.get_real("pubsub.topic_time_in_mesh_weight");
  p.time_in_mesh_quantum = ms(s, "pubsub.topic_time_in_mesh_quantum_ms");
  p.time_in_mesh_cap = s.get_real("pubsub.topic_time_in_mesh_cap");
  p.first_message_deliveries_weight = s.get_real("pubsub.topic_first_message_deliveries_weight");
  p.first_message_deliveries_decay = s.get_real("pubsub.topic_first_message_deliveries_decay");
  p.first_message_deliveries_cap = s.get_real("pubsub.topic_first_message_deliveries_cap");
  p.mesh_message_deliveries_weight = s.get_real("pubsub.topic_mesh_message_deliveries_weight");
  p.mesh_message_deliveries_decay = s.get_real("pubsub.topic_mesh_message_deliveries_decay");
  p.mesh_message_deliveries_cap = s.get_real("pubsub.topic_mesh_message_deliveries_cap");
  p.mesh_message_deliveries_threshold = s.get_real("pubsub.topic_mesh_message_deliveries_threshold");
  p.mesh_message_deliveries_window = ms(s, "pubsub.topic_mesh_message_deliveries_window_ms");
  p.mesh_message_deliveries_activation = secs(s, "pubsub.topic_mesh_message_deliveries_activation_s");
  p.mesh_failure_penalty_weight = s.get_real("pubsub.topic_mesh_failure_penalty_weight");
  p.mesh_failure_penalty_decay = s.get_real("pubsub.topic_mesh_failure_penalty_decay");
  p.invalid_message_deliveries_weight = s.get_real("pubsub.topic_invalid_message_deliveries_weight");
  p.invalid_message_deliveries_decay = s.get_real("pubsub.topic_invalid_message_deliveries_decay");
  return p;
}

Result<pubsub::PeerScoreParams> score_params_from(const Settings& s) {
  pubsub::PeerScoreParams p = pubsub::PeerScoreParams::defaults();  // keeps the P5 hook
  p.topic_score_cap = s.get_real("pubsub.score_topic_cap");
  p.app_specific_weight = s.get_real("pubsub.score_app_specific_weight");
  p.ip_colocation_factor_weight = s.get_real("pubsub.score_ip_colocation_factor_weight");
  p.ip_colocation_factor_threshold = count(s, "pubsub.score_ip_colocation_factor_threshold");
  const auto& wl = s.get_list("pubsub.score_ip_colocation_factor_whitelist");
  p.ip_colocation_factor_whitelist = std::set<std::string>(wl.begin(), wl.end());
  p.behaviour_penalty_weight = s.get_real("pubsub.score_behaviour_penalty_weight");
  p.behaviour_penalty_threshold = s.get_real("pubsub.score_behaviour_penalty_threshold");
  p.behaviour_penalty_decay = s.get_real("pubsub.score_behaviour_penalty_decay");
  p.decay_interval = secs(s, "pubsub.score_decay_interval_s");
  p.decay_to_zero = s.get_real("pubsub.score_decay_to_zero");
  p.retain_score = secs(s, "pubsub.score_retain_s");
  p.seen_ttl = secs(s, "pubsub.seen_ttl_s");
  p.max_delivery_records = count(s, "pubsub.score_max_delivery_records");
  p.max_retained_peers = count(s, "pubsub.score_max_retained_peers");

  if (Status st = need_decay(s, "pubsub.score_behaviour_penalty_decay", "pubsub.score_behaviour_penalty_weight"); !st)
    return st.error();
  if (!unit_open(p.decay_to_zero))
    return bad("pubsub.score_decay_to_zero", "need a value in (0, 1) (got " + num(p.decay_to_zero) + ")");
  if (Status st = check_topic_defaults(s); !st) return st.error();
  if (Status st = p.validate(); !st) return rejected("PeerScoreParams::validate", st.error());
  return p;
}

Result<PubsubConfig> pubsub_config_from(const Settings& s) {
  auto gossip = gossipsub_config_from(s);
  if (!gossip) return gossip.error();
  auto limits = codec_limits_from(s);
  if (!limits) return limits.error();
  auto score = score_params_from(s);
  if (!score) return score.error();
  auto thresholds = score_thresholds_from(s);
  if (!thresholds) return thresholds.error();
  if (gossip->prune_peers > limits->max_px_peers)
    return bad("pubsub.prune_peers/pubsub.max_px_peers",
               "need prune_peers <= max_px_peers, or peers with our limits reject our PRUNEs (got " +
                   std::to_string(gossip->prune_peers) + ", " + std::to_string(limits->max_px_peers) + ")");
  if (gossip->max_ihave_length > limits->max_ids_per_control)
    return bad("pubsub.max_ihave_length/pubsub.max_ids_per_control",
               "need max_ihave_length <= max_ids_per_control, or peers with our limits reject our IHAVEs (got " +
                   std::to_string(gossip->max_ihave_length) + ", " + std::to_string(limits->max_ids_per_control) +
                   ")");
  return PubsubConfig{std::move(*gossip), *limits, std::move(*score), *thresholds, topic_score_params_from(s)};
}

}  // namespace shardnode::node
