#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shardnode/net/errors.h"
#include "shardnode/net/yamux.h"
#include "yamux_wire.h"

using namespace shardnode;
using namespace shardnode::net;
using namespace shardnode::net::yamux_test;

namespace {

// Moves bytes both ways until both sessions are quiet.
void pump(YamuxSession& a, YamuxSession& b) {
  for (int i = 0; i < 1000 && (a.has_bytes_to_send() || b.has_bytes_to_send()); ++i) {
    REQUIRE(b.received_bytes(a.take_bytes_to_send()));
    REQUIRE(a.received_bytes(b.take_bytes_to_send()));
  }
  REQUIRE(!a.has_bytes_to_send());
  REQUIRE(!b.has_bytes_to_send());
}

struct Pair {
  YamuxSession client;
  YamuxSession server;
  explicit Pair(YamuxConfig ccfg = {}, YamuxConfig scfg = {}) : client(true, ccfg), server(false, scfg) {}

  std::uint32_t open_client_stream() {
    auto id = client.open_stream();
    REQUIRE(id);
    pump(client, server);
    REQUIRE(has_event(drain(server), Kind::stream_opened, *id));
    drain(client);
    return *id;
  }
};

const Bytes kGoAwayProtocolError = frame(kGoAway, 0, 0, 1);

}  // namespace

TEST_CASE("opening a stream sends a SYN window update with delta 0 that the peer ACKs", "[yamux]") {
  YamuxSession c(true), s(false);
  auto id = c.open_stream();
  REQUIRE(id);
  CHECK(*id == 1);
  const Bytes syn = c.take_bytes_to_send();
  // version 0, type 1 (window update), flags SYN, stream 1, delta 0 (window stays the 256 KiB default)
  CHECK(hex_encode(syn) == "000100010000000100000000");
  REQUIRE(s.received_bytes(syn));
  auto ev = drain(s);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Kind::stream_opened);
  CHECK(ev[0].id == 1);
  CHECK(hex_encode(s.take_bytes_to_send()) == "000100020000000100000000");  // window update, ACK
  CHECK(s.send_window(1) == kWindow);
  CHECK(s.recv_window(1) == kWindow);

  // ids: the client opens odd ones, the server even ones
  CHECK(*c.open_stream() == 3);
  CHECK(*s.open_stream() == 2);
  CHECK(hex_encode(s.take_bytes_to_send()) == "000100010000000200000000");
  CHECK(*s.open_stream() == 4);
}

TEST_CASE("data flows both ways and FIN half-closes each direction", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();

  REQUIRE(p.client.write(id, as_bytes("hello")));
  const Bytes data = p.client.take_bytes_to_send();
  CHECK(hex_encode(data) == "000000000000000100000005" + hex_encode(as_bytes("hello")));
  REQUIRE(p.server.received_bytes(data));
  CHECK(has_event(drain(p.server), Kind::data, id));
  CHECK(p.server.readable(id) == 5);
  CHECK(p.server.recv_window(id) == kWindow - 5);
  CHECK(str(p.server.read(id)) == "hello");

  REQUIRE(p.server.write(id, as_bytes("world")));
  pump(p.client, p.server);
  CHECK(has_event(drain(p.client), Kind::data, id));
  CHECK(str(p.client.read(id, 3)) == "wor");
  CHECK(str(p.client.read(id)) == "ld");

  // client half-closes: a window update with FIN
  REQUIRE(p.client.close_write(id));
  const Bytes fin = p.client.take_bytes_to_send();
  CHECK(hex_encode(fin) == "000100040000000100000000");
  REQUIRE(p.server.received_bytes(fin));
  CHECK(has_event(drain(p.server), Kind::remote_closed, id));
  auto w = p.client.write(id, as_bytes("x"));
  REQUIRE(!w);
  CHECK(w.error().code == YamuxErrc::stream_closed);
  CHECK(p.client.close_write(id));  // idempotent

  // the server may still send, then closes too; the client reads the tail after the FIN
  REQUIRE(p.server.write(id, as_bytes("tail")));
  REQUIRE(p.server.close_write(id));
  CHECK(!p.server.stream_exists(id));  // both FINs sent/seen, nothing unread
  pump(p.client, p.server);
  auto ev = drain(p.client);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Kind::data);
  CHECK(ev[1].kind == Kind::remote_closed);
  CHECK(p.client.stream_exists(id));  // data still unread
  CHECK(str(p.client.read(id)) == "tail");
  CHECK(!p.client.stream_exists(id));
  CHECK(p.client.stream_count() == 0);
  CHECK(p.server.stream_count() == 0);
}

TEST_CASE("a reset forgets the stream and late frames for it are ignored", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();
  REQUIRE(p.server.write(id, as_bytes("late")));  // in flight when the client resets
  p.client.reset(id);
  const Bytes rst = p.client.take_bytes_to_send();
  CHECK(hex_encode(rst) == "000100080000000100000000");
  CHECK(!p.client.stream_exists(id));

  REQUIRE(p.client.received_bytes(p.server.take_bytes_to_send()));
  CHECK(!p.client.failed());
  CHECK(drain(p.client).empty());
  CHECK(!p.client.has_bytes_to_send());

  REQUIRE(p.server.received_bytes(rst));
  auto ev = drain(p.server);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Kind::reset);
  CHECK(!p.server.stream_exists(id));
  auto w = p.server.write(id, as_bytes("more"));
  REQUIRE(!w);
  CHECK(w.error().code == YamuxErrc::stream_closed);
  // a window update arriving after the reset is ignored too
  REQUIRE(p.server.received_bytes(frame(kWindowUpdate, 0, id, 100)));
  CHECK(!p.server.failed());
}

TEST_CASE("a slow reader back-pressures the writer through the window", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();
  const Bytes payload = pattern(1024 * 1024);
  const std::size_t buffer = YamuxConfig{}.max_send_buffer;
  REQUIRE(p.client.write_capacity(id) == kWindow + buffer);
  REQUIRE(p.client.write(id, payload));
  CHECK(p.client.send_window(id) == 0);
  CHECK(p.client.write_capacity(id) == buffer - (payload.size() - kWindow));  // the rest waits in the buffer

  std::uint64_t sent = 0, credit = 0, max_in_flight = 0;
  std::size_t writable_events = 0;
  Bytes received;
  for (int round = 0; round < 1000 && received.size() < payload.size(); ++round) {
    const Bytes out = p.client.take_bytes_to_send();
    for (const auto& f : parse(out)) {
      if (f.type == kData) {
        CHECK(f.length <= 64 * 1024);
        sent += f.length;
      }
    }
    max_in_flight = std::max(max_in_flight, sent - credit);
    REQUIRE(sent - credit <= kWindow);  // never more than the window unacknowledged
    REQUIRE(p.server.received_bytes(out));
    drain(p.server);

    const Bytes chunk = p.server.read(id, 40 * 1024);  // the slow reader
    received.insert(received.end(), chunk.begin(), chunk.end());
    CHECK(p.server.readable(id) + p.server.recv_window(id) <= kWindow);

    const Bytes back = p.server.take_bytes_to_send();
    for (const auto& f : parse(back)) {
      if (f.type == kWindowUpdate && f.id == id) credit += f.length;
    }
    REQUIRE(p.client.received_bytes(back));
    for (const auto& e : drain(p.client)) {
      if (e.kind == Kind::writable && e.id == id) ++writable_events;
    }
  }
  CHECK(received == payload);
  CHECK(max_in_flight == kWindow);
  CHECK(writable_events > 0);
  CHECK(p.client.write_capacity(id) >= 1024 * 1024);
}

TEST_CASE("reading half the window sends an update that restores it", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();
  REQUIRE(p.client.write(id, pattern(kWindow / 2 - 1)));
  REQUIRE(p.server.received_bytes(p.client.take_bytes_to_send()));
  CHECK(p.server.read(id).size() == kWindow / 2 - 1);
  CHECK(!p.server.has_bytes_to_send());  // less than half consumed: no update yet

  REQUIRE(p.client.write(id, as_bytes("x")));
  REQUIRE(p.server.received_bytes(p.client.take_bytes_to_send()));
  CHECK(p.server.read(id).size() == 1);
  CHECK(hex_encode(p.server.take_bytes_to_send()) == "000100000000000100020000");  // delta 128 KiB
  CHECK(p.server.recv_window(id) == kWindow);
}

TEST_CASE("a larger initial window is announced in the SYN and the ACK", "[yamux]") {
  YamuxConfig cfg;
  cfg.initial_window = 1024 * 1024;
  Pair p(cfg, cfg);
  auto id = p.client.open_stream();
  REQUIRE(id);
  const Bytes syn = p.client.take_bytes_to_send();
  CHECK(hex_encode(syn) == "0001000100000001000c0000");  // delta 768 KiB
  REQUIRE(p.server.received_bytes(syn));
  CHECK(p.server.send_window(*id) == 1024 * 1024);
  CHECK(p.server.recv_window(*id) == 1024 * 1024);
  CHECK(hex_encode(p.server.take_bytes_to_send()) == "0001000200000001000c0000");
}

TEST_CASE("a write beyond the send buffer cap fails with buffer_full and queues nothing", "[yamux]") {
  YamuxConfig cfg;
  cfg.max_send_buffer = 1000;
  Pair p(cfg);
  const auto id = p.open_client_stream();
  CHECK(p.client.write_capacity(id) == kWindow + 1000);
  auto w = p.client.write(id, pattern(kWindow + 1001));
  REQUIRE(!w);
  CHECK(w.error().code == YamuxErrc::buffer_full);
  CHECK(!p.client.has_bytes_to_send());
  CHECK(p.client.send_window(id) == kWindow);

  REQUIRE(p.client.write(id, pattern(kWindow + 1000)));
  CHECK(p.client.write_capacity(id) == 0);
  w = p.client.write(id, as_bytes("x"));
  REQUIRE(!w);
  CHECK(w.error().code == YamuxErrc::buffer_full);
}

TEST_CASE("the FIN waits until buffered data has been sent", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();
  REQUIRE(p.client.write(id, pattern(300 * 1024)));
  REQUIRE(p.client.close_write(id));
  const Bytes first = p.client.take_bytes_to_send();
  for (const auto& f : parse(first)) CHECK((f.flags & kFin) == 0);  // 44 KiB still wait for the window
  REQUIRE(p.server.received_bytes(first));
  std::size_t total = 0;
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    pump(p.client, p.server);
    for (const auto& e : drain(p.server)) {
      if (e.kind == Kind::remote_closed) closed = true;
    }
    total += p.server.read(id).size();
  }
  CHECK(closed);
  CHECK(total == 300 * 1024);
}

TEST_CASE("ping is answered with the same opaque value and produces a pong", "[yamux]") {
  YamuxConfig cfg;
  cfg.max_pending_pings = 2;
  YamuxSession c(true, cfg), s(false);
  c.ping(0xdeadbeef);
  const Bytes ping = c.take_bytes_to_send();
  CHECK(hex_encode(ping) == "0002000100000000deadbeef");
  REQUIRE(s.received_bytes(ping));
  CHECK(drain(s).empty());
  const Bytes pong = s.take_bytes_to_send();
  CHECK(hex_encode(pong) == "0002000200000000deadbeef");
  REQUIRE(c.received_bytes(pong));
  auto ev = drain(c);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Kind::pong);
  CHECK(ev[0].value == 0xdeadbeef);

  // an unsolicited or repeated pong is ignored
  REQUIRE(c.received_bytes(pong));
  CHECK(drain(c).empty());

  // outstanding pings are capped
  c.ping(1);
  c.ping(2);
  c.ping(3);
  CHECK(parse(c.take_bytes_to_send()).size() == 2);
}

TEST_CASE("go away blocks new streams on both sides but existing streams keep working", "[yamux]") {
  Pair p;
  const auto id = p.open_client_stream();
  p.client.go_away();
  const Bytes ga = p.client.take_bytes_to_send();
  CHECK(hex_encode(ga) == "000300000000000000000000");
  auto o = p.client.open_stream();
  REQUIRE(!o);
  CHECK(o.error().code == YamuxErrc::go_away);

  auto late = p.server.open_stream();  // crosses the GO_AWAY on the wire
  REQUIRE(late);
  REQUIRE(p.server.received_bytes(ga));
  auto ev = drain(p.server);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Kind::go_away);
  CHECK(ev[0].value == 0);
  CHECK(p.server.remote_went_away());
  o = p.server.open_stream();
  REQUIRE(!o);
  CHECK(o.error().code == YamuxErrc::go_away);

  // the client refuses the late SYN with a RST
  REQUIRE(p.client.received_bytes(p.server.take_bytes_to_send()));
  CHECK(drain(p.client).empty());
  const Bytes rst = p.client.take_bytes_to_send();
  CHECK(hex_encode(rst) == "000100080000000200000000");
  REQUIRE(p.server.received_bytes(rst));
  CHECK(has_event(drain(p.server), Kind::reset, *late));

  REQUIRE(p.client.write(id, as_bytes("still here")));
  pump(p.client, p.server);
  CHECK(str(p.server.read(id)) == "still here");
}

TEST_CASE("inbound streams beyond max_streams are refused with a RST, not a session failure", "[yamux]") {
  YamuxConfig scfg;
  scfg.max_streams = 2;
  YamuxSession c(true), s(false, scfg);
  for (std::uint32_t want : {1u, 3u, 5u}) CHECK(*c.open_stream() == want);
  REQUIRE(c.write(5, as_bytes("dropped")));  // sent before the RST is seen
  REQUIRE(s.received_bytes(c.take_bytes_to_send()));
  CHECK(!s.failed());
  auto ev = drain(s);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].id == 1);
  CHECK(ev[1].id == 3);
  CHECK(s.stream_count() == 2);
  const Bytes out = s.take_bytes_to_send();
  CHECK(hex_encode(out).substr(48) == "000100080000000500000000");  // after the two ACKs

  REQUIRE(c.received_bytes(out));
  ev = drain(c);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Kind::reset);
  CHECK(ev[0].id == 5);
  CHECK(c.stream_count() == 2);
  CHECK(!c.write(5, as_bytes("x")));
}

TEST_CASE("open_stream stops at the local stream limit", "[yamux]") {
  YamuxConfig cfg;
  cfg.max_streams = 2;
  YamuxSession c(true, cfg);
  REQUIRE(c.open_stream());
  REQUIRE(c.open_stream());
  auto o = c.open_stream();
  REQUIRE(!o);
  CHECK(o.error().code == YamuxErrc::too_many_streams);
  c.reset(1);
  o = c.open_stream();
  REQUIRE(o);
  CHECK(*o == 5);
}

TEST_CASE("malformed input fails the session with a clean error and a GO_AWAY", "[yamux]") {
  struct Case {
    const char* name;
    bool receiver_is_client;
    Bytes setup;
    Bytes bad;
    YamuxErrc expected;
    std::uint32_t max_frame_data;
  };
  const Bytes syn1 = frame(kWindowUpdate, kSyn, 1, 0);
  const Bytes full_window = frame(kData, 0, 1, kWindow, pattern(kWindow));
  const std::uint32_t dflt = YamuxConfig{}.max_frame_data;
  const std::vector<Case> cases = {
      {"bad version", false, {}, frame(kWindowUpdate, kSyn, 1, 0, {}, 1), YamuxErrc::malformed, dflt},
      {"unknown type", false, {}, frame(4, 0, 0, 0), YamuxErrc::malformed, dflt},
      {"data on stream 0", false, {}, frame(kData, 0, 0, 3, as_bytes("abc")), YamuxErrc::protocol_violation, dflt},
      {"window update on stream 0", false, {}, frame(kWindowUpdate, 0, 0, 5), YamuxErrc::protocol_violation, dflt},
      {"ping on a stream", false, syn1, frame(kPing, kSyn, 1, 0), YamuxErrc::protocol_violation, dflt},
      {"go away on a stream", false, syn1, frame(kGoAway, 0, 1, 0), YamuxErrc::protocol_violation, dflt},
      {"SYN for an existing stream", false, syn1, syn1, YamuxErrc::protocol_violation, dflt},
      {"SYN with the server's parity sent to the server",
       false,
       {},
       frame(kWindowUpdate, kSyn, 2, 0),
       YamuxErrc::protocol_violation,
       dflt},
      {"SYN with the client's parity sent to the client", true, {}, syn1, YamuxErrc::protocol_violation, dflt},
      {"data for a stream never opened",
       false,
       {},
       frame(kData, 0, 7, 1, as_bytes("x")),
       YamuxErrc::protocol_violation,
       dflt},
      {"data beyond the window without an update", false, cat(syn1, full_window), frame(kData, 0, 1, 1, as_bytes("x")),
       YamuxErrc::window_overflow, dflt},
      {"a SYN carrying more than the window",
       false,
       {},
       frame(kData, kSyn, 1, kWindow + 1, pattern(kWindow + 1)),
       YamuxErrc::window_overflow,
       dflt},
      {"data frame larger than max_frame_data (header only)", false, syn1, frame(kData, 0, 1, 1025),
       YamuxErrc::frame_too_large, 1024},
      {"data after FIN", false, cat(syn1, frame(kWindowUpdate, kFin, 1, 0)), frame(kData, 0, 1, 1, as_bytes("x")),
       YamuxErrc::protocol_violation, dflt},
      {"window update overflowing 32 bits", false, syn1, frame(kWindowUpdate, 0, 1, 0xffffffffu),
       YamuxErrc::protocol_violation, dflt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    YamuxConfig cfg;
    cfg.max_frame_data = c.max_frame_data;
    YamuxSession rx(c.receiver_is_client, cfg);
    REQUIRE(rx.received_bytes(c.setup));
    (void)rx.take_bytes_to_send();
    auto st = rx.received_bytes(c.bad);
    REQUIRE(!st);
    CHECK(st.error().code == c.expected);
    CHECK(st.error().message.rfind("yamux: ", 0) == 0);
    CHECK(rx.failed());
    CHECK(rx.take_bytes_to_send() == kGoAwayProtocolError);
    // every later call fails and nothing more is sent
    CHECK(!rx.received_bytes(frame(kPing, kSyn, 0, 1)));
    CHECK(!rx.open_stream());
    CHECK(!rx.write(1, as_bytes("x")));
    rx.ping(1);
    CHECK(!rx.has_bytes_to_send());
  }
}

TEST_CASE("truncated frames wait for more bytes without error", "[yamux]") {
  YamuxSession s(false);
  const Bytes wire = cat(frame(kData, kSyn, 1, 5, as_bytes("hello")), frame(kPing, kSyn, 0, 9));
  const ByteView all(wire);
  REQUIRE(s.received_bytes(all.first(11)));  // partial header
  CHECK(drain(s).empty());
  CHECK(!s.has_bytes_to_send());
  REQUIRE(s.received_bytes(all.subspan(11, 3)));  // header + partial body
  CHECK(drain(s).empty());
  CHECK(!s.has_bytes_to_send());
  REQUIRE(s.received_bytes(all.subspan(14, 10)));  // data frame complete, ping header partial
  auto ev = drain(s);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Kind::stream_opened);
  CHECK(ev[1].kind == Kind::data);
  CHECK(s.readable(1) == 5);
  CHECK(parse(s.take_bytes_to_send()).size() == 1);  // the ACK
  REQUIRE(s.received_bytes(all.subspan(24)));
  CHECK(hex_encode(s.take_bytes_to_send()) == "000200020000000000000009");
  CHECK(!s.failed());
}

TEST_CASE("byte-at-a-time delivery of a valid exchange matches bulk delivery", "[yamux]") {
  YamuxSession c(true), bulk(false), trickle(false);
  const auto a = *c.open_stream();
  REQUIRE(c.write(a, as_bytes("hello world")));
  c.ping(42);
  REQUIRE(c.close_write(a));
  const auto b = *c.open_stream();
  REQUIRE(c.write(b, pattern(100 * 1024)));
  c.reset(b);
  c.go_away();
  const Bytes wire = c.take_bytes_to_send();

  REQUIRE(bulk.received_bytes(wire));
  for (std::uint8_t byte : wire) REQUIRE(trickle.received_bytes(ByteView(&byte, 1)));

  const auto e1 = drain(bulk), e2 = drain(trickle);
  REQUIRE(e1.size() == e2.size());
  for (std::size_t i = 0; i < e1.size(); ++i) {
    CHECK(e1[i].kind == e2[i].kind);
    CHECK(e1[i].id == e2[i].id);
    CHECK(e1[i].value == e2[i].value);
  }
  CHECK(has_event(e1, Kind::remote_closed, a));
  CHECK(has_event(e1, Kind::reset, b));
  CHECK(has_event(e1, Kind::go_away, 0));
  CHECK(bulk.take_bytes_to_send() == trickle.take_bytes_to_send());
  CHECK(str(trickle.read(a)) == "hello world");
  CHECK(!trickle.failed());
}
