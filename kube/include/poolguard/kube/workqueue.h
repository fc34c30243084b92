#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "poolguard/kube/clock.h"

namespace poolguard::kube {

/// Decides how long an item waits before it is retried. Implementations are thread-safe.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  /// Delay before `item` may be processed again; counts one more failure for it.
  virtual Clock::Duration When(const std::string& item) = 0;
  /// Stops tracking `item` (it succeeded).
  virtual void Forget(const std::string& item) = 0;
  /// How many times When() was called for `item` since the last Forget.
  virtual int NumRequeues(const std::string& item) = 0;
};

/// base * 2^failures, capped at max. Per item.
class ItemExponentialRateLimiter : public RateLimiter {
 public:
  ItemExponentialRateLimiter(Clock::Duration base, Clock::Duration max);
  Clock::Duration When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) override;

 private:
  mutable std::mutex mutex_;
  Clock::Duration base_, max_;
  std::unordered_map<std::string, int> failures_;
};

/// Overall token bucket: `qps` tokens a second, up to `burst` at once. When() reserves a
/// token and returns how long until it is valid. Not per item: NumRequeues is always 0.
class BucketRateLimiter : public RateLimiter {
 public:
  BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst);
  Clock::Duration When(const std::string& item) override;
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<Clock> clock_;
  double qps_;
  double burst_;
  double tokens_;
  Clock::TimePoint last_;
};

/// The longest delay of several limiters (client-go's MaxOfRateLimiter).
class MaxOfRateLimiter : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  Clock::Duration When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

/// client-go's default: per-item 5ms..1000s exponential, and 10 qps / burst 100 overall.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(std::shared_ptr<Clock> clock);

/// Hooks for queue metrics (depth, adds, queue latency, work duration, retries). Called with
/// the queue's lock released. Implementations must be thread-safe.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  virtual void OnAdd() {}
  virtual void OnDepth(size_t /*depth*/) {}
  virtual void OnQueueLatency(Clock::Duration /*waited*/) {}
  virtual void OnWorkDuration(Clock::Duration /*worked*/) {}
  virtual void OnRetry() {}
};

/// A rate-limited, delaying work queue of string keys with client-go's guarantees:
///  - an item queued twice before it is taken is handed out once (de-duplication);
///  - an item being processed (between Get and Done) is never handed to a second worker; if
///    it is added meanwhile it is queued again when Done is called;
///  - AddAfter / AddRateLimited delay an item (the earliest pending time wins);
///  - ShutDown stops new adds; Get keeps handing out what is queued and then returns
///    nullopt; ShutDownWithDrain also waits until every queued and handed-out item is Done
///    (so workers must keep running until it returns).
/// Thread-safe; any number of workers may call Get concurrently.
class WorkQueue {
 public:
  explicit WorkQueue(std::shared_ptr<Clock> clock = Clock::Real(),
                     std::unique_ptr<RateLimiter> limiter = nullptr,
                     std::shared_ptr<WorkQueueMetrics> metrics = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& item);
  void AddAfter(const std::string& item, Clock::Duration delay);
  /// AddAfter(item, limiter.When(item)); counts a retry.
  void AddRateLimited(const std::string& item);
  /// Clears the item's failure history (call after it was processed successfully).
  void Forget(const std::string& item);
  int NumRequeues(const std::string& item);

  /// Blocks until an item is ready (or the queue is shut down and empty: nullopt).
  std::optional<std::string> Get();
  /// Non-blocking Get: an item if one is ready now.
  std::optional<std::string> TryGet();
  /// Marks the end of processing of an item returned by Get.
  void Done(const std::string& item);

  /// Items ready now (not counting delayed or in-process ones).
  size_t Len();
  /// Items waiting for their AddAfter time.
  size_t DelayedLen();

  void ShutDown();
  void ShutDownWithDrain();
  bool ShuttingDown();

 private:
  struct Delayed {
    Clock::TimePoint ready;
    std::string item;
    bool operator>(const Delayed& o) const { return ready > o.ready; }
  };
  void AddLocked(const std::string& item, std::vector<std::function<void()>>* notes);
  void PromoteDueLocked(std::vector<std::function<void()>>* notes);
  std::optional<std::string> PopLocked(std::vector<std::function<void()>>* notes);

  std::shared_ptr<Clock> clock_;
  std::unique_ptr<RateLimiter> limiter_;
  std::shared_ptr<WorkQueueMetrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;                       // queued or to be requeued at Done
  std::unordered_set<std::string> processing_;                  // handed out, not yet Done
  std::unordered_map<std::string, Clock::TimePoint> added_at_;  // for queue latency
  std::unordered_map<std::string, Clock::TimePoint> started_at_;  // for work duration
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<Delayed>> delayed_;
  std::unordered_map<std::string, Clock::TimePoint> delayed_ready_;  // earliest per item
  bool shutting_down_ = false;
  bool drain_ = false;
};

}  // namespace poolguard::kube
