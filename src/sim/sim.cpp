// VirtualClock and Scheduler: a binary heap of (time, seq, slot) over a slot vector
// of Tasks. Cancellation is lazy (the slot is freed, its heap entry becomes stale
// and is skipped); the heap is compacted when stale entries dominate.
#include <algorithm>
#include <stdexcept>

#include "shardnode/sim/scheduler.h"

namespace shardnode::sim {

void VirtualClock::advance_to(TimePoint t) {
  if (t < now_) throw std::logic_error("VirtualClock cannot go backwards");
  now_ = t;
}

std::uint32_t Scheduler::allocate_slot() {
  if (!free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (slots_.size() >= std::numeric_limits<std::uint32_t>::max()) throw std::length_error("Scheduler: too many events");
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

void Scheduler::release_slot(std::uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  s.fn.reset();
  s.id = 0;
  s.seq = 0;
  s.period = Duration{0};
  free_slots_.push_back(slot);
}

void Scheduler::push(TimePoint time, std::uint32_t slot) {
  const std::uint64_t seq = next_seq_++;
  slots_[slot].seq = seq;
  heap_.push_back(Entry{time, seq, slot});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

EventHandle Scheduler::schedule_at(TimePoint at, Task fn) {
  const std::uint32_t slot = allocate_slot();
  Slot& s = slots_[slot];
  s.fn = std::move(fn);
  s.id = next_seq_;  // the seq push() is about to assign: unique and non-zero
  s.period = Duration{0};
  push(std::max(at, now()), slot);
  ++live_;
  return EventHandle(slot, s.id);
}

EventHandle Scheduler::every(Duration period, Duration first_delay, Task fn) {
  if (period <= Duration{0}) throw std::invalid_argument("Scheduler::every needs a positive period");
  EventHandle h = schedule_at(now() + first_delay, std::move(fn));
  slots_[h.slot_].period = period;
  return h;
}

bool Scheduler::pending(EventHandle handle) const {
  return handle.valid() && handle.slot_ < slots_.size() && slots_[handle.slot_].id == handle.id_;
}

bool Scheduler::cancel(EventHandle handle) {
  if (!pending(handle)) return false;
  if (slots_[handle.slot_].seq != 0) ++stale_;  // its heap entry stays behind, stale
  release_slot(handle.slot_);
  --live_;
  if (stale_ > 1024 && stale_ > heap_.size() / 2) compact();
  return true;
}

void Scheduler::compact() {
  std::erase_if(heap_, [this](const Entry& e) { return stale(e); });
  std::make_heap(heap_.begin(), heap_.end(), later);
  stale_ = 0;
}

void Scheduler::drop_stale_top() {
  while (!heap_.empty() && stale(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    --stale_;
  }
}

std::optional<TimePoint> Scheduler::next_event_time() {
  drop_stale_top();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().time;
}

void Scheduler::run(const Entry& e) {
  clock_.advance_to(e.time);
  ++events_run_;
  Slot& s = slots_[e.slot];
  const std::uint64_t id = s.id;
  const Duration period = s.period;
  Task fn = std::move(s.fn);  // the slot vector may grow while fn runs
  s.seq = 0;
  if (period == Duration{0}) {
    release_slot(e.slot);
    --live_;
    fn();
    return;
  }
  try {
    fn();
  } catch (...) {
    // A throwing periodic event is stopped, so the queue stays consistent.
    if (slots_[e.slot].id == id) {
      release_slot(e.slot);
      --live_;
    }
    throw;
  }
  Slot& after = slots_[e.slot];
  if (after.id != id) return;  // cancelled from inside its own callback
  after.fn = std::move(fn);
  push(e.time + period, e.slot);
}

bool Scheduler::step() {
  drop_stale_top();
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const Entry e = heap_.back();
  heap_.pop_back();
  run(e);
  return true;
}

std::size_t Scheduler::run_until(TimePoint until) {
  std::size_t n = 0;
  for (;;) {
    const std::optional<TimePoint> next = next_event_time();
    if (!next || *next > until) break;
    step();
    ++n;
  }
  if (until > now()) clock_.advance_to(until);
  return n;
}

std::size_t Scheduler::run_until_idle(std::size_t max_events, TimePoint deadline) {
  std::size_t n = 0;
  while (n < max_events) {
    const std::optional<TimePoint> next = next_event_time();
    if (!next || *next > deadline) break;
    step();
    ++n;
  }
  return n;
}

}  // namespace shardnode::sim
