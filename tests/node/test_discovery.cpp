// StoredPeers (discovery.h) over in-memory pipes: records learnt from identify are
// stored; a newer record without addresses - an identity retired by rotation, pushed
// with identify push or learnt any other way - makes the store forget that peer; an
// older one changes nothing.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <optional>

#include "../support/io_wait.h"
#include "../support/temp_dir.h"
#include "shardnode/net/host.h"
#include "shardnode/net/memory_transport.h"
#include "shardnode/net/peer_record.h"
#include "shardnode/node/discovery.h"

using namespace shardnode;
using namespace shardnode::node;
namespace asio = boost::asio;
using test::run_until;
using test::TempDir;

namespace {

struct Peer {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<net::Host> host;
  Multiaddr addr;
  Peer(asio::io_context& io, const std::shared_ptr<net::MemoryNetwork>& net) {
    host = std::make_unique<net::Host>(io, key);
    host->add_transport(std::make_unique<net::MemoryTransport>(io, net));
    auto a = host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    REQUIRE(a);
    addr = a->with_peer_id(host->peer_id());
  }
  PeerId id() const { return host->peer_id(); }
};

bool held(StoredPeers& s, const PeerId& p) {
  auto got = s.store()->get(p);
  REQUIRE(got);
  return got->has_value();
}

}  // namespace

TEST_CASE("a retired identity's record makes the peer store forget the peer", "[discovery]") {
  asio::io_context io;
  auto net = std::make_shared<net::MemoryNetwork>();
  TempDir dir;
  SteadyClock steady;
  OffsetWallClock wall(steady, 1'700'000'000'000);
  Peer a(io, net), b(io, net), c(io, net);
  auto store = PeerStore::open(dir.path / "peers.db");
  REQUIRE(store);
  StoredPeersConfig cfg;
  cfg.policy = DialPolicy{false, true};  // memory pipes carry /ip4/.../tcp/ addresses
  StoredPeers stored(io, *a.host, std::move(*store), wall, cfg);  // not started: it dials nobody

  b.host->set_signed_record(net::seal_peer_record(b.key, 10, b.host->advertised_addrs()));
  c.host->set_signed_record(net::seal_peer_record(c.key, 10, c.host->advertised_addrs()));
  for (Peer* p : {&b, &c}) {
    std::optional<Result<PeerId>> r;
    p->host->connect(a.addr, [&](Result<PeerId> x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    REQUIRE(*r);
  }
  REQUIRE(run_until(io, [&] { return held(stored, b.id()) && held(stored, c.id()); }));
  CHECK(stored.counters().records_stored == 2);

  SECTION("pushed by the retiring peer") {
    b.host->withdraw_addrs();
    b.host->set_signed_record(net::seal_peer_record(b.key, 11, {}));
    std::optional<std::size_t> delivered;
    b.host->push_identify([&](std::size_t n) { delivered = n; });
    REQUIRE(run_until(io, [&] { return delivered.has_value() && !held(stored, b.id()); }));
    CHECK(*delivered == 1);
    CHECK(stored.counters().records_retired == 1);
    CHECK(held(stored, c.id()));  // only that peer
  }

  SECTION("an older retirement changes nothing, and is not counted") {
    CHECK_FALSE(stored.learn(net::seal_peer_record(b.key, 9, {})));
    CHECK_FALSE(stored.learn(net::seal_peer_record(b.key, 10, {})));
    CHECK(held(stored, b.id()));
    CHECK(stored.counters().records_retired == 0);
    // Learnt another way (the DHT), a newer one does the same as a push.
    CHECK_FALSE(stored.learn(net::seal_peer_record(b.key, 12, {})));
    CHECK_FALSE(held(stored, b.id()));
    CHECK(stored.counters().records_retired == 1);
    // A retirement of a peer never stored: nothing to forget.
    CHECK_FALSE(stored.learn(net::seal_peer_record(NodeKey::generate(), 5, {})));
    CHECK(stored.counters().records_retired == 1);
  }
}
