// The control API server on live nodes (TCP loopback between the nodes, a real unix
// socket to each server): every op's happy path, then malformed input, limits and the
// socket file itself. Real clock; every wait has a deadline.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>

#include "../support/io_wait.h"
#include "../support/live_shard_node.h"
#include "control.pb.h"
#include "shardnode/core/varint.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/node/control_server.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/topics.h"
#include "../support/temp_dir.h"

using namespace shardnode;
using namespace std::chrono_literals;
using shardnode::test::run_until;
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace pb = shardnode::control::v1;

namespace {

using test::TempDir;

using Net = test::LiveNet;
using test::connect;

// A node without tor (tests/support/live_shard_node.h) with its collation topics
// scored (an invalid collation flags its sender), a store, a validator key and a
// control server.
struct CtlNode : test::LiveShardNode {
  std::unique_ptr<node::ControlServer> ctl;
  fs::path sock;
  Ed25519PublicKey validator_pub;

  CtlNode(asio::io_context& io, Net& net, std::set<std::uint32_t> on, const fs::path& dir, const std::string& name,
          node::ControlLimits limits = {})
      : LiveShardNode(io, net, std::move(on), [&](node::ShardServiceConfig& sc, pubsub::ServiceConfig& pc) {
          for (std::uint32_t k = 0; k < 8; ++k)
            pc.score.topics[shard::collation_topic(k)] = pubsub::TopicScoreParams::defaults();
          sc.manager.jump_timeout_ms = 20000;
          sc.store_file = dir / (name + ".db");
        }) {
    auto vk = std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::adopt(NodeKey::generate()));
    validator_pub = vk->public_key();
    shards->set_validator_key(std::move(vk));
    ctl = std::make_unique<node::ControlServer>(
        io,
        node::ControlContext{*host, *ps, *shards,
                             [this] {
                               node::IdentityExtras x;
                               x.version = "shardnode-test";
                               x.tor_bootstrap = 100;
                               x.validator_key = validator_pub;
                               return x;
                             }},
        limits);
    sock = dir / (name + ".sock");
  }
  ~CtlNode() { ctl->stop(); }
};

Bytes frame_of(const pb::Request& r) {
  std::string body;
  REQUIRE(r.SerializeToString(&body));
  Bytes out;
  append_uvarint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A control client on a non-blocking socket, pumped from the test's io loop.
struct Client {
  int fd = -1;
  Bytes in;
  std::deque<pb::Response> got;
  bool eof = false;

  explicit Client(const fs::path& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0);
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  }
  ~Client() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void raw(ByteView b) {
    std::size_t off = 0;
    while (off < b.size()) {
      const auto n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      off += static_cast<std::size_t>(n);
    }
  }
  void send(const pb::Request& r) { raw(frame_of(r)); }
  void pump() {
    std::uint8_t buf[65536];
    for (;;) {
      const auto n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        in.insert(in.end(), buf, buf + n);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
      break;
    }
    for (;;) {
      auto len = decode_uvarint(in);
      if (len.status != VarintStatus::ok || in.size() - len.length < len.value) break;
      pb::Response r;
      REQUIRE(r.ParseFromArray(in.data() + len.length, static_cast<int>(len.value)));
      got.push_back(std::move(r));
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len.length + len.value));
    }
  }
  std::optional<pb::Response> take(std::uint64_t id) {
    for (auto it = got.begin(); it != got.end(); ++it)
      if (it->id() == id) {
        auto r = std::move(*it);
        got.erase(it);
        return r;
      }
    return std::nullopt;
  }
};

pb::Response await(asio::io_context& io, Client& c, std::uint64_t id, std::chrono::milliseconds deadline = 20s) {
  std::optional<pb::Response> r;
  const bool ok = run_until(io, [&] {
    c.pump();
    if (!r) r = c.take(id);
    return r.has_value();
  }, deadline);
  INFO("waiting for the response to request " << id);
  REQUIRE(ok);
  return *r;
}

std::uint64_t next_id = 100;

template <class Fill>
pb::Response call(asio::io_context& io, Client& c, Fill fill) {
  pb::Request req;
  req.set_id(++next_id);
  fill(req);
  c.send(req);
  return await(io, c, req.id());
}

bool closed_by_server(asio::io_context& io, Client& c) {
  return run_until(io, [&] {
    c.pump();
    return c.eof;
  });
}


std::vector<std::uint32_t> list(const google::protobuf::RepeatedField<std::uint32_t>& f) { return {f.begin(), f.end()}; }

}  // namespace

TEST_CASE("control server: every op on live nodes", "[control][live]") {
  asio::io_context io;
  Net net;
  TempDir dir;
  // a and b on shard 5 (a line a-b), c on shard 1 connected to a only.
  CtlNode a(io, net, {5}, dir.path, "a"), b(io, net, {5}, dir.path, "b"), c(io, net, {1}, dir.path, "c");
  connect(io, a, b);
  connect(io, c, a);
  for (auto* n : {&a, &b, &c}) {
    REQUIRE(n->shards->start());
    REQUIRE(n->ctl->listen(n->sock));
  }
  REQUIRE(run_until(io, [&] {
    for (auto* n : {&a, &b, &c})
      if (n->m().table().size() != 3) return false;
    return true;
  }));
  REQUIRE(run_until(io, [&] { return a.ps->router().mesh(shard::collation_topic(5)).count(b.host->peer_id()) != 0; }));
  Client ca(a.sock), cb(b.sock), cc(c.sock);

  // identity
  auto r = call(io, ca, [](pb::Request& q) { q.mutable_identity(); });
  REQUIRE(r.has_identity());
  CHECK(r.identity().peer_id() == a.host->peer_id().to_string());
  CHECK(r.identity().shard_count() == 8);
  CHECK(list(r.identity().shards()) == std::vector<std::uint32_t>{5});
  CHECK(r.identity().version() == "shardnode-test");
  CHECK(r.identity().tor_bootstrap() == 100);
  CHECK(r.identity().validator_key() == std::string(a.validator_pub.bytes.begin(), a.validator_pub.bytes.end()));
  REQUIRE(r.identity().listen_addrs_size() == 1);
  CHECK(r.identity().listen_addrs(0).find("/ip4/127.0.0.1/tcp/") == 0);

  // peers: b and c, b's shards from its record, b in the shard-5 mesh
  REQUIRE(run_until(io, [&] { return a.host->peer_info(b.host->peer_id()).has_value(); }));
  r = call(io, ca, [](pb::Request& q) { q.mutable_peers(); });
  REQUIRE(r.has_peers());
  REQUIRE(r.peers().peers_size() == 2);
  bool saw_b = false;
  for (const auto& p : r.peers().peers()) {
    if (p.peer_id() != b.host->peer_id().to_string()) {
      CHECK(p.peer_id() == c.host->peer_id().to_string());
      CHECK_FALSE(p.outbound());
      CHECK(p.addr().empty());
      CHECK(list(p.shards()) == std::vector<std::uint32_t>{1});
      continue;
    }
    saw_b = true;
    CHECK(p.outbound());
    CHECK(p.addr().find("/ip4/127.0.0.1/tcp/") == 0);
    CHECK(p.agent().find("shardnode") == 0);
    CHECK_FALSE(p.flagged());
    CHECK(list(p.shards()) == std::vector<std::uint32_t>{5});
    CHECK(std::find(p.mesh_topics().begin(), p.mesh_topics().end(), shard::collation_topic(5)) != p.mesh_topics().end());
  }
  CHECK(saw_b);

  // table
  r = call(io, ca, [](pb::Request& q) { q.mutable_table(); });
  REQUIRE(r.has_table());
  CHECK(r.table().shard_count() == 8);
  CHECK_FALSE(r.table().truncated());
  REQUIRE(r.table().entries_size() == 3);
  for (const auto& e : r.table().entries()) {
    CHECK(e.seq() >= 1);
    CHECK(e.expires_at() > b.shards->now_ms() / 1000);
    if (e.peer_id() == b.host->peer_id().to_string()) CHECK(e.connected());
    if (e.peer_id() == a.host->peer_id().to_string()) CHECK(list(e.shards()) == std::vector<std::uint32_t>{5});
  }

  // subscribe / unsubscribe
  r = call(io, cc, [](pb::Request& q) { q.mutable_subscribe()->set_shard(3); });
  REQUIRE(r.has_shards());
  CHECK(list(r.shards().shards()) == std::vector<std::uint32_t>{1, 3});
  CHECK(c.m().shards().count(3));
  r = call(io, cc, [](pb::Request& q) { q.mutable_unsubscribe()->set_shard(3); });
  REQUIRE(r.has_shards());
  CHECK(list(r.shards().shards()) == std::vector<std::uint32_t>{1});
  r = call(io, cc, [](pb::Request& q) { q.mutable_unsubscribe()->set_shard(3); });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::UNAVAILABLE);
  CHECK(r.error().message().find("not on shard 3") != std::string::npos);

  // publish on a -> a stream on b sees it (body included); a stream on shard 2 does not
  pb::Request sreq;
  sreq.set_id(7001);
  sreq.mutable_stream_collations()->add_shards(5);
  sreq.mutable_stream_collations()->set_include_body(true);
  cb.send(sreq);
  REQUIRE(await(io, cb, 7001).has_subscribed());
  pb::Request other;
  other.set_id(7002);
  other.mutable_stream_collations()->add_shards(2);
  cb.send(other);
  REQUIRE(await(io, cb, 7002).has_subscribed());
  r = call(io, ca, [](pb::Request& q) {
    q.mutable_publish_collation()->set_shard(5);
    q.mutable_publish_collation()->set_body("hello shard five");
  });
  REQUIRE(r.has_published());
  REQUIRE(r.published().hash().size() == 32);
  CHECK(r.published().period() == a.shards->current_period());
  const std::string published_hash = r.published().hash();
  auto ev = await(io, cb, 7001);
  REQUIRE(ev.has_event());
  CHECK(ev.event().shard() == 5);
  CHECK(ev.event().hash() == published_hash);
  CHECK(ev.event().body() == "hello shard five");
  CHECK(ev.event().body_size() == 16);
  CHECK(ev.event().proposer() == std::string(a.validator_pub.bytes.begin(), a.validator_pub.bytes.end()));
  CHECK(ev.event().period() == a.shards->current_period());
  cb.pump();
  CHECK_FALSE(cb.take(7002).has_value());
  // cancel ends the stream
  r = call(io, cb, [](pb::Request& q) { q.mutable_cancel()->set_stream_id(7001); });
  REQUIRE(r.has_cancelled());
  CHECK(r.cancelled().stream_id() == 7001);
  // publish: not on that shard, and out of range
  r = call(io, ca, [](pb::Request& q) { q.mutable_publish_collation()->set_shard(2); });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::UNAVAILABLE);
  r = call(io, ca, [](pb::Request& q) { q.mutable_publish_collation()->set_shard(8); });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::BAD_REQUEST);

  // request_collations: c is not on shard 5; it fetches a's collation from a peer on it
  REQUIRE(run_until(io, [&] { return b.shards->store()->contains([&] {
    shard::Hash32 h{};
    std::memcpy(h.data(), published_hash.data(), 32);
    return h;
  }()); }));
  const auto cur = a.shards->current_period();
  r = call(io, cc, [&](pb::Request& q) {
    q.mutable_request_collations()->set_shard(5);
    q.mutable_request_collations()->set_from_period(cur > 3 ? cur - 3 : 0);
    q.mutable_request_collations()->set_to_period(cur);
  });
  REQUIRE(r.has_fetched());
  CHECK(r.fetched().peer_id() == a.host->peer_id().to_string());  // the only connected peer on shard 5
  CHECK(r.fetched().new_collations() == 1);
  // by hash, from a named peer: nothing new
  r = call(io, cc, [&](pb::Request& q) {
    q.mutable_request_collations()->set_peer_id(a.host->peer_id().to_string());
    q.mutable_request_collations()->set_hash(published_hash);
  });
  REQUIRE(r.has_fetched());
  CHECK(r.fetched().new_collations() == 0);
  // a peer we are not connected to
  r = call(io, cc, [&](pb::Request& q) {
    q.mutable_request_collations()->set_peer_id(b.host->peer_id().to_string());
    q.mutable_request_collations()->set_shard(5);
  });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::NOT_FOUND);
  // nobody connected on shard 4
  r = call(io, cc, [&](pb::Request& q) { q.mutable_request_collations()->set_shard(4); });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::NOT_FOUND);

  // jump with wait: c goes 1 -> 5, dials b, and the answer comes when the mesh is there
  r = call(io, cc, [](pb::Request& q) {
    q.mutable_jump()->set_from(1);
    q.mutable_jump()->set_to(5);
    q.mutable_jump()->set_wait(true);
  });
  REQUIRE(r.has_jump());
  CHECK(r.jump().shard() == 5);
  CHECK(r.jump().completed());
  CHECK(list(r.jump().shards()) == std::vector<std::uint32_t>{5});
  CHECK(r.jump().dialled() >= 1);
  CHECK(c.host->connected(b.host->peer_id()));
  // a jump from a shard we are not on
  r = call(io, cc, [](pb::Request& q) {
    q.mutable_jump()->set_from(1);
    q.mutable_jump()->set_to(2);
  });
  REQUIRE(r.has_error());
  CHECK(r.error().code() == pb::Error::UNAVAILABLE);
  // without wait: answered at once (already on 5: nothing to do)
  r = call(io, cc, [](pb::Request& q) {
    q.mutable_jump()->set_from(5);
    q.mutable_jump()->set_to(6);
  });
  REQUIRE(r.has_jump());
  CHECK(r.jump().shard() == 6);
  CHECK(list(r.jump().shards()) == std::vector<std::uint32_t>{6});

  // scores: nobody flagged, then c publishes an invalid collation on shard 5 and a flags it
  r = call(io, ca, [](pb::Request& q) { q.mutable_scores(); });
  REQUIRE(r.has_scores());
  CHECK(r.scores().flagged_size() == 0);
  CHECK(r.scores().peers_size() == 2);
  auto wrong = shard::make_collation(shard::ValidatorKey::generate(), 1, c.shards->current_period(), {}, Bytes{7});
  REQUIRE(c.ps->publish(shard::collation_topic(5), shard::encode(wrong)));
  REQUIRE(run_until(io, [&] { return a.ps->router().is_flagged(c.host->peer_id()); }));
  r = call(io, ca, [](pb::Request& q) { q.mutable_scores(); });
  REQUIRE(r.has_scores());
  REQUIRE(r.scores().flagged_size() == 1);
  const auto& f = r.scores().flagged(0);
  CHECK(f.peer_id() == c.host->peer_id().to_string());
  CHECK(f.score() < -80.0);
  CHECK(f.reason() == "p4_invalid_messages");
  CHECK(f.since_ms() < 20000);
  for (const auto& p : r.scores().peers())
    if (p.peer_id() == c.host->peer_id().to_string()) {
      CHECK(p.flagged());
      CHECK(p.p4_invalid() < 0);
    }
}

TEST_CASE("control server: malformed input, limits and the socket file", "[control][live]") {
  asio::io_context io;
  Net net;
  TempDir dir;
  node::ControlLimits limits;
  limits.max_clients = 3;
  limits.max_streams = 2;
  limits.max_queued_bytes = 64 * 1024;
  CtlNode a(io, net, {5}, dir.path, "a", limits);
  REQUIRE(a.shards->start());
  // Created 0600 whatever the umask.
  const mode_t old_mask = ::umask(0);
  const Status listened = a.ctl->listen(a.sock);
  ::umask(old_mask);
  REQUIRE(listened);
  struct stat st {};
  REQUIRE(::lstat(a.sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  auto expect_bad_and_closed = [&](Client& c, const std::string& needle) {
    auto r = await(io, c, 0);
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::BAD_REQUEST);
    INFO(r.error().message());
    CHECK(r.error().message().find(needle) != std::string::npos);
    CHECK(closed_by_server(io, c));
  };

  SECTION("framing errors: an error response, then the connection closes; other clients carry on") {
    Client good(a.sock);
    {
      Client c(a.sock);  // a varint that never ends
      c.raw(Bytes(10, 0xff));
      expect_bad_and_closed(c, "bad frame length");
    }
    {
      Client c(a.sock);  // truncated varint, then end of input
      c.raw(Bytes{0x80});
      ::shutdown(c.fd, SHUT_WR);
      expect_bad_and_closed(c, "middle of a frame");
    }
    {
      Client c(a.sock);  // a length over 1 MiB
      Bytes b;
      append_uvarint(b, node::kControlMaxFrame + 1);
      c.raw(b);
      expect_bad_and_closed(c, "exceeds the cap");
    }
    {
      Client c(a.sock);  // not a protobuf (wire type 7)
      c.raw(Bytes{3, 0x0f, 0x01, 0x02});
      expect_bad_and_closed(c, "not a valid Request");
    }
    auto r = call(io, good, [](pb::Request& q) { q.mutable_identity(); });
    CHECK(r.has_identity());
  }

  SECTION("bad field values: BAD_REQUEST, and the connection stays") {
    Client c(a.sock);
    auto bad = [&](auto fill, const std::string& needle) {
      auto r = call(io, c, fill);
      REQUIRE(r.has_error());
      INFO(r.error().message());
      CHECK(r.error().code() == pb::Error::BAD_REQUEST);
      CHECK(r.error().message().find(needle) != std::string::npos);
    };
    bad([](pb::Request&) {}, "no op");
    bad([](pb::Request& q) { q.mutable_subscribe()->set_shard(99); }, "shard 99 does not exist");
    bad([](pb::Request& q) { q.mutable_unsubscribe()->set_shard(8); }, "shard 8 does not exist");
    bad([](pb::Request& q) {
      q.mutable_jump()->set_from(5);
      q.mutable_jump()->set_to(1000);
    }, "shard 1000 does not exist");
    bad([](pb::Request& q) { q.mutable_stream_collations()->add_shards(8); }, "does not exist");
    bad([](pb::Request& q) { q.mutable_request_collations()->set_hash("short"); }, "32 bytes");
    bad([](pb::Request& q) {
      q.mutable_request_collations()->set_peer_id("not-a-peer-id");
      q.mutable_request_collations()->set_shard(5);
    }, "bad peer id");
    bad([](pb::Request& q) {
      q.mutable_request_collations()->set_shard(5);
      q.mutable_request_collations()->set_from_period(10);
      q.mutable_request_collations()->set_to_period(9);
    }, "from_period");
    // cancel of a stream that does not exist
    auto r = call(io, c, [](pb::Request& q) { q.mutable_cancel()->set_stream_id(424242); });
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::NOT_FOUND);
    // publishing without being on the shard; and the node still answers
    r = call(io, c, [](pb::Request& q) { q.mutable_publish_collation()->set_shard(4); });
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::UNAVAILABLE);
    r = call(io, c, [](pb::Request& q) { q.mutable_identity(); });
    CHECK(r.has_identity());
    CHECK(a.ctl->counters().bad_requests >= 8);
  }

  SECTION("streams: a cap per client, client gone mid-stream, a slow reader is dropped") {
    Client c(a.sock);
    for (std::uint64_t id : {std::uint64_t{11}, std::uint64_t{12}}) {
      pb::Request q;
      q.set_id(id);
      q.mutable_stream_collations();
      c.send(q);
      REQUIRE(await(io, c, id).has_subscribed());
    }
    auto r = call(io, c, [](pb::Request& q) { q.mutable_stream_collations(); });
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::RESOURCE_EXHAUSTED);
    // The same id twice is refused too.
    pb::Request dup;
    dup.set_id(11);
    dup.mutable_cancel()->set_stream_id(12);
    c.send(dup);
    REQUIRE(await(io, c, 11).has_cancelled());
    pb::Request again;
    again.set_id(11);
    again.mutable_stream_collations();
    c.send(again);
    r = await(io, c, 11);
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::BAD_REQUEST);

    // Client gone mid-stream: the server forgets it, publishing goes on.
    {
      Client gone(a.sock);
      pb::Request q;
      q.set_id(1);
      q.mutable_stream_collations();
      gone.send(q);
      REQUIRE(await(io, gone, 1).has_subscribed());
      REQUIRE(a.ctl->client_count() == 2);
    }
    REQUIRE(run_until(io, [&] { return a.ctl->client_count() == 1; }));
    REQUIRE(a.shards->publish_collation(5, Bytes{'x'}));
    auto ev = await(io, c, 11);
    CHECK(ev.has_event());

    // A reader that never reads: its stream is dropped with an error, memory stays bounded.
    Client slow(a.sock);
    int small = 4096;
    REQUIRE(::setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
    pb::Request q;
    q.set_id(21);
    q.mutable_stream_collations()->set_include_body(true);
    slow.send(q);
    REQUIRE(await(io, slow, 21).has_subscribed());
    const auto dropped = a.ctl->counters().streams_dropped;
    for (int i = 0; i < 64 && a.ctl->counters().streams_dropped == dropped; ++i) {
      Bytes body(32 * 1024, static_cast<std::uint8_t>(i));
      REQUIRE(a.shards->publish_collation(5, std::move(body)));
      run_until(io, [] { return false; }, 20ms);
    }
    REQUIRE(a.ctl->counters().streams_dropped == dropped + 1);
    // Reading now: the events that fitted, then the error for stream 21.
    std::optional<pb::Response> err;
    REQUIRE(run_until(io, [&] {
      slow.pump();
      while (!slow.got.empty()) {
        auto x = std::move(slow.got.front());
        slow.got.pop_front();
        if (x.has_error()) err = std::move(x);
      }
      return err.has_value();
    }));
    CHECK(err->id() == 21);
    CHECK(err->error().code() == pb::Error::RESOURCE_EXHAUSTED);
    // The connection itself still works.
    r = call(io, slow, [](pb::Request& x) { x.mutable_identity(); });
    CHECK(r.has_identity());
  }

  SECTION("a client flooding requests unread, and one sending a byte at a time, do not stop the others") {
    Client good(a.sock), flood(a.sock), trickle(a.sock);
    // 300,000 requests (1.5 MB) in one go; the flooder does not read its answers.
    pb::Request q;
    q.set_id(7);
    q.mutable_identity();
    const Bytes one = frame_of(q);
    Bytes all;
    for (int i = 0; i < 300000; ++i) all.insert(all.end(), one.begin(), one.end());
    std::size_t off = 0;
    int stuck = 0;
    while (off < all.size() && stuck < 20) {
      const auto n = ::send(flood.fd, all.data() + off, all.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        stuck = 0;
      } else {
        ++stuck;
      }
      run_until(io, [] { return false; }, 10ms);
    }
    // The server stopped reading it once its answers backed up (64 KiB queued):
    // the rest waits in the flooder's socket, not in our memory.
    CHECK(off < all.size());
    const auto read_while_blocked = a.ctl->counters().requests;
    CHECK(read_while_blocked < 300000);
    // Others are answered meanwhile, and so is a frame trickling in a byte at a time.
    CHECK(call(io, good, [](pb::Request& r) { r.mutable_identity(); }).has_identity());
    pb::Request tq;
    tq.set_id(9);
    tq.mutable_identity();
    const Bytes slow = frame_of(tq);
    for (std::size_t i = 0; i < slow.size(); ++i) {
      trickle.raw(ByteView(slow).subspan(i, 1));
      run_until(io, [] { return false; }, 5ms);
      if (i % 8 == 0) CHECK(call(io, good, [](pb::Request& r) { r.mutable_identity(); }).has_identity());
    }
    CHECK(await(io, trickle, 9).has_identity());
    // Once the flooder reads, the server goes on with its requests.
    std::size_t answered = 0;
    REQUIRE(run_until(io, [&] {
      flood.pump();
      answered += flood.got.size();
      flood.got.clear();
      return a.ctl->counters().requests > read_while_blocked + 1000 && answered > 1000;
    }, 30s));
  }

  SECTION("too many clients") {
    Client c1(a.sock), c2(a.sock), c3(a.sock);
    REQUIRE(call(io, c3, [](pb::Request& q) { q.mutable_identity(); }).has_identity());
    Client c4(a.sock);
    auto r = await(io, c4, 0);
    REQUIRE(r.has_error());
    CHECK(r.error().code() == pb::Error::RESOURCE_EXHAUSTED);
    CHECK(closed_by_server(io, c4));
  }

  SECTION("the socket file: live refused, stale replaced, other files refused, unlinked at stop") {
    node::ControlServer second(io, node::ControlContext{*a.host, *a.ps, *a.shards, {}});
    auto st2 = second.listen(a.sock);
    REQUIRE_FALSE(st2);
    CHECK(st2.error().what().find("in use") != std::string::npos);
    a.ctl->stop();
    CHECK_FALSE(fs::exists(a.sock));

    // A stale socket (bound, never unlinked, nobody listening) is replaced.
    const fs::path stale = dir.path / "stale.sock";
    {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::strncpy(sa.sun_path, stale.c_str(), sizeof(sa.sun_path) - 1);
      REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0);
      ::close(fd);
    }
    node::ControlServer third(io, node::ControlContext{*a.host, *a.ps, *a.shards, {}});
    REQUIRE(third.listen(stale));
    Client c(stale);
    auto r = call(io, c, [](pb::Request& q) { q.mutable_identity(); });
    REQUIRE(r.has_identity());
    CHECK(r.identity().tor_bootstrap() == 100);
    third.stop();
    CHECK_FALSE(fs::exists(stale));

    const fs::path regular = dir.path / "regular";
    std::ofstream(regular) << "not a socket";
    node::ControlServer fourth(io, node::ControlContext{*a.host, *a.ps, *a.shards, {}});
    auto st4 = fourth.listen(regular);
    REQUIRE_FALSE(st4);
    CHECK(st4.error().what().find("not a socket") != std::string::npos);
    CHECK(fs::exists(regular));
  }
}
