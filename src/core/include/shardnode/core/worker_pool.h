// A fixed set of worker threads with a bounded job queue: work that must not run on
// the network thread (signature checks of gossip messages) goes here, and the
// caller posts the result back to its io_context. A full queue refuses the job
// (try_submit returns false) rather than growing: the caller decides what a refused
// job means (pubsub ignores the message, as go-libp2p-pubsub's validation throttle
// does).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shardnode {

class WorkerPool {
 public:
  // `threads` >= 1 workers; at most `max_queued` jobs waiting (not counting those running).
  WorkerPool(std::size_t threads, std::size_t max_queued);
  // Finishes the jobs already queued, then joins the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false (and the job is dropped unrun) when the queue is full or the
  // pool is stopping. Jobs must not throw.
  bool try_submit(std::function<void()> job);

  std::size_t threads() const { return workers_.size(); }
  std::size_t queued() const;
  std::uint64_t refused() const;
  std::uint64_t completed() const;

 private:
  void run();

  const std::size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::uint64_t refused_ = 0, completed_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace shardnode
