#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace poolguard::kube {

/// Time as the library sees it. Everything that waits, backs off or expires (work queue
/// delays, rate limiters, watch reconnects, leases, event aggregation) asks a Clock, so that
/// tests drive time with FakeClock instead of sleeping.
///
/// Implementations are thread-safe.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  /// Monotonic time, for intervals and deadlines.
  virtual TimePoint Now() const = 0;
  /// Wall-clock time, for timestamps written to the API (Lease renewTime, Event times).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;

  /// Waits on `cv` (with `lock` held on entry and on return) until notified or until
  /// `deadline` on this clock. May return early (spuriously); callers re-check their
  /// condition and the time in a loop, as with std::condition_variable.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline) = 0;

  /// The process-wide real clock.
  static std::shared_ptr<Clock> Real();
};

/// A clock that moves only when told to. Waiters registered through WaitUntil are woken by
/// Advance/Set. Thread-safe.
class FakeClock : public Clock {
 public:
  FakeClock();

  TimePoint Now() const override;
  std::chrono::system_clock::time_point WallNow() const override;
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;

  /// Moves time forward by `d` and wakes every waiter.
  void Advance(Duration d);
  /// Number of threads currently inside WaitUntil (lets tests wait until a worker is parked).
  int Waiters() const;

 private:
  mutable std::mutex mutex_;
  TimePoint now_;
  std::chrono::system_clock::time_point wall_now_;
  std::vector<std::condition_variable*> waiters_;
};

}  // namespace poolguard::kube
