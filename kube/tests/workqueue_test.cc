#include "poolguard/kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace poolguard::kube {
namespace {

using namespace std::chrono_literals;

// Waits (without asserting anything about time) until a thread is parked in the clock.
void AwaitWaiter(const FakeClock& clock) {
  while (clock.Waiters() == 0) std::this_thread::yield();
}

class WorkQueueTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  // Exponential 1s..60s per item, so delays are easy to reason about.
  WorkQueue queue_{clock_, std::make_unique<ItemExponentialRateLimiter>(1s, 60s)};
};

TEST_F(WorkQueueTest, DeduplicatesQueuedItems) {
  queue_.Add("a");
  queue_.Add("a");
  queue_.Add("b");
  EXPECT_EQ(queue_.Len(), 2u);
  EXPECT_EQ(queue_.Get(), "a");
  EXPECT_EQ(queue_.Get(), "b");
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, ItemInProcessIsNotHandedOutAgainUntilDone) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get(), "a");
  queue_.Add("a");  // re-added while a worker holds it
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_FALSE(queue_.TryGet().has_value());  // a second worker gets nothing
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 1u);  // queued again, once
  EXPECT_EQ(queue_.Get(), "a");
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, DoneWithoutReAddDoesNotRequeue) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get(), "a");
  queue_.Done("a");
  EXPECT_FALSE(queue_.TryGet().has_value());
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClock) {
  queue_.AddAfter("a", 10s);
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_EQ(queue_.DelayedLen(), 1u);
  clock_->Advance(9s);
  EXPECT_EQ(queue_.Len(), 0u);
  clock_->Advance(1s);
  EXPECT_EQ(queue_.Len(), 1u);
  EXPECT_EQ(queue_.DelayedLen(), 0u);
}

TEST_F(WorkQueueTest, EarliestAddAfterWinsAndFiresOnce) {
  queue_.AddAfter("a", 10s);
  queue_.AddAfter("a", 2s);
  queue_.AddAfter("a", 5s);  // later than the pending 2s: ignored
  clock_->Advance(2s);
  ASSERT_EQ(queue_.TryGet(), "a");
  queue_.Done("a");
  clock_->Advance(20s);
  EXPECT_FALSE(queue_.TryGet().has_value());  // the superseded 10s entry does not fire
}

TEST_F(WorkQueueTest, AddAfterOfQueuedItemDoesNotDuplicate) {
  queue_.Add("a");
  queue_.AddAfter("a", 1s);
  clock_->Advance(1s);
  EXPECT_EQ(queue_.Len(), 1u);
}

TEST_F(WorkQueueTest, BlockedGetWakesWhenDelayExpires) {
  queue_.AddAfter("a", 30s);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue_.Get(); });
  AwaitWaiter(*clock_);
  clock_->Advance(30s);
  worker.join();  // hangs if the delayed item never became ready
  EXPECT_EQ(got, "a");
}

TEST_F(WorkQueueTest, AddRateLimitedBacksOffExponentiallyPerItem) {
  queue_.AddRateLimited("a");  // 1s
  EXPECT_EQ(queue_.NumRequeues("a"), 1);
  clock_->Advance(999ms);
  EXPECT_EQ(queue_.Len(), 0u);
  clock_->Advance(1ms);
  ASSERT_EQ(queue_.TryGet(), "a");
  queue_.Done("a");

  queue_.AddRateLimited("a");  // 2s
  clock_->Advance(1s);
  EXPECT_EQ(queue_.Len(), 0u);
  clock_->Advance(1s);
  ASSERT_EQ(queue_.TryGet(), "a");
  queue_.Done("a");

  queue_.AddRateLimited("b");  // b has its own history: 1s
  clock_->Advance(1s);
  EXPECT_EQ(queue_.TryGet(), "b");
  queue_.Done("b");

  queue_.Forget("a");
  EXPECT_EQ(queue_.NumRequeues("a"), 0);
  queue_.AddRateLimited("a");  // back to 1s
  clock_->Advance(1s);
  EXPECT_EQ(queue_.TryGet(), "a");
}

TEST_F(WorkQueueTest, ShutDownHandsOutWhatIsQueuedThenStops) {
  queue_.Add("a");
  queue_.AddAfter("later", 1s);
  queue_.ShutDown();
  EXPECT_TRUE(queue_.ShuttingDown());
  queue_.Add("b");  // ignored
  EXPECT_EQ(queue_.Get(), "a");
  EXPECT_EQ(queue_.Get(), std::nullopt);
  clock_->Advance(1s);
  EXPECT_EQ(queue_.Get(), std::nullopt);  // delayed items are dropped
}

TEST_F(WorkQueueTest, ShutDownReleasesBlockedWorkers) {
  std::optional<std::string> got = "sentinel";
  std::thread worker([&] { got = queue_.Get(); });
  AwaitWaiter(*clock_);
  queue_.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForItemsInProcess) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get(), "a");
  std::atomic<bool> drained{false};
  std::thread closer([&] {
    queue_.ShutDownWithDrain();
    drained = true;
  });
  while (!queue_.ShuttingDown()) std::this_thread::yield();
  bool drained_before_done = drained;
  queue_.Done("a");
  closer.join();
  EXPECT_FALSE(drained_before_done);
  EXPECT_TRUE(drained);
}

TEST(RateLimiterTest, ItemExponentialDoublesAndCaps) {
  ItemExponentialRateLimiter rl(5ms, 100ms);
  EXPECT_EQ(rl.When("x"), 5ms);
  EXPECT_EQ(rl.When("x"), 10ms);
  EXPECT_EQ(rl.When("x"), 20ms);
  EXPECT_EQ(rl.When("x"), 40ms);
  EXPECT_EQ(rl.When("x"), 80ms);
  EXPECT_EQ(rl.When("x"), 100ms);
  for (int i = 0; i < 100; ++i) rl.When("x");  // no overflow at large exponents
  EXPECT_EQ(rl.When("x"), 100ms);
  EXPECT_EQ(rl.When("y"), 5ms);
  rl.Forget("x");
  EXPECT_EQ(rl.NumRequeues("x"), 0);
  EXPECT_EQ(rl.When("x"), 5ms);
}

TEST(RateLimiterTest, BucketAllowsBurstThenSpacesByQps) {
  auto clock = std::make_shared<FakeClock>();
  BucketRateLimiter rl(clock, 10.0, 2);
  EXPECT_EQ(rl.When("a"), Clock::Duration::zero());
  EXPECT_EQ(rl.When("b"), Clock::Duration::zero());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(rl.When("c")), 100ms);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(rl.When("d")), 200ms);
  clock->Advance(10s);  // refills, but only up to the burst
  EXPECT_EQ(rl.When("e"), Clock::Duration::zero());
  EXPECT_EQ(rl.When("f"), Clock::Duration::zero());
  EXPECT_GT(rl.When("g"), Clock::Duration::zero());
}

TEST(RateLimiterTest, DefaultTakesTheLongerOfItemAndBucket) {
  auto clock = std::make_shared<FakeClock>();
  auto rl = DefaultControllerRateLimiter(clock);
  EXPECT_EQ(rl->When("a"), 5ms);  // bucket has tokens: per-item delay wins
  EXPECT_EQ(rl->When("a"), 10ms);
  EXPECT_EQ(rl->NumRequeues("a"), 2);
  for (int i = 0; i < 200; ++i) rl->When("k" + std::to_string(i));  // drain the bucket
  EXPECT_GT(rl->When("fresh"), 5ms);  // now the bucket's wait dominates
}

class CountingMetrics : public WorkQueueMetrics {
 public:
  void OnAdd() override { ++adds; }
  void OnDepth(size_t d) override { depth = d; }
  void OnQueueLatency(Clock::Duration w) override { latency = w; }
  void OnWorkDuration(Clock::Duration w) override { work = w; }
  void OnRetry() override { ++retries; }
  std::atomic<int> adds{0}, retries{0};
  std::atomic<size_t> depth{0};
  Clock::Duration latency{}, work{};
};

TEST(WorkQueueMetricsTest, ReportsAddsDepthLatencyDurationRetries) {
  auto clock = std::make_shared<FakeClock>();
  auto metrics = std::make_shared<CountingMetrics>();
  WorkQueue q(clock, std::make_unique<ItemExponentialRateLimiter>(1s, 10s), metrics);
  q.Add("a");
  q.Add("b");
  q.Add("a");  // deduplicated: not an add
  EXPECT_EQ(metrics->adds, 2);
  EXPECT_EQ(metrics->depth, 2u);
  clock->Advance(3s);
  ASSERT_EQ(q.Get(), "a");
  EXPECT_EQ(metrics->latency, 3s);
  EXPECT_EQ(metrics->depth, 1u);
  clock->Advance(2s);
  q.Done("a");
  EXPECT_EQ(metrics->work, 2s);
  q.AddRateLimited("a");
  EXPECT_EQ(metrics->retries, 1);
}

}  // namespace
}  // namespace poolguard::kube
