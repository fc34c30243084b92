#include "poolguard/kube/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace poolguard::kube {
namespace {

using namespace std::chrono_literals;

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  auto t0 = clock.Now();
  auto w0 = clock.WallNow();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(5s);
  EXPECT_EQ(clock.Now() - t0, 5s);
  EXPECT_EQ(clock.WallNow() - w0, 5s);
}

TEST(FakeClockTest, WaitUntilPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(m);
  clock.WaitUntil(lock, cv, clock.Now());
  EXPECT_EQ(clock.Waiters(), 0);
}

TEST(FakeClockTest, AdvanceReleasesAWaiter) {
  auto clock = std::make_shared<FakeClock>();
  std::mutex m;
  std::condition_variable cv;
  auto deadline = clock->Now() + 10s;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(m);
    while (clock->Now() < deadline) clock->WaitUntil(lock, cv, deadline);
  });
  clock->Advance(9s);
  clock->Advance(1s);
  waiter.join();  // would hang if Advance did not release it
  EXPECT_GE(clock->Now(), deadline);
}

}  // namespace
}  // namespace poolguard::kube
