// yamux receive-window auto-tuning: the RTT PING, the doubling rule, max_window, the
// session budget, and a tuning session talking to a fixed-window one. Virtual time
// only: the sessions are given `now` with tick().
#include <catch2/catch.hpp>

#include <deque>
#include <utility>
#include <vector>

#include "shardnode/net/errors.h"
#include "shardnode/net/yamux.h"
#include "yamux_wire.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace shardnode::net::yamux_test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t KiB = 1024;
constexpr std::uint32_t MiB = 1024 * 1024;

TimePoint at_ms(int ms) {
  return TimePoint{std::chrono::milliseconds(ms)};
}

Bytes ping_syn(std::uint32_t opaque) {
  return frame(kPing, kSyn, 0, opaque);
}
Bytes ping_ack(std::uint32_t opaque) {
  return frame(kPing, kAck, 0, opaque);
}

// A server session whose round trip is measured as `rtt_ms` (its first tick at 0, the
// answer to its PING at rtt_ms), with stream 1 opened by the (hand-driven) client at
// `open_ms`.
struct Measured {
  YamuxSession s;
  explicit Measured(YamuxConfig cfg, int rtt_ms = 10, int open_ms = 10) : s(false, cfg) {
    s.tick(at_ms(0));
    REQUIRE(s.take_bytes_to_send() == ping_syn(1));
    s.tick(at_ms(rtt_ms));
    REQUIRE(s.received_bytes(ping_ack(1)));
    REQUIRE(s.rtt() == std::chrono::milliseconds(rtt_ms));
    open(1, open_ms);
  }
  void open(std::uint32_t id, int ms) {
    s.tick(at_ms(ms));
    REQUIRE(s.received_bytes(frame(kWindowUpdate, kSyn, id, 0)));
    REQUIRE(s.take_bytes_to_send() == frame(kWindowUpdate, kAck, id, 0));
  }
  // `n` bytes arrive on `id` at `ms` and are read at once; returns the window update
  // that follows (its delta), or 0 if none was sent.
  std::uint32_t arrive_and_read(std::uint32_t id, std::uint32_t n, int ms) {
    s.tick(at_ms(ms));
    REQUIRE(s.received_bytes(frame(kData, 0, id, n, pattern(n))));
    REQUIRE(s.read(id).size() == n);
    const auto frames = parse(s.take_bytes_to_send());
    if (frames.empty()) return 0;
    REQUIRE(frames.size() == 1);
    REQUIRE(frames[0].type == kWindowUpdate);
    REQUIRE(frames[0].id == id);
    return frames[0].length;
  }
};

// Two sessions on a link with a fixed one-way delay, on virtual time in 1 ms steps.
// Each step ticks both sessions, delivers what has arrived, lets every flow's reader
// read and its writer write, and puts both sessions' output on the link.
struct Link {
  struct Flow {
    YamuxSession* from;
    YamuxSession* to;
    std::uint32_t id;
    Bytes payload;
    std::size_t written = 0;
    Bytes received;
    bool done() const { return received.size() == payload.size(); }
  };

  YamuxSession a;  // client
  YamuxSession b;  // server
  Duration delay;
  TimePoint now{};
  std::deque<std::pair<TimePoint, Bytes>> to_a, to_b;
  std::vector<Frame> sent_by_a, sent_by_b;  // every frame header, for the checks

  Link(YamuxConfig ca, YamuxConfig cb, Duration one_way) : a(true, ca), b(false, cb), delay(one_way) {}

  // Runs until every flow is done (or `limit`); the reader reads at most `read_per_step`
  // bytes a step. `check` runs after every step. Returns the virtual time it took.
  template <class Check>
  Duration run(std::vector<Flow>& flows, std::size_t read_per_step, Duration limit, Check check) {
    const TimePoint start = now;
    auto all_done = [&] {
      for (const auto& f : flows)
        if (!f.done()) return false;
      return true;
    };
    while (!all_done() && now - start < limit) {
      now += 1ms;
      a.tick(now);
      b.tick(now);
      arrive(to_a, a);
      arrive(to_b, b);
      drain(a);
      drain(b);
      for (auto& f : flows) {
        const Bytes got = f.to->read(f.id, read_per_step);
        f.received.insert(f.received.end(), got.begin(), got.end());
        if (!f.from->stream_exists(f.id)) continue;  // the SYN has not arrived yet
        const std::size_t n = std::min(f.from->write_capacity(f.id), f.payload.size() - f.written);
        if (n == 0) continue;
        REQUIRE(f.from->write(f.id, ByteView(f.payload).subspan(f.written, n)));
        f.written += n;
      }
      send(a, to_b, sent_by_a);
      send(b, to_a, sent_by_b);
      check();
    }
    REQUIRE(all_done());
    for (const auto& f : flows) REQUIRE(f.received == f.payload);
    return now - start;
  }

  void send(YamuxSession& s, std::deque<std::pair<TimePoint, Bytes>>& q, std::vector<Frame>& log) {
    if (!s.has_bytes_to_send()) return;
    Bytes out = s.take_bytes_to_send();
    for (const auto& f : parse(out)) log.push_back(f);
    q.emplace_back(now + delay, std::move(out));
  }

  void arrive(std::deque<std::pair<TimePoint, Bytes>>& q, YamuxSession& s) {
    while (!q.empty() && q.front().first <= now) {
      REQUIRE(s.received_bytes(q.front().second));
      q.pop_front();
    }
  }
};

YamuxConfig tuned(std::uint32_t max_window, std::size_t budget = std::size_t{32} << 20) {
  YamuxConfig c;
  c.max_window = max_window;
  c.session_window_budget = budget;
  return c;
}

YamuxConfig fixed() {
  YamuxConfig c;
  c.auto_tune_window = false;
  return c;
}

bool sent_ping_syn(const std::vector<Frame>& frames) {
  for (const auto& f : frames)
    if (f.type == kPing && (f.flags & kSyn)) return true;
  return false;
}

}  // namespace

TEST_CASE("the first tick sends one RTT PING and its answer sets the round trip", "[yamux]") {
  YamuxSession s(true);
  CHECK(!s.rtt());
  s.tick(at_ms(100));
  CHECK(hex_encode(s.take_bytes_to_send()) == "000200010000000000000001");  // PING SYN, opaque 1
  s.tick(at_ms(105));
  CHECK(!s.has_bytes_to_send());  // one at a time

  s.tick(at_ms(107));
  REQUIRE(s.received_bytes(ping_ack(1)));
  CHECK(s.rtt() == 7ms);
  CHECK(drain(s).empty());  // our own PING makes no pong event
  CHECK(!s.has_bytes_to_send());

  // a repeated answer, or one to a PING we never sent, changes nothing
  s.tick(at_ms(200));
  REQUIRE(s.received_bytes(cat(ping_ack(1), ping_ack(2))));
  CHECK(s.rtt() == 7ms);
  CHECK(drain(s).empty());
  CHECK(!s.failed());

  // the peer's PING is answered and is no measurement of ours
  REQUIRE(s.received_bytes(ping_syn(1)));
  CHECK(s.take_bytes_to_send() == ping_ack(1));
  CHECK(s.rtt() == 7ms);

  // measured again every rtt_probe_interval; the new answer replaces the old figure
  s.tick(at_ms(100) + YamuxConfig{}.rtt_probe_interval - 1ms);
  CHECK(!s.has_bytes_to_send());
  s.tick(at_ms(100) + YamuxConfig{}.rtt_probe_interval);
  CHECK(s.take_bytes_to_send() == ping_syn(2));
  s.tick(at_ms(103) + YamuxConfig{}.rtt_probe_interval);
  REQUIRE(s.received_bytes(ping_ack(2)));
  CHECK(s.rtt() == 3ms);
}

TEST_CASE("RTT PINGs: SYN|ACK with our opaque is a request, a lost one is replaced, time never runs back", "[yamux]") {
  YamuxConfig cfg;
  cfg.rtt_probe_interval = 1s;
  YamuxSession s(false, cfg);
  s.tick(at_ms(0));
  REQUIRE(s.take_bytes_to_send() == ping_syn(1));

  // a PING with both flags is answered as a request, not taken as the answer
  s.tick(at_ms(5));
  REQUIRE(s.received_bytes(frame(kPing, kSyn | kAck, 0, 1)));
  CHECK(s.take_bytes_to_send() == ping_ack(1));
  CHECK(!s.rtt());

  // a PING on a stream other than 0 still fails the session
  {
    YamuxSession t(false, cfg);
    t.tick(at_ms(0));
    auto st = t.received_bytes(frame(kPing, kAck, 3, 1));
    REQUIRE(!st);
    CHECK(st.error().code == YamuxErrc::protocol_violation);
  }

  // unanswered for rtt_probe_interval: given up, a new one goes out; the late answer
  // to the old one is ignored
  s.tick(at_ms(1000));
  CHECK(s.take_bytes_to_send() == ping_syn(2));
  s.tick(at_ms(1400));
  REQUIRE(s.received_bytes(ping_ack(1)));
  CHECK(!s.rtt());
  // a tick from the past does not move time back: the answer is timed at 1400 ms
  s.tick(at_ms(50));
  REQUIRE(s.received_bytes(ping_ack(2)));
  CHECK(s.rtt() == 400ms);
}

TEST_CASE("no RTT PING without tuning, without ticks, or with max_window at the initial window", "[yamux]") {
  YamuxSession off(true, fixed());
  off.tick(at_ms(0));
  off.tick(at_ms(60'000));
  CHECK(!off.has_bytes_to_send());

  YamuxConfig capped;
  capped.max_window = capped.initial_window;
  YamuxSession c(true, capped);
  c.tick(at_ms(0));
  CHECK(!c.has_bytes_to_send());

  YamuxSession untimed(true);  // never ticked: exactly the frames of a fixed-window session
  auto id = untimed.open_stream();
  REQUIRE(id);
  CHECK(hex_encode(untimed.take_bytes_to_send()) == "000100010000000100000000");
}

TEST_CASE("a window doubles when half of it was read within two round trips of the last update", "[yamux]") {
  Measured m(tuned(1 * MiB), /*rtt_ms=*/10, /*open_ms=*/10);  // window 256 KiB, epoch at 10 ms
  // half read 5 ms after the stream opened (< 2 RTT): 512 KiB; 128 KiB still granted
  CHECK(m.arrive_and_read(1, 128 * KiB, 15) == 384 * KiB);
  CHECK(m.s.window_size(1) == 512 * KiB);
  CHECK(m.s.recv_window(1) == 512 * KiB);
  // the next half took 25 ms (>= 2 RTT): restored, not grown
  CHECK(m.arrive_and_read(1, 256 * KiB, 40) == 256 * KiB);
  CHECK(m.s.window_size(1) == 512 * KiB);
  // 5 ms: 1 MiB, which is max_window
  CHECK(m.arrive_and_read(1, 256 * KiB, 45) == 768 * KiB);
  CHECK(m.s.window_size(1) == 1 * MiB);
  // fast again, but at max_window: restored only
  CHECK(m.arrive_and_read(1, 512 * KiB, 46) == 512 * KiB);
  CHECK(m.s.window_size(1) == 1 * MiB);
  CHECK(m.s.window_growth() == 768 * KiB);
}

TEST_CASE("a round trip below min_tune_rtt counts as min_tune_rtt", "[yamux]") {
  // measured 1 ms, floor 5 ms (the default): half a window in 3 ms (< 2 * 5 ms) grows
  Measured m(tuned(16 * MiB), /*rtt_ms=*/1, /*open_ms=*/10);
  REQUIRE(YamuxConfig{}.min_tune_rtt == 5ms);
  CHECK(m.arrive_and_read(1, 128 * KiB, 13) == 384 * KiB);
  CHECK(m.s.window_size(1) == 512 * KiB);
  // half of 512 KiB in 10 ms (>= 2 * 5 ms): restored, not grown
  CHECK(m.arrive_and_read(1, 256 * KiB, 23) == 256 * KiB);
  CHECK(m.s.window_size(1) == 512 * KiB);

  // without the floor the measured 1 ms rules: the same 3 ms is too slow
  YamuxConfig raw = tuned(16 * MiB);
  raw.min_tune_rtt = Duration::zero();
  Measured r(raw, /*rtt_ms=*/1, /*open_ms=*/10);
  CHECK(r.arrive_and_read(1, 128 * KiB, 13) == 128 * KiB);
  CHECK(r.s.window_size(1) == 256 * KiB);
}

TEST_CASE("a slow reader's window does not grow", "[yamux]") {
  Measured m(tuned(16 * MiB), /*rtt_ms=*/10, /*open_ms=*/10);
  // 64 KiB every 11 ms: each half window takes 22 ms, just over 2 RTT
  std::uint32_t granted = 0;
  int ms = 10;
  for (int i = 0; i < 40; ++i) {
    ms += 11;
    granted += m.arrive_and_read(1, 64 * KiB, ms);
  }
  CHECK(granted == 40 * 64 * KiB);  // every byte read was granted again, nothing more
  CHECK(m.s.window_size(1) == 256 * KiB);
  CHECK(m.s.recv_window(1) == 256 * KiB);
  CHECK(m.s.window_growth() == 0);

  // and without a measured round trip nothing grows, however fast the reader
  YamuxSession u(false, tuned(16 * MiB));
  u.tick(at_ms(0));
  (void)u.take_bytes_to_send();  // the PING, never answered
  REQUIRE(u.received_bytes(frame(kWindowUpdate, kSyn, 1, 0)));
  (void)u.take_bytes_to_send();
  for (int i = 0; i < 8; ++i) {
    REQUIRE(u.received_bytes(frame(kData, 0, 1, 128 * KiB, pattern(128 * KiB))));
    CHECK(u.read(1).size() == 128 * KiB);
  }
  CHECK(u.window_size(1) == 256 * KiB);
}

TEST_CASE("growth beyond the initial window is capped by the session budget and returned by closed streams",
          "[yamux]") {
  Measured m(tuned(4 * MiB, /*budget=*/512 * KiB), 10, 10);
  m.open(3, 10);
  // stream 1: 256 -> 512 KiB (256 KiB of the budget), then 768 KiB (the rest), then no more
  CHECK(m.arrive_and_read(1, 128 * KiB, 11) == 384 * KiB);
  CHECK(m.arrive_and_read(1, 256 * KiB, 12) == 512 * KiB);
  CHECK(m.s.window_size(1) == 768 * KiB);
  CHECK(m.arrive_and_read(1, 384 * KiB, 13) == 384 * KiB);
  CHECK(m.s.window_size(1) == 768 * KiB);
  CHECK(m.s.window_growth() == 512 * KiB);
  // stream 3 is as fast but the budget is spent
  CHECK(m.arrive_and_read(3, 128 * KiB, 14) == 128 * KiB);
  CHECK(m.s.window_size(3) == 256 * KiB);

  // stream 1 is reset by the peer: its growth returns, stream 3 may grow
  REQUIRE(m.s.received_bytes(frame(kWindowUpdate, kRst, 1, 0)));
  CHECK(m.s.window_growth() == 0);
  CHECK(m.arrive_and_read(3, 128 * KiB, 15) == 384 * KiB);
  CHECK(m.s.window_size(3) == 512 * KiB);
  // and when we reset it ourselves
  m.s.reset(3);
  CHECK(m.s.window_growth() == 0);
}

TEST_CASE("over a 20 ms round trip a fast reader's window grows to max_window and the transfer speeds up", "[yamux]") {
  const Bytes payload = pattern(8 * MiB);
  auto transfer = [&](YamuxConfig receiver, std::uint32_t* largest) {
    Link link(YamuxConfig{}, receiver, 10ms);
    auto id = link.a.open_stream();
    REQUIRE(id);
    std::vector<Link::Flow> flows{{&link.a, &link.b, *id, payload}};
    *largest = 0;
    const Duration took = link.run(flows, SIZE_MAX, 10s, [&] {
      *largest = std::max(*largest, link.b.window_size(*id));
      REQUIRE(link.b.window_size(*id) <= receiver.max_window);
    });
    return took;
  };
  std::uint32_t largest_fixed = 0, largest_tuned = 0;
  const Duration fixed_time = transfer(fixed(), &largest_fixed);
  const Duration tuned_time = transfer(tuned(4 * MiB), &largest_tuned);
  CHECK(largest_fixed == 256 * KiB);
  CHECK(largest_tuned == 4 * MiB);
  // 256 KiB per round trip needs 32 round trips for 8 MiB; doubling needs about 6
  CHECK(fixed_time >= 600ms);
  CHECK(tuned_time * 3 < fixed_time);
}

TEST_CASE("many fast streams together stay within the session budget", "[yamux]") {
  const std::size_t budget = 2 * MiB;
  Link link(YamuxConfig{}, tuned(4 * MiB, budget), 10ms);
  std::vector<Link::Flow> flows;
  for (int i = 0; i < 4; ++i) {
    auto id = link.a.open_stream();
    REQUIRE(id);
    flows.push_back({&link.a, &link.b, *id, pattern(4 * MiB)});
  }
  std::size_t most = 0;
  link.run(flows, SIZE_MAX, 10s, [&] {
    std::size_t sum = 0;
    for (const auto& f : flows) {
      if (!link.b.stream_exists(f.id)) continue;  // its SYN is still on the link
      REQUIRE(link.b.window_size(f.id) <= 4 * MiB);
      sum += link.b.window_size(f.id) - 256 * KiB;
    }
    REQUIRE(sum == link.b.window_growth());
    REQUIRE(link.b.window_growth() <= budget);
    most = std::max(most, link.b.window_growth());
  });
  CHECK(most == budget);  // they wanted more: the whole budget was used
}

TEST_CASE("a tuning session and a fixed-window session interoperate both ways", "[yamux]") {
  // a (client) tunes, b keeps the spec's fixed 256 KiB window; 4 MiB each way at once
  Link link(tuned(4 * MiB), fixed(), 10ms);
  auto id = link.a.open_stream();
  REQUIRE(id);
  std::vector<Link::Flow> flows{{&link.a, &link.b, *id, pattern(4 * MiB)},
                                {&link.b, &link.a, *id, pattern(4 * MiB + 77)}};
  std::uint64_t b_may_send = 256 * KiB;  // b's view of its send window, from a's frames
  std::uint64_t b_sent = 0;
  std::size_t a_seen = 0, b_seen = 0;
  link.run(flows, SIZE_MAX, 10s, [&] {
    // what a granted b never falls below what b already sent: no overflow, no shrinking
    for (; a_seen < link.sent_by_a.size(); ++a_seen) {
      const Frame& f = link.sent_by_a[a_seen];
      if (f.type == kWindowUpdate && f.id == *id) b_may_send += f.length;
    }
    for (; b_seen < link.sent_by_b.size(); ++b_seen) {
      const Frame& f = link.sent_by_b[b_seen];
      if (f.type == kData && f.id == *id) b_sent += f.length;
    }
    REQUIRE(b_sent <= b_may_send);
    if (link.b.stream_exists(*id)) REQUIRE(link.b.window_size(*id) == 256 * KiB);
  });
  CHECK(!link.a.failed());
  CHECK(!link.b.failed());
  CHECK(link.a.rtt() == 20ms);  // b answered a's PING
  CHECK(!link.b.rtt());
  CHECK(!sent_ping_syn(link.sent_by_b));
  CHECK(sent_ping_syn(link.sent_by_a));
  CHECK(link.a.window_size(*id) > 256 * KiB);  // a's own window grew
}
