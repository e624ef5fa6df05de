// The control API's dispatch table: Request.op -> handler.
#include <array>

#include "shardnode/node/detail/control_ops.h"

namespace shardnode::node::control {

namespace {

using R = pb::Request;

// One row per op of control.proto's `Request.op`; tests/node/test_control_ops.cpp
// checks that every op of the schema has one.
constexpr std::array kOps = {
    Op{R::kIdentity, op_identity},
    Op{R::kPeers, op_peers},
    Op{R::kTable, op_table},
    Op{R::kSubscribe, op_subscribe},
    Op{R::kUnsubscribe, op_unsubscribe},
    Op{R::kJump, op_jump},
    Op{R::kPublishCollation, op_publish_collation},
    Op{R::kStreamCollations, op_stream_collations},
    Op{R::kRequestCollations, op_request_collations},
    Op{R::kScores, op_scores},
    Op{R::kCancel, op_cancel},
    Op{R::kProviders, op_providers},
    Op{R::kRotateIdentity, op_rotate_identity},
};

}  // namespace

std::span<const Op> dispatch_table() { return kOps; }

const Op* find_op(pb::Request::OpCase op) {
  for (const auto& o : kOps)
    if (o.op == op) return &o;
  return nullptr;
}

void dispatch(const OpEnv& env, Connection& c, const pb::Request& req) {
  if (req.op_case() == pb::Request::OP_NOT_SET)
    return c.send_error(req.id(), pb::Error::BAD_REQUEST, "request has no op (or one this node does not know)");
  const Op* op = find_op(req.op_case());
  if (!op)
    return c.send_error(req.id(), pb::Error::BAD_REQUEST,
                        "op " + std::to_string(static_cast<int>(req.op_case())) + " is not served by this node");
  op->handle(env, c, req);
}

void op_cancel(const OpEnv&, Connection& c, const pb::Request& req) {
  const std::uint64_t sid = req.cancel().stream_id();
  if (!c.cancel_stream(sid)) return c.send_error(req.id(), pb::Error::NOT_FOUND, "no stream with id " + std::to_string(sid));
  pb::Response r;
  r.set_id(req.id());
  r.mutable_cancelled()->set_stream_id(sid);
  c.send(r);
}

bool check_shard(const OpEnv& env, Connection& c, std::uint64_t id, std::uint32_t shard) {
  const std::uint32_t count = env.ctx.shards.manager().config().shard_count;
  if (shard < count) return true;
  c.send_error(id, pb::Error::BAD_REQUEST,
               "shard " + std::to_string(shard) + " does not exist (shard_count " + std::to_string(count) + ")");
  return false;
}

std::string bytes_string(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace shardnode::node::control
