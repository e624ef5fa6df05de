// shardnode's side of the kad-dht interop test: a host serving the DHT on
// /ipfs/kad/1.0.0 (js-libp2p's protocol id). One JSON event per stdout line.
//   kad_peer [--add <multiaddr>/p2p/<id>]...
// stdin commands, one per line: "find <peer id>" (FIND_NODE lookup; answers
// {"event":"found","closest":[...],"requests":N,"failures":N}), "table"; EOF ends it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "shardnode/core/log.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/net/tcp_transport.h"

using namespace shardnode;
using nlohmann::json;
namespace asio = boost::asio;

namespace {
void emit(const json& j) { std::cout << j.dump() << std::endl; }
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> adds;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--add") adds.push_back(argv[i + 1]);
  (void)logging::configure({std::getenv("KAD_LOG") ? std::getenv("KAD_LOG") : "warn", "", {}});
  asio::io_context io;
  NodeKey key = NodeKey::generate();
  net::Host host(io, key);
  host.add_transport(std::make_unique<net::TcpTransport>(io));
  auto addr = host.listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  if (!addr) {
    emit({{"event", "error"}, {"message", addr.error().what()}});
    return 1;
  }
  net::kad::DhtConfig cfg;
  cfg.protocol = net::kad::kIpfsProtocol;
  cfg.core.request_timeout = std::chrono::seconds(5);
  net::kad::DhtService dht(io, host, cfg);
  dht.start();
  for (const auto& a : adds) {
    auto ma = Multiaddr::parse(a);
    auto id = ma ? ma->peer_id() : std::nullopt;
    if (!id) {
      emit({{"event", "error"}, {"message", "--add needs a multiaddr with /p2p/: " + a}});
      continue;
    }
    dht.add_peer(*id, {ma->without_peer_id()});
  }
  emit({{"event", "listening"}, {"peer", host.peer_id().to_string()},
        {"addrs", {addr->with_peer_id(host.peer_id()).to_string()}}});

  asio::posix::stream_descriptor in(io, ::dup(0));
  asio::streambuf buf;
  std::function<void()> read_line = [&] {
    asio::async_read_until(in, buf, '\n', [&](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        dht.stop();
        host.close();
        io.stop();
        return;
      }
      std::istream is(&buf);
      std::string line;
      std::getline(is, line);
      if (line.rfind("find ", 0) == 0) {
        auto target = PeerId::parse(line.substr(5));
        if (!target) {
          emit({{"event", "error"}, {"message", target.error().what()}});
        } else {
          dht.find_node(*target, [](net::kad::LookupResult r) {
            json closest = json::array();
            for (const auto& p : r.closest) closest.push_back(p.to_string());
            emit({{"event", "found"}, {"closest", closest}, {"requests", r.requests}, {"failures", r.failures}});
          });
        }
      } else if (line == "table") {
        emit({{"event", "table"}, {"size", dht.table().size()}, {"served", dht.counters().requests_in}});
      }
      read_line();
    });
  };
  read_line();
  io.run();
  return 0;
}
