// shardnode's side of the wire interop test, printing one JSON event per line:
//   wire_peer listen           listens on 127.0.0.1, runs until stdin closes
//   wire_peer dial <multiaddr> connects, waits for identify, pings 3 times, exits
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "shardnode/core/log.h"
#include "shardnode/net/host.h"
#include "shardnode/net/tcp_transport.h"

using namespace shardnode;
using namespace shardnode::net;
using nlohmann::json;
namespace asio = boost::asio;

namespace {
void emit(const json& j) { std::cout << j.dump() << std::endl; }

json identified(const PeerId& p, const IdentifyInfo& i) {
  json addrs = json::array();
  for (const auto& a : i.listen_addrs) addrs.push_back(a.to_string());
  json out = {{"event", "identified"}, {"peer", p.to_string()}, {"agent", i.agent_version},
              {"protocols", i.protocols}, {"listenAddrs", addrs}};
  // The signed peer record (RFC 0003) if it opened; why not, if it did not.
  if (i.signed_record) {
    json raddrs = json::array();
    for (const auto& a : i.signed_record->record.addrs) raddrs.push_back(a.to_string());
    out["record"] = {{"seq", std::to_string(i.signed_record->record.seq)}, {"addrs", raddrs}};
  }
  if (i.record_rejected) out["record_rejected"] = i.record_rejected->what();
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string(argv[1]) == "dial" && argc < 3)) {
    std::cerr << "usage: wire_peer listen | dial <multiaddr>\n";
    return 2;
  }
  (void)logging::configure({std::getenv("WIRE_LOG") ? std::getenv("WIRE_LOG") : "warn", "", {}});
  const std::string mode = argv[1];
  asio::io_context io;
  NodeKey key = NodeKey::generate();
  Host host(io, key);
  host.add_transport(std::make_unique<TcpTransport>(io));
  int rc = 0;

  asio::posix::stream_descriptor in(io, ::dup(0));
  std::array<char, 256> buf{};
  std::function<void()> watch_stdin = [&] {
    in.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        host.close();
        io.stop();
        return;
      }
      watch_stdin();
    });
  };

  asio::steady_timer deadline(io, std::chrono::seconds(60));
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    emit({{"event", "error"}, {"message", "deadline passed"}});
    rc = 1;
    io.stop();
  });

  // Used by the dial mode's callbacks, which run inside io.run() below.
  PeerId peer;
  std::function<void(const std::string&)> fail;
  std::function<void(int)> do_ping;

  if (mode == "listen") {
    auto a = host.listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    if (!a) {
      emit({{"event", "error"}, {"message", a.error().what()}});
      return 1;
    }
    deadline.cancel();
    // Our signed peer record in identify: js opens it (and fails identify if it cannot).
    host.set_signed_record(net::seal_peer_record(key, 42, host.advertised_addrs()));
    host.on_peer_identified([](const PeerId& p, const IdentifyInfo& i) { emit(identified(p, i)); });
    emit({{"event", "listening"}, {"peer", host.peer_id().to_string()},
          {"addrs", {a->with_peer_id(host.peer_id()).to_string()}}});
    watch_stdin();
  } else {
    auto target = Multiaddr::parse(argv[2]);
    if (!target || !target->peer_id()) {
      emit({{"event", "error"}, {"message", "bad multiaddr (needs /p2p/<id>)"}});
      return 2;
    }
    peer = *target->peer_id();
    fail = [&](const std::string& m) {
      emit({{"event", "error"}, {"message", m}});
      rc = 1;
      host.close();
      io.stop();
    };
    do_ping = [&](int left) {
      if (left == 0) {
        host.close();
        io.stop();
        return;
      }
      host.ping(peer, [&, left](Result<std::chrono::microseconds> r) {
        if (!r) return fail("ping: " + r.error().what());
        emit({{"event", "ping"}, {"rtt_us", r->count()}});
        do_ping(left - 1);
      });
    };
    host.on_peer_identified([&](const PeerId& p, const IdentifyInfo& i) {
      emit(identified(p, i));
      if (p == peer) do_ping(3);
    });
    host.connect(*target, [&](Result<PeerId> r) {
      if (!r) return fail("connect: " + r.error().what());
      emit({{"event", "connected"}, {"peer", r->to_string()}});
    });
  }
  io.run();
  return rc;
}
