// The delay line of the `wan` forwarder, sans IO: one direction of one TCP connection.
// Chunks of bytes arrive (push) at a time the caller passes; pull says which bytes may
// leave by a later time. Each chunk is held for a fixed one-way delay plus a jitter
// drawn uniformly from [0, jitter] by a seeded generator, never overtaking the chunk
// before it (bytes keep their order), and then leaves no faster than a token bucket
// allows (rate bytes/s, burst bytes). An end of stream (push_eof) travels like a
// chunk: it is due once every byte before it has left and its own time has come.
// No clock is read here: the forwarder (forwarder.h) passes its injected clock's time,
// tests a ManualClock's. Internal to shardnode_testnet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "shardnode/core/clock.h"

namespace shardnode::testnet::detail {

struct DelayParams {
  Duration delay{0};        // one-way, added to every chunk
  Duration jitter{0};       // each chunk gets a further uniform [0, jitter]
  std::uint64_t rate = 0;   // bytes per second; 0: no cap
  std::size_t burst = 16 * 1024;  // token bucket size in bytes (>= 1); starts full
};

// splitmix64: a small generator whose output is the same on every platform (the
// standard distributions are implementation-defined), so a seed gives one schedule.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  // Uniform in [0, bound] (bound inclusive); 0 if bound is 0.
  std::uint64_t uniform(std::uint64_t bound);

 private:
  std::uint64_t s_;
};

class DelayLine {
 public:
  DelayLine(DelayParams p, std::uint64_t seed);

  // Bytes that arrived at `now` (times passed in must not decrease). Empty: ignored.
  void push(TimePoint now, std::string_view bytes);
  // The sender closed its side at `now`; nothing may be pushed after.
  void push_eof(TimePoint now);

  // Appends to `out` at most `max` bytes that may leave by `now` (in order) and drops
  // them from the line; returns how many.
  std::size_t pull(TimePoint now, std::string& out, std::size_t max);

  // True once the end of stream is due: all bytes before it pulled, its time reached.
  bool eof_due(TimePoint now) const;

  // The earliest time at which pull (or eof_due) can give something new, given that
  // the caller pulls everything it may; nullopt when the line is empty.
  std::optional<TimePoint> next_event(TimePoint now) const;

  std::size_t queued_bytes() const { return queued_; }
  bool empty() const { return q_.empty(); }
  // The time the last chunk pushed may first leave (tests: jitter bounds).
  TimePoint last_ready() const { return last_ready_; }

 private:
  struct Chunk {
    TimePoint ready;
    std::string data;
    std::size_t off = 0;
    bool eof = false;
  };
  void refill(TimePoint now);
  // Whole bytes the bucket holds at `now` (>= last refill), without changing it.
  std::uint64_t tokens_at(TimePoint now) const;
  TimePoint schedule(TimePoint now);

  DelayParams p_;
  SplitMix64 rng_;
  std::deque<Chunk> q_;
  std::size_t queued_ = 0;
  TimePoint last_ready_{0};
  // Token bucket in nano-bytes (1 byte = 1e9): exact integer refills at any rate.
  std::uint64_t tokens_nb_ = 0;
  TimePoint refilled_at_{0};
  bool refilled_once_ = false;
};

}  // namespace shardnode::testnet::detail
