// The [pubsub] settings: the node's defaults are the pubsub structs' own, a file maps to
// the structs, and bad values are errors naming the keys (and file:line when a
// single value is out of range).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "shardnode/core/errors.h"
#include "shardnode/node/pubsub_settings.h"

using namespace shardnode;
using namespace shardnode::node;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

Settings parse_ok(std::string_view toml) {
  auto r = Settings::parse(toml, "pubsub.toml");
  if (!r) FAIL(r.error().message);
  return *r;
}

Error parse_error(std::string_view toml) {
  auto r = Settings::parse(toml, "pubsub.toml");
  REQUIRE_FALSE(r);
  return r.error();
}

template <class T>
Error error_of(const Result<T>& r) {
  REQUIRE_FALSE(r);
  return r.error();
}

void check_gossip_equal(const pubsub::GossipsubConfig& a, const pubsub::GossipsubConfig& b) {
  CHECK(a.d == b.d);
  CHECK(a.d_lo == b.d_lo);
  CHECK(a.d_hi == b.d_hi);
  CHECK(a.d_lazy == b.d_lazy);
  CHECK(a.d_score == b.d_score);
  CHECK(a.d_out == b.d_out);
  CHECK(a.heartbeat_interval == b.heartbeat_interval);
  CHECK(a.fanout_ttl == b.fanout_ttl);
  CHECK(a.mcache_len == b.mcache_len);
  CHECK(a.mcache_gossip == b.mcache_gossip);
  CHECK(a.seen_ttl == b.seen_ttl);
  CHECK(a.prune_backoff == b.prune_backoff);
  CHECK(a.unsubscribe_backoff == b.unsubscribe_backoff);
  CHECK(a.graft_flood_threshold == b.graft_flood_threshold);
  CHECK(a.do_px == b.do_px);
  CHECK(a.prune_peers == b.prune_peers);
  CHECK(a.flood_publish == b.flood_publish);
  CHECK(a.flood_publish_off == b.flood_publish_off);
  CHECK(a.gossip_factor == b.gossip_factor);
  CHECK(a.opportunistic_graft_ticks == b.opportunistic_graft_ticks);
  CHECK(a.opportunistic_graft_peers == b.opportunistic_graft_peers);
  CHECK(a.max_ihave_length == b.max_ihave_length);
  CHECK(a.max_ihave_messages == b.max_ihave_messages);
  CHECK(a.iwant_followup_time == b.iwant_followup_time);
  CHECK(a.gossip_retransmission == b.gossip_retransmission);
  CHECK(a.idontwant_size_threshold == b.idontwant_size_threshold);
  CHECK(a.max_idontwant_messages == b.max_idontwant_messages);
  CHECK(a.idontwant_ttl_heartbeats == b.idontwant_ttl_heartbeats);
  CHECK(a.max_pending_validations == b.max_pending_validations);
  CHECK(a.max_topics_per_peer == b.max_topics_per_peer);
  CHECK(a.max_message_size == b.max_message_size);
  CHECK(a.explicit_peers == b.explicit_peers);
  CHECK(static_cast<bool>(a.message_id));
  CHECK(a.scoring == b.scoring);
  CHECK(a.flag_policy == b.flag_policy);
  CHECK(a.ban_duration == b.ban_duration);
  CHECK(a.unknown_topic_graft_penalty == b.unknown_topic_graft_penalty);
  CHECK(a.iwant_excess_penalty == b.iwant_excess_penalty);
}

void check_limits_equal(const pubsub::CodecLimits& a, const pubsub::CodecLimits& b) {
  CHECK(a.max_rpc_size == b.max_rpc_size);
  CHECK(a.max_message_size == b.max_message_size);
  CHECK(a.max_topic_length == b.max_topic_length);
  CHECK(a.max_message_id_length == b.max_message_id_length);
  CHECK(a.max_ids_per_control == b.max_ids_per_control);
  CHECK(a.max_subscriptions == b.max_subscriptions);
  CHECK(a.max_messages == b.max_messages);
  CHECK(a.max_px_peers == b.max_px_peers);
}

void check_thresholds_equal(const pubsub::PeerScoreThresholds& a, const pubsub::PeerScoreThresholds& b) {
  CHECK(a.gossip == b.gossip);
  CHECK(a.publish == b.publish);
  CHECK(a.graylist == b.graylist);
  CHECK(a.accept_px == b.accept_px);
  CHECK(a.opportunistic_graft == b.opportunistic_graft);
}

void check_score_equal(const pubsub::PeerScoreParams& a, const pubsub::PeerScoreParams& b) {
  CHECK(a.topics.empty());
  CHECK(a.topic_score_cap == b.topic_score_cap);
  CHECK(a.app_specific_weight == b.app_specific_weight);
  REQUIRE(a.app_specific_score);
  CHECK(a.app_specific_score(PeerId{}) == 0.0);
  CHECK(a.ip_colocation_factor_weight == b.ip_colocation_factor_weight);
  CHECK(a.ip_colocation_factor_threshold == b.ip_colocation_factor_threshold);
  CHECK(a.ip_colocation_factor_whitelist == b.ip_colocation_factor_whitelist);
  CHECK(a.behaviour_penalty_weight == b.behaviour_penalty_weight);
  CHECK(a.behaviour_penalty_threshold == b.behaviour_penalty_threshold);
  CHECK(a.behaviour_penalty_decay == b.behaviour_penalty_decay);
  CHECK(a.decay_interval == b.decay_interval);
  CHECK(a.decay_to_zero == b.decay_to_zero);
  CHECK(a.retain_score == b.retain_score);
  CHECK(a.seen_ttl == b.seen_ttl);
  CHECK(a.max_delivery_records == b.max_delivery_records);
  CHECK(a.max_retained_peers == b.max_retained_peers);
}

void check_topic_equal(const pubsub::TopicScoreParams& a, const pubsub::TopicScoreParams& b) {
  CHECK(a.topic_weight == b.topic_weight);
  CHECK(a.time_in_mesh_weight == b.time_in_mesh_weight);
  CHECK(a.time_in_mesh_quantum == b.time_in_mesh_quantum);
  CHECK(a.time_in_mesh_cap == b.time_in_mesh_cap);
  CHECK(a.first_message_deliveries_weight == b.first_message_deliveries_weight);
  CHECK(a.first_message_deliveries_decay == b.first_message_deliveries_decay);
  CHECK(a.first_message_deliveries_cap == b.first_message_deliveries_cap);
  CHECK(a.mesh_message_deliveries_weight == b.mesh_message_deliveries_weight);
  CHECK(a.mesh_message_deliveries_decay == b.mesh_message_deliveries_decay);
  CHECK(a.mesh_message_deliveries_cap == b.mesh_message_deliveries_cap);
  CHECK(a.mesh_message_deliveries_threshold == b.mesh_message_deliveries_threshold);
  CHECK(a.mesh_message_deliveries_window == b.mesh_message_deliveries_window);
  CHECK(a.mesh_message_deliveries_activation == b.mesh_message_deliveries_activation);
  CHECK(a.mesh_failure_penalty_weight == b.mesh_failure_penalty_weight);
  CHECK(a.mesh_failure_penalty_decay == b.mesh_failure_penalty_decay);
  CHECK(a.invalid_message_deliveries_weight == b.invalid_message_deliveries_weight);
  CHECK(a.invalid_message_deliveries_decay == b.invalid_message_deliveries_decay);
}

// A config file in a fresh temporary directory, removed at scope exit.
struct TempToml {
  std::filesystem::path dir, file;
  explicit TempToml(std::string_view text) {
    dir = std::filesystem::temp_directory_path() / ("shardnode-pubsub-settings-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    file = dir / "node.toml";
    std::ofstream(file) << text;
  }
  ~TempToml() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TempToml(const TempToml&) = delete;
  TempToml& operator=(const TempToml&) = delete;
};

}  // namespace

TEST_CASE("pubsub settings: the defaults map to the pubsub structs' defaults", "[config]") {
  const Settings s = Settings::defaults();
  auto cfg = pubsub_config_from(s);
  if (!cfg) FAIL(cfg.error().message);
  // An onion-only node (the default) gives out no peer exchange (a role default,
  // settings.h); everything else is the structs' default.
  pubsub::GossipsubConfig onion_only_gossip;
  onion_only_gossip.do_px = false;
  check_gossip_equal(cfg->gossip, onion_only_gossip);
  check_limits_equal(cfg->limits, pubsub::CodecLimits{});
  check_score_equal(cfg->score, pubsub::PeerScoreParams::defaults());
  check_thresholds_equal(cfg->thresholds, pubsub::PeerScoreThresholds::defaults());
  check_topic_equal(cfg->topic_defaults, pubsub::TopicScoreParams::defaults());

  // The single-struct functions agree with the aggregate.
  auto g = gossipsub_config_from(s);
  REQUIRE(g);
  check_gossip_equal(*g, onion_only_gossip);
  auto t = score_thresholds_from(s);
  REQUIRE(t);
  check_thresholds_equal(*t, pubsub::PeerScoreThresholds::defaults());
  auto p = score_params_from(s);
  REQUIRE(p);
  check_score_equal(*p, pubsub::PeerScoreParams::defaults());
  check_topic_equal(topic_score_params_from(s), pubsub::TopicScoreParams::defaults());
  auto l = codec_limits_from(s);
  REQUIRE(l);
  check_limits_equal(*l, pubsub::CodecLimits{});
}

TEST_CASE("pubsub settings: every [pubsub] key has a description and sits in the [pubsub] section", "[config]") {
  std::size_t n = 0;
  for (const auto& d : settings_table()) {
    if (d.key.rfind("pubsub.", 0) != 0) continue;
    INFO(d.key);
    ++n;
    CHECK(d.key.find('.', 7) == std::string::npos);  // one level of sections
    CHECK(d.description.size() > 20);
    if (d.type == SettingType::integer) CHECK(d.min <= d.max);
    if (d.type == SettingType::real) CHECK(d.min_real < d.max_real);
  }
  CHECK(n >= 60);
}

TEST_CASE("pubsub settings: a TOML file setting several pubsub keys maps to the structs", "[config]") {
  const std::string peer = PeerId::from_public_key(Ed25519PublicKey{}).to_string();
  TempToml f(R"([pubsub]
d = 8
d_lo = 6
d_hi = 16
d_out = 3
heartbeat_ms = 700
fanout_ttl_s = 30
seen_ttl_s = 300
prune_backoff_s = 90
iwant_followup_ms = 5000
flood_publish_off = ["/shard/0/collations", "/shard/1/collations"]
explicit_peers = [")" + peer + R"("]
gossip_factor = 0.5
flag_policy = "flag_only"
ban_duration_s = 1800
max_message_size = 2097152
max_rpc_size = 2162688
score_gossip_threshold = -20
score_publish_threshold = -60
score_graylist_threshold = -100
score_accept_px_threshold = 5
score_ip_colocation_factor_weight = 0
score_ip_colocation_factor_whitelist = ["10.0.0.5"]
score_behaviour_penalty_decay = 0.5
score_retain_s = 7200
topic_invalid_message_deliveries_weight = -200.0
topic_mesh_message_deliveries_weight = -1
topic_mesh_message_deliveries_threshold = 4
topic_mesh_message_deliveries_activation_s = 30
topic_time_in_mesh_quantum_ms = 500
)");
  auto s = Settings::load_file(f.file);
  if (!s) FAIL(s.error().message);
  auto cfg = pubsub_config_from(*s);
  if (!cfg) FAIL(cfg.error().message);

  const auto& g = cfg->gossip;
  CHECK(g.d == 8);
  CHECK(g.d_lo == 6);
  CHECK(g.d_hi == 16);
  CHECK(g.d_out == 3);
  CHECK(g.d_lazy == 6);  // untouched keys keep their defaults
  CHECK(g.heartbeat_interval == milliseconds(700));
  CHECK(g.fanout_ttl == seconds(30));
  CHECK(g.seen_ttl == seconds(300));
  CHECK(g.prune_backoff == seconds(90));
  CHECK(g.iwant_followup_time == milliseconds(5000));
  CHECK(g.flood_publish);
  CHECK(g.flood_publish_off == std::set<pubsub::TopicId>{"/shard/0/collations", "/shard/1/collations"});
  REQUIRE(g.explicit_peers.size() == 1);
  CHECK(g.explicit_peers.begin()->to_string() == peer);
  CHECK(g.gossip_factor == 0.5);
  CHECK(g.flag_policy == pubsub::GossipsubConfig::FlagPolicy::flag_only);
  CHECK(g.ban_duration == seconds(1800));
  CHECK(g.max_message_size == 2097152);
  CHECK(cfg->limits.max_message_size == 2097152);
  CHECK(cfg->limits.max_rpc_size == 2162688);

  CHECK(cfg->thresholds.gossip == -20.0);
  CHECK(cfg->thresholds.publish == -60.0);
  CHECK(cfg->thresholds.graylist == -100.0);
  CHECK(cfg->thresholds.accept_px == 5.0);
  CHECK(cfg->thresholds.opportunistic_graft == 20.0);

  CHECK(cfg->score.ip_colocation_factor_weight == 0.0);
  CHECK(cfg->score.ip_colocation_factor_whitelist == std::set<std::string>{"10.0.0.5"});
  CHECK(cfg->score.behaviour_penalty_decay == 0.5);
  CHECK(cfg->score.retain_score == seconds(7200));
  CHECK(cfg->score.seen_ttl == seconds(300));  // one key for the router and the score's delivery records

  const auto& t = cfg->topic_defaults;
  CHECK(t.invalid_message_deliveries_weight == -200.0);
  CHECK(t.mesh_message_deliveries_weight == -1.0);
  CHECK(t.mesh_message_deliveries_threshold == 4.0);
  CHECK(t.mesh_message_deliveries_activation == seconds(30));
  CHECK(t.time_in_mesh_quantum == milliseconds(500));
  CHECK(t.validate());

  // What the node does with them: the router and the scorer accept them.
  auto score = pubsub::PeerScore::create(cfg->score);
  REQUIRE(score);
  CHECK(score->set_topic_params("/shard/0/collations", cfg->topic_defaults));
}

TEST_CASE("pubsub settings: --set overrides a pubsub key like a file does", "[config]") {
  Settings s = Settings::defaults();
  REQUIRE(s.set_from_text("pubsub.d_hi=20"));
  REQUIRE(s.set_from_text("pubsub.flag_policy=flag_only"));
  REQUIRE(s.set_from_text("pubsub.score_graylist_threshold=-90.5"));
  auto g = gossipsub_config_from(s);
  REQUIRE(g);
  CHECK(g->d_hi == 20);
  CHECK(g->flag_policy == pubsub::GossipsubConfig::FlagPolicy::flag_only);
  auto t = score_thresholds_from(s);
  REQUIRE(t);
  CHECK(t->graylist == -90.5);
  CHECK_FALSE(s.set_from_text("pubsub.d=0"));
}

TEST_CASE("pubsub settings: mesh degrees out of order are errors naming the keys", "[config]") {
  auto e = error_of(gossipsub_config_from(parse_ok("[pubsub]\nd_lo = 5\nd = 4\n")));
  CHECK(e.code == ConfigErrc::out_of_range);
  CHECK_THAT(e.message, Catch::StartsWith("pubsub.d_lo/pubsub.d/pubsub.d_hi: need d_lo <= d <= d_hi") &&
                            Catch::Contains("got 5, 4, 12"));
  auto hi = error_of(gossipsub_config_from(parse_ok("[pubsub]\nd = 13\n")));
  CHECK_THAT(hi.message, Catch::StartsWith("pubsub.d_lo/pubsub.d/pubsub.d_hi:"));
  auto sc = error_of(gossipsub_config_from(parse_ok("[pubsub]\nd_score = 7\n")));
  CHECK_THAT(sc.message, Catch::StartsWith("pubsub.d_score/pubsub.d: need d_score <= d"));
  auto out = error_of(gossipsub_config_from(parse_ok("[pubsub]\nd_out = 4\n")));
  CHECK_THAT(out.message, Catch::StartsWith("pubsub.d_out/pubsub.d_lo/pubsub.d:"));
  auto mc = error_of(gossipsub_config_from(parse_ok("[pubsub]\nmcache_len = 2\n")));
  CHECK_THAT(mc.message, Catch::StartsWith("pubsub.mcache_gossip/pubsub.mcache_len:"));
  // The aggregate reports the same error.
  auto all = error_of(pubsub_config_from(parse_ok("[pubsub]\nd_lo = 5\nd = 4\n")));
  CHECK(all.message == e.message);
}

TEST_CASE("pubsub settings: score thresholds out of order are errors naming the keys", "[config]") {
  auto e = error_of(score_thresholds_from(parse_ok("[pubsub]\nscore_publish_threshold = -5\n")));
  CHECK(e.code == ConfigErrc::out_of_range);
  CHECK_THAT(e.message,
             Catch::StartsWith("pubsub.score_publish_threshold/pubsub.score_gossip_threshold:") &&
                 Catch::Contains("-5") && Catch::Contains("-10"));
  auto g = error_of(score_thresholds_from(parse_ok("[pubsub]\nscore_graylist_threshold = -40\n")));
  CHECK_THAT(g.message, Catch::StartsWith("pubsub.score_graylist_threshold/pubsub.score_publish_threshold:"));
  // Moving all three together keeps them in order.
  CHECK(score_thresholds_from(parse_ok("[pubsub]\nscore_gossip_threshold = -1\nscore_publish_threshold = -2\n"
                                       "score_graylist_threshold = -3\n")));
}

TEST_CASE("pubsub settings: a decay outside (0, 1) while its weight is on names decay and weight", "[config]") {
  auto p7 = error_of(score_params_from(parse_ok("[pubsub]\nscore_behaviour_penalty_decay = 1.0\n")));
  CHECK_THAT(p7.message, Catch::StartsWith(
                             "pubsub.score_behaviour_penalty_decay/pubsub.score_behaviour_penalty_weight: need a decay"));
  // With P7 off, the decay does not matter.
  CHECK(score_params_from(
      parse_ok("[pubsub]\nscore_behaviour_penalty_decay = 1.0\nscore_behaviour_penalty_weight = 0\n")));
  auto p4 = error_of(score_params_from(parse_ok("[pubsub]\ntopic_invalid_message_deliveries_decay = 0\n")));
  CHECK_THAT(p4.message, Catch::StartsWith("pubsub.topic_invalid_message_deliveries_decay: need a decay in (0, 1)"));
  auto p3 = error_of(score_params_from(
      parse_ok("[pubsub]\ntopic_mesh_message_deliveries_weight = -1\ntopic_mesh_message_deliveries_threshold = 0\n")));
  CHECK_THAT(p3.message, Catch::StartsWith("pubsub.topic_mesh_message_deliveries_threshold/"
                                           "pubsub.topic_mesh_message_deliveries_weight: need a positive value"));
  auto p1 = error_of(pubsub_config_from(parse_ok("[pubsub]\ntopic_time_in_mesh_cap = 0\n")));
  CHECK_THAT(p1.message, Catch::StartsWith("pubsub.topic_time_in_mesh_cap/pubsub.topic_time_in_mesh_weight:"));
  auto dz = error_of(score_params_from(parse_ok("[pubsub]\nscore_decay_to_zero = 0\n")));
  CHECK_THAT(dz.message, Catch::StartsWith("pubsub.score_decay_to_zero: need a value in (0, 1)"));
}

TEST_CASE("pubsub settings: limits that contradict each other are errors naming the keys", "[config]") {
  auto m = error_of(pubsub_config_from(parse_ok("[pubsub]\nmax_message_size = 2097152\n")));
  CHECK_THAT(m.message, Catch::StartsWith("pubsub.max_message_size/pubsub.max_rpc_size:"));
  CHECK_FALSE(codec_limits_from(parse_ok("[pubsub]\nmax_message_size = 2097152\n")));
  auto px = error_of(pubsub_config_from(parse_ok("[pubsub]\nprune_peers = 65\n")));
  CHECK_THAT(px.message, Catch::StartsWith("pubsub.prune_peers/pubsub.max_px_peers:"));
  auto ih = error_of(pubsub_config_from(parse_ok("[pubsub]\nmax_ihave_length = 6000\n")));
  CHECK_THAT(ih.message, Catch::StartsWith("pubsub.max_ihave_length/pubsub.max_ids_per_control:"));
  CHECK(pubsub_config_from(parse_ok("[pubsub]\nmax_ihave_length = 6000\nmax_ids_per_control = 6000\n")));
}

TEST_CASE("pubsub settings: out-of-range single values are rejected by the table with file:line", "[config]") {
  auto d = parse_error("[pubsub]\n\nd = 0\n");
  CHECK(d.code == ConfigErrc::out_of_range);
  CHECK_THAT(d.message, Catch::StartsWith("pubsub.toml:3:") && Catch::Contains("pubsub.d:") &&
                            Catch::Contains("1..100") && Catch::Contains("got 0"));
  auto hb = parse_error("[pubsub]\nheartbeat_ms = 5\n");
  CHECK_THAT(hb.message, Catch::StartsWith("pubsub.toml:2:") && Catch::Contains("pubsub.heartbeat_ms"));
  auto gf = parse_error("[pubsub]\ngossip_factor = 1.5\n");
  CHECK_THAT(gf.message, Catch::StartsWith("pubsub.toml:2:") && Catch::Contains("pubsub.gossip_factor") &&
                             Catch::Contains("got 1.5"));
  auto th = parse_error("[pubsub]\nscore_gossip_threshold = 5\n");
  CHECK_THAT(th.message, Catch::StartsWith("pubsub.toml:2:") && Catch::Contains("pubsub.score_gossip_threshold"));
  auto w = parse_error("[pubsub]\ntopic_invalid_message_deliveries_weight = 10\n");
  CHECK_THAT(w.message, Catch::Contains("pubsub.topic_invalid_message_deliveries_weight"));
  auto fp = parse_error("[pubsub]\nflag_policy = \"kick\"\n");
  CHECK_THAT(fp.message, Catch::StartsWith("pubsub.toml:2:") && Catch::Contains("\"flag_only\"") &&
                             Catch::Contains("\"disconnect_and_ban\""));
  auto ep = parse_error("[pubsub]\nexplicit_peers = [\"not-a-peer\"]\n");
  CHECK_THAT(ep.message, Catch::StartsWith("pubsub.toml:2:") && Catch::Contains("not a peer id"));
  auto off = parse_error("[pubsub]\nflood_publish_off = [\"\"]\n");
  CHECK_THAT(off.message, Catch::Contains("must not be empty"));
  auto ty = parse_error("[pubsub]\nflood_publish = \"yes\"\n");
  CHECK(ty.code == ConfigErrc::wrong_type);
  auto typo = parse_error("[pubsub]\nd_hgih = 12\n");
  CHECK_THAT(typo.message, Catch::Contains("did you mean 'pubsub.d_hi'"));
}

TEST_CASE("pubsub settings: the shipped configs map to a valid pubsub configuration", "[config]") {
  for (const char* name : {"validator.toml", "bootnode.toml"}) {
    INFO(name);
    auto s = Settings::load_file(std::string(SHARDNODE_SOURCE_DIR) + "/configs/" + name);
    if (!s) FAIL(s.error().message);
    auto cfg = pubsub_config_from(*s);
    if (!cfg) FAIL(cfg.error().message);
  }
}
