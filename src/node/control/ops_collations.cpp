// Control ops on collations: publish one (validators), stream the accepted ones,
// fetch stored ones from a peer.
#include <cstring>
#include <optional>
#include <set>

#include "shardnode/core/errors.h"
#include "shardnode/node/detail/control_ops.h"
#include "shardnode/shard/errors.h"

namespace shardnode::node::control {

namespace {

pb::Error::Code code_for_shard_error(const Error& e) {
  if (e.code == ShardErrc::oversize) return pb::Error::BAD_REQUEST;
  if (e.code == ShardErrc::wrong_shard || e.code == ShardErrc::bad_signature) return pb::Error::UNAVAILABLE;
  return pb::Error::FAILED;
}

// A stream_collations request, while open.
struct CollationStream : Stream {
  std::set<std::uint32_t> shards;  // empty: every shard we are on
  bool include_body = false;
};

}  // namespace

void op_publish_collation(const OpEnv& env, Connection& c, const pb::Request& req) {
  const auto& p = req.publish_collation();
  if (!check_shard(env, c, req.id(), p.shard())) return;
  auto& shards = env.ctx.shards;
  auto h = shards.publish_collation(p.shard(), Bytes(p.body().begin(), p.body().end()));
  if (!h) return c.send_error(req.id(), code_for_shard_error(h.error()), h.error().what());
  pb::Response r;
  r.set_id(req.id());
  r.mutable_published()->set_hash(bytes_string(*h));
  r.mutable_published()->set_period(shards.current_period());
  c.send(r);
}

void op_stream_collations(const OpEnv& env, Connection& c, const pb::Request& req) {
  const auto& sc = req.stream_collations();
  auto st = std::make_unique<CollationStream>();
  st->include_body = sc.include_body();
  for (auto s : sc.shards()) {
    if (!check_shard(env, c, req.id(), s)) return;
    st->shards.insert(s);
  }
  if (!c.open_stream(req.id(), std::move(st))) return;
  pb::Response r;
  r.set_id(req.id());
  r.mutable_subscribed();
  c.send(r);
}

void deliver_collation(Socket& socket, ShardService& shards, const shard::Collation& col, const shard::Hash32& id) {
  const std::set<std::uint32_t> on = shards.manager().shards();
  const std::uint32_t shard = col.header.shard;
  socket.for_each_connection([&](Connection& c) {
    c.for_each_stream<CollationStream>([&](std::uint64_t sid, const CollationStream& st) {
      if (st.shards.empty() ? on.count(shard) == 0 : st.shards.count(shard) == 0) return;
      pb::Response r;
      auto* ev = r.mutable_event();
      ev->set_shard(shard);
      ev->set_period(col.header.period);
      ev->set_hash(bytes_string(id));
      ev->set_parent_hash(bytes_string(col.header.parent_hash));
      ev->set_proposer(bytes_string(col.header.proposer.bytes));
      ev->set_body_size(col.body.size());
      if (st.include_body) {
        if (col.body.size() + 256 <= kControlMaxFrame) ev->set_body(bytes_string(col.body));
        else ev->set_body_omitted(true);
      }
      c.push(sid, std::move(r));
    });
  });
}

void op_request_collations(const OpEnv& env, Connection& c, const pb::Request& req) {
  const std::uint64_t id = req.id();
  const auto& rc = req.request_collations();
  auto& shards = env.ctx.shards;
  auto& host = env.ctx.host;
  if (!rc.hash().empty() && rc.hash().size() != 32)
    return c.send_error(id, pb::Error::BAD_REQUEST, "hash must be 32 bytes, got " + std::to_string(rc.hash().size()));
  if (rc.hash().empty() || rc.peer_id().empty())
    if (!check_shard(env, c, id, rc.shard())) return;
  shard::CollationRequest creq;
  const auto& limits = shards.config().collation_protocol;
  if (!rc.hash().empty()) {
    shard::CollationHashRequest hr;
    std::memcpy(hr.hash.data(), rc.hash().data(), 32);
    creq = hr;
  } else {
    if (rc.from_period() > rc.to_period())
      return c.send_error(id, pb::Error::BAD_REQUEST, "from_period is after to_period");
    if (rc.to_period() >= (std::uint64_t{1} << 63))
      return c.send_error(id, pb::Error::BAD_REQUEST, "to_period out of range (must be below 2^63)");
    if (rc.to_period() - rc.from_period() > limits.max_period_span)
      return c.send_error(id, pb::Error::BAD_REQUEST,
                          "period span over the cap of " + std::to_string(limits.max_period_span));
    creq = shard::CollationRangeRequest{rc.shard(), rc.from_period(), rc.to_period(),
                                        static_cast<std::uint32_t>(limits.max_count)};
  }
  std::optional<PeerId> peer;
  if (!rc.peer_id().empty()) {
    auto p = PeerId::parse(rc.peer_id());
    if (!p) return c.send_error(id, pb::Error::BAD_REQUEST, "bad peer id: " + p.error().what());
    if (!host.connected(*p)) return c.send_error(id, pb::Error::NOT_FOUND, "not connected to " + rc.peer_id());
    peer = *p;
  } else {
    for (const auto& p : shards.manager().table().peers_on(rc.shard()))
      if (p != host.peer_id() && host.connected(p)) {
        peer = p;
        break;
      }
    if (!peer)
      return c.send_error(id, pb::Error::NOT_FOUND, "no connected peer is on shard " + std::to_string(rc.shard()));
  }
  if (!c.begin_later(id)) return;
  shards.request_collations(*peer, creq, [w = c.weak_from_this(), id, peer = *peer](Result<std::size_t> r) {
    auto self = w.lock();
    if (!self || self->closed()) return;
    if (!r)
      return self->finish(
          error_response(id, pb::Error::FAILED, "request to " + peer.to_string() + ": " + r.error().what()));
    pb::Response resp;
    resp.set_id(id);
    resp.mutable_fetched()->set_peer_id(peer.to_string());
    resp.mutable_fetched()->set_new_collations(*r);
    self->finish(resp);
  });
}

}  // namespace shardnode::node::control
