// The node's control API server (docs/CONTROL.md, src/node/proto/control.proto): a
// unix socket (mode 0600) carrying uvarint-length-prefixed protobuf frames of at most
// 1 MiB. Requests are answered by id, in the order their work finishes; a
// stream_collations request is answered with `subscribed` and then one `event` per
// accepted collation until cancelled or the client goes away.
//
// Everything runs on the io_context's thread, asynchronously. Bounded per client:
// requests awaiting an answer, streams, and queued output (a stream whose reader
// falls behind is dropped with an error response; other responses stop being
// produced until the client reads). Malformed input gets an Error (BAD_REQUEST); a
// frame that cannot be parsed closes that connection after its error response.
//
//   ControlServer ctl(io, ControlContext{host, pubsub, shards, [&] { return extras; }});
//   if (Status s = ctl.listen(datadir / "control.sock"); !s) ...;
//   ...
//   ctl.stop();   // before the ShardService goes away; unlinks the socket
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/net/host.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/pubsub/service.h"

namespace shardnode::node {

// The frame cap, both directions (the protobuf after the length prefix).
inline constexpr std::size_t kControlMaxFrame = 1024 * 1024;

// What only the Node knows, asked for at each identity request.
struct IdentityExtras {
  std::vector<std::string> listen_addrs;        // empty: the host's listen addresses
  std::uint32_t tor_bootstrap = 100;            // 0..100; 100 without tor
  bool onion_published = false;
  bool onion_only = false;
  std::string version;
  std::optional<Ed25519PublicKey> validator_key;  // the collation-signing key, if a validator
  std::vector<std::string> topics;              // other pubsub topics (node.topics) for peers' mesh_topics
};

// What an identity rotation did (Node::rotate_identity), for the `rotated` answer.
struct RotationOutcome {
  std::string retired_peer_id, peer_id, addr, retired_key_file;
  std::uint32_t pushed = 0, dht_accepted = 0;
};
// A failed rotation: UNAVAILABLE (not now: tor not bootstrapped, one running) or FAILED.
struct RotationRefused {
  bool unavailable = false;
  std::string why;
};

struct ControlContext {
  net::Host& host;
  pubsub::PubsubService& pubsub;
  ShardService& shards;
  std::function<IdentityExtras()> identity;  // may be empty
  net::kad::DhtService* dht = nullptr;       // null: node.dht off (`providers` fails)
  // rotate_identity: starts a rotation, which calls back once (empty: not offered).
  using RotationDone = std::function<void(std::variant<RotationOutcome, RotationRefused>)>;
  std::function<void(RotationDone)> rotate;
};

struct ControlLimits {
  std::size_t max_clients = 16;
  std::size_t max_in_flight = 16;  // per client: requests still waiting for their answer (jump wait, request)
  std::size_t max_streams = 4;     // per client
  // Per client: queued output beyond which a stream is dropped (with an error
  // response) and no further requests are read until the client catches up.
  std::size_t max_queued_bytes = 4 * 1024 * 1024;
};

struct ControlCounters {
  std::uint64_t clients_accepted = 0, clients_refused = 0;
  std::uint64_t requests = 0, bad_requests = 0, streams_dropped = 0, events_sent = 0;
};

namespace control {
class Socket;       // the unix socket and its connections (detail/control_socket.h)
class JumpWaiters;  // jump requests that wait (detail/control_ops.h)
}  // namespace control

// The socket (control::Socket) with the operations (detail/control_ops.h: one
// handler per op behind a dispatch table), fed by the shard service's listeners.
class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, ControlContext ctx, ControlLimits limits = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket at `path` (mode 0600 from creation, before any client can
  // connect). A stale socket file there is replaced; a live one (another process
  // answers) or any other kind of file is refused with an error naming the path.
  Status listen(const std::filesystem::path& path);
  // Closes the listener and every client, removes the listeners from the shard
  // service and unlinks the socket. Idempotent; the destructor calls it.
  void stop();
  // The node's stack was rebuilt (identity rotation): serve from `ctx` from now on.
  // Clients and their collation streams stay; jump waiters of the old stack are
  // answered UNAVAILABLE; the old stack must outlive requests already running on it.
  void rebind(ControlContext ctx);

  const std::filesystem::path& path() const;
  std::size_t client_count() const;
  const ControlCounters& counters() const;

 private:
  void add_listeners();
  void remove_listeners();
  std::optional<ControlContext> ctx_;  // replaced by rebind()
  boost::asio::io_context& io_;
  std::unique_ptr<control::JumpWaiters> jumps_;
  std::unique_ptr<control::Socket> socket_;
  std::uint64_t collation_listener_ = 0, jump_listener_ = 0;
  bool listening_ = false, stopped_ = false;
};

}  // namespace shardnode::node
