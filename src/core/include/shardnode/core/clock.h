// Time for protocol cores: a TimePoint is a duration since an arbitrary origin, so
// the same code runs on the real clock (a node) and on a virtual one (src/sim).
// Sans-IO cores never read a clock: callers pass `now`.
#pragma once

#include <chrono>

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
};

}  // namespace shardnode
