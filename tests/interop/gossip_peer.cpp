// shardnode's side of the gossipsub interop test. One JSON event per stdout line.
//   gossip_peer --topic T [--dial <multiaddr>]...
// stdin commands, one per line: "publish <hex>", "status"; EOF ends the process.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "shardnode/core/log.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
using nlohmann::json;
namespace asio = boost::asio;

namespace {
void emit(const json& j) { std::cout << j.dump() << std::endl; }
}  // namespace

int main(int argc, char** argv) {
  std::string topic = "/shardnode/interop/1";
  std::vector<std::string> dials;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--topic") topic = argv[i + 1];
    else if (a == "--dial") dials.push_back(argv[i + 1]);
  }
  (void)logging::configure({std::getenv("GOSSIP_LOG") ? std::getenv("GOSSIP_LOG") : "warn", "", {}});
  asio::io_context io;
  NodeKey key = NodeKey::generate();
  net::Host host(io, key);
  host.add_transport(std::make_unique<net::TcpTransport>(io));
  auto addr = host.listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  if (!addr) {
    emit({{"event", "error"}, {"message", addr.error().what()}});
    return 1;
  }
  pubsub::ServiceConfig cfg;
  cfg.gossip.heartbeat_interval = std::chrono::milliseconds(200);
  pubsub::PubsubService ps(io, host, cfg);
  ps.on_message([](const pubsub::Delivery& d) {
    emit({{"event", "message"}, {"topic", d.topic}, {"data", hex_encode(d.message.data)}});
  });
  ps.start();
  ps.subscribe(topic);
  emit({{"event", "listening"}, {"peer", host.peer_id().to_string()},
        {"addrs", {addr->with_peer_id(host.peer_id()).to_string()}}});
  for (const auto& d : dials) {
    auto ma = Multiaddr::parse(d);
    if (!ma) {
      emit({{"event", "error"}, {"message", ma.error().what()}});
      continue;
    }
    host.connect(*ma, [d](Result<PeerId> r) {
      if (r) emit({{"event", "connected"}, {"peer", r->to_string()}});
      else emit({{"event", "error"}, {"message", "dial " + d + ": " + r.error().what()}});
    });
  }

  asio::posix::stream_descriptor in(io, ::dup(0));
  asio::streambuf buf;
  std::function<void()> read_line = [&] {
    asio::async_read_until(in, buf, '\n', [&](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        ps.stop();
        host.close();
        io.stop();
        return;
      }
      std::istream is(&buf);
      std::string line;
      std::getline(is, line);
      if (line.rfind("publish ", 0) == 0) {
        auto data = hex_decode(line.substr(8));
        auto r = data ? ps.publish(topic, *data) : Result<pubsub::MessageId>(Error{{}, "bad hex"});
        if (r) emit({{"event", "published"}, {"id", hex_encode(*r)}});
        else emit({{"event", "error"}, {"message", r.error().what()}});
      } else if (line == "status") {
        emit({{"event", "status"},
              {"topicPeers", ps.router().topic_peers(topic).size()},
              {"mesh", ps.router().mesh(topic).size()},
              {"peers", host.connection_count()}});
      }
      read_line();
    });
  };
  read_line();
  io.run();
  return 0;
}
