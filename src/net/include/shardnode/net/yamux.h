// yamux (hashicorp/yamux spec.md), sans-IO: one session multiplexes many streams
// over one secure channel. Bytes in via received_bytes(), bytes out via
// take_bytes_to_send(), happenings via next_event(). No sockets, no clocks.
//
// Header (12 bytes, big endian): version(1)=0 | type(1) | flags(2) | stream id(4) | length(4)
//   types: 0 data, 1 window update, 2 ping, 3 go away
//   flags: SYN 1, ACK 2, FIN 4, RST 8
// The client (dialer) opens odd stream ids, the server even ones; stream 0 is the
// session (ping, go away). Each stream starts with a 256 KiB receive window; the
// receiver grants more with window updates as the application consumes data, so a
// slow reader back-pressures the sender.
//
// Window auto-tuning (go-yamux's rule, rust-yamux's session budget): the core reads
// no clock; the caller passes time in with tick(now). On the first tick, and every
// rtt_probe_interval after, the session sends a PING of its own and takes the time to
// its answer as the round trip. When a stream's reader has consumed half of the
// window within 2 round trips of our previous window update for it, the next update
// doubles the window (up to max_window, and only while the session's growth budget
// lasts). Windows only grow; a peer that never tunes sees larger window updates and
// nothing else. Without ticks, or without an answer to our PING, windows stay fixed.
// A peer that delays its answers makes our windows grow sooner; max_window and the
// budget bound what that costs. A round trip below min_tune_rtt counts as
// min_tune_rtt: between two busy endpoints on one machine or a LAN, what paces a
// window update is thread wake-ups and socket queues (a half window took 0.3-1.5 ms
// to drain on loopback while the PING measured 56-795 us; a scheduler's time slice
// is a few ms), not the wire. Over Tor (round trips of 100s of ms) it never applies.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "shardnode/core/bytes.h"
#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

inline constexpr const char* kYamuxProtocolId = "/yamux/1.0.0";

struct YamuxConfig {
  // Our per-stream receive window. Both sides assume the 256 KiB spec default at
  // stream start; a larger value is announced as the delta of the SYN/ACK window
  // update, a smaller one is treated as 256 KiB (the peer may already send that much).
  std::uint32_t initial_window = 256 * 1024;
  // The largest receive window of one stream: initial_window is clamped to it, and
  // auto-tuning grows a stream's window toward it. At or below initial_window (or at
  // 256 KiB) there is no tuning: no RTT PING either.
  std::uint32_t max_window = 16 * 1024 * 1024;
  // Grow windows as the measured round trip and throughput warrant (see above).
  bool auto_tune_window = true;
  // What all streams of one session together may grow beyond initial_window, in
  // bytes: many fast streams cannot each reach max_window. So the peer may have at
  // most max_streams * initial_window + session_window_budget bytes unread with us.
  // The growth of a stream returns to the budget when the stream is gone.
  std::size_t session_window_budget = std::size_t{32} << 20;
  // The shortest round trip the tuning rule uses (see above). A stream must still
  // drain half its window within 2 * min_tune_rtt (half of 256 KiB in 10 ms: 13 MB/s) to grow.
  Duration min_tune_rtt = std::chrono::milliseconds(5);
  // How often the round trip is measured again (a PING of ours), counted in tick() time.
  Duration rtt_probe_interval = std::chrono::seconds(30);
  std::size_t max_streams = 1024;              // open streams (both directions) per session
  std::uint32_t max_frame_data = 1024 * 1024;  // larger data frames are a protocol error
  std::size_t max_send_buffer = 4u << 20;      // per stream: bytes written but not yet sendable (fits a 1 MiB pubsub RPC with room)
  std::size_t max_pending_pings = 16;
};

class YamuxSession {
 public:
  enum class GoAwayCode : std::uint32_t { normal = 0, protocol_error = 1, internal_error = 2 };

  struct Event {
    enum class Kind {
      stream_opened,   // remote opened stream `id` (we already ACKed it)
      data,            // stream `id` has data to read() (consecutive ones are coalesced)
      writable,        // stream `id`'s send window reopened after being exhausted
      remote_closed,   // remote sent FIN: no more data will arrive on `id`
      reset,           // remote reset `id` (or we did due to its misbehaviour)
      pong,            // our ping `value` was answered
      go_away,         // remote is going away (`value` = code)
    } kind;
    std::uint32_t id = 0;
    std::uint32_t value = 0;
  };

  YamuxSession(bool is_client, YamuxConfig cfg = {});

  // ---- input from the secure channel ----
  // A protocol violation fails the session: the error is returned, a GO_AWAY with
  // protocol_error is queued for sending, and every later call fails.
  Status received_bytes(ByteView bytes);
  // The time now, on the caller's monotonic clock (earlier values than the last are
  // ignored). Pongs and reads are timed at the last tick, so a caller ticks before
  // feeding bytes and before reading. With auto-tuning on, a tick may queue our RTT
  // PING (the first tick always does).
  void tick(TimePoint now);

  // ---- application side ----
  // Sends SYN at once as a window update (delta = our window above 256 KiB, normally 0).
  Result<std::uint32_t> open_stream();
  // Queues data. Data beyond the peer's window waits in a per-stream buffer capped by
  // max_send_buffer (buffer_full if exceeded: nothing is queued then).
  Status write(std::uint32_t id, ByteView data);
  // How much may be queued on `id` now without exceeding the buffer cap.
  std::size_t write_capacity(std::uint32_t id) const;
  // Reads up to `max` buffered bytes of `id`; once half the window has been consumed a
  // window update restores it (like go-yamux), and with tuning may enlarge it.
  Bytes read(std::uint32_t id, std::size_t max = SIZE_MAX);
  std::size_t readable(std::uint32_t id) const;
  Status close_write(std::uint32_t id);  // FIN after buffered data
  void reset(std::uint32_t id);          // RST; forgets the stream
  void ping(std::uint32_t opaque);       // not sent while max_pending_pings are unanswered
  void go_away(GoAwayCode code = GoAwayCode::normal);

  // ---- output ----
  Bytes take_bytes_to_send();
  bool has_bytes_to_send() const { return !out_.empty(); }
  std::optional<Event> next_event();

  // ---- introspection ----
  bool failed() const { return failed_; }
  bool remote_went_away() const { return remote_go_away_; }
  std::size_t stream_count() const { return streams_.size(); }
  bool stream_exists(std::uint32_t id) const { return streams_.count(id) != 0; }
  std::uint32_t send_window(std::uint32_t id) const;   // what the peer lets us send now
  std::uint32_t recv_window(std::uint32_t id) const;   // what we let the peer send now
  std::uint32_t window_size(std::uint32_t id) const;   // our receive window of `id` (grows with tuning)
  std::optional<Duration> rtt() const { return rtt_; }  // the last measured round trip
  std::size_t window_growth() const { return window_growth_; }  // drawn from session_window_budget

 private:
  struct Stream {
    std::uint32_t send_window;
    std::uint32_t recv_window;      // remaining credit granted to the peer
    std::uint32_t recv_window_max;  // our window size for this stream
    TimePoint epoch{};              // our last window update for it (or its start)
    Bytes recv_buf;                 // received; read from recv_pos on
    std::size_t recv_pos = 0;
    Bytes send_buf;                 // written, waiting for send window
    bool local_syn_sent = false;    // our SYN not yet acknowledged (we ACK inbound SYNs at once)
    bool local_fin = false;         // close_write called
    bool local_fin_sent = false;
    bool remote_fin = false;
    bool blocked = false;           // send window hit 0 with data waiting
  };

  Status fail(std::error_code ec, std::string msg);
  // (Implementation helpers are declared in yamux.cpp.)
  friend struct YamuxImpl;

  bool is_client_;
  YamuxConfig cfg_;
  std::uint32_t next_id_;
  std::map<std::uint32_t, Stream> streams_;
  Bytes in_;
  Bytes out_;
  std::deque<Event> events_;
  std::deque<std::uint32_t> pending_pings_;  // opaque values of our unanswered pings
  std::uint32_t max_remote_id_ = 0;          // highest stream id the remote has opened
  // Auto-tuning: time, the round trip, our outstanding RTT PING, the budget used.
  struct Probe {
    std::uint32_t opaque;
    TimePoint sent;
  };
  TimePoint now_{};
  bool ticked_ = false;
  std::optional<Duration> rtt_;
  std::optional<Probe> probe_;
  TimePoint next_probe_{};
  std::uint32_t probe_seq_ = 0;
  std::size_t window_growth_ = 0;  // sum over streams of window_size - the initial window
  bool failed_ = false;
  bool local_go_away_ = false;
  bool remote_go_away_ = false;
  Error error_;
};

}  // namespace shardnode::net
