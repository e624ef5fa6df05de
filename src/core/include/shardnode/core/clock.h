// Time, in two kinds, both injected:
// - `Clock` gives a monotonic `TimePoint` (a duration since an arbitrary origin): every
//   timer, deadline, rate window and latency. The same code runs on the real clock (a
//   node: SteadyClock) and on a virtual one (src/sim's VirtualClock, ManualClock in tests).
// - `WallClock` gives unix milliseconds, only where wall time is the protocol: record
//   expiry, collation periods and beacon slots, event timestamps. A node uses
//   SystemWallClock; the simulator maps its virtual time onto a fixed unix start.
// Sans-IO cores never read a clock: callers pass `now`, or inject one of these.
// These two SteadyClock/SystemWallClock classes are the only places that read a real
// clock (tests/test_clock_reads.cpp greps the tree for any other).
#pragma once

#include <chrono>
#include <cstdint>

namespace shardnode {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::nanoseconds;  // since the clock's origin

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// The real monotonic clock (nodes only; tests and the simulator use virtual time).
class SteadyClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::duration_cast<TimePoint>(std::chrono::steady_clock::now().time_since_epoch());
  }
  // For blocking waits on real threads (condition variables): this clock's time as
  // the standard library's.
  static std::chrono::steady_clock::time_point to_std(TimePoint t) {
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(t));
  }
};

// A monotonic clock that moves only when told (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{0}) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual std::uint64_t unix_ms() const = 0;
};

// The system's real-time clock (nodes only).
class SystemWallClock final : public WallClock {
 public:
  std::uint64_t unix_ms() const override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
  }
};

// Wall time as a fixed unix start plus a monotonic clock's time (the simulator, tests).
class OffsetWallClock final : public WallClock {
 public:
  OffsetWallClock(const Clock& clock, std::uint64_t unix_start_ms) : clock_(clock), start_ms_(unix_start_ms) {}
  std::uint64_t unix_ms() const override {
    return start_ms_ + static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now()).count());
  }

 private:
  const Clock& clock_;
  std::uint64_t start_ms_;
};

}  // namespace shardnode
