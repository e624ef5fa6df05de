// A one-shot timer on an injected Clock, for code running on an asio io_context.
// On a real clock (SteadyClock) it waits on an asio steady_timer; on a clock that
// moves on command (ManualClock) it fires when a move passes its deadline and never
// on real time, so retry and timeout tests advance a clock instead of sleeping.
//
// The handler always runs from the io_context (never inside expires_at() or
// ManualClock::advance()), at most once per arming, and not at all once the timer is
// cancelled, re-armed or destroyed. Header-only; needs Boost.Asio.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>

#include "shardnode/core/clock.h"

namespace shardnode {

class ClockTimer {
 public:
  ClockTimer(boost::asio::io_context& io, const Clock& clock) : io_(io), clock_(clock), timer_(io) {
    watch_ = clock_.watch([this] { check(); });
  }
  ~ClockTimer() {
    *alive_ = false;
    timer_.cancel();
  }
  ClockTimer(const ClockTimer&) = delete;
  ClockTimer& operator=(const ClockTimer&) = delete;

  void expires_at(TimePoint deadline, std::function<void()> fn) {
    cancel();
    deadline_ = deadline;
    fn_ = std::move(fn);
    if (clock_.now() >= deadline_) return fire();
    if (!watch_) arm_real();
  }
  void expires_after(Duration d, std::function<void()> fn) { expires_at(clock_.now() + d, std::move(fn)); }

  void cancel() {
    ++generation_;
    fn_ = nullptr;
    timer_.cancel();
  }

 private:
  void arm_real() {
    const TimePoint now = clock_.now();
    timer_.expires_after(deadline_ > now ? deadline_ - now : Duration{0});
    timer_.async_wait([this, g = generation_, alive = alive_](const boost::system::error_code& ec) {
      if (ec || !*alive || g != generation_) return;
      check();
    });
  }
  void check() {
    if (!fn_) return;
    if (clock_.now() < deadline_) {
      if (!watch_) arm_real();  // woken early (rounding): wait for the rest
      return;
    }
    fire();
  }
  void fire() {
    auto fn = std::move(fn_);
    fn_ = nullptr;
    boost::asio::post(io_, [this, g = generation_, alive = alive_, fn = std::move(fn)] {
      if (!*alive || g != generation_) return;
      fn();
    });
  }

  boost::asio::io_context& io_;
  const Clock& clock_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<void> watch_;  // set for clocks that move on command
  TimePoint deadline_{};
  std::function<void()> fn_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode
