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
#include <functional>
#include <map>
#include <memory>

namespace shardnode {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::nanoseconds;  // since the clock's origin

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // A clock that moves on a test's command calls `f` after each move, until the
  // returned token is dropped (ClockTimer uses this; see clock_timer.h). Real clocks
  // never call back and return a null token. The token may outlive the clock.
  virtual std::shared_ptr<void> watch(std::function<void()> f) const {
    (void)f;
    return nullptr;
  }
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

// A monotonic clock that moves only when told (tests). Timers on it (ClockTimer)
// fire when a move passes their deadline, never on real time.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{0}) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) {
    now_ += d;
    notify();
  }
  void set(TimePoint t) {
    now_ = t;
    notify();
  }

  std::shared_ptr<void> watch(std::function<void()> f) const override {
    const auto id = next_id_++;
    watchers_->emplace(id, std::move(f));
    return std::make_shared<Unwatch>(watchers_, id);
  }

 private:
  using Watchers = std::map<std::uint64_t, std::function<void()>>;
  struct Unwatch {
    Unwatch(std::weak_ptr<Watchers> w, std::uint64_t i) : watchers(std::move(w)), id(i) {}
    ~Unwatch() {
      if (auto live = watchers.lock()) live->erase(id);
    }
    Unwatch(const Unwatch&) = delete;
    Unwatch& operator=(const Unwatch&) = delete;
    std::weak_ptr<Watchers> watchers;
    std::uint64_t id;
  };
  void notify() {
    const Watchers now_watching = *watchers_;  // a watcher may drop its token meanwhile
    for (const auto& [id, f] : now_watching)
      if (watchers_->count(id)) f();
  }
  TimePoint now_;
  std::shared_ptr<Watchers> watchers_ = std::make_shared<Watchers>();
  mutable std::uint64_t next_id_ = 1;
};

class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual std::uint64_t unix_ms() const = 0;
  // Microseconds, where the clock has them (receipt logs of the live experiment).
  virtual std::uint64_t unix_us() const { return unix_ms() * 1000; }
};

// The system's real-time clock (nodes only).
class SystemWallClock final : public WallClock {
 public:
  std::uint64_t unix_ms() const override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
  }
  std::uint64_t unix_us() const override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
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
