#include "poolguard/kube/clock.h"

#include <algorithm>

namespace poolguard::kube {
namespace {

class RealClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override {
    cv.wait_until(lock, deadline);
  }
};

}  // namespace

std::shared_ptr<Clock> Clock::Real() {
  static const std::shared_ptr<Clock> clock = std::make_shared<RealClock>();
  return clock;
}

FakeClock::FakeClock()
    : now_(std::chrono::steady_clock::time_point{} + std::chrono::hours(1000)),
      wall_now_(std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50)) {}

Clock::TimePoint FakeClock::Now() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return now_;
}

std::chrono::system_clock::time_point FakeClock::WallNow() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return wall_now_;
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (now_ >= deadline) return;
    waiters_.push_back(&cv);
  }
  // Advance() notifies without holding the waiter's lock, so a notification can slip in
  // between our time check and the wait; the short real timeout bounds that lost wake-up.
  // It only affects how soon a waiter re-checks, never what it observes.
  cv.wait_for(lock, std::chrono::milliseconds(5));
  std::lock_guard<std::mutex> guard(mutex_);
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &cv));
}

void FakeClock::Advance(Duration d) {
  std::lock_guard<std::mutex> guard(mutex_);
  now_ += d;
  wall_now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  for (auto* cv : waiters_) cv->notify_all();
}

int FakeClock::Waiters() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return static_cast<int>(waiters_.size());
}

}  // namespace poolguard::kube
