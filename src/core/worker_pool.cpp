#include "shardnode/core/worker_pool.h"

#include <algorithm>

namespace shardnode {

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queued) : max_queued_(std::max<std::size_t>(max_queued, 1)) {
  const std::size_t n = std::max<std::size_t>(threads, 1);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

bool WorkerPool::try_submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || jobs_.size() >= max_queued_) {
      ++refused_;
      return false;
    }
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left to do
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // what it captured is destroyed on this thread, unlocked
    lock.lock();
    ++completed_;
  }
}

std::size_t WorkerPool::queued() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

std::uint64_t WorkerPool::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

std::uint64_t WorkerPool::completed() const {
  std::lock_guard lock(mu_);
  return completed_;
}

}  // namespace shardnode
