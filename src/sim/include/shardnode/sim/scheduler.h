// The virtual clock and the event queue that drives it.
//
// Determinism rules: events run in (time, insertion sequence) order; time only
// moves forward, jumping to each event's time; an event scheduled for a time
// already past runs at `now` (never earlier), after the events already queued for
// `now`. Nothing here reads a real clock or any randomness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/sim/task.h"

namespace shardnode::sim {

// Time a test or a protocol core sees in the simulator. Standalone it can be
// advanced by hand (unit tests of sans-IO cores); the Scheduler owns one and
// exposes it read-only.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimePoint start = TimePoint{0}) noexcept : now_(start) {}
  TimePoint now() const override { return now_; }
  // Throws std::logic_error when asked to go backwards.
  void advance_to(TimePoint t);
  void advance_by(Duration d) { advance_to(now_ + d); }

 private:
  TimePoint now_;
};

// Names a scheduled event (one-shot or periodic). Default-constructed handles name
// nothing; a handle stays safe to cancel after its event ran (cancel returns false).
class EventHandle {
 public:
  EventHandle() = default;
  bool valid() const noexcept { return id_ != 0; }
  friend bool operator==(const EventHandle&, const EventHandle&) = default;

 private:
  friend class Scheduler;
  EventHandle(std::uint32_t slot, std::uint64_t id) noexcept : slot_(slot), id_(id) {}
  std::uint32_t slot_ = 0;
  std::uint64_t id_ = 0;
};

class Scheduler {
 public:
  static constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

  explicit Scheduler(TimePoint start = TimePoint{0}) : clock_(start) {}
  Scheduler(const Scheduler&) = delete;  // events capture references to their owners
  Scheduler& operator=(const Scheduler&) = delete;

  TimePoint now() const noexcept { return clock_.now(); }
  const VirtualClock& clock() const noexcept { return clock_; }

  // Runs `fn` at `at` (or at now() if `at` is in the past).
  EventHandle schedule_at(TimePoint at, Task fn);
  EventHandle schedule_after(Duration delay, Task fn) { return schedule_at(now() + delay, std::move(fn)); }
  // Runs `fn` at now()+first_delay, then every `period` (exact multiples, no drift)
  // until cancelled. Throws std::invalid_argument unless period > 0.
  EventHandle every(Duration period, Duration first_delay, Task fn);

  // Returns true when the event was pending (it will not run). Cancelling a
  // periodic event from inside its own callback stops further firings. Cancelling
  // an event that already ran, or twice, returns false.
  bool cancel(EventHandle handle);
  bool pending(EventHandle handle) const;

  // Runs the next event, advancing now() to its time. False when nothing is queued.
  bool step();
  // Runs every event with time <= `until` (including ones they schedule within the
  // bound), then sets now() to `until` (if later). Returns the number run.
  std::size_t run_until(TimePoint until);
  std::size_t run_for(Duration d) { return run_until(now() + d); }
  // Runs until the queue is empty, `max_events` have run, or the next event lies
  // after `deadline`. now() stays at the last event run. Periodic events keep the
  // queue busy forever: bound such runs. Returns the number run.
  std::size_t run_until_idle(std::size_t max_events = kNoLimit,
                             TimePoint deadline = TimePoint::max());

  bool idle() const noexcept { return live_ == 0; }
  std::size_t pending_count() const noexcept { return live_; }
  std::optional<TimePoint> next_event_time();
  std::uint64_t events_run() const noexcept { return events_run_; }

 private:
  struct Entry {
    TimePoint time;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  struct Slot {
    Task fn;
    std::uint64_t id = 0;   // the handle id; 0 = free
    std::uint64_t seq = 0;  // seq of its queued heap entry; 0 = none queued (running)
    Duration period{0};     // 0 = one-shot
  };
  static bool later(const Entry& a, const Entry& b) noexcept {
    return a.time > b.time || (a.time == b.time && a.seq > b.seq);
  }

  std::uint32_t allocate_slot();
  void release_slot(std::uint32_t slot) noexcept;
  void push(TimePoint time, std::uint32_t slot);
  bool stale(const Entry& e) const noexcept { return slots_[e.slot].seq != e.seq; }
  void drop_stale_top();
  void compact();
  void run(const Entry& e);

  VirtualClock clock_;
  std::vector<Entry> heap_;  // binary min-heap on (time, seq); may hold stale entries
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_seq_ = 1;
  std::size_t live_ = 0;   // events that will still run
  std::size_t stale_ = 0;  // cancelled entries still in heap_
  std::uint64_t events_run_ = 0;
};

}  // namespace shardnode::sim
