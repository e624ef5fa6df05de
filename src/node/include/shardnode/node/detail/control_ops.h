// The control API's operations (internal to shardnode_node_control): one handler per
// `Request.op` of src/node/proto/control.proto, found through a table
// (control/ops.cpp). A handler reads the request, does the work through the
// ControlContext and answers on its Connection (at once, later with finish(), or as
// a stream). Adding an operation: a message in the proto's oneof, a handler in one
// of the ops_*.cpp files registered in the table, and a printer in `shardnode ctl`
// (src/cli/ctl_print.cpp); tests/node/test_control_ops.cpp fails while either table
// misses an op of the schema.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shardnode/core/clock_timer.h"
#include "shardnode/node/control_server.h"
#include "shardnode/node/detail/control_socket.h"
#include "shardnode/shard/manager.h"

namespace shardnode::node::control {

class JumpWaiters;

// What a handler may use besides its request and its connection.
struct OpEnv {
  const ControlContext& ctx;
  JumpWaiters& jumps;
};

using OpHandler = void (*)(const OpEnv& env, Connection& c, const pb::Request& req);

struct Op {
  pb::Request::OpCase op;
  OpHandler handle;
};

// Every operation this node serves, one row each.
std::span<const Op> dispatch_table();
// The row for `op`; nullptr for OP_NOT_SET or an op without a handler.
const Op* find_op(pb::Request::OpCase op);
// Runs the request's handler; a request without a (known) op gets BAD_REQUEST.
void dispatch(const OpEnv& env, Connection& c, const pb::Request& req);

// The handlers, by file.
// ops_info.cpp: what the node is and sees.
void op_identity(const OpEnv& env, Connection& c, const pb::Request& req);
void op_peers(const OpEnv& env, Connection& c, const pb::Request& req);
void op_table(const OpEnv& env, Connection& c, const pb::Request& req);
void op_scores(const OpEnv& env, Connection& c, const pb::Request& req);
void op_rotate_identity(const OpEnv& env, Connection& c, const pb::Request& req);
// ops_shards.cpp: which shards the node is on.
void op_subscribe(const OpEnv& env, Connection& c, const pb::Request& req);
void op_unsubscribe(const OpEnv& env, Connection& c, const pb::Request& req);
void op_jump(const OpEnv& env, Connection& c, const pb::Request& req);
void op_providers(const OpEnv& env, Connection& c, const pb::Request& req);
// ops_collations.cpp: publishing, streaming and fetching collations.
void op_publish_collation(const OpEnv& env, Connection& c, const pb::Request& req);
void op_stream_collations(const OpEnv& env, Connection& c, const pb::Request& req);
void op_request_collations(const OpEnv& env, Connection& c, const pb::Request& req);
// ops.cpp: ends any stream.
void op_cancel(const OpEnv& env, Connection& c, const pb::Request& req);

// Shared by the handlers (ops.cpp).
// False after answering BAD_REQUEST when `shard` is not below the shard count.
bool check_shard(const OpEnv& env, Connection& c, std::uint64_t id, std::uint32_t shard);
std::string bytes_string(ByteView b);
template <std::size_t N>
std::string bytes_string(const std::array<std::uint8_t, N>& a) {
  return bytes_string(ByteView(a.data(), a.size()));
}

// An accepted collation to every client's collation streams (ops_collations.cpp).
void deliver_collation(Socket& socket, ShardService& shards, const shard::Collation& col, const shard::Hash32& id);

// `jump` requests with `wait`: answered when the jump to their shard finishes (the
// shard service's jump listener calls on_jump), or by a sweep once a second when no
// jump is running for their shard any more (already there, or left meanwhile).
class JumpWaiters {
 public:
  struct Waiter {
    std::weak_ptr<Connection> client;
    std::uint64_t request_id = 0;
    std::uint32_t shard = 0;
    std::uint64_t since_ms = 0;
  };

  JumpWaiters(boost::asio::io_context& io, ShardService& shards);
  ~JumpWaiters();
  JumpWaiters(const JumpWaiters&) = delete;
  JumpWaiters& operator=(const JumpWaiters&) = delete;

  // Adds a waiter and arms the sweep.
  void add(Waiter w);
  std::size_t size() const { return waiters_.size(); }
  // Forgets the waiters added after the first n (a jump that failed to start).
  void truncate(std::size_t n);
  void on_jump(const shard::JumpRecord& j);
  void sweep();
  // Forgets every waiter; nothing is answered after this.
  void stop();
  // Answers every waiter UNAVAILABLE with `why`, then stop().
  void fail_all(const std::string& why);

 private:
  template <class Pick>
  void answer(Pick pick);
  void schedule_sweep();

  ShardService& shards_;
  ClockTimer sweep_timer_;
  std::vector<Waiter> waiters_;
  bool sweep_armed_ = false, stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::node::control
