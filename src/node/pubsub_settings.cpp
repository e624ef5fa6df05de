// [pubsub] settings -> pubsub structs. See pubsub_settings.h. The explicit checks
// below mirror the structs' validate() rules that span several keys, so the error
// can name them; validate() runs last as a backstop.
#include "shardnode/node/pubsub_settings.h"

#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"

namespace shardnode::node {

namespace {


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

bool unit_open(double v) { return v > 0.0 && v < 1.0; }

// A value and the key it was read from, for errors.
struct Named {
  double v;
  const char* key;
};

// `decay` must be in (0, 1) - always, or while `weight` is not 0.
Status need_decay(Named decay, std::optional<Named> weight = std::nullopt) {
  if (unit_open(decay.v)) return {};
  if (!weight) return bad(decay.key, "need a decay in (0, 1) (got " + num(decay.v) + ")");
  if (weight->v == 0.0) return {};
  return bad(std::string(decay.key) + "/" + weight->key,
             "need a decay in (0, 1) while the weight is not 0 (got " + num(decay.v) + ")");
}

// `value` must be positive while `weight` is not 0.
Status need_positive(Named value, Named weight) {
  if (value.v > 0.0 || weight.v == 0.0) return {};
  return bad(std::string(value.key) + "/" + weight.key,
             "need a positive value while the weight is not 0 (got " + num(value.v) + ")");
}

#define NAMED(p, name) Named{p.name, "pubsub.topic_" #name}

Status check_topic_defaults(const pubsub::TopicScoreParams& p) {
  // P1
  if (Status st = need_positive(NAMED(p, time_in_mesh_cap), NAMED(p, time_in_mesh_weight)); !st) return st;
  // P2
  if (Status st = need_decay(NAMED(p, first_message_deliveries_decay), NAMED(p, first_message_deliveries_weight)); !st)
    return st;
  if (Status st = need_positive(NAMED(p, first_message_deliveries_cap), NAMED(p, first_message_deliveries_weight)); !st)
    return st;
  // P3 (the activation's minimum of 1 s is the table's)
  if (Status st = need_decay(NAMED(p, mesh_message_deliveries_decay), NAMED(p, mesh_message_deliveries_weight)); !st)
    return st;
  if (Status st = need_positive(NAMED(p, mesh_message_deliveries_cap), NAMED(p, mesh_message_deliveries_weight)); !st)
    return st;
  if (Status st = need_positive(NAMED(p, mesh_message_deliveries_threshold), NAMED(p, mesh_message_deliveries_weight));
      !st)
    return st;
  // P3b
  if (Status st = need_decay(NAMED(p, mesh_failure_penalty_decay), NAMED(p, mesh_failure_penalty_weight)); !st)
    return st;
  // P4: the decay matters even with the weight at 0.
  if (Status st = need_decay(NAMED(p, invalid_message_deliveries_decay)); !st) return st;
  if (Status st = p.validate(); !st) return rejected("TopicScoreParams::validate", st.error());
  return {};
}

#undef NAMED

}  // namespace

Result<pubsub::GossipsubConfig> gossipsub_config_from(const Settings& s) {
  const pubsub::GossipsubConfig c = s.config().pubsub.gossip;
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
  if (c.stem.own_embargo < c.stem.embargo)
    return bad("pubsub.stem_own_embargo_ms/pubsub.stem_embargo_ms",
               "need stem_own_embargo_ms >= stem_embargo_ms (the source waits longest)" +
                   got({static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::milliseconds>(c.stem.own_embargo).count()),
                        static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::milliseconds>(c.stem.embargo).count())}));
  if (Status st = c.validate(); !st) return rejected("GossipsubConfig::validate", st.error());
  return c;
}

Result<pubsub::CodecLimits> codec_limits_from(const Settings& s) {
  const pubsub::CodecLimits l = s.config().pubsub.limits;
  if (l.max_message_size > l.max_rpc_size)
    return bad("pubsub.max_message_size/pubsub.max_rpc_size",
               "need max_message_size <= max_rpc_size, or no RPC can carry the largest message (got " +
                   std::to_string(l.max_message_size) + ", " + std::to_string(l.max_rpc_size) + ")");
  return l;
}

Result<pubsub::PeerScoreThresholds> score_thresholds_from(const Settings& s) {
  const pubsub::PeerScoreThresholds t = s.config().pubsub.thresholds;
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

pubsub::TopicScoreParams topic_score_params_from(const Settings& s) { return s.config().pubsub.topic_defaults; }

Result<pubsub::PeerScoreParams> score_params_from(const Settings& s) {
  const pubsub::PeerScoreParams p = s.config().pubsub.score;
  if (Status st = need_decay({p.behaviour_penalty_decay, "pubsub.score_behaviour_penalty_decay"},
                             Named{p.behaviour_penalty_weight, "pubsub.score_behaviour_penalty_weight"});
      !st)
    return st.error();
  if (!unit_open(p.decay_to_zero))
    return bad("pubsub.score_decay_to_zero", "need a value in (0, 1) (got " + num(p.decay_to_zero) + ")");
  if (Status st = check_topic_defaults(s.config().pubsub.topic_defaults); !st) return st.error();
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
  const pubsub::InboundLimits inbound = s.config().pubsub.inbound;
  if (Status st = inbound.validate(); !st) return rejected("InboundLimits::validate", st.error());
  return PubsubConfig{std::move(*gossip), *limits, std::move(*score), *thresholds, topic_score_params_from(s),
                      inbound, s.config().pubsub.ping_interval};
}

}  // namespace shardnode::node
