// The [pubsub] settings (src/node/settings_table.cpp) as the pubsub library's structs.
// Single values were range-checked when loaded; these functions check the rules
// that span several keys (d_lo <= d <= d_hi, thresholds in order, a decay in (0, 1)
// while its weight is on...) and then the struct's own validate(). Errors are
// ConfigErrc::out_of_range and name the keys, e.g.
//   "pubsub.d_lo/pubsub.d/pubsub.d_hi: need d_lo <= d <= d_hi (got 5, 4, 12)".
#pragma once

#include "shardnode/core/result.h"
#include "shardnode/node/settings.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/router.h"
#include "shardnode/pubsub/score.h"

namespace shardnode::node {

// pubsub.d ... pubsub.iwant_excess_penalty. message_id stays default_message_id.
Result<pubsub::GossipsubConfig> gossipsub_config_from(const Settings& s);

// pubsub.max_rpc_size, pubsub.max_message_size and the other per-RPC caps.
Result<pubsub::CodecLimits> codec_limits_from(const Settings& s);

// pubsub.score_*_threshold.
Result<pubsub::PeerScoreThresholds> score_thresholds_from(const Settings& s);

// pubsub.score_* (and pubsub.seen_ttl_s). No topics: add each scored topic with
// PeerScore::set_topic_params(topic, topic_score_params_from(s)). The P5 hook is
// PeerScoreParams::defaults()' (0 for every peer). Also checks the pubsub.topic_*
// values, so a bad topic default is reported at load time.
Result<pubsub::PeerScoreParams> score_params_from(const Settings& s);

// pubsub.topic_*: the parameters every scored topic starts from. Unchecked here
// (score_params_from checks them; so does PeerScore::set_topic_params).
pubsub::TopicScoreParams topic_score_params_from(const Settings& s);

// Everything above (PubsubConfig is in config.h), plus the rules between structs (max_message_size <=
// max_rpc_size, prune_peers <= max_px_peers, max_ihave_length <= max_ids_per_control).
Result<PubsubConfig> pubsub_config_from(const Settings& s);

}  // namespace shardnode::node
