// The control API server: the socket layer (control/socket.cpp) handing each request
// to the dispatch table (control/ops.cpp), and the shard service's listeners feeding
// collation streams and jump waiters.
#include "shardnode/node/control_server.h"

#include "shardnode/node/detail/control_ops.h"
#include "shardnode/node/detail/control_socket.h"

namespace shardnode::node {

ControlServer::ControlServer(boost::asio::io_context& io, ControlContext ctx, ControlLimits limits)
    : ctx_(std::move(ctx)), io_(io), jumps_(std::make_unique<control::JumpWaiters>(io, ctx_->shards)) {
  socket_ = std::make_unique<control::Socket>(io, limits, [this](control::Connection& c, const control::pb::Request& r) {
    control::dispatch(control::OpEnv{*ctx_, *jumps_}, c, r);
  });
}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::listen(const std::filesystem::path& path) {
  if (Status s = socket_->listen(path); !s) return s;
  listening_ = true;
  add_listeners();
  return {};
}

void ControlServer::add_listeners() {
  ShardService& shards = ctx_->shards;
  collation_listener_ = shards.add_collation_listener([this, &shards](const shard::Collation& c, const shard::Hash32& id) {
    if (stopped_ || socket_->client_count() == 0) return;
    control::deliver_collation(*socket_, shards, c, id);
  });
  jump_listener_ = shards.add_jump_listener([this](const shard::JumpRecord& j) {
    if (!stopped_) jumps_->on_jump(j);
  });
}

void ControlServer::remove_listeners() {
  ctx_->shards.remove_collation_listener(collation_listener_);
  ctx_->shards.remove_jump_listener(jump_listener_);
}

void ControlServer::rebind(ControlContext ctx) {
  if (stopped_) return;
  if (listening_) remove_listeners();
  jumps_->fail_all("the node's identity was rotated while this jump was waited for");
  ctx_.emplace(std::move(ctx));
  jumps_ = std::make_unique<control::JumpWaiters>(io_, ctx_->shards);
  if (listening_) add_listeners();
}

void ControlServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  jumps_->stop();
  if (listening_) remove_listeners();
  socket_->stop();
  listening_ = false;
}

const std::filesystem::path& ControlServer::path() const { return socket_->path(); }
std::size_t ControlServer::client_count() const { return socket_->client_count(); }
const ControlCounters& ControlServer::counters() const { return socket_->counters(); }

}  // namespace shardnode::node
