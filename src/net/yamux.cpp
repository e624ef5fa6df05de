#include "shardnode/net/yamux.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace {

constexpr std::uint8_t kVersion = 0;
constexpr std::uint8_t kTypeData = 0;
constexpr std::uint8_t kTypeWindowUpdate = 1;
constexpr std::uint8_t kTypePing = 2;
constexpr std::uint8_t kTypeGoAway = 3;
constexpr std::uint16_t kSyn = 1;
constexpr std::uint16_t kAck = 2;
constexpr std::uint16_t kFin = 4;
constexpr std::uint16_t kRst = 8;
constexpr std::size_t kHeaderSize = 12;
constexpr std::uint32_t kSpecWindow = 256 * 1024;  // both sides assume it at stream start
// Largest data frame we send: js-libp2p-yamux's maxMessageSize (64 KiB including the header).
constexpr std::size_t kMaxSendChunk = std::size_t{64} * 1024 - kHeaderSize;
// Auto-tuning: a window doubles when half of it was consumed within this many round
// trips of the previous update (rust-yamux's 2; go-yamux waits up to 4).
constexpr int kTuneRtts = 2;

struct Header {
  std::uint8_t version;
  std::uint8_t type;
  std::uint16_t flags;
  std::uint32_t id;
  std::uint32_t length;
};

std::uint32_t be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

Header parse_header(const std::uint8_t* p) {
  return Header{p[0], p[1], static_cast<std::uint16_t>((p[2] << 8) | p[3]), be32(p + 4), be32(p + 8)};
}

void put32(Bytes& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_header(Bytes& out, std::uint8_t type, std::uint16_t flags, std::uint32_t id, std::uint32_t length) {
  out.push_back(kVersion);
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(flags >> 8));
  out.push_back(static_cast<std::uint8_t>(flags));
  put32(out, id);
  put32(out, length);
}

}  // namespace

struct YamuxImpl {
  using S = YamuxSession;
  using Stream = YamuxSession::Stream;
  using Iter = std::map<std::uint32_t, Stream>::iterator;

  // Our receive window per stream: initial_window clamped to [256 KiB, max(256 KiB, max_window)].
  static std::uint32_t our_window(const S& s) {
    return std::clamp(s.cfg_.initial_window, kSpecWindow, std::max(kSpecWindow, s.cfg_.max_window));
  }

  // The largest window auto-tuning may grant one stream.
  static std::uint32_t window_ceiling(const S& s) { return std::max(kSpecWindow, s.cfg_.max_window); }

  static Stream new_stream(const S& s) {
    Stream st{};
    st.send_window = kSpecWindow;
    st.recv_window = kSpecWindow;
    st.recv_window_max = our_window(s);
    st.epoch = s.now_;
    return st;
  }

  static std::size_t unread(const Stream& st) { return st.recv_buf.size() - st.recv_pos; }

  // Every stream leaves the map here, so its window growth returns to the budget.
  static void forget(S& s, Iter it) {
    s.window_growth_ -= it->second.recv_window_max - our_window(s);
    s.streams_.erase(it);
  }

  // Doubles the window of a stream whose reader consumed half of it within kTuneRtts
  // round trips of our previous update, as far as max_window and the budget allow.
  static void maybe_grow(S& s, Stream& st) {
    if (!s.cfg_.auto_tune_window || !s.rtt_ || *s.rtt_ <= Duration::zero()) return;
    if (s.now_ - st.epoch >= kTuneRtts * std::max(*s.rtt_, s.cfg_.min_tune_rtt)) return;
    const std::size_t budget_left =
        s.cfg_.session_window_budget - std::min(s.cfg_.session_window_budget, s.window_growth_);
    const std::uint64_t target = std::min<std::uint64_t>(
        {std::uint64_t{st.recv_window_max} * 2, window_ceiling(s), std::uint64_t{st.recv_window_max} + budget_left});
    if (target <= st.recv_window_max) return;
    s.window_growth_ += static_cast<std::size_t>(target - st.recv_window_max);
    st.recv_window_max = static_cast<std::uint32_t>(target);
  }

  // Sends our RTT PING when one is due; an unanswered one is given up.
  static void maybe_probe(S& s) {
    if (!s.cfg_.auto_tune_window || window_ceiling(s) <= our_window(s)) return;
    if (s.probe_ && s.now_ < s.next_probe_) return;
    if (!s.probe_ && s.rtt_ && s.now_ < s.next_probe_) return;
    s.probe_ = S::Probe{++s.probe_seq_, s.now_};
    s.next_probe_ = s.now_ + s.cfg_.rtt_probe_interval;
    put_header(s.out_, kTypePing, kSyn, 0, s.probe_->opaque);
  }

  // Stream ids the remote opens: odd if the remote is the client (i.e. we are the server).
  static bool remote_parity(const S& s, std::uint32_t id) { return (id % 2 == 1) == !s.is_client_; }

  // An id that was in use at some point (so late frames for it are tolerated).
  static bool known_id(const S& s, std::uint32_t id) {
    if (remote_parity(s, id)) return id <= s.max_remote_id_;
    return s.next_id_ == 0 || id < s.next_id_;
  }

  static void push_event(S& s, S::Event::Kind kind, std::uint32_t id, std::uint32_t value = 0) {
    if (kind == S::Event::Kind::data && !s.events_.empty() && s.events_.back().kind == kind &&
        s.events_.back().id == id) {
      return;  // coalesce consecutive data events of one stream
    }
    s.events_.push_back(S::Event{kind, id, value});
  }

  // Grants the peer the credit it consumed, when forced by flags or when at least half
  // of the window was consumed (go-yamux's rule), growing the window first if the
  // reader kept up (maybe_grow). SYN/ACK frames always go out. The credit granted
  // (recv_window) never shrinks: a delta is never negative.
  static void update_window(S& s, std::uint32_t id, Stream& st, std::uint16_t flags) {
    auto credit_due = [&st] {
      const std::uint64_t used = std::uint64_t{st.recv_window} + unread(st);
      return st.recv_window_max > used ? static_cast<std::uint32_t>(st.recv_window_max - used) : 0;
    };
    std::uint32_t delta = credit_due();
    if (flags == 0) {
      if (st.remote_fin || delta == 0 || delta < st.recv_window_max / 2) return;
      maybe_grow(s, st);
      delta = credit_due();
    }
    st.epoch = s.now_;
    st.recv_window += delta;
    put_header(s.out_, kTypeWindowUpdate, flags, id, delta);
  }

  // Sends buffered data as far as the send window allows, then the FIN if requested.
  static void flush(S& s, std::uint32_t id, Stream& st) {
    std::size_t off = 0;
    while (off < st.send_buf.size() && st.send_window > 0) {
      const std::size_t n = std::min({st.send_buf.size() - off, std::size_t{st.send_window}, kMaxSendChunk});
      put_header(s.out_, kTypeData, 0, id, static_cast<std::uint32_t>(n));
      const auto first = st.send_buf.begin() + static_cast<std::ptrdiff_t>(off);
      s.out_.insert(s.out_.end(), first, first + static_cast<std::ptrdiff_t>(n));
      st.send_window -= static_cast<std::uint32_t>(n);
      off += n;
    }
    st.send_buf.erase(st.send_buf.begin(), st.send_buf.begin() + static_cast<std::ptrdiff_t>(off));
    st.blocked = !st.send_buf.empty();
    if (st.local_fin && !st.local_fin_sent && st.send_buf.empty()) {
      put_header(s.out_, kTypeWindowUpdate, kFin, id, 0);
      st.local_fin_sent = true;
    }
  }

  // Forgets a stream once both sides sent FIN and the application read everything.
  static void maybe_forget(S& s, Iter it) {
    const Stream& st = it->second;
    if (st.local_fin_sent && st.remote_fin && unread(st) == 0) forget(s, it);
  }

  static Status check_header(S& s, const Header& h) {
    if (h.version != kVersion) {
      return s.fail(YamuxErrc::malformed, "yamux: unsupported version " + std::to_string(h.version) + " (expected 0)");
    }
    if (h.type > kTypeGoAway) {
      return s.fail(YamuxErrc::malformed, "yamux: unknown frame type " + std::to_string(h.type));
    }
    if (h.type == kTypeData && h.length > s.cfg_.max_frame_data) {
      return s.fail(YamuxErrc::frame_too_large, "yamux: data frame of " + std::to_string(h.length) +
                                                    " bytes on stream " + std::to_string(h.id) + " exceeds the " +
                                                    std::to_string(s.cfg_.max_frame_data) + " byte limit");
    }
    return {};
  }

  static Status handle_session_frame(S& s, const Header& h) {
    const char* what = h.type == kTypePing ? "ping" : "go away";
    if (h.id != 0) {
      return s.fail(YamuxErrc::protocol_violation,
                    std::string("yamux: ") + what + " frame on stream " + std::to_string(h.id) + " (must be 0)");
    }
    if (h.type == kTypeGoAway) {
      if (!s.remote_go_away_) push_event(s, S::Event::Kind::go_away, 0, h.length);
      s.remote_go_away_ = true;
      return {};
    }
    if (h.flags & kSyn) {
      put_header(s.out_, kTypePing, kAck, 0, h.length);
    } else if (h.flags & kAck) {
      if (s.probe_ && h.length == s.probe_->opaque) {  // our RTT PING, answered (once)
        s.rtt_ = s.now_ - s.probe_->sent;
        s.probe_.reset();
        return {};
      }
      auto p = std::find(s.pending_pings_.begin(), s.pending_pings_.end(), h.length);
      if (p != s.pending_pings_.end()) {  // an unsolicited pong is ignored
        s.pending_pings_.erase(p);
        push_event(s, S::Event::Kind::pong, 0, h.length);
      }
    }
    return {};
  }

  static Status handle_stream_frame(S& s, const Header& h, ByteView body) {
    const std::string sid = std::to_string(h.id);
    if (h.id == 0) {
      return s.fail(YamuxErrc::protocol_violation,
                    std::string("yamux: ") + (h.type == kTypeData ? "data" : "window update") + " frame on stream 0");
    }
    auto it = s.streams_.find(h.id);
    if (h.flags & kSyn) {
      if (it != s.streams_.end()) {
        return s.fail(YamuxErrc::protocol_violation, "yamux: SYN for already open stream " + sid);
      }
      if (!remote_parity(s, h.id)) {
        return s.fail(YamuxErrc::protocol_violation,
                      "yamux: SYN for stream " + sid + " with the parity of our own ids");
      }
      if (h.type == kTypeData && h.length > kSpecWindow) {  // the opener can only assume the default window
        return s.fail(YamuxErrc::window_overflow, "yamux: SYN on stream " + sid + " carries " +
                                                      std::to_string(h.length) +
                                                      " bytes, more than the initial window");
      }
      s.max_remote_id_ = std::max(s.max_remote_id_, h.id);
      if (s.local_go_away_ || s.streams_.size() >= s.cfg_.max_streams) {
        put_header(s.out_, kTypeWindowUpdate, kRst, h.id, 0);  // refuse; later frames for it are ignored
        return {};
      }
      it = s.streams_.emplace(h.id, new_stream(s)).first;
      push_event(s, S::Event::Kind::stream_opened, h.id);
      update_window(s, h.id, it->second, kAck);
    } else if (it == s.streams_.end()) {
      if (known_id(s, h.id)) return {};  // late frame for a stream we reset or forgot
      return s.fail(YamuxErrc::protocol_violation, "yamux: frame without SYN for unknown stream " + sid);
    }
    Stream& st = it->second;
    if (h.flags & kAck) st.local_syn_sent = false;
    if (h.flags & kRst) {  // any data it carries is dropped with the stream
      forget(s, it);
      push_event(s, S::Event::Kind::reset, h.id);
      return {};
    }
    if (h.type == kTypeData) {
      if (h.length > st.recv_window) {
        return s.fail(YamuxErrc::window_overflow, "yamux: " + std::to_string(h.length) + " data bytes on stream " +
                                                      sid + " exceed the remaining window of " +
                                                      std::to_string(st.recv_window));
      }
      if (st.remote_fin && h.length > 0) {
        return s.fail(YamuxErrc::protocol_violation, "yamux: data on stream " + sid + " after its FIN");
      }
      if (!body.empty()) {
        st.recv_window -= h.length;
        st.recv_buf.insert(st.recv_buf.end(), body.begin(), body.end());
        push_event(s, S::Event::Kind::data, h.id);
      }
    } else if (h.length > 0) {
      const std::uint64_t w = std::uint64_t{st.send_window} + h.length;
      if (w > std::numeric_limits<std::uint32_t>::max()) {
        return s.fail(YamuxErrc::protocol_violation, "yamux: window update overflows the send window of stream " + sid);
      }
      st.send_window = static_cast<std::uint32_t>(w);
      const bool was_blocked = st.blocked;
      flush(s, h.id, st);
      if (was_blocked) push_event(s, S::Event::Kind::writable, h.id);
    }
    if ((h.flags & kFin) && !st.remote_fin) {
      st.remote_fin = true;
      push_event(s, S::Event::Kind::remote_closed, h.id);
    }
    maybe_forget(s, it);
    return {};
  }
};

YamuxSession::YamuxSession(bool is_client, YamuxConfig cfg)
    : is_client_(is_client), cfg_(cfg), next_id_(is_client ? 1 : 2) {}

Status YamuxSession::fail(std::error_code ec, std::string msg) {
  if (!failed_) {
    failed_ = true;
    error_ = Error{ec, std::move(msg)};
    put_header(out_, kTypeGoAway, 0, 0, static_cast<std::uint32_t>(GoAwayCode::protocol_error));
    in_.clear();
    in_.shrink_to_fit();
  }
  return error_;
}

Status YamuxSession::received_bytes(ByteView bytes) {
  if (failed_) return error_;
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  std::size_t pos = 0;
  while (in_.size() - pos >= kHeaderSize) {
    const Header h = parse_header(in_.data() + pos);
    if (auto st = YamuxImpl::check_header(*this, h); !st) return st;
    const std::size_t body = h.type == kTypeData ? h.length : 0;  // bounded by max_frame_data
    if (in_.size() - pos - kHeaderSize < body) break;             // wait for the whole frame
    const ByteView payload(in_.data() + pos + kHeaderSize, body);
    Status st = (h.type == kTypePing || h.type == kTypeGoAway) ? YamuxImpl::handle_session_frame(*this, h)
                                                               : YamuxImpl::handle_stream_frame(*this, h, payload);
    if (!st) return st;
    pos += kHeaderSize + body;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos));
  return {};
}

Result<std::uint32_t> YamuxSession::open_stream() {
  if (failed_) return error_;
  if (local_go_away_) return Error{YamuxErrc::go_away, "yamux: cannot open a stream after our GO_AWAY"};
  if (remote_go_away_) return Error{YamuxErrc::go_away, "yamux: cannot open a stream after the peer's GO_AWAY"};
  if (streams_.size() >= cfg_.max_streams) {
    return Error{YamuxErrc::too_many_streams,
                 "yamux: stream limit of " + std::to_string(cfg_.max_streams) + " open streams reached"};
  }
  if (next_id_ == 0) return Error{YamuxErrc::too_many_streams, "yamux: stream ids exhausted"};
  const std::uint32_t id = next_id_;
  next_id_ = id > std::numeric_limits<std::uint32_t>::max() - 2 ? 0 : id + 2;
  auto& st = streams_.emplace(id, YamuxImpl::new_stream(*this)).first->second;
  st.local_syn_sent = true;
  YamuxImpl::update_window(*this, id, st, kSyn);
  return id;
}

Status YamuxSession::write(std::uint32_t id, ByteView data) {
  if (failed_) return error_;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return Error{YamuxErrc::stream_closed, "yamux: write on unknown or reset stream " + std::to_string(id)};
  }
  Stream& st = it->second;
  if (st.local_fin)
    return Error{YamuxErrc::stream_closed, "yamux: write after close_write on stream " + std::to_string(id)};
  if (data.size() > write_capacity(id)) {
    return Error{YamuxErrc::buffer_full, "yamux: writing " + std::to_string(data.size()) + " bytes on stream " +
                                             std::to_string(id) + " exceeds its capacity of " +
                                             std::to_string(write_capacity(id))};
  }
  if (data.empty()) return {};
  st.send_buf.insert(st.send_buf.end(), data.begin(), data.end());
  YamuxImpl::flush(*this, id, st);
  return {};
}

std::size_t YamuxSession::write_capacity(std::uint32_t id) const {
  auto it = streams_.find(id);
  if (failed_ || it == streams_.end() || it->second.local_fin) return 0;
  const Stream& st = it->second;
  // send_buf is only non-empty while the send window is 0.
  const std::size_t buffer_room = cfg_.max_send_buffer - std::min(cfg_.max_send_buffer, st.send_buf.size());
  return buffer_room + st.send_window;
}

Bytes YamuxSession::read(std::uint32_t id, std::size_t max) {
  if (failed_) return {};
  auto it = streams_.find(id);
  if (it == streams_.end()) return {};
  Stream& st = it->second;
  // Reading advances recv_pos; the read part is dropped once it is at least half of
  // the buffer, so each byte is moved O(1) times however large the window grew.
  const std::size_t n = std::min(max, YamuxImpl::unread(st));
  const auto first = st.recv_buf.begin() + static_cast<std::ptrdiff_t>(st.recv_pos);
  Bytes out(first, first + static_cast<std::ptrdiff_t>(n));
  st.recv_pos += n;
  if (st.recv_pos == st.recv_buf.size()) {
    st.recv_buf.clear();
    st.recv_pos = 0;
  } else if (st.recv_pos >= st.recv_buf.size() / 2) {
    st.recv_buf.erase(st.recv_buf.begin(), st.recv_buf.begin() + static_cast<std::ptrdiff_t>(st.recv_pos));
    st.recv_pos = 0;
  }
  YamuxImpl::update_window(*this, id, st, 0);
  YamuxImpl::maybe_forget(*this, it);
  return out;
}

std::size_t YamuxSession::readable(std::uint32_t id) const {
  auto it = streams_.find(id);
  return failed_ || it == streams_.end() ? 0 : YamuxImpl::unread(it->second);
}

Status YamuxSession::close_write(std::uint32_t id) {
  if (failed_) return error_;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return Error{YamuxErrc::stream_closed, "yamux: close_write on unknown or reset stream " + std::to_string(id)};
  }
  if (it->second.local_fin) return {};
  it->second.local_fin = true;
  YamuxImpl::flush(*this, id, it->second);
  YamuxImpl::maybe_forget(*this, it);
  return {};
}

void YamuxSession::reset(std::uint32_t id) {
  if (failed_) return;
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  put_header(out_, kTypeWindowUpdate, kRst, id, 0);
  YamuxImpl::forget(*this, it);
}

void YamuxSession::tick(TimePoint now) {
  if (failed_) return;
  if (!ticked_ || now > now_) now_ = now;
  ticked_ = true;
  YamuxImpl::maybe_probe(*this);
}

void YamuxSession::ping(std::uint32_t opaque) {
  if (failed_ || pending_pings_.size() >= cfg_.max_pending_pings) return;
  pending_pings_.push_back(opaque);
  put_header(out_, kTypePing, kSyn, 0, opaque);
}

void YamuxSession::go_away(GoAwayCode code) {
  if (failed_ || local_go_away_) return;
  local_go_away_ = true;
  put_header(out_, kTypeGoAway, 0, 0, static_cast<std::uint32_t>(code));
}

Bytes YamuxSession::take_bytes_to_send() {
  Bytes out;
  out.swap(out_);
  return out;
}

std::optional<YamuxSession::Event> YamuxSession::next_event() {
  if (events_.empty()) return std::nullopt;
  Event e = events_.front();
  events_.pop_front();
  return e;
}

std::uint32_t YamuxSession::send_window(std::uint32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.send_window;
}

std::uint32_t YamuxSession::recv_window(std::uint32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.recv_window;
}

std::uint32_t YamuxSession::window_size(std::uint32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.recv_window_max;
}

}  // namespace shardnode::net
