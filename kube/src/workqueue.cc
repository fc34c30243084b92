#include "poolguard/kube/workqueue.h"

#include <algorithm>
#include <cmath>

namespace poolguard::kube {

// ---------------------------------------------------------------------------------------
// Rate limiters

ItemExponentialRateLimiter::ItemExponentialRateLimiter(Clock::Duration base, Clock::Duration max)
    : base_(base), max_(max) {}

Clock::Duration ItemExponentialRateLimiter::When(const std::string& item) {
  std::lock_guard<std::mutex> guard(mutex_);
  int exp = failures_[item]++;
  // Compute in double so large exponents saturate instead of overflowing.
  double delay = static_cast<double>(base_.count()) * std::pow(2.0, exp);
  if (delay >= static_cast<double>(max_.count())) return max_;
  return Clock::Duration(static_cast<Clock::Duration::rep>(delay));
}

void ItemExponentialRateLimiter::Forget(const std::string& item) {
  std::lock_guard<std::mutex> guard(mutex_);
  failures_.erase(item);
}

int ItemExponentialRateLimiter::NumRequeues(const std::string& item) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = failures_.find(item);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst)
    : clock_(std::move(clock)), qps_(qps), burst_(burst), tokens_(burst), last_(clock_->Now()) {}

Clock::Duration BucketRateLimiter::When(const std::string&) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto now = clock_->Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  // Reserve a token; a negative balance is the wait until it will have been refilled.
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Clock::Duration::zero();
  return std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double>(-tokens_ / qps_));
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

Clock::Duration MaxOfRateLimiter::When(const std::string& item) {
  Clock::Duration longest = Clock::Duration::zero();
  for (auto& l : limiters_) longest = std::max(longest, l->When(item));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& item) {
  for (auto& l : limiters_) l->Forget(item);
}

int MaxOfRateLimiter::NumRequeues(const std::string& item) {
  int most = 0;
  for (auto& l : limiters_) most = std::max(most, l->NumRequeues(item));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(std::shared_ptr<Clock> clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(std::chrono::milliseconds(5),
                                                                  std::chrono::seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(std::move(clock), 10.0, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

// ---------------------------------------------------------------------------------------
// WorkQueue
//
// Metric hooks are collected as closures while the lock is held and run after it is
// released, so a slow or re-entrant metrics implementation cannot stall the queue.

using Notes = std::vector<std::function<void()>>;

namespace {
void RunNotes(const Notes& notes) {
  for (const auto& n : notes) n();
}
}  // namespace

WorkQueue::WorkQueue(std::shared_ptr<Clock> clock, std::unique_ptr<RateLimiter> limiter,
                     std::shared_ptr<WorkQueueMetrics> metrics)
    : clock_(clock ? std::move(clock) : Clock::Real()),
      limiter_(limiter ? std::move(limiter) : DefaultControllerRateLimiter(clock_)),
      metrics_(std::move(metrics)) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::AddLocked(const std::string& item, Notes* notes) {
  if (shutting_down_) return;
  if (dirty_.count(item)) return;  // already queued, or will be requeued at Done
  dirty_.insert(item);
  if (metrics_) notes->push_back([m = metrics_] { m->OnAdd(); });
  if (processing_.count(item)) return;  // Done() will queue it
  queue_.push_back(item);
  added_at_.emplace(item, clock_->Now());
  if (metrics_) notes->push_back([m = metrics_, d = queue_.size()] { m->OnDepth(d); });
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& item) {
  Notes notes;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    AddLocked(item, &notes);
  }
  RunNotes(notes);
}

void WorkQueue::AddAfter(const std::string& item, Clock::Duration delay) {
  if (delay <= Clock::Duration::zero()) {
    Add(item);
    return;
  }
  std::lock_guard<std::mutex> guard(mutex_);
  if (shutting_down_) return;
  auto ready = clock_->Now() + delay;
  auto it = delayed_ready_.find(item);
  if (it != delayed_ready_.end() && it->second <= ready) return;  // an earlier one is pending
  delayed_ready_[item] = ready;
  delayed_.push(Delayed{ready, item});
  cv_.notify_all();  // a waiting Get may need an earlier wake-up
}

void WorkQueue::AddRateLimited(const std::string& item) {
  if (metrics_) metrics_->OnRetry();
  AddAfter(item, limiter_->When(item));
}

void WorkQueue::Forget(const std::string& item) { limiter_->Forget(item); }

int WorkQueue::NumRequeues(const std::string& item) { return limiter_->NumRequeues(item); }

void WorkQueue::PromoteDueLocked(Notes* notes) {
  auto now = clock_->Now();
  while (!delayed_.empty() && delayed_.top().ready <= now) {
    Delayed d = delayed_.top();
    delayed_.pop();
    auto it = delayed_ready_.find(d.item);
    // Skip heap entries superseded by an earlier AddAfter of the same item.
    if (it == delayed_ready_.end() || it->second != d.ready) continue;
    delayed_ready_.erase(it);
    AddLocked(d.item, notes);
  }
}

std::optional<std::string> WorkQueue::PopLocked(Notes* notes) {
  if (queue_.empty()) return std::nullopt;
  std::string item = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(item);
  processing_.insert(item);
  auto now = clock_->Now();
  auto it = added_at_.find(item);
  if (it != added_at_.end()) {
    if (metrics_) {
      notes->push_back([m = metrics_, w = now - it->second] { m->OnQueueLatency(w); });
    }
    added_at_.erase(it);
  }
  started_at_[item] = now;
  if (metrics_) notes->push_back([m = metrics_, d = queue_.size()] { m->OnDepth(d); });
  return item;
}

std::optional<std::string> WorkQueue::Get() {
  Notes notes;
  std::optional<std::string> out;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      if (!shutting_down_) PromoteDueLocked(&notes);
      out = PopLocked(&notes);
      if (out || shutting_down_) break;
      auto deadline =
          delayed_.empty() ? clock_->Now() + std::chrono::hours(24) : delayed_.top().ready;
      clock_->WaitUntil(lock, cv_, deadline);
    }
  }
  RunNotes(notes);
  return out;
}

std::optional<std::string> WorkQueue::TryGet() {
  Notes notes;
  std::optional<std::string> out;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!shutting_down_) PromoteDueLocked(&notes);
    out = PopLocked(&notes);
  }
  RunNotes(notes);
  return out;
}

void WorkQueue::Done(const std::string& item) {
  Notes notes;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!processing_.erase(item)) return;
    auto it = started_at_.find(item);
    if (it != started_at_.end()) {
      if (metrics_) {
        notes.push_back([m = metrics_, w = clock_->Now() - it->second] { m->OnWorkDuration(w); });
      }
      started_at_.erase(it);
    }
    if (dirty_.count(item)) {
      // Re-added while it was being processed: hand it out again now.
      queue_.push_back(item);
      added_at_.emplace(item, clock_->Now());
      if (metrics_) notes.push_back([m = metrics_, d = queue_.size()] { m->OnDepth(d); });
      cv_.notify_one();
    }
    if (processing_.empty()) cv_.notify_all();  // ShutDownWithDrain may be waiting
  }
  RunNotes(notes);
}

size_t WorkQueue::Len() {
  Notes notes;
  size_t n;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!shutting_down_) PromoteDueLocked(&notes);
    n = queue_.size();
  }
  RunNotes(notes);
  return n;
}

size_t WorkQueue::DelayedLen() {
  std::lock_guard<std::mutex> guard(mutex_);
  return delayed_ready_.size();
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> guard(mutex_);
  shutting_down_ = true;
  // Delayed items are dropped: nobody will process them after shutdown.
  delayed_ = decltype(delayed_)();
  delayed_ready_.clear();
  cv_.notify_all();
}

void WorkQueue::ShutDownWithDrain() {
  std::unique_lock<std::mutex> lock(mutex_);
  shutting_down_ = true;
  drain_ = true;
  delayed_ = decltype(delayed_)();
  delayed_ready_.clear();
  cv_.notify_all();
  // Wait for the workers to finish what they hold and what is still queued. This is a real
  // wait on the workers (not on time), so it uses the condition variable directly.
  cv_.wait(lock, [this] { return processing_.empty() && queue_.empty(); });
}

bool WorkQueue::ShuttingDown() {
  std::lock_guard<std::mutex> guard(mutex_);
  return shutting_down_;
}

}  // namespace poolguard::kube
