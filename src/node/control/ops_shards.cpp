// Control ops that change which shards the node is on: subscribe, unsubscribe, jump
// (and the jumps that callers wait for).
#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "shardnode/node/detail/control_ops.h"
#include "shardnode/shard/topics.h"

namespace shardnode::node::control {

namespace {

template <class Out>
void add_shards(Out* out, const std::set<std::uint32_t>& on) {
  for (auto s : on) out->Add(s);
}

// A JumpResult for request `id`: the finished jump's record if there is one, else
// `completed_without_record`; always the shards we are on now.
pb::Response jump_response(std::uint64_t id, std::uint32_t shard, const shard::JumpRecord* rec,
                           bool completed_without_record, const std::set<std::uint32_t>& on) {
  pb::Response r;
  r.set_id(id);
  auto* jr = r.mutable_jump();
  jr->set_shard(shard);
  if (rec) {
    jr->set_completed(rec->completed);
    jr->set_took_ms(rec->took_ms());
    jr->set_dialled(static_cast<std::uint32_t>(rec->dialled));
  } else {
    jr->set_completed(completed_without_record);
  }
  add_shards(jr->mutable_shards(), on);
  return r;
}

void join_or_leave(const OpEnv& env, Connection& c, std::uint64_t id, std::uint32_t s, bool join) {
  if (!check_shard(env, c, id, s)) return;
  auto& mgr = env.ctx.shards.manager();
  Status st = join ? mgr.join(s, env.ctx.shards.now_ms()) : mgr.leave(s, env.ctx.shards.now_ms());
  if (!st) return c.send_error(id, pb::Error::UNAVAILABLE, st.error().what());
  pb::Response r;
  r.set_id(id);
  add_shards(r.mutable_shards()->mutable_shards(), mgr.shards());
  c.send(r);
}

}  // namespace

void op_subscribe(const OpEnv& env, Connection& c, const pb::Request& req) {
  join_or_leave(env, c, req.id(), req.subscribe().shard(), true);
}

void op_unsubscribe(const OpEnv& env, Connection& c, const pb::Request& req) {
  join_or_leave(env, c, req.id(), req.unsubscribe().shard(), false);
}

void op_jump(const OpEnv& env, Connection& c, const pb::Request& req) {
  const std::uint64_t id = req.id();
  const auto& j = req.jump();
  if (!check_shard(env, c, id, j.from()) || !check_shard(env, c, id, j.to())) return;
  if (j.wait() && !c.begin_later(id)) return;
  auto& mgr = env.ctx.shards.manager();
  const std::uint64_t now = env.ctx.shards.now_ms();
  const std::size_t waiters_before = env.jumps.size();
  if (j.wait()) env.jumps.add({c.weak_from_this(), id, j.to(), now});
  // A jump can finish inside this call (nobody else listed, mesh already there):
  // the waiter is in place before, so the jump listener answers it.
  Status st = mgr.jump(j.from(), j.to(), now);
  if (!st) {
    if (j.wait()) {
      c.drop_later();
      env.jumps.truncate(waiters_before);
    }
    return c.send_error(id, pb::Error::UNAVAILABLE, st.error().what());
  }
  if (j.wait()) {
    // Not running (already on `to` with no jump pending): the sweep answers it
    // with the state as it is.
    if (!mgr.jump_in_progress(j.to())) env.jumps.sweep();
    return;
  }
  // Without wait: the record if the jump already finished inside the call.
  const shard::JumpRecord* rec = nullptr;
  if (!mgr.jump_in_progress(j.to()) && !mgr.jumps().empty() && mgr.jumps().back().shard == j.to() &&
      mgr.jumps().back().finished_ms >= now)
    rec = &mgr.jumps().back();
  c.send(jump_response(id, j.to(), rec, false, mgr.shards()));
}

// ---------------------------------------------------------------------------------
// Jumps being waited for.

JumpWaiters::JumpWaiters(boost::asio::io_context& io, ShardService& shards)
    : shards_(shards), sweep_timer_(io, shards.clock()) {}

JumpWaiters::~JumpWaiters() {
  stop();
  *alive_ = false;
}

void JumpWaiters::add(Waiter w) {
  waiters_.push_back(std::move(w));
  schedule_sweep();
}

void JumpWaiters::truncate(std::size_t n) { waiters_.resize(std::min(waiters_.size(), n)); }

// Answers the waiters `pick` selects (and forgets those whose client is gone).
template <class Pick>
void JumpWaiters::answer(Pick pick) {
  std::vector<Waiter> done;
  std::erase_if(waiters_, [&](const Waiter& w) {
    if (w.client.expired()) return true;
    if (!pick(w)) return false;
    done.push_back(w);
    return true;
  });
  auto& mgr = shards_.manager();
  for (auto& w : done) {
    auto c = w.client.lock();
    if (!c || c->closed()) continue;
    // The latest finished jump to that shard since the request, if any.
    const shard::JumpRecord* rec = nullptr;
    const auto& jumps = mgr.jumps();
    for (auto it = jumps.rbegin(); it != jumps.rend(); ++it) {
      if (it->shard != w.shard) continue;
      if (it->finished_ms >= w.since_ms) rec = &*it;
      break;
    }
    // No jump ran since the request: already on the shard (nothing to wait for), or
    // it was left before the jump finished (not completed).
    c->finish(jump_response(w.request_id, w.shard, rec, mgr.shards().count(w.shard) != 0, mgr.shards()));
  }
}

void JumpWaiters::on_jump(const shard::JumpRecord& j) {
  if (stopped_) return;
  answer([&](const Waiter& w) { return w.shard == j.shard; });
}

// Waiters whose jump is no longer running without the listener having answered them
// (already on the shard, or left it meanwhile): answered from the manager's jump
// records, or as not completed.
void JumpWaiters::sweep() {
  if (stopped_) return;
  auto& mgr = shards_.manager();
  answer([&](const Waiter& w) { return !mgr.jump_in_progress(w.shard); });
  schedule_sweep();
}

void JumpWaiters::schedule_sweep() {
  if (stopped_ || waiters_.empty() || sweep_armed_) return;
  sweep_armed_ = true;
  // On the shard service's clock, like the jumps it watches.
  sweep_timer_.expires_after(std::chrono::seconds(1), [this, alive = alive_] {
    if (!*alive) return;
    sweep_armed_ = false;
    if (stopped_) return;
    sweep();
  });
}

void JumpWaiters::stop() {
  if (stopped_) return;
  stopped_ = true;
  sweep_timer_.cancel();
  waiters_.clear();
}

void JumpWaiters::fail_all(const std::string& why) {
  for (auto& w : std::exchange(waiters_, {})) {
    auto c = w.client.lock();
    if (!c || c->closed()) continue;
    pb::Response out;
    out.set_id(w.request_id);
    out.mutable_error()->set_code(pb::Error::UNAVAILABLE);
    out.mutable_error()->set_message(why);
    c->finish(out);
  }
  stop();
}

void op_providers(const OpEnv& env, Connection& c, const pb::Request& req) {
  const std::uint64_t id = req.id();
  const auto& pr = req.providers();
  if (!check_shard(env, c, id, pr.shard())) return;
  if (!env.ctx.dht) return c.send_error(id, pb::Error::FAILED, "the DHT is off (node.dht = false)");
  if (!c.begin_later(id)) return;
  const std::uint32_t shard = pr.shard();
  const std::string topic = shard::collation_topic(shard);
  env.ctx.dht->get_providers(as_bytes(topic), pr.want() == 0 ? 4 : pr.want(),
                             [w = c.weak_from_this(), id, shard](net::kad::LookupResult r) {
    auto self = w.lock();
    if (!self || self->closed()) return;
    pb::Response out;
    out.set_id(id);
    auto* p = out.mutable_providers();
    p->set_shard(shard);
    p->set_requests(static_cast<std::uint32_t>(r.requests));
    for (const auto& info : r.providers) {
      auto* e = p->add_providers();
      e->set_peer_id(info.peer.to_string());
      for (const auto& a : info.addrs) e->add_addrs(a.with_peer_id(info.peer).to_string());
    }
    self->finish(out);
  });
}

}  // namespace shardnode::node::control
