#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace poolguard {

/// A fixed set of threads of our own for blocking work (database calls), so that
/// cpprestsdk's shared thread pool never blocks. Thread-safe.
class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `task`; returns false (and drops it) when the queue is full or the pool stops.
  bool Submit(std::function<void()> task);

  /// Runs what is queued, then joins every thread. Idempotent.
  void Shutdown();

  std::size_t queued() const;

 private:
  void Run();

  const std::size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace poolguard
