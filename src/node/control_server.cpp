#include "shardnode/node/control_server.h"

#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <set>

#include "control.pb.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/core/varint.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/errors.h"

namespace shardnode::node {
namespace asio = boost::asio;
namespace pb = shardnode::control::v1;
using asio::local::stream_protocol;

namespace {

auto log() { return logging::get("node"); }

Error sys_error(const std::string& what, int err) {
  return Error{std::error_code(err, std::system_category()), what + ": " + std::strerror(err)};
}

pb::Response error_response(std::uint64_t id, pb::Error::Code code, std::string message) {
  pb::Response r;
  r.set_id(id);
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

std::string bytes_string(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

template <std::size_t N>
std::string bytes_string(const std::array<std::uint8_t, N>& a) {
  return bytes_string(ByteView(a.data(), a.size()));
}

std::uint64_t ms_since(TimePoint then, TimePoint now) {
  if (now <= then) return 0;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count());
}

// The component that pulls the score down the most, by name ("" when none is negative).
std::string largest_negative(const pubsub::ScoreBreakdown& b) {
  const std::pair<const char*, double> parts[] = {
      {"p3_mesh_deliveries", b.p3}, {"p3b_mesh_failure", b.p3b},   {"p4_invalid_messages", b.p4},
      {"p5_application", b.p5},     {"p6_ip_colocation", b.p6},    {"p7_behaviour_penalty", b.p7},
  };
  std::string name;
  double worst = 0.0;
  for (const auto& [n, v] : parts)
    if (std::isfinite(v) && v < worst) worst = v, name = n;
  return name;
}

pb::Error::Code code_for_shard_error(const Error& e) {
  if (e.code == ShardErrc::oversize) return pb::Error::BAD_REQUEST;
  if (e.code == ShardErrc::wrong_shard || e.code == ShardErrc::bad_signature) return pb::Error::UNAVAILABLE;
  return pb::Error::FAILED;
}

}  // namespace

// ---------------------------------------------------------------------------------
// One connection.

class ControlServer::Client : public std::enable_shared_from_this<Client> {
 public:
  Client(ControlServer& srv, stream_protocol::socket s, std::uint64_t number)
      : srv_(srv), sock_(std::move(s)), number_(number) {}

  void start() { read(); }

  // Closes the socket at once (server stop, read error).
  void close() {
    if (closed_) return;
    closed_ = true;
    streams_.clear();
    boost::system::error_code ec;
    sock_.shutdown(stream_protocol::socket::shutdown_both, ec);
    sock_.close(ec);
  }
  bool closed() const { return closed_; }

  // Queues a response. Never drops it (callers bound how many there are).
  void send(const pb::Response& r) {
    if (closed_ || closing_) return;
    std::string body;
    if (!r.SerializeToString(&body) || body.size() > kControlMaxFrame) {
      auto e = error_response(r.id(), pb::Error::UNKNOWN, "response too large for one frame");
      body.clear();
      (void)e.SerializeToString(&body);
    }
    enqueue(std::move(body));
  }

  void send_error(std::uint64_t id, pb::Error::Code code, std::string message) {
    if (code == pb::Error::BAD_REQUEST) ++srv_.counters_.bad_requests;
    send(error_response(id, code, std::move(message)));
  }

  // A frame that cannot be trusted: answer, then close once the answer is out.
  // The caller holds a reference to this client.
  void fail(std::uint64_t id, std::string message) {
    if (closed_ || closing_) return;
    send_error(id, pb::Error::BAD_REQUEST, std::move(message));
    closing_ = true;
    streams_.clear();
    if (!writing_) srv_.forget(this);
  }

  // A collation for this client's streams.
  void deliver(const shard::Collation& c, const shard::Hash32& id, const std::set<std::uint32_t>& on) {
    if (closed_ || closing_ || streams_.empty()) return;
    std::vector<std::uint64_t> ids;
    for (const auto& [sid, st] : streams_)
      if (st.shards.empty() ? on.count(c.header.shard) != 0 : st.shards.count(c.header.shard) != 0)
        ids.push_back(sid);
    for (auto sid : ids) {
      auto it = streams_.find(sid);
      if (it == streams_.end()) continue;
      pb::Response r;
      r.set_id(sid);
      auto* ev = r.mutable_event();
      ev->set_shard(c.header.shard);
      ev->set_period(c.header.period);
      ev->set_hash(bytes_string(id));
      ev->set_parent_hash(bytes_string(c.header.parent_hash));
      ev->set_proposer(bytes_string(c.header.proposer.bytes));
      ev->set_body_size(c.body.size());
      if (it->second.include_body) {
        if (c.body.size() + 256 <= kControlMaxFrame) ev->set_body(bytes_string(c.body));
        else ev->set_body_omitted(true);
      }
      const std::size_t size = r.ByteSizeLong() + kMaxVarintBytes;
      if (queued_ + size > srv_.limits_.max_queued_bytes) {
        streams_.erase(it);
        ++srv_.counters_.streams_dropped;
        log()->info("control client {}: stream {} dropped, {} bytes queued", number_, sid, queued_);
        send_error(sid, pb::Error::RESOURCE_EXHAUSTED,
                   "stream " + std::to_string(sid) + " dropped: the client is not reading fast enough (" +
                       std::to_string(queued_) + " bytes queued)");
        continue;
      }
      ++srv_.counters_.events_sent;
      send(r);
    }
  }

  // An answer to a request that took time (jump wait, request_collations).
  void finish(const pb::Response& r) {
    if (in_flight_ > 0) --in_flight_;
    send(r);
    resume();
  }

  std::size_t stream_count() const { return streams_.size(); }

 private:
  struct Stream {
    std::set<std::uint32_t> shards;  // empty: every shard we are on
    bool include_body = false;
  };

  void read() {
    if (closed_ || closing_ || reading_) return;
    reading_ = true;
    sock_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                           std::size_t n) {
      self->reading_ = false;
      if (self->closed_) return;
      if (ec) {
        if (ec != asio::error::eof || self->closing_) return self->srv_.forget(self.get());
        // The client closed its side: its streams end; requests already read are
        // still answered, then we close. End of input in the middle of a frame gets
        // a last word.
        self->eof_ = true;
        self->streams_.clear();
        if (!self->in_.empty() && !self->frame_ready_)
          return self->fail(0, "connection closed in the middle of a frame (" + std::to_string(self->in_.size()) +
                                   " bytes of an incomplete frame)");
        return self->resume();
      }
      self->in_.insert(self->in_.end(), self->rbuf_.begin(), self->rbuf_.begin() + static_cast<std::ptrdiff_t>(n));
      self->process();
      self->read_if_room();
    });
  }

  bool held_back() const { return queued_ > srv_.limits_.max_queued_bytes; }

  void read_if_room() {
    // Hold input back while our output is piling up or a whole frame waits unprocessed.
    if (held_back() || frame_ready_ || eof_) return;
    read();
  }

  void resume() {
    if (closed_ || closing_) return;
    process();
    if (closed_ || closing_) return;
    read_if_room();
    // After the client's end of input: close once every answer is out.
    if (eof_ && in_flight_ == 0 && !frame_ready_) {
      closing_ = true;
      if (!writing_) srv_.forget(this);
    }
  }

  // Splits complete frames out of the input and handles them, while output has room.
  // Not re-entrant: a handler may finish another request synchronously (a jump that
  // completes at once), which calls resume() again.
  void process() {
    if (processing_) return;
    processing_ = true;
    struct Done {
      bool& b;
      ~Done() { b = false; }
    } done{processing_};
    frame_ready_ = false;
    std::size_t off = 0;
    while (!closed_ && !closing_) {
      if (held_back()) {
        frame_ready_ = off < in_.size();
        break;
      }
      auto len = decode_uvarint(ByteView(in_).subspan(off));
      if (len.status == VarintStatus::incomplete) break;
      if (len.status != VarintStatus::ok)
        return fail(0, std::string("bad frame length: ") + to_string(len.status) + " varint");
      if (len.value > kControlMaxFrame)
        return fail(0, "frame of " + std::to_string(len.value) + " bytes exceeds the cap of " +
                           std::to_string(kControlMaxFrame) + " bytes");
      const auto n = static_cast<std::size_t>(len.value);
      if (in_.size() - off - len.length < n) break;
      const ByteView frame = ByteView(in_).subspan(off + len.length, n);
      off += len.length + n;
      handle(frame);
    }
    if (closed_) return;
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(std::min(off, in_.size())));
  }

  void enqueue(std::string body) {
    std::string frame;
    Bytes prefix;
    append_uvarint(prefix, body.size());
    frame.reserve(prefix.size() + body.size());
    frame.append(reinterpret_cast<const char*>(prefix.data()), prefix.size());
    frame.append(body);
    queued_ += frame.size();
    out_.push_back(std::move(frame));
    write();
  }

  void write() {
    if (writing_ || closed_ || out_.empty()) return;
    writing_ = true;
    asio::async_write(sock_, asio::buffer(out_.front()),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        if (ec) return self->srv_.forget(self.get());
                        self->queued_ -= self->out_.front().size();
                        self->out_.pop_front();
                        if (!self->out_.empty()) return self->write();
                        if (self->closing_) return self->srv_.forget(self.get());
                        self->resume();
                      });
  }

  void handle(ByteView frame);
  void handle_request(const pb::Request& req);

  ControlServer& srv_;
  stream_protocol::socket sock_;
  std::uint64_t number_;
  std::array<std::uint8_t, 16 * 1024> rbuf_{};
  Bytes in_;
  std::deque<std::string> out_;
  std::size_t queued_ = 0;
  std::size_t in_flight_ = 0;
  std::map<std::uint64_t, Stream> streams_;
  bool reading_ = false, writing_ = false, closing_ = false, closed_ = false, frame_ready_ = false;
  bool eof_ = false, processing_ = false;

  friend class ControlServer;
};

void ControlServer::Client::handle(ByteView frame) {
  ++srv_.counters_.requests;
  pb::Request req;
  if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    return fail(0, "frame of " + std::to_string(frame.size()) + " bytes is not a valid Request protobuf");
  handle_request(req);
}

void ControlServer::Client::handle_request(const pb::Request& req) {
  const std::uint64_t id = req.id();
  auto& shards = srv_.ctx_.shards;
  auto& mgr = shards.manager();
  auto& host = srv_.ctx_.host;
  auto& router = srv_.ctx_.pubsub.router();
  const std::uint32_t shard_count = mgr.config().shard_count;
  auto bad_shard = [&](std::uint32_t s) {
    send_error(id, pb::Error::BAD_REQUEST,
               "shard " + std::to_string(s) + " does not exist (shard_count " + std::to_string(shard_count) + ")");
  };
  auto shard_list = [&](auto* out) {
    for (auto s : mgr.shards()) out->Add(s);
  };

  switch (req.op_case()) {
    case pb::Request::OP_NOT_SET:
      return send_error(id, pb::Error::BAD_REQUEST, "request has no op (or one this node does not know)");

    case pb::Request::kIdentity: {
      IdentityExtras x = srv_.ctx_.identity ? srv_.ctx_.identity() : IdentityExtras{};
      pb::Response r;
      r.set_id(id);
      auto* i = r.mutable_identity();
      i->set_peer_id(host.peer_id().to_string());
      if (!x.listen_addrs.empty()) {
        for (auto& a : x.listen_addrs) i->add_listen_addrs(a);
      } else {
        for (const auto& a : host.listen_addrs()) i->add_listen_addrs(a.to_string());
      }
      if (x.validator_key) i->set_validator_key(bytes_string(x.validator_key->bytes));
      i->set_shard_count(shard_count);
      shard_list(i->mutable_shards());
      i->set_version(x.version);
      i->set_tor_bootstrap(std::min<std::uint32_t>(x.tor_bootstrap, 100));
      i->set_onion_published(x.onion_published);
      i->set_onion_only(x.onion_only);
      return send(r);
    }

    case pb::Request::kPeers: {
      const auto now = srv_.ctx_.pubsub.now();
      IdentityExtras x = srv_.ctx_.identity ? srv_.ctx_.identity() : IdentityExtras{};
      std::vector<std::string> topics = {std::string(shard::kPreferenceTopic)};
      for (std::uint32_t s = 0; s < shard_count; ++s)
        if (router.subscribed(shard::collation_topic(s))) topics.push_back(shard::collation_topic(s));
      for (auto& t : x.topics) topics.push_back(t);
      std::map<std::string, std::set<PeerId>> meshes;
      for (const auto& t : topics) meshes[t] = router.mesh(t);
      pb::Response r;
      r.set_id(id);
      auto* out = r.mutable_peers();
      for (const auto& p : host.peers()) {
        auto* e = out->add_peers();
        e->set_peer_id(p.to_string());
        if (auto ci = host.connection_info(p)) {
          e->set_outbound(ci->outbound);
          if (ci->outbound) e->set_addr(ci->remote_address.to_string());
        }
        if (auto info = host.peer_info(p)) e->set_agent(info->agent_version.substr(0, 256));
        e->set_score(router.score(p, now));
        e->set_flagged(router.is_flagged(p));
        if (auto rec = mgr.table().get(p))
          for (std::uint32_t s = 0; s < rec->shards.size(); ++s)
            if (rec->shards[s]) e->add_shards(s);
        for (const auto& [t, mesh] : meshes)
          if (mesh.count(p)) e->add_mesh_topics(t);
      }
      return send(r);
    }

    case pb::Request::kTable: {
      const std::uint64_t now_s = shards.now_ms() / 1000;
      pb::Response r;
      r.set_id(id);
      auto* t = r.mutable_table();
      t->set_shard_count(shard_count);
      std::size_t size = 64;
      const auto& table = mgr.table();
      for (const auto& rec : table.snapshot(table.size())) {
        if (rec.expires_at <= now_s) continue;
        pb::TableEntry e;
        const PeerId p = rec.peer_id();
        e.set_peer_id(p.to_string());
        for (std::uint32_t s = 0; s < rec.shards.size(); ++s)
          if (rec.shards[s]) e.add_shards(s);
        e.set_seq(rec.seq);
        e.set_expires_at(rec.expires_at);
        e.set_connected(host.connected(p));
        size += e.ByteSizeLong() + 8;
        if (size > kControlMaxFrame - 1024) {
          t->set_truncated(true);
          break;
        }
        *t->add_entries() = std::move(e);
      }
      return send(r);
    }

    case pb::Request::kSubscribe:
    case pb::Request::kUnsubscribe: {
      const bool join = req.op_case() == pb::Request::kSubscribe;
      const std::uint32_t s = join ? req.subscribe().shard() : req.unsubscribe().shard();
      if (s >= shard_count) return bad_shard(s);
      Status st = join ? mgr.join(s, shards.now_ms()) : mgr.leave(s, shards.now_ms());
      if (!st) return send_error(id, pb::Error::UNAVAILABLE, st.error().what());
      pb::Response r;
      r.set_id(id);
      shard_list(r.mutable_shards()->mutable_shards());
      return send(r);
    }

    case pb::Request::kJump: {
      const auto& j = req.jump();
      if (j.from() >= shard_count) return bad_shard(j.from());
      if (j.to() >= shard_count) return bad_shard(j.to());
      if (j.wait() && in_flight_ >= srv_.limits_.max_in_flight)
        return send_error(id, pb::Error::RESOURCE_EXHAUSTED,
                          "too many requests in flight (" + std::to_string(srv_.limits_.max_in_flight) + ")");
      const std::uint64_t now = shards.now_ms();
      const std::size_t waiters_before = srv_.jump_waiters_.size();
      if (j.wait()) {
        ++in_flight_;
        srv_.jump_waiters_.push_back({weak_from_this(), id, j.to(), now});
        srv_.schedule_sweep();
      }
      // A jump can finish inside this call (nobody else listed, mesh already there):
      // the waiter is in place before, so the jump listener answers it.
      Status st = mgr.jump(j.from(), j.to(), now);
      if (!st) {
        if (j.wait()) {
          --in_flight_;
          srv_.jump_waiters_.resize(std::min(srv_.jump_waiters_.size(), waiters_before));
        }
        return send_error(id, pb::Error::UNAVAILABLE, st.error().what());
      }
      if (j.wait()) {
        // Not running (already on `to` with no jump pending): the sweep answers it
        // with the state as it is, within a second.
        if (!mgr.jump_in_progress(j.to())) srv_.sweep_jump_waiters();
        return;
      }
      pb::Response r;
      r.set_id(id);
      auto* jr = r.mutable_jump();
      jr->set_shard(j.to());
      if (!mgr.jump_in_progress(j.to()) && !mgr.jumps().empty() && mgr.jumps().back().shard == j.to() &&
          mgr.jumps().back().finished_ms >= now) {
        const auto& rec = mgr.jumps().back();
        jr->set_completed(rec.completed);
        jr->set_took_ms(rec.took_ms());
        jr->set_dialled(static_cast<std::uint32_t>(rec.dialled));
      }
      shard_list(jr->mutable_shards());
      return send(r);
    }

    case pb::Request::kPublishCollation: {
      const auto& p = req.publish_collation();
      if (p.shard() >= shard_count) return bad_shard(p.shard());
      auto h = shards.publish_collation(p.shard(), Bytes(p.body().begin(), p.body().end()));
      if (!h) return send_error(id, code_for_shard_error(h.error()), h.error().what());
      pb::Response r;
      r.set_id(id);
      r.mutable_published()->set_hash(bytes_string(*h));
      r.mutable_published()->set_period(shards.current_period());
      return send(r);
    }

    case pb::Request::kStreamCollations: {
      const auto& sc = req.stream_collations();
      Stream st;
      st.include_body = sc.include_body();
      for (auto s : sc.shards()) {
        if (s >= shard_count) return bad_shard(s);
        st.shards.insert(s);
      }
      if (streams_.count(id))
        return send_error(id, pb::Error::BAD_REQUEST, "stream id " + std::to_string(id) + " is already in use");
      if (streams_.size() >= srv_.limits_.max_streams)
        return send_error(id, pb::Error::RESOURCE_EXHAUSTED,
                          "too many streams on this connection (" + std::to_string(srv_.limits_.max_streams) + ")");
      streams_.emplace(id, std::move(st));
      pb::Response r;
      r.set_id(id);
      r.mutable_subscribed();
      return send(r);
    }

    case pb::Request::kRequestCollations: {
      const auto& rc = req.request_collations();
      if (!rc.hash().empty() && rc.hash().size() != 32)
        return send_error(id, pb::Error::BAD_REQUEST,
                          "hash must be 32 bytes, got " + std::to_string(rc.hash().size()));
      if (rc.hash().empty() || rc.peer_id().empty())
        if (rc.shard() >= shard_count) return bad_shard(rc.shard());
      shard::CollationRequest creq;
      const auto& limits = shards.config().collation_protocol;
      if (!rc.hash().empty()) {
        shard::CollationHashRequest hr;
        std::memcpy(hr.hash.data(), rc.hash().data(), 32);
        creq = hr;
      } else {
        if (rc.from_period() > rc.to_period())
          return send_error(id, pb::Error::BAD_REQUEST, "from_period is after to_period");
        if (rc.to_period() >= (std::uint64_t{1} << 63))
          return send_error(id, pb::Error::BAD_REQUEST, "to_period out of range (must be below 2^63)");
        if (rc.to_period() - rc.from_period() > limits.max_period_span)
          return send_error(id, pb::Error::BAD_REQUEST,
                            "period span over the cap of " + std::to_string(limits.max_period_span));
        creq = shard::CollationRangeRequest{rc.shard(), rc.from_period(), rc.to_period(),
                                            static_cast<std::uint32_t>(limits.max_count)};
      }
      std::optional<PeerId> peer;
      if (!rc.peer_id().empty()) {
        auto p = PeerId::parse(rc.peer_id());
        if (!p) return send_error(id, pb::Error::BAD_REQUEST, "bad peer id: " + p.error().what());
        if (!host.connected(*p)) return send_error(id, pb::Error::NOT_FOUND, "not connected to " + rc.peer_id());
        peer = *p;
      } else {
        for (const auto& p : mgr.table().peers_on(rc.shard()))
          if (p != host.peer_id() && host.connected(p)) {
            peer = p;
            break;
          }
        if (!peer)
          return send_error(id, pb::Error::NOT_FOUND,
                            "no connected peer is on shard " + std::to_string(rc.shard()));
      }
      if (in_flight_ >= srv_.limits_.max_in_flight)
        return send_error(id, pb::Error::RESOURCE_EXHAUSTED,
                          "too many requests in flight (" + std::to_string(srv_.limits_.max_in_flight) + ")");
      ++in_flight_;
      shards.request_collations(*peer, creq, [w = weak_from_this(), id, peer = *peer](Result<std::size_t> r) {
        auto self = w.lock();
        if (!self || self->closed_) return;
        if (!r) return self->finish(error_response(id, pb::Error::FAILED, "request to " + peer.to_string() + ": " +
                                                                              r.error().what()));
        pb::Response resp;
        resp.set_id(id);
        resp.mutable_fetched()->set_peer_id(peer.to_string());
        resp.mutable_fetched()->set_new_collations(*r);
        self->finish(resp);
      });
      return;
    }

    case pb::Request::kScores: {
      const auto now = srv_.ctx_.pubsub.now();
      auto* scoring = router.scoring();
      pb::Response r;
      r.set_id(id);
      auto* out = r.mutable_scores();
      std::size_t n = 0;
      for (const auto& p : host.peers()) {
        if (++n > 4096) break;
        auto* e = out->add_peers();
        e->set_peer_id(p.to_string());
        e->set_score(router.score(p, now));
        e->set_flagged(router.is_flagged(p));
        if (scoring) {
          auto b = scoring->breakdown(p, now);
          e->set_p4_invalid(b.p4);
          e->set_p7_behaviour(b.p7);
        }
      }
      n = 0;
      for (const auto& f : router.flagged_peers()) {
        if (++n > 4096) break;
        auto* e = out->add_flagged();
        e->set_peer_id(f.peer.to_string());
        e->set_score(f.score);
        e->set_since_ms(ms_since(f.since, now));
        e->set_reason(largest_negative(f.breakdown));
      }
      return send(r);
    }

    case pb::Request::kCancel: {
      const std::uint64_t sid = req.cancel().stream_id();
      if (!streams_.erase(sid))
        return send_error(id, pb::Error::NOT_FOUND, "no stream with id " + std::to_string(sid));
      pb::Response r;
      r.set_id(id);
      r.mutable_cancelled()->set_stream_id(sid);
      return send(r);
    }
  }
  send_error(id, pb::Error::BAD_REQUEST, "unknown op");
}

// ---------------------------------------------------------------------------------
// The server.

ControlServer::ControlServer(asio::io_context& io, ControlContext ctx, ControlLimits limits)
    : io_(io), ctx_(std::move(ctx)), limits_(limits), acceptor_(io), sweep_timer_(io), accept_retry_(io) {}

ControlServer::~ControlServer() {
  stop();
  *alive_ = false;
}

Status ControlServer::listen(const std::filesystem::path& path) {
  if (listening_ || stopped_) return Error{std::make_error_code(std::errc::operation_not_permitted),
                                           "control server already listening or stopped"};
  const std::string p = path.string();
  if (p.empty() || p.size() >= sizeof(sockaddr_un{}.sun_path))
    return Error{std::make_error_code(std::errc::filename_too_long),
                 "control socket path '" + p + "' is empty or longer than " +
                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes"};

  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Error{std::make_error_code(std::errc::file_exists),
                   "control socket path '" + p + "' exists and is not a socket: refusing to replace it"};
    // A socket file: live if someone accepts on it, stale if nobody does.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return sys_error("socket", errno);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, p.c_str(), p.size());
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
    const int err = errno;
    ::close(fd);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
      return Error{std::make_error_code(std::errc::address_in_use),
                   "control socket '" + p + "' is in use by a running process (another node on this datadir?)"};
    if (err != ECONNREFUSED && err != ENOENT) return sys_error("probing the control socket '" + p + "'", err);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      return sys_error("removing the stale control socket '" + p + "'", errno);
    log()->info("removed a stale control socket at {}", p);
  } else if (errno != ENOENT) {
    return sys_error("control socket path '" + p + "'", errno);
  }

  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (ec) return Error{ec, "control socket: " + ec.message()};
  // The file takes the socket inode's mode masked by the umask: 0600 from the start.
  // chmod again before listen(): until then nobody can connect anyway.
  if (::fchmod(acceptor_.native_handle(), S_IRUSR | S_IWUSR) != 0) {
    const int err = errno;
    acceptor_.close(ec);
    return sys_error("fchmod on the control socket", err);
  }
  acceptor_.bind(stream_protocol::endpoint(p), ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Error{ec, "binding the control socket '" + p + "': " + ec.message()};
  }
  auto undo = [&](Error e) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(p.c_str());
    return e;
  };
  if (::chmod(p.c_str(), S_IRUSR | S_IWUSR) != 0) return undo(sys_error("chmod 0600 '" + p + "'", errno));
  if (::lstat(p.c_str(), &st) != 0) return undo(sys_error("stat '" + p + "'", errno));
  if ((st.st_mode & 0777) != 0600)
    return undo(Error{std::make_error_code(std::errc::permission_denied), "control socket '" + p + "' is not 0600"});
  socket_inode_ = std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino);
  acceptor_.listen(static_cast<int>(limits_.max_clients), ec);
  if (ec) return undo(Error{ec, "listen on the control socket '" + p + "': " + ec.message()});
  path_ = path;
  listening_ = true;

  collation_listener_ = ctx_.shards.add_collation_listener(
      [this](const shard::Collation& c, const shard::Hash32& id) { on_collation(c, id); });
  jump_listener_ = ctx_.shards.add_jump_listener([this](const shard::JumpRecord& j) { on_jump(j); });
  log()->info("control API on {}", p);
  accept();
  return {};
}

void ControlServer::accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (!*alive || stopped_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      log()->warn("control socket accept: {}", ec.message());
      // Out of descriptors and the like: try again shortly, not in a tight loop.
      accept_retry_.expires_after(std::chrono::milliseconds(200));
      accept_retry_.async_wait([this, alive](const boost::system::error_code& e) {
        if (!e && *alive && !stopped_) accept();
      });
      return;
    }
    // Only our own user (or root), whatever the file's mode turns out to be.
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid != ::geteuid() &&
        cred.uid != 0) {
      ++counters_.clients_refused;
      boost::system::error_code ignored;
      s.close(ignored);
      return accept();
    }
    if (clients_.size() >= limits_.max_clients) {
      ++counters_.clients_refused;
      // One error frame, then the connection closes. A fresh socket's send buffer
      // takes these few dozen bytes without blocking.
      auto e = error_response(0, pb::Error::RESOURCE_EXHAUSTED,
                              "too many control clients (" + std::to_string(limits_.max_clients) + ")");
      std::string body;
      (void)e.SerializeToString(&body);
      Bytes frame;
      append_uvarint(frame, body.size());
      frame.insert(frame.end(), body.begin(), body.end());
      boost::system::error_code ignored;
      s.non_blocking(true, ignored);
      s.write_some(asio::buffer(frame), ignored);
      s.shutdown(stream_protocol::socket::shutdown_both, ignored);
      s.close(ignored);
      return accept();
    }
    auto c = std::make_shared<Client>(*this, std::move(s), next_client_++);
    ++counters_.clients_accepted;
    clients_.emplace(c.get(), c);
    c->start();
    accept();
  });
}

void ControlServer::forget(Client* c) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return c->close();
  auto keep = it->second;  // the client outlives this call
  clients_.erase(it);
  keep->close();
}

void ControlServer::on_collation(const shard::Collation& c, const shard::Hash32& id) {
  if (stopped_ || clients_.empty()) return;
  const std::set<std::uint32_t> on = ctx_.shards.manager().shards();
  std::vector<std::shared_ptr<Client>> all;
  for (auto& [p, cl] : clients_) all.push_back(cl);
  for (auto& cl : all) cl->deliver(c, id, on);
}

namespace {

// A JumpResult for request `id`: the finished jump's record if there is one, else
// `completed_without_record`; always the shards we are on now.
pb::Response jump_response(std::uint64_t id, std::uint32_t shard, const shard::JumpRecord* rec,
                           bool completed_without_record, const std::set<std::uint32_t>& on) {
  pb::Response r;
  r.set_id(id);
  auto* jr = r.mutable_jump();
  jr->set_shard(shard);
  if (rec) {
    jr->set_completed(rec->completed);
    jr->set_took_ms(rec->took_ms());
    jr->set_dialled(static_cast<std::uint32_t>(rec->dialled));
  } else {
    jr->set_completed(completed_without_record);
  }
  for (auto s : on) jr->add_shards(s);
  return r;
}

}  // namespace

// Answers the waiters of `j`'s shard, and sweeps the rest when nobody else will.
template <class Pick>
void ControlServer::answer_jump_waiters(Pick pick) {
  std::vector<JumpWaiter> done;
  std::erase_if(jump_waiters_, [&](const JumpWaiter& w) {
    if (w.client.expired()) return true;
    if (!pick(w)) return false;
    done.push_back(w);
    return true;
  });
  auto& mgr = ctx_.shards.manager();
  for (auto& w : done) {
    auto c = w.client.lock();
    if (!c || c->closed()) continue;
    // The latest finished jump to that shard since the request, if any.
    const shard::JumpRecord* rec = nullptr;
    const auto& jumps = mgr.jumps();
    for (auto it = jumps.rbegin(); it != jumps.rend(); ++it) {
      if (it->shard != w.shard) continue;
      if (it->finished_ms >= w.since_ms) rec = &*it;
      break;
    }
    // No jump ran since the request: already on the shard (nothing to wait for), or
    // it was left before the jump finished (not completed).
    c->finish(jump_response(w.request_id, w.shard, rec, mgr.shards().count(w.shard) != 0, mgr.shards()));
  }
}

void ControlServer::on_jump(const shard::JumpRecord& j) {
  if (stopped_) return;
  answer_jump_waiters([&](const JumpWaiter& w) { return w.shard == j.shard; });
}

// Waiters whose jump is no longer running without the listener having answered them
// (already on the shard, or left it meanwhile): answered from the manager's jump
// records, or as not completed.
void ControlServer::sweep_jump_waiters() {
  if (stopped_) return;
  auto& mgr = ctx_.shards.manager();
  answer_jump_waiters([&](const JumpWaiter& w) { return !mgr.jump_in_progress(w.shard); });
  schedule_sweep();
}

void ControlServer::schedule_sweep() {
  if (stopped_ || jump_waiters_.empty()) return;
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive) return;
    sweep_armed_ = false;
    if (ec || stopped_) return;
    sweep_jump_waiters();
  });
}

void ControlServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  sweep_timer_.cancel();
  accept_retry_.cancel();
  if (listening_) {
    acceptor_.close(ec);
    ctx_.shards.remove_collation_listener(collation_listener_);
    ctx_.shards.remove_jump_listener(jump_listener_);
  }
  auto clients = std::move(clients_);
  clients_.clear();
  for (auto& [p, c] : clients) c->close();
  jump_waiters_.clear();
  // Unlink only the file we bound (not one another process put there since).
  struct stat st {};
  if (socket_inode_ && ::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino) == *socket_inode_)
    ::unlink(path_.c_str());
  socket_inode_.reset();
  listening_ = false;
}

}  // namespace shardnode::node
