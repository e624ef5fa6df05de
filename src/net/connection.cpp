#include "shardnode/net/connection.h"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <atomic>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace asio = boost::asio;

namespace {
std::atomic<std::uint64_t> g_next_connection_id{1};
constexpr std::size_t kCoalesceLimit = 256 * 1024;
}  // namespace

// ---------------------------------------------------------------- Stream

Stream::Stream(std::weak_ptr<Connection> conn, std::uint32_t id, bool inbound, PeerId remote)
    : conn_(std::move(conn)), id_(id), inbound_(inbound), remote_(std::move(remote)) {}

void Stream::on_data(DataHandler h) {
  on_data_ = std::move(h);
  if (auto c = conn_.lock()) c->deliver(shared_from_this());
}

void Stream::on_close(CloseHandler h) {
  on_close_ = std::move(h);
  if (closed_ && !close_reported_ && on_close_) {
    close_reported_ = true;
    auto cb = on_close_;
    cb(close_reason_);
  }
}

Status Stream::write(ByteView data) {
  auto c = conn_.lock();
  if (!c || closed_) return Error{HostErrc::closed, "stream is closed"};
  return c->stream_write(*this, data);
}

std::size_t Stream::write_capacity() const {
  auto c = conn_.lock();
  return c && !closed_ ? c->stream_capacity(*this) : 0;
}

void Stream::close_write() {
  if (auto c = conn_.lock()) c->stream_close_write(*this);
}

void Stream::reset() {
  if (auto c = conn_.lock()) c->stream_reset(*this);
}

void Stream::resume() {
  paused_ = false;
  if (auto c = conn_.lock()) c->deliver(shared_from_this());
}

// Handlers often capture their own stream; dropping them once the stream is over
// breaks those reference cycles.
void Stream::drop_handlers() {
  on_data_ = nullptr;
  on_close_ = nullptr;
  on_writable_ = nullptr;
  on_negotiated_ = nullptr;
}

// ---------------------------------------------------------------- Connection

Connection::Connection(asio::io_context& io, std::unique_ptr<ByteStream> stream, Direction dir, const NodeKey& key,
                       std::optional<PeerId> expected, ConnectionConfig cfg, Callbacks cb)
    : io_(io),
      stream_(std::move(stream)),
      dir_(dir),
      key_(key),
      expected_(std::move(expected)),
      cfg_(cfg),
      cb_(std::move(cb)),
      id_(g_next_connection_id++),
      remote_addr_(stream_->remote_address()),
      clock_(cfg_.clock ? cfg_.clock : &steady_),
      timer_(io) {}

Connection::~Connection() = default;

void Connection::start() {
  read_buf_.resize(cfg_.read_chunk);
  if (dir_ == Direction::outbound) {
    mss_.emplace(MultistreamSelect::dialer({kNoiseProtocolId}));
    send_raw(mss_->take_bytes_to_send());
  } else {
    mss_.emplace(MultistreamSelect::listener({kNoiseProtocolId}));
  }
  timer_.expires_after(cfg_.upgrade_timeout);
  timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    auto self = w.lock();
    if (ec || !self || self->ready() || self->closed()) return;
    self->abort(Error{HostErrc::dial_timeout, "connection upgrade (mss, noise, yamux) timed out"});
  });
  read_loop();
}

void Connection::read_loop() {
  if (stage_ == Stage::closed) return;
  stream_->async_read_some(read_buf_, [self = shared_from_this()](std::error_code ec, std::size_t n) {
    if (self->stage_ == Stage::closed) return;
    if (ec) {
      if (self->closing_) {
        self->finalize(Error{HostErrc::closed, "connection closed"});
      } else {
        self->abort(Error{HostErrc::closed, "connection closed by peer (" + ec.message() + ")"});
      }
      return;
    }
    self->on_bytes(ByteView(self->read_buf_).first(n));
    self->read_loop();
  });
}

void Connection::on_bytes(ByteView b) {
  switch (stage_) {
    case Stage::security_mss: {
      if (Status s = mss_->received_bytes(b); !s) return abort(s.error());
      send_raw(mss_->take_bytes_to_send());
      if (!mss_->done()) return;
      Bytes leftover = mss_->take_leftover();
      mss_.reset();
      NoiseHandshakeOptions opts;
      opts.expected_remote = expected_;
      handshake_ = std::make_unique<NoiseHandshake>(
          dir_ == Direction::outbound ? NoiseHandshake::Role::initiator : NoiseHandshake::Role::responder, key_,
          std::move(opts));
      handshake_->start();
      send_raw(handshake_->take_bytes_to_send());
      stage_ = Stage::noise;
      if (!leftover.empty()) on_bytes(leftover);
      return;
    }
    case Stage::noise: {
      if (Status s = handshake_->received_bytes(b); !s) return abort(s.error());
      send_raw(handshake_->take_bytes_to_send());
      if (!handshake_->done()) return;
      auto fin = handshake_->finish();
      handshake_.reset();
      if (!fin) return abort(fin.error());
      session_.emplace(std::move(fin->session));
      remote_ = session_->remote_peer();
      stage_ = Stage::muxer_mss;
      if (dir_ == Direction::outbound) {
        mss_.emplace(MultistreamSelect::dialer({kYamuxProtocolId}));
        send_plain(mss_->take_bytes_to_send());
      } else {
        mss_.emplace(MultistreamSelect::listener({kYamuxProtocolId}));
      }
      if (!fin->leftover.empty()) on_bytes(fin->leftover);
      return;
    }
    case Stage::muxer_mss:
    case Stage::open: {
      if (Status s = session_->received_bytes(b); !s) return abort(s.error());
      on_plaintext(session_->take_plaintext());
      return;
    }
    case Stage::closed: return;
  }
}

void Connection::on_plaintext(Bytes p) {
  if (p.empty() || stage_ == Stage::closed) return;
  if (stage_ == Stage::muxer_mss) {
    if (Status s = mss_->received_bytes(p); !s) return abort(s.error());
    send_plain(mss_->take_bytes_to_send());
    if (!mss_->done()) return;
    p = mss_->take_leftover();
    mss_.reset();
    yamux_.emplace(dir_ == Direction::outbound, cfg_.yamux);
    tick_yamux();  // the first tick sends the PING that measures the round trip
    flush_yamux();
    become_ready();
    if (stage_ != Stage::open || p.empty()) return;
  }
  tick_yamux();
  Status s = yamux_->received_bytes(p);
  flush_yamux();  // a GO_AWAY on error, window updates, pongs...
  if (!s) return abort(s.error());
  handle_yamux_events();
}

void Connection::become_ready() {
  stage_ = Stage::open;
  timer_.cancel();
  logging::get("net")->debug("connection {} to {} ready ({})", id_, remote_.to_string(),
                             dir_ == Direction::outbound ? "outbound" : "inbound");
  if (cb_.on_ready) cb_.on_ready(shared_from_this());
}

void Connection::handle_yamux_events() {
  while (stage_ != Stage::closed && yamux_) {
    auto ev = yamux_->next_event();
    if (!ev) break;
    using K = YamuxSession::Event::Kind;
    auto it = streams_.find(ev->id);
    logging::get("net")->trace("connection {}: yamux event {} on stream {} ({})", id_, static_cast<int>(ev->kind), ev->id,
                               ev->value);
    switch (ev->kind) {
      case K::stream_opened: {
        if (closing_) {
          yamux_->reset(ev->id);
          break;
        }
        auto s = std::make_shared<Stream>(weak_from_this(), ev->id, true, remote_);
        std::vector<std::string> protos = cb_.supported_protocols ? cb_.supported_protocols() : std::vector<std::string>{};
        s->mss_.emplace(MultistreamSelect::listener(std::move(protos)));
        streams_[ev->id] = s;
        break;
      }
      case K::data:
        if (it != streams_.end()) on_stream_data(it->second);
        break;
      case K::writable:
        if (it != streams_.end() && it->second->on_writable_) {
          auto cb = it->second->on_writable_;
          cb();
        }
        break;
      case K::remote_closed:
        if (it != streams_.end()) {
          auto s = it->second;
          s->remote_fin_ = true;
          if (s->mss_) {
            finish_stream(s, make_error_code(MssErrc::malformed));
          } else {
            deliver(s);
          }
        }
        break;
      case K::reset:
        if (it != streams_.end()) finish_stream(it->second, make_error_code(HostErrc::closed));
        break;
      case K::pong: break;
      case K::go_away:
        logging::get("net")->debug("connection {}: peer sent GO_AWAY ({})", id_, ev->value);
        going_away();
        if (streams_.empty()) close();
        break;
    }
  }
  forget_dead_streams();
  flush_yamux();
}

void Connection::on_stream_data(std::shared_ptr<Stream> s) {
  if (!s->mss_) return deliver(s);
  Bytes data = yamux_->read(s->id_);
  if (Status st = s->mss_->received_bytes(data); !st) {
    // Reset the stream, then tell whoever opened it why.
    auto cb = std::move(s->on_negotiated_);
    stream_reset(*s);
    if (cb) cb(st.error());
    return;
  }
  Bytes out = s->mss_->take_bytes_to_send();
  if (!out.empty()) (void)yamux_->write(s->id_, out);
  if (!s->mss_->done()) return;
  s->protocol_ = s->mss_->selected();
  s->early_ = s->mss_->take_leftover();
  s->mss_.reset();
  if (s->inbound_) {
    if (cb_.on_inbound_stream) cb_.on_inbound_stream(s);
  } else if (auto cb = std::move(s->on_negotiated_)) {
    cb(s);
  }
  deliver(s);
}

void Connection::deliver(std::shared_ptr<Stream> s) {
  if (stage_ != Stage::open || s->mss_ || s->closed_) return;
  tick_yamux();  // reads are timed: window auto-tuning
  while (s->on_data_ && !s->paused_) {
    Bytes chunk;
    if (!s->early_.empty()) {
      chunk = std::exchange(s->early_, {});
    } else if (yamux_->readable(s->id_) > 0) {
      chunk = yamux_->read(s->id_, 64 * 1024);
    } else {
      break;
    }
    auto cb = s->on_data_;
    cb(chunk);
    if (stage_ == Stage::closed || s->closed_) return;
  }
  if (s->remote_fin_ && s->early_.empty() && yamux_->readable(s->id_) == 0 && s->on_data_) {
    finish_stream(s, {});
    forget_dead_streams();
    return;
  }
  flush_yamux();
}

void Connection::finish_stream(std::shared_ptr<Stream> s, std::error_code why, std::optional<Error> detail) {
  if (s->closed_) return;
  s->closed_ = true;
  s->close_reason_ = why;
  if (s->on_negotiated_) {  // only set while negotiating
    auto cb = std::move(s->on_negotiated_);
    cb(detail ? *detail
              : Error{why ? why : make_error_code(HostErrc::closed), "stream closed during protocol negotiation"});
  }
  if (s->on_close_ && !s->close_reported_) {
    s->close_reported_ = true;
    auto cb = s->on_close_;
    cb(why);
  }
  s->drop_handlers();
}

void Connection::forget_dead_streams() {
  if (stage_ != Stage::open) return;
  // yamux forgets a stream once both sides finished and its data was read: report
  // a clean end for those (callbacks may touch streams_, so collect first).
  std::vector<std::shared_ptr<Stream>> ended;
  for (auto& [id, s] : streams_)
    if (!s->closed_ && !yamux_->stream_exists(id) && s->early_.empty()) ended.push_back(s);
  for (auto& s : ended) finish_stream(s, {});
  if (stage_ != Stage::open) return;
  std::erase_if(streams_, [this](const auto& kv) { return kv.second->closed_ && !yamux_->stream_exists(kv.first); });
}

void Connection::open_stream(std::vector<std::string> protocols,
                             std::function<void(Result<std::shared_ptr<Stream>>)> cb) {
  if (stage_ != Stage::open || closing_) {
    asio::post(io_, [cb = std::move(cb)] { cb(Error{HostErrc::closed, "connection is not open"}); });
    return;
  }
  auto id = yamux_->open_stream();
  if (!id) {
    asio::post(io_, [cb = std::move(cb), e = id.error()] { cb(e); });
    return;
  }
  auto s = std::make_shared<Stream>(weak_from_this(), *id, false, remote_);
  logging::get("net")->trace("connection {}: opening stream {} for {}", id_, *id, protocols.front());
  s->mss_.emplace(MultistreamSelect::dialer(std::move(protocols)));
  s->on_negotiated_ = std::move(cb);
  streams_[*id] = s;
  (void)yamux_->write(*id, s->mss_->take_bytes_to_send());
  flush_yamux();
}

Status Connection::stream_write(Stream& s, ByteView data) {
  if (stage_ != Stage::open) return Error{HostErrc::closed, "connection is closed"};
  Status st = yamux_->write(s.id_, data);
  flush_yamux();
  return st;
}

std::size_t Connection::stream_capacity(const Stream& s) const {
  if (stage_ != Stage::open) return 0;
  const std::size_t mux = yamux_->write_capacity(s.id_);
  const std::size_t room = socket_room();
  if (room < mux) socket_limited_ = true;  // its writer waits for notify_socket_writable
  return std::min(mux, room);
}

std::size_t Connection::socket_room() const {
  const std::size_t limit = cfg_.max_write_queue / 4;
  return write_queued_ < limit ? limit - write_queued_ : 0;
}

// Streams that were offered less than yamux allowed because the socket queue was
// full may write again once it drained to half of that level.
void Connection::notify_socket_writable() {
  if (!socket_limited_ || stage_ != Stage::open || write_queued_ > cfg_.max_write_queue / 8) return;
  socket_limited_ = false;
  std::vector<std::shared_ptr<Stream>> waiting;
  for (auto& [id, s] : streams_)
    if (!s->closed_ && s->on_writable_) waiting.push_back(s);
  for (auto& s : waiting) {
    if (stage_ != Stage::open) return;
    if (s->closed_ || !s->on_writable_) continue;
    auto cb = s->on_writable_;
    cb();
  }
}

void Connection::tick_yamux() {
  if (yamux_) yamux_->tick(clock_->now());
}

void Connection::stream_close_write(Stream& s) {
  if (stage_ != Stage::open) return;
  (void)yamux_->close_write(s.id_);
  flush_yamux();
  forget_dead_streams();
}

void Connection::stream_reset(Stream& s) {
  if (stage_ != Stage::open) return;
  yamux_->reset(s.id_);
  flush_yamux();
  auto it = streams_.find(s.id_);
  if (it != streams_.end()) {
    auto keep = it->second;
    keep->closed_ = true;
    keep->close_reason_ = make_error_code(HostErrc::closed);
    keep->drop_handlers();
    streams_.erase(it);
  }
}

void Connection::send_raw(Bytes b) {
  if (b.empty() || stage_ == Stage::closed) return;
  write_queued_ += b.size();
  write_queue_.push_back(std::move(b));
  if (write_queued_ > cfg_.max_write_queue) {
    abort(Error{YamuxErrc::buffer_full, "socket write queue over " + std::to_string(cfg_.max_write_queue) +
                                            " bytes: peer is not reading"});
    return;
  }
  pump();
}

void Connection::send_plain(ByteView b) {
  if (b.empty() || !session_) return;
  if (Status s = session_->write(b); !s) return abort(s.error());
  send_raw(session_->take_bytes_to_send());
}

void Connection::flush_yamux() {
  if (yamux_ && yamux_->has_bytes_to_send() && stage_ != Stage::closed) send_plain(yamux_->take_bytes_to_send());
}

void Connection::pump() {
  if (writing_ || write_queue_.empty() || stage_ == Stage::closed) return;
  writing_ = true;
  writing_buf_ = std::move(write_queue_.front());
  write_queue_.pop_front();
  while (!write_queue_.empty() && writing_buf_.size() + write_queue_.front().size() <= kCoalesceLimit) {
    auto& f = write_queue_.front();
    writing_buf_.insert(writing_buf_.end(), f.begin(), f.end());
    write_queue_.pop_front();
  }
  write_queued_ -= writing_buf_.size();
  stream_->async_write(writing_buf_, [self = shared_from_this()](std::error_code ec) {
    self->writing_ = false;
    if (self->stage_ == Stage::closed) return;
    if (ec) return self->abort(Error{ec, "write failed: " + ec.message()});
    if (self->closing_ && self->write_queue_.empty()) {
      self->finalize(Error{HostErrc::closed, "connection closed"});
      return;
    }
    self->pump();
    self->notify_socket_writable();
  });
}

void Connection::going_away() {
  if (going_away_ || stage_ != Stage::open) return;
  going_away_ = true;
  if (cb_.on_going_away) cb_.on_going_away(shared_from_this());
}

void Connection::close() {
  if (closing_ || stage_ == Stage::closed) return;
  closing_ = true;
  going_away();
  if (yamux_) {
    yamux_->go_away(YamuxSession::GoAwayCode::normal);
    flush_yamux();
  }
  if (!writing_ && write_queue_.empty()) {
    finalize(Error{HostErrc::closed, "connection closed"});
    return;
  }
  timer_.expires_after(cfg_.close_linger);
  timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec) self->finalize(Error{HostErrc::closed, "connection closed (linger expired)"});
  });
}

void Connection::abort(Error why) {
  if (stage_ == Stage::closed) return;
  logging::get("net")->debug("connection {} ({}) aborted: {}", id_, remote_addr_.to_string(), why.what());
  finalize(why);
}

void Connection::finalize(const Error& why) {
  if (stage_ == Stage::closed) return;
  stage_ = Stage::closed;
  timer_.cancel();
  stream_->close();
  auto self = shared_from_this();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) finish_stream(s, why.code, why);
  if (cb_.on_closed) {
    auto cb = std::move(cb_.on_closed);
    cb(self, why);
  }
  cb_ = {};
}

}  // namespace shardnode::net
