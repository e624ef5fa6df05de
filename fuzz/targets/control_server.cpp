// The control server, stateful: a node without tor or transports (host, pubsub,
// shard service with a validator key, manual clocks) serves its control socket;
// the fuzzer's bytes arrive on one client connection in pieces it chooses,
// interleaved with turns of the server's event loop. One node serves 1,024 inputs
// in turn (a client each) before a fresh one replaces it: building a node costs
// more than most inputs, and a server must outlive its clients anyway. An input
// that fails only after others replays with them (fuzz_replay runs a folder in order).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "../fuzz.h"
#include "shardnode/core/clock.h"
#include "shardnode/net/host.h"
#include "shardnode/node/control_server.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/pubsub/service.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::fuzz {
namespace {

struct CtlNode {
  boost::asio::io_context io;
  ManualClock clock{TimePoint{std::chrono::seconds(100)}};
  OffsetWallClock wall{clock, 1'700'000'000'000};
  NodeKey key = NodeKey::from_seed(Bytes(32, 31)).value();
  net::Host host{io, key};
  std::unique_ptr<pubsub::PubsubService> ps;
  std::unique_ptr<node::ShardService> shards;
  std::unique_ptr<node::ControlServer> ctl;
  std::string path;

  CtlNode() {
    pubsub::ServiceConfig pc;
    node::ShardServiceConfig sc;
    sc.manager.shard_count = 8;
    sc.shards = {0, 1};
    sc.clock = &clock;
    sc.wall = &wall;
    sc.address_of = [](const PeerId&, const Ed25519PublicKey&) { return std::optional<Multiaddr>(); };
    ps = std::make_unique<pubsub::PubsubService>(io, host, pc);
    shards = std::make_unique<node::ShardService>(io, host, *ps, key, sc);
    shards->set_validator_key(
        std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::from_seed(Bytes(32, 32)).value()));
    ps->start();
    // Started, so its tick (on the manual clock) ends jumps at their deadline: a
    // client waiting on a jump is answered, as in a node.
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(shards->start()));
    node::ControlLimits limits;
    limits.max_queued_bytes = 64 * 1024;
    ctl = std::make_unique<node::ControlServer>(io, node::ControlContext{host, *ps, *shards, {}}, limits);
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/shardnode-fuzz-ctl-" + std::to_string(::getpid()) + ".sock";
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(ctl->listen(path)));
  }
  ~CtlNode() {
    ctl->stop();
    shards->stop();
    ps->stop();
    host.close();
    io.poll();
  }
};

int connect_client(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// Reads and drops what the server sent; false at end of stream.
bool drain(int fd) {
  std::uint8_t buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) continue;
    return n < 0;  // EAGAIN: still open; 0: closed by the server
  }
}

}  // namespace

SHARDNODE_FUZZ_TARGET(control_server) {
  Input in(data, size);
  static std::unique_ptr<CtlNode> shared;
  static std::size_t served = 0;
  if (!shared || ++served % 1024 == 0) {
    shared.reset();
    shared = std::make_unique<CtlNode>();
  }
  CtlNode& node = *shared;
  const int fd = connect_client(node.path);
  SHARDNODE_FUZZ_CHECK(fd >= 0);
  node.io.poll();
  bool open = true;
  while (!in.empty() && open) {
    switch (in.u8() % 4) {
      case 0: case 1: {  // bytes from the client
        const ByteView piece = in.bytes(in.u16() % 4096);
        std::size_t off = 0;
        while (off < piece.size()) {
          const ssize_t n = ::send(fd, piece.data() + off, piece.size() - off, MSG_NOSIGNAL);
          if (n <= 0) break;  // the server stopped reading (held back) or closed
          off += static_cast<std::size_t>(n);
        }
        break;
      }
      case 2:  // time passes (jump deadlines, sweeps)
        node.clock.advance(std::chrono::milliseconds(in.u16()));
        break;
      case 3:  // the client reads
        open = drain(fd);
        break;
    }
    node.io.poll();
  }
  // The client hangs up; the server must let go of it.
  ::shutdown(fd, SHUT_WR);
  for (int i = 0; i < 64 && open; ++i) {
    node.io.poll();
    open = drain(fd);
  }
  ::close(fd);
  // A client that hung up with a jump still waiting keeps its slot until the jump
  // ends (a half-closed client is still owed its answers): let every deadline pass.
  for (int i = 0; i < 64 && node.ctl->client_count() > 0; ++i) {
    node.clock.advance(std::chrono::seconds(5));
    node.io.poll();
  }
  SHARDNODE_FUZZ_CHECK(node.ctl->client_count() == 0);
}

}  // namespace shardnode::fuzz
