// Waiting on a live io_context in tests: run handlers until a condition holds or a
// deadline passes. Never sleeps.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

#include "shardnode/core/clock.h"

namespace shardnode::test {

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Runs handlers until `done` holds, moving `clock` forward by `step` whenever no
// handler is ready (and I/O in flight had a moment to complete), so timers on that
// clock fire in order without waiting for real time. Bounded by `deadline` of real time.
template <class Pred>
bool run_with_clock_until(boost::asio::io_context& io, ManualClock& clock, Duration step, Pred done,
                          std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    if (io.poll() > 0) continue;
    io.restart();
    if (io.run_one_for(std::chrono::milliseconds(2)) > 0) continue;
    clock.advance(step);
  }
  return done();
}

}  // namespace shardnode::test
