// Control ops that report what the node is and sees: identity, peers, table, scores.
// None changes anything; none ties a gossiped message to the peer that forwarded it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "shardnode/node/detail/control_ops.h"
#include "shardnode/shard/topics.h"

namespace shardnode::node::control {

namespace {

IdentityExtras extras(const OpEnv& env) { return env.ctx.identity ? env.ctx.identity() : IdentityExtras{}; }

std::uint64_t ms_since(TimePoint then, TimePoint now) {
  if (now <= then) return 0;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count());
}

// The component that pulls the score down the most, by name ("" when none is negative).
std::string largest_negative(const pubsub::ScoreBreakdown& b) {
  const std::pair<const char*, double> parts[] = {
      {"p3_mesh_deliveries", b.p3}, {"p3b_mesh_failure", b.p3b},   {"p4_invalid_messages", b.p4},
      {"p5_application", b.p5},     {"p6_ip_colocation", b.p6},    {"p7_behaviour_penalty", b.p7},
  };
  std::string name;
  double worst = 0.0;
  for (const auto& [n, v] : parts)
    if (std::isfinite(v) && v < worst) worst = v, name = n;
  return name;
}

}  // namespace

void op_identity(const OpEnv& env, Connection& c, const pb::Request& req) {
  auto& host = env.ctx.host;
  auto& mgr = env.ctx.shards.manager();
  const IdentityExtras x = extras(env);
  pb::Response r;
  r.set_id(req.id());
  auto* i = r.mutable_identity();
  i->set_peer_id(host.peer_id().to_string());
  if (!x.listen_addrs.empty()) {
    for (const auto& a : x.listen_addrs) i->add_listen_addrs(a);
  } else {
    for (const auto& a : host.listen_addrs()) i->add_listen_addrs(a.to_string());
  }
  if (x.validator_key) i->set_validator_key(bytes_string(x.validator_key->bytes));
  i->set_shard_count(mgr.config().shard_count);
  for (auto s : mgr.shards()) i->add_shards(s);
  i->set_version(x.version);
  i->set_tor_bootstrap(std::min<std::uint32_t>(x.tor_bootstrap, 100));
  i->set_onion_published(x.onion_published);
  i->set_onion_only(x.onion_only);
  c.send(r);
}

void op_rotate_identity(const OpEnv& env, Connection& c, const pb::Request& req) {
  const std::uint64_t id = req.id();
  if (!env.ctx.rotate) return c.send_error(id, pb::Error::UNAVAILABLE, "this node does not rotate its identity");
  if (!c.begin_later(id)) return;
  env.ctx.rotate([w = c.weak_from_this(), id](std::variant<RotationOutcome, RotationRefused> r) {
    auto self = w.lock();
    if (!self || self->closed()) return;
    pb::Response out;
    out.set_id(id);
    if (const auto* no = std::get_if<RotationRefused>(&r)) {
      out.mutable_error()->set_code(no->unavailable ? pb::Error::UNAVAILABLE : pb::Error::FAILED);
      out.mutable_error()->set_message(no->why);
    } else {
      const auto& o = std::get<RotationOutcome>(r);
      auto* x = out.mutable_rotated();
      x->set_retired_peer_id(o.retired_peer_id);
      x->set_peer_id(o.peer_id);
      x->set_addr(o.addr);
      x->set_pushed(o.pushed);
      x->set_dht_accepted(o.dht_accepted);
      x->set_retired_key_file(o.retired_key_file);
    }
    self->finish(out);
  });
}

void op_peers(const OpEnv& env, Connection& c, const pb::Request& req) {
  auto& host = env.ctx.host;
  auto& router = env.ctx.pubsub.router();
  auto& mgr = env.ctx.shards.manager();
  const auto now = env.ctx.pubsub.now();
  const IdentityExtras x = extras(env);
  std::vector<std::string> topics = {std::string(shard::kPreferenceTopic)};
  for (std::uint32_t s = 0; s < mgr.config().shard_count; ++s)
    if (router.subscribed(shard::collation_topic(s))) topics.push_back(shard::collation_topic(s));
  for (const auto& t : x.topics) topics.push_back(t);
  std::map<std::string, std::set<PeerId>> meshes;
  for (const auto& t : topics) meshes[t] = router.mesh(t);
  pb::Response r;
  r.set_id(req.id());
  auto* out = r.mutable_peers();
  for (const auto& p : host.peers()) {
    auto* e = out->add_peers();
    e->set_peer_id(p.to_string());
    if (auto ci = host.connection_info(p)) {
      e->set_outbound(ci->outbound);
      if (ci->outbound) e->set_addr(ci->remote_address.to_string());
    }
    if (auto info = host.peer_info(p)) e->set_agent(info->agent_version.substr(0, 256));
    e->set_score(router.score(p, now));
    e->set_flagged(router.is_flagged(p));
    if (auto rec = mgr.table().get(p))
      for (std::uint32_t s = 0; s < rec->shards.size(); ++s)
        if (rec->shards[s]) e->add_shards(s);
    for (const auto& [t, mesh] : meshes)
      if (mesh.count(p)) e->add_mesh_topics(t);
  }
  c.send(r);
}

void op_table(const OpEnv& env, Connection& c, const pb::Request& req) {
  auto& host = env.ctx.host;
  auto& mgr = env.ctx.shards.manager();
  const std::uint64_t now_s = env.ctx.shards.now_ms() / 1000;
  pb::Response r;
  r.set_id(req.id());
  auto* t = r.mutable_table();
  t->set_shard_count(mgr.config().shard_count);
  std::size_t size = 64;
  const auto& table = mgr.table();
  for (const auto& rec : table.snapshot(table.size())) {
    if (rec.expires_at <= now_s) continue;
    pb::TableEntry e;
    const PeerId p = rec.peer_id();
    e.set_peer_id(p.to_string());
    for (std::uint32_t s = 0; s < rec.shards.size(); ++s)
      if (rec.shards[s]) e.add_shards(s);
    e.set_seq(rec.seq);
    e.set_expires_at(rec.expires_at);
    e.set_connected(host.connected(p));
    size += e.ByteSizeLong() + 8;
    if (size > kControlMaxFrame - 1024) {
      t->set_truncated(true);
      break;
    }
    *t->add_entries() = std::move(e);
  }
  c.send(r);
}

void op_scores(const OpEnv& env, Connection& c, const pb::Request& req) {
  auto& host = env.ctx.host;
  auto& router = env.ctx.pubsub.router();
  const auto now = env.ctx.pubsub.now();
  auto* scoring = router.scoring();
  pb::Response r;
  r.set_id(req.id());
  auto* out = r.mutable_scores();
  std::size_t n = 0;
  for (const auto& p : host.peers()) {
    if (++n > 4096) break;
    auto* e = out->add_peers();
    e->set_peer_id(p.to_string());
    e->set_score(router.score(p, now));
    e->set_flagged(router.is_flagged(p));
    if (scoring) {
      auto b = scoring->breakdown(p, now);
      e->set_p4_invalid(b.p4);
      e->set_p7_behaviour(b.p7);
    }
  }
  n = 0;
  for (const auto& f : router.flagged_peers()) {
    if (++n > 4096) break;
    auto* e = out->add_flagged();
    e->set_peer_id(f.peer.to_string());
    e->set_score(f.score);
    e->set_since_ms(ms_since(f.since, now));
    e->set_reason(largest_negative(f.breakdown));
  }
  c.send(r);
}

}  // namespace shardnode::node::control
