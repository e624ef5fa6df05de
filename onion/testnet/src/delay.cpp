#include "delay.h"

#include <algorithm>

namespace shardnode::testnet::detail {

namespace {
constexpr std::uint64_t kNano = 1'000'000'000ULL;  // nano-bytes per byte
// next_event waits until the bucket holds this many bytes (or the chunk's rest), so
// a capped line wakes its loop about once per kQuantum bytes, not once per byte.
constexpr std::size_t kQuantum = 1024;
}  // namespace

std::uint64_t SplitMix64::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t SplitMix64::uniform(std::uint64_t bound) {
  if (bound == 0) return 0;
  if (bound == ~0ULL) return next();
  // Rejection sampling: no modulo bias.
  const std::uint64_t range = bound + 1;
  const std::uint64_t limit = ~0ULL - (~0ULL % range);
  for (;;) {
    const std::uint64_t v = next();
    if (v < limit) return v % range;
  }
}

DelayLine::DelayLine(DelayParams p, std::uint64_t seed) : p_(p), rng_(seed) {
  if (p_.burst == 0) p_.burst = 1;
  if (p_.delay < Duration{0}) p_.delay = Duration{0};
  if (p_.jitter < Duration{0}) p_.jitter = Duration{0};
}

TimePoint DelayLine::schedule(TimePoint now) {
  const auto j = Duration(static_cast<Duration::rep>(rng_.uniform(static_cast<std::uint64_t>(p_.jitter.count()))));
  TimePoint ready = now + p_.delay + j;
  if (ready < last_ready_) ready = last_ready_;  // never overtake the chunk before
  last_ready_ = ready;
  return ready;
}

void DelayLine::push(TimePoint now, std::string_view bytes) {
  if (bytes.empty()) return;
  q_.push_back(Chunk{schedule(now), std::string(bytes), 0, false});
  queued_ += bytes.size();
}

void DelayLine::push_eof(TimePoint now) { q_.push_back(Chunk{schedule(now), {}, 0, true}); }

std::uint64_t DelayLine::tokens_at(TimePoint now) const {
  const std::uint64_t cap = static_cast<std::uint64_t>(p_.burst) * kNano;
  if (!refilled_once_) return cap;
  const auto dt = static_cast<std::uint64_t>(std::max<Duration::rep>(0, (now - refilled_at_).count()));
  // dt * rate may overflow for long idle times; the bucket is full long before.
  if (dt >= cap / p_.rate + 1) return cap;
  return std::min(cap, tokens_nb_ + dt * p_.rate);
}

void DelayLine::refill(TimePoint now) {
  if (p_.rate == 0) return;
  tokens_nb_ = tokens_at(now);
  refilled_at_ = std::max(now, refilled_at_);
  refilled_once_ = true;
}

std::size_t DelayLine::pull(TimePoint now, std::string& out, std::size_t max) {
  refill(now);
  std::size_t n = 0;
  while (!q_.empty() && n < max) {
    Chunk& c = q_.front();
    if (c.eof || c.ready > now) break;
    std::size_t take = std::min(c.data.size() - c.off, max - n);
    if (p_.rate != 0) take = static_cast<std::size_t>(std::min<std::uint64_t>(take, tokens_nb_ / kNano));
    if (take == 0) break;
    out.append(c.data, c.off, take);
    c.off += take;
    n += take;
    queued_ -= take;
    if (p_.rate != 0) tokens_nb_ -= static_cast<std::uint64_t>(take) * kNano;
    if (c.off == c.data.size()) q_.pop_front();
  }
  return n;
}

bool DelayLine::eof_due(TimePoint now) const { return !q_.empty() && q_.front().eof && q_.front().ready <= now; }

std::optional<TimePoint> DelayLine::next_event(TimePoint now) const {
  if (q_.empty()) return std::nullopt;
  const Chunk& c = q_.front();
  const TimePoint t = std::max(c.ready, now);
  if (c.eof || p_.rate == 0) return t;
  const std::uint64_t need =
      static_cast<std::uint64_t>(std::min({c.data.size() - c.off, kQuantum, p_.burst})) * kNano;
  const std::uint64_t have = tokens_at(std::max(t, refilled_at_));
  if (have >= need) return t;
  const std::uint64_t wait_ns = (need - have + p_.rate - 1) / p_.rate;
  return std::max(t, refilled_at_) + Duration(static_cast<Duration::rep>(wait_ns));
}

}  // namespace shardnode::testnet::detail
