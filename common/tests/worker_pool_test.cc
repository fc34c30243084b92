#include "poolguard/common/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace poolguard {
namespace {

TEST(WorkerPool, RunsEveryQueuedTaskBeforeShutdownReturns) {
  std::atomic<int> done{0};
  WorkerPool pool(2, 100);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.Submit([&] { done++; }));
  pool.Shutdown();
  EXPECT_EQ(done.load(), 50);
  EXPECT_FALSE(pool.Submit([] {}));
}

TEST(WorkerPool, RefusesWorkBeyondTheQueueBound) {
  std::promise<void> release;
  auto gate = release.get_future().share();
  WorkerPool pool(1, 1);
  ASSERT_TRUE(pool.Submit([gate] { gate.wait(); }));
  // The single thread may not have taken the first task yet; fill until refused.
  int accepted = 0;
  while (pool.Submit([gate] { gate.wait(); })) ++accepted;
  EXPECT_LE(accepted, 1);
  release.set_value();
  pool.Shutdown();
}

}  // namespace
}  // namespace poolguard
