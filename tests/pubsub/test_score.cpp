// Gossipsub v1.1 peer scoring (pubsub/src/score.cpp), driven directly in virtual time.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "shardnode/pubsub/score.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

constexpr TimePoint T0{};
const TopicId kTopic = "blocks";

PeerId peer(std::uint8_t n) {
  Ed25519PublicKey pk;
  pk.bytes.fill(n);
  return PeerId::from_public_key(pk);
}

MessageId mid(int n) { return MessageId{static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n & 0xff)}; }

// A topic with every weight at 0 (valid decays/caps), so a test enables one term.
TopicScoreParams quiet_topic() {
  TopicScoreParams t = TopicScoreParams::defaults();
  t.time_in_mesh_weight = 0.0;
  t.first_message_deliveries_weight = 0.0;
  t.mesh_message_deliveries_weight = 0.0;
  t.mesh_failure_penalty_weight = 0.0;
  t.invalid_message_deliveries_weight = 0.0;
  return t;
}

// Default global parameters with P6/P7 off and one topic.
PeerScoreParams params_with(const TopicScoreParams& t) {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.ip_colocation_factor_weight = 0.0;
  p.behaviour_penalty_weight = 0.0;
  p.topics[kTopic] = t;
  return p;
}

// `from` delivers a fresh message first (validation accepted).
void first_delivery(PeerScore& s, const PeerId& from, int n, TimePoint now) {
  s.validate_message(mid(n), kTopic, now);
  s.deliver_message(from, mid(n), kTopic, now);
}

void invalid_delivery(PeerScore& s, const PeerId& from, int n, TimePoint now) {
  s.validate_message(mid(n), kTopic, now);
  s.reject_message(from, mid(n), kTopic, RejectReason::invalid, now);
}

}  // namespace

TEST_CASE("default score parameters and thresholds validate", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.topics[kTopic] = TopicScoreParams::defaults();
  CHECK(p.validate().ok());
  CHECK(TopicScoreParams::defaults().validate().ok());
  CHECK(PeerScoreThresholds::defaults().validate().ok());

  const auto th = PeerScoreThresholds::defaults();
  CHECK(th.gossip == -10.0);
  CHECK(th.publish == -50.0);
  CHECK(th.graylist == -80.0);
  CHECK(th.accept_px == 10.0);
  CHECK(th.opportunistic_graft == 20.0);
  CHECK(p.topic_score_cap == 3600.0);
  CHECK(p.retain_score == 3600s);
  CHECK(PeerScore::create(p).ok());
}

TEST_CASE("invalid score parameters are rejected with a message naming the field", "[score]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    const char* field;
    std::function<void(PeerScoreParams&, TopicScoreParams&)> mutate;
  };
  const std::vector<Case> cases = {
      {"topic_weight", [](auto&, auto& t) { t.topic_weight = -1.0; }},
      {"time_in_mesh_weight", [](auto&, auto& t) { t.time_in_mesh_weight = -0.1; }},
      {"time_in_mesh_quantum", [](auto&, auto& t) { t.time_in_mesh_quantum = 0s; }},
      {"time_in_mesh_cap", [](auto&, auto& t) { t.time_in_mesh_cap = 0.0; }},
      {"first_message_deliveries_weight", [](auto&, auto& t) { t.first_message_deliveries_weight = -1.0; }},
      {"first_message_deliveries_decay", [](auto&, auto& t) { t.first_message_deliveries_decay = 1.0; }},
      {"first_message_deliveries_cap", [](auto&, auto& t) { t.first_message_deliveries_cap = -5.0; }},
      {"mesh_message_deliveries_weight", [](auto&, auto& t) { t.mesh_message_deliveries_weight = 1.0; }},
      {"mesh_message_deliveries_decay",
       [](auto&, auto& t) {
         t.mesh_message_deliveries_weight = -1.0;
         t.mesh_message_deliveries_decay = 0.0;
       }},
      {"mesh_message_deliveries_threshold",
       [](auto&, auto& t) {
         t.mesh_message_deliveries_weight = -1.0;
         t.mesh_message_deliveries_threshold = 0.0;
       }},
      {"mesh_message_deliveries_activation",
       [](auto&, auto& t) {
         t.mesh_message_deliveries_weight = -1.0;
         t.mesh_message_deliveries_activation = 500ms;
       }},
      {"mesh_message_deliveries_window", [](auto&, auto& t) { t.mesh_message_deliveries_window = -1ms; }},
      {"mesh_failure_penalty_weight", [](auto&, auto& t) { t.mesh_failure_penalty_weight = 2.0; }},
      {"mesh_failure_penalty_decay",
       [](auto&, auto& t) {
         t.mesh_failure_penalty_weight = -1.0;
         t.mesh_failure_penalty_decay = 1.5;
       }},
      {"invalid_message_deliveries_weight", [](auto&, auto& t) { t.invalid_message_deliveries_weight = 100.0; }},
      {"invalid_message_deliveries_weight", [nan](auto&, auto& t) { t.invalid_message_deliveries_weight = nan; }},
      {"invalid_message_deliveries_decay", [](auto&, auto& t) { t.invalid_message_deliveries_decay = 0.0; }},
      {"topic_score_cap", [](auto& p, auto&) { p.topic_score_cap = -1.0; }},
      {"app_specific_score", [](auto& p, auto&) { p.app_specific_score = nullptr; }},
      {"ip_colocation_factor_weight", [](auto& p, auto&) { p.ip_colocation_factor_weight = 5.0; }},
      {"ip_colocation_factor_threshold", [](auto& p, auto&) { p.ip_colocation_factor_threshold = 0; }},
      {"behaviour_penalty_weight", [](auto& p, auto&) { p.behaviour_penalty_weight = 1.0; }},
      {"behaviour_penalty_decay", [](auto& p, auto&) { p.behaviour_penalty_decay = 1.0; }},
      {"behaviour_penalty_threshold", [](auto& p, auto&) { p.behaviour_penalty_threshold = -1.0; }},
      {"decay_interval", [](auto& p, auto&) { p.decay_interval = 999ms; }},
      {"decay_to_zero", [](auto& p, auto&) { p.decay_to_zero = 0.0; }},
      {"retain_score", [](auto& p, auto&) { p.retain_score = -1s; }},
      {"seen_ttl", [](auto& p, auto&) { p.seen_ttl = 0s; }},
  };
  for (const auto& c : cases) {
    INFO(c.field);
    PeerScoreParams p = PeerScoreParams::defaults();
    TopicScoreParams t = TopicScoreParams::defaults();
    c.mutate(p, t);
    p.topics[kTopic] = t;
    const Status st = p.validate();
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.error().message, Contains(c.field));
    if (p.topics.count(kTopic) && !t.validate().ok()) CHECK_THAT(st.error().message, Contains("topic 'blocks'"));
    CHECK_FALSE(PeerScore::create(p).ok());
  }

  // Disabled terms don't need their other parameters (go's rules).
  TopicScoreParams off = quiet_topic();
  off.mesh_message_deliveries_decay = 0.0;
  off.mesh_message_deliveries_activation = 0s;
  off.first_message_deliveries_cap = 0.0;
  CHECK(off.validate().ok());
}

TEST_CASE("thresholds must be ordered graylist <= publish <= gossip <= 0 <= accept_px, opportunistic_graft",
          "[score]") {
  auto with = [](auto mutate) {
    PeerScoreThresholds t = PeerScoreThresholds::defaults();
    mutate(t);
    return t.validate();
  };
  CHECK_THAT(with([](auto& t) { t.gossip = 1.0; }).error().message, Contains("gossip"));
  CHECK_THAT(with([](auto& t) { t.publish = -5.0; }).error().message, Contains("publish"));
  CHECK_THAT(with([](auto& t) { t.graylist = -40.0; }).error().message, Contains("graylist"));
  CHECK_THAT(with([](auto& t) { t.accept_px = -1.0; }).error().message, Contains("accept_px"));
  CHECK_THAT(with([](auto& t) { t.opportunistic_graft = -1.0; }).error().message, Contains("opportunistic_graft"));
  CHECK_FALSE(with([](auto& t) { t.graylist = std::numeric_limits<double>::quiet_NaN(); }).ok());
  CHECK(with([](auto& t) { t.publish = t.gossip = t.graylist = 0.0; }).ok());
}

TEST_CASE("P1: time in mesh counts whole quanta and stops at the cap", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.time_in_mesh_weight = 1.0;
  t.time_in_mesh_quantum = 1s;
  t.time_in_mesh_cap = 10.0;
  PeerScore s(params_with(t));
  const PeerId a = peer(1), b = peer(2);
  s.add_peer(a, "", T0);
  s.add_peer(b, "", T0);
  s.graft(a, kTopic, T0);

  CHECK(s.score(a, T0) == 0.0);
  CHECK(s.score(a, T0 + 3500ms) == 3.0);
  CHECK(s.score(a, T0 + 100s) == 10.0);
  CHECK(s.score(b, T0 + 100s) == 0.0);  // never grafted

  s.prune(a, kTopic, T0 + 100s);
  CHECK(s.score(a, T0 + 200s) == 0.0);
  s.graft(a, kTopic, T0 + 200s);  // time in mesh restarts at each graft
  CHECK(s.score(a, T0 + 202s) == 2.0);
}

TEST_CASE("P2: first deliveries count once per message, are capped and decay", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.first_message_deliveries_weight = 2.0;
  t.first_message_deliveries_decay = 0.5;
  t.first_message_deliveries_cap = 5.0;
  PeerScore s(params_with(t));
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  s.refresh(T0);

  for (int i = 0; i < 3; ++i) first_delivery(s, a, i, T0);
  CHECK(s.score(a, T0) == 6.0);
  s.deliver_message(a, mid(0), kTopic, T0);  // a repeated deliver is not a new first delivery
  CHECK(s.score(a, T0) == 6.0);
  for (int i = 3; i < 20; ++i) first_delivery(s, a, i, T0);
  CHECK(s.score(a, T0) == 10.0);  // counter capped at 5

  s.refresh(T0 + 1s);
  CHECK(s.score(a, T0 + 1s) == 5.0);
  s.refresh(T0 + 2s);
  CHECK(s.score(a, T0 + 2s) == 2.5);
  s.refresh(T0 + 10s);  // 5 * 0.5^10 < decay_to_zero: exactly 0
  CHECK(s.score(a, T0 + 10s) == 0.0);
  CHECK(s.breakdown(a, T0 + 10s).topics.at(0).first_message_deliveries == 0.0);
}

TEST_CASE("P3: the delivery deficit applies only to mesh peers and only after activation", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.mesh_message_deliveries_weight = -1.0;
  t.mesh_message_deliveries_cap = 10.0;
  t.mesh_message_deliveries_threshold = 4.0;
  t.mesh_message_deliveries_activation = 2s;
  REQUIRE(t.validate().ok());
  PeerScore s(params_with(t));
  const PeerId mesh = peer(1), outside = peer(2);
  s.add_peer(mesh, "", T0);
  s.add_peer(outside, "", T0);
  s.graft(mesh, kTopic, T0);

  CHECK(s.score(mesh, T0 + 1s) == 0.0);    // still activating
  CHECK(s.score(mesh, T0 + 3s) == -16.0);  // deficit 4, squared
  CHECK(s.score(outside, T0 + 3s) == 0.0);

  first_delivery(s, mesh, 1, T0 + 3s);
  CHECK(s.score(mesh, T0 + 3s) == -9.0);
  first_delivery(s, outside, 2, T0 + 3s);  // not in the mesh: P2 only (weight 0 here)
  CHECK(s.score(outside, T0 + 3s) == 0.0);
  CHECK(s.breakdown(outside, T0 + 3s).topics.at(0).mesh_message_deliveries == 0.0);

  for (int i = 10; i < 20; ++i) first_delivery(s, mesh, i, T0 + 3s);
  CHECK(s.score(mesh, T0 + 3s) == 0.0);  // above the threshold: no penalty
  CHECK(s.breakdown(mesh, T0 + 3s).topics.at(0).mesh_message_deliveries == 10.0);  // capped
}

TEST_CASE("P3: near-first duplicates within the window count, late ones and repeats don't", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.mesh_message_deliveries_weight = -1.0;
  t.mesh_message_deliveries_cap = 10.0;
  t.mesh_message_deliveries_threshold = 4.0;
  t.mesh_message_deliveries_window = 10ms;
  t.mesh_message_deliveries_activation = 1s;
  PeerScore s(params_with(t));
  const PeerId first = peer(1), a = peer(2), late = peer(3), stranger = peer(9);
  for (const auto& p : {first, a, late}) {
    s.add_peer(p, "", T0);
    s.graft(p, kTopic, T0);
  }
  const TimePoint t1 = T0 + 5s;
  first_delivery(s, first, 1, t1);
  s.duplicate_message(a, mid(1), kTopic, t1 + 5ms);
  s.duplicate_message(a, mid(1), kTopic, t1 + 6ms);  // the same peer again: once only
  s.duplicate_message(late, mid(1), kTopic, t1 + 50ms);
  s.duplicate_message(stranger, mid(1), kTopic, t1 + 5ms);  // never added: ignored
  CHECK(s.score(a, t1) == -9.0);
  CHECK(s.score(late, t1) == -16.0);
  CHECK_FALSE(s.known(stranger));

  // Duplicates that arrive while the message is being validated count when it is
  // accepted, however long validation took.
  s.validate_message(mid(2), kTopic, t1);
  s.duplicate_message(late, mid(2), kTopic, t1 + 1ms);
  s.deliver_message(first, mid(2), kTopic, t1 + 2s);
  CHECK(s.score(late, t1 + 2s) == -9.0);
}

TEST_CASE("P3b: pruning an under-delivering mesh peer leaves a sticky, decaying penalty", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.mesh_message_deliveries_weight = -1.0;
  t.mesh_message_deliveries_cap = 10.0;
  t.mesh_message_deliveries_threshold = 4.0;
  t.mesh_message_deliveries_activation = 2s;
  t.mesh_failure_penalty_weight = -1.0;
  t.mesh_failure_penalty_decay = 0.5;
  PeerScore s(params_with(t));
  const PeerId slow = peer(1), early = peer(2);
  s.add_peer(slow, "", T0);
  s.add_peer(early, "", T0);
  s.graft(slow, kTopic, T0);
  s.graft(early, kTopic, T0);
  s.refresh(T0);
  first_delivery(s, slow, 1, T0 + 1s);  // deficit 3

  s.prune(early, kTopic, T0 + 1s);  // before activation: no penalty
  CHECK(s.score(early, T0 + 3s) == 0.0);

  CHECK(s.score(slow, T0 + 3s) == -9.0);  // P3: deficit 3
  s.prune(slow, kTopic, T0 + 3s);
  const ScoreBreakdown b = s.breakdown(slow, T0 + 3s);
  CHECK(b.p3 == 0.0);  // out of the mesh: P3 no longer applies ...
  CHECK(b.p3b == -9.0);  // ... but the deficit at prune time sticks
  CHECK(b.total == -9.0);
  s.refresh(T0 + 4s);  // four intervals since the decay clock started at T0
  CHECK(s.score(slow, T0 + 4s) == Approx(-9.0 * 0.5 * 0.5 * 0.5 * 0.5));
  s.refresh(T0 + 5s);
  CHECK(s.score(slow, T0 + 5s) == Approx(-9.0 / 32.0));
}

TEST_CASE("P4: invalid messages cost quadratically and graylist a spam source with default params", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.topics[kTopic] = TopicScoreParams::defaults();
  const PeerScoreThresholds th = PeerScoreThresholds::defaults();
  PeerScore s(p);
  const PeerId spammer = peer(1), veteran = peer(2);
  s.add_peer(spammer, "", T0);
  s.add_peer(veteran, "", T0);

  // A newcomer: one invalid message is already below every negative threshold.
  invalid_delivery(s, spammer, 1, T0);
  CHECK(s.score(spammer, T0) == -100.0);
  CHECK(s.score(spammer, T0) < th.graylist);
  invalid_delivery(s, spammer, 2, T0);
  invalid_delivery(s, spammer, 3, T0);
  CHECK(s.score(spammer, T0) == -900.0);  // -100 * 3^2

  // A peer with the maximal P1 (+36 after an hour in the mesh) and P2 (+100) survives
  // one invalid message but is graylisted by the second.
  s.graft(veteran, kTopic, T0);
  const TimePoint t1 = T0 + 2h;
  for (int i = 100; i < 300; ++i) first_delivery(s, veteran, i, t1);
  CHECK(s.score(veteran, t1) == Approx(136.0));
  invalid_delivery(s, veteran, 400, t1);
  CHECK(s.score(veteran, t1) == Approx(36.0));
  CHECK(s.score(veteran, t1) > th.gossip);
  invalid_delivery(s, veteran, 401, t1);
  CHECK(s.score(veteran, t1) == Approx(-264.0));
  CHECK(s.score(veteran, t1) < th.graylist);

  const std::string why = describe(s.breakdown(spammer, T0));
  CHECK_THAT(why, Contains("p4 -900.00"));
  CHECK_THAT(why, Contains("[blocks: invalid 3.00"));
}

TEST_CASE("P4: peers that forward an invalid message are penalised too", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.invalid_message_deliveries_weight = -1.0;
  PeerScore s(params_with(t));
  const PeerId origin = peer(1), during = peer(2), after = peer(3);
  for (const auto& p : {origin, during, after}) s.add_peer(p, "", T0);

  s.validate_message(mid(1), kTopic, T0);
  s.duplicate_message(during, mid(1), kTopic, T0 + 1ms);  // while validating
  s.reject_message(origin, mid(1), kTopic, RejectReason::invalid, T0 + 2ms);
  s.duplicate_message(after, mid(1), kTopic, T0 + 3ms);  // after the verdict
  CHECK(s.score(origin, T0) == -1.0);
  CHECK(s.score(during, T0) == -1.0);
  CHECK(s.score(after, T0) == -1.0);

  // Untracked rejections penalise the sender only.
  s.reject_message(origin, mid(2), kTopic, RejectReason::signature_policy, T0);
  s.reject_message(origin, mid(3), kTopic, RejectReason::self_origin, T0);
  CHECK(s.score(origin, T0) == -9.0);
  s.duplicate_message(after, mid(2), kTopic, T0);
  CHECK(s.score(after, T0) == -1.0);
}

TEST_CASE("ignored, throttled, queue-full and blacklisted rejections don't penalise", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.invalid_message_deliveries_weight = -1.0;
  PeerScore s(params_with(t));
  const PeerId a = peer(1), b = peer(2), c = peer(3);
  for (const auto& p : {a, b, c}) s.add_peer(p, "", T0);

  int n = 0;
  for (RejectReason r : {RejectReason::ignored, RejectReason::throttled, RejectReason::queue_full,
                         RejectReason::blacklisted}) {
    ++n;
    s.validate_message(mid(n), kTopic, T0);
    s.duplicate_message(b, mid(n), kTopic, T0);
    s.reject_message(a, mid(n), kTopic, r, T0);
    if (r != RejectReason::queue_full && r != RejectReason::blacklisted) s.duplicate_message(c, mid(n), kTopic, T0);
  }
  for (const auto& p : {a, b, c}) CHECK(s.score(p, T0) == 0.0);
}

TEST_CASE("P1-P4 apply only to topics in the parameters", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.topics[kTopic] = TopicScoreParams::defaults();
  PeerScore s(p);
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  s.graft(a, "unscored", T0);
  s.validate_message(mid(1), "unscored", T0);
  s.reject_message(a, mid(1), "unscored", RejectReason::invalid, T0);
  CHECK(s.score(a, T0 + 1h) == 0.0);
  CHECK(s.breakdown(a, T0 + 1h).topics.empty());

  // A topic can be scored later; counters over a lowered cap are re-capped.
  TopicScoreParams later = TopicScoreParams::defaults();
  later.invalid_message_deliveries_weight = 1.0;
  CHECK_THAT(s.set_topic_params("later", later).error().message, Contains("topic 'later'"));
  for (int i = 10; i < 60; ++i) first_delivery(s, a, i, T0);
  CHECK(s.score(a, T0) == 50.0);
  TopicScoreParams lower = TopicScoreParams::defaults();
  lower.first_message_deliveries_cap = 20.0;
  REQUIRE(s.set_topic_params(kTopic, lower).ok());
  CHECK(s.score(a, T0) == 20.0);
}

TEST_CASE("P5: the application-specific hook is weighted into the score", "[score]") {
  PeerScoreParams p = params_with(quiet_topic());
  std::map<PeerId, double> opinion{{peer(1), -7.0}, {peer(2), 3.0}, {peer(3), std::nan("")}};
  p.app_specific_weight = 2.0;
  p.app_specific_score = [&opinion](const PeerId& id) {
    auto it = opinion.find(id);
    return it == opinion.end() ? 0.0 : it->second;
  };
  PeerScore s(p);
  for (std::uint8_t i = 1; i <= 3; ++i) s.add_peer(peer(i), "", T0);
  CHECK(s.score(peer(1), T0) == -14.0);
  CHECK(s.score(peer(2), T0) == 6.0);
  CHECK(s.score(peer(3), T0) == 0.0);  // a NaN opinion is ignored
  opinion[peer(2)] = -1.0;             // queried live
  CHECK(s.breakdown(peer(2), T0).p5 == -2.0);
  CHECK(s.score(peer(4), T0) == 0.0);  // unknown peers score 0 without asking the hook
}

TEST_CASE("P6: colocation is penalised above the threshold, never for onion or whitelisted peers", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();  // weight -5, threshold 10
  p.ip_colocation_factor_whitelist = {"10.0.0.1"};
  PeerScore s(p);
  std::uint8_t n = 0;
  auto add_group = [&](const std::string& key, int count) {
    std::vector<PeerId> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(peer(++n));
      s.add_peer(ids.back(), key, T0);
    }
    return ids;
  };
  const auto shared = add_group("192.0.2.7", 12);
  const auto onion = add_group("", 12);
  const auto whitelisted = add_group("10.0.0.1", 12);
  const auto alone = add_group("198.51.100.1", 1);

  for (const auto& id : shared) CHECK(s.score(id, T0) == -20.0);  // (12 - 10)^2 * -5
  for (const auto& id : onion) CHECK(s.score(id, T0) == 0.0);
  for (const auto& id : whitelisted) CHECK(s.score(id, T0) == 0.0);
  CHECK(s.score(alone[0], T0) == 0.0);
  CHECK(s.breakdown(shared[0], T0).colocated_peers == 12u);

  // One leaves (it is retained with its negative score but no longer counts) ...
  s.remove_peer(shared[11], T0);
  CHECK(s.known(shared[11]));
  CHECK(s.score(shared[0], T0) == -5.0);
  CHECK(s.score(shared[11], T0) == 0.0);  // retained peers don't get P6 either
  // ... and one moves to another address.
  s.add_peer(shared[10], "203.0.113.9", T0);
  CHECK(s.score(shared[0], T0) == 0.0);
  CHECK(s.score(shared[10], T0) == 0.0);
  s.add_peer(shared[10], "192.0.2.7", T0);  // and back
  CHECK(s.score(shared[0], T0) == -5.0);
}

TEST_CASE("P7: the behaviour penalty is quadratic above its threshold and decays", "[score]") {
  PeerScoreParams p = params_with(quiet_topic());
  p.behaviour_penalty_weight = -10.0;
  p.behaviour_penalty_threshold = 2.0;
  p.behaviour_penalty_decay = 0.5;
  PeerScore s(p);
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  s.refresh(T0);
  s.add_penalty(a, 2.0);
  CHECK(s.score(a, T0) == 0.0);  // at the threshold
  s.add_penalty(a, 1.0);
  CHECK(s.score(a, T0) == -10.0);
  s.add_penalty(a, 2.0);
  CHECK(s.score(a, T0) == -90.0);  // (5 - 2)^2 * -10
  s.add_penalty(a, -3.0);          // ignored
  s.add_penalty(a, std::nan(""));  // ignored
  CHECK(s.breakdown(a, T0).behaviour_penalty == 5.0);
  s.refresh(T0 + 1s);
  CHECK(s.score(a, T0 + 1s) == -2.5);  // (2.5 - 2)^2 * -10
  s.refresh(T0 + 2s);
  CHECK(s.score(a, T0 + 2s) == 0.0);
  s.add_penalty(peer(9), 100.0);  // unknown peer: nothing to record
  CHECK_FALSE(s.known(peer(9)));
}

TEST_CASE("retention: a negative score survives reconnecting within retain_score, not after", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.topics[kTopic] = TopicScoreParams::defaults();
  PeerScore s(p);
  const PeerId bad = peer(1);
  s.add_peer(bad, "192.0.2.1", T0);
  s.refresh(T0);
  invalid_delivery(s, bad, 1, T0);
  REQUIRE(s.score(bad, T0) == -100.0);

  s.remove_peer(bad, T0 + 1s);
  CHECK(s.known(bad));
  CHECK_FALSE(s.connected(bad));
  CHECK(s.retained_count() == 1u);
  s.refresh(T0 + 30min);  // retained scores don't decay: reconnecting can't launder them
  s.add_peer(bad, "192.0.2.1", T0 + 30min);
  CHECK(s.connected(bad));
  CHECK(s.retained_count() == 0u);
  CHECK(s.score(bad, T0 + 30min) == -100.0);

  s.remove_peer(bad, T0 + 30min);
  s.refresh(T0 + 30min + 1h + 1s);
  CHECK_FALSE(s.known(bad));
  s.add_peer(bad, "192.0.2.1", T0 + 2h);
  CHECK(s.score(bad, T0 + 2h) == 0.0);

  // Expired but not yet purged: forgotten on re-add all the same.
  invalid_delivery(s, bad, 2, T0 + 2h);
  s.remove_peer(bad, T0 + 2h);
  s.add_peer(bad, "", T0 + 4h);
  CHECK(s.score(bad, T0 + 4h) == 0.0);
}

TEST_CASE("retention: peers with a positive or zero score are forgotten on disconnect", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.first_message_deliveries_weight = 1.0;
  PeerScore s(params_with(t));
  const PeerId good = peer(1), blank = peer(2);
  s.add_peer(good, "", T0);
  s.add_peer(blank, "", T0);
  first_delivery(s, good, 1, T0);
  s.remove_peer(good, T0);
  s.remove_peer(blank, T0);
  CHECK_FALSE(s.known(good));
  CHECK_FALSE(s.known(blank));
  CHECK(s.peer_count() == 0u);
}

TEST_CASE("retention: the number of retained peers is bounded", "[score]") {
  PeerScoreParams p = params_with(quiet_topic());
  p.app_specific_score = [](const PeerId&) { return -1.0; };
  p.max_retained_peers = 2;
  PeerScore s(p);
  for (std::uint8_t i = 1; i <= 3; ++i) {
    s.add_peer(peer(i), "", T0);
    s.remove_peer(peer(i), T0 + std::chrono::seconds(i));
  }
  CHECK(s.retained_count() == 2u);
  CHECK_FALSE(s.known(peer(1)));  // the soonest to expire went first
  CHECK(s.known(peer(2)));
  CHECK(s.known(peer(3)));
}

TEST_CASE("decay happens once per elapsed interval however often refresh is called", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.first_message_deliveries_weight = 1.0;
  t.first_message_deliveries_decay = 0.5;
  t.first_message_deliveries_cap = 100.0;
  PeerScore s(params_with(t));
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  s.refresh(T0);
  for (int i = 0; i < 8; ++i) first_delivery(s, a, i, T0);

  for (int ms = 100; ms < 1000; ms += 100) s.refresh(T0 + std::chrono::milliseconds(ms));
  CHECK(s.score(a, T0 + 999ms) == 8.0);
  s.refresh(T0 + 1s);
  CHECK(s.score(a, T0 + 1s) == 4.0);
  s.refresh(T0 + 1500ms);
  s.refresh(T0 + 1500ms);
  CHECK(s.score(a, T0 + 1500ms) == 4.0);
  s.refresh(T0 + 3s);  // a late heartbeat catches up on both missed intervals
  CHECK(s.score(a, T0 + 3s) == 1.0);
  s.refresh(T0 + 3s);
  s.refresh(T0 + 3999ms);
  CHECK(s.score(a, T0 + 3999ms) == 1.0);

  CHECK(score_parameter_decay(10s) == Approx(std::pow(0.01, 0.1)));
}

TEST_CASE("breakdown terms sum to the total", "[score]") {
  PeerScoreParams p = PeerScoreParams::defaults();
  p.ip_colocation_factor_threshold = 1;
  p.app_specific_score = [](const PeerId&) { return 4.0; };
  TopicScoreParams t1 = TopicScoreParams::defaults();
  t1.topic_weight = 0.5;
  t1.mesh_message_deliveries_weight = -0.5;
  t1.mesh_failure_penalty_weight = -0.25;
  p.topics[kTopic] = t1;
  p.topics["other"] = TopicScoreParams::defaults();
  PeerScore s(p);
  const PeerId a = peer(1), b = peer(2);
  s.add_peer(a, "192.0.2.1", T0);
  s.add_peer(b, "192.0.2.1", T0);
  s.graft(a, kTopic, T0);
  s.graft(a, "other", T0);
  for (int i = 0; i < 5; ++i) first_delivery(s, a, i, T0 + 20s);
  s.prune(a, kTopic, T0 + 30s);
  s.graft(a, kTopic, T0 + 30s);
  s.validate_message(mid(50), "other", T0 + 40s);
  s.reject_message(a, mid(50), "other", RejectReason::invalid, T0 + 40s);
  s.add_penalty(a, 2.0);

  const TimePoint now = T0 + 50s;
  const ScoreBreakdown b1 = s.breakdown(a, now);
  CHECK(b1.known);
  CHECK(b1.connected);
  CHECK(b1.total == s.score(a, now));
  for (double v : {b1.p1, b1.p2, b1.p3, b1.p3b, b1.p4, b1.p5, b1.p6, b1.p7}) CHECK(v != 0.0);
  CHECK(b1.p1 + b1.p2 + b1.p3 + b1.p3b + b1.p4 + b1.topic_cap_adjustment + b1.p5 + b1.p6 + b1.p7 ==
        Approx(b1.total));
  REQUIRE(b1.topics.size() == 2);
  double topics = 0.0;
  for (const auto& t : b1.topics) {
    CHECK(t.p1 + t.p2 + t.p3 + t.p3b + t.p4 == Approx(t.total));
    topics += t.total;
  }
  CHECK(topics == Approx(b1.p1 + b1.p2 + b1.p3 + b1.p3b + b1.p4));
  CHECK(b1.p5 == 4.0);
  CHECK(b1.p6 == -5.0);
  CHECK(b1.p7 == -40.0);
  CHECK_FALSE(describe(b1).empty());

  const ScoreBreakdown unknown = s.breakdown(peer(99), now);
  CHECK_FALSE(unknown.known);
  CHECK(unknown.total == 0.0);
}

TEST_CASE("the topic cap limits positive topic contributions only", "[score]") {
  TopicScoreParams t = quiet_topic();
  t.first_message_deliveries_weight = 1.0;
  t.first_message_deliveries_cap = 100.0;
  t.invalid_message_deliveries_weight = -100.0;
  PeerScoreParams p = params_with(t);
  p.topic_score_cap = 10.0;
  p.behaviour_penalty_weight = -10.0;
  p.behaviour_penalty_threshold = 0.0;
  PeerScore s(p);
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  for (int i = 0; i < 50; ++i) first_delivery(s, a, i, T0);
  CHECK(s.score(a, T0) == 10.0);
  CHECK(s.breakdown(a, T0).topic_cap_adjustment == -40.0);

  s.add_penalty(a, 1.0);  // penalties outside the topics are not capped away
  CHECK(s.score(a, T0) == 0.0);

  invalid_delivery(s, a, 100, T0);  // 50 - 100 = -50: below the cap, so untouched
  const ScoreBreakdown b = s.breakdown(a, T0);
  CHECK(b.topic_cap_adjustment == 0.0);
  CHECK(b.total == -60.0);
}

TEST_CASE("delivery records are bounded in number and expire after seen_ttl", "[score]") {
  PeerScoreParams p = params_with(quiet_topic());
  p.max_delivery_records = 4;
  p.seen_ttl = 120s;
  PeerScore s(p);
  const PeerId a = peer(1);
  s.add_peer(a, "", T0);
  for (int i = 0; i < 10; ++i) s.validate_message(mid(i), kTopic, T0);
  CHECK(s.delivery_record_count() == 4u);
  s.duplicate_message(a, mid(0), kTopic, T0);  // its record was evicted: harmless
  CHECK(s.delivery_record_count() == 4u);
  s.refresh(T0 + 121s);
  CHECK(s.delivery_record_count() == 0u);
}

TEST_CASE("events for unknown peers are ignored and create() checks the parameters", "[score]") {
  PeerScore s(PeerScoreParams::defaults());
  const PeerId ghost = peer(7);
  s.graft(ghost, kTopic, T0);
  s.prune(ghost, kTopic, T0);
  s.remove_peer(ghost, T0);
  s.reject_message(ghost, mid(1), kTopic, RejectReason::invalid, T0);
  CHECK_FALSE(s.known(ghost));
  CHECK(s.peer_count() == 0u);

  auto bad = PeerScore::create(PeerScoreParams{});  // no P5 hook
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Contains("app_specific_score"));
  CHECK(PeerScore::create(PeerScoreParams::defaults()).ok());
}
