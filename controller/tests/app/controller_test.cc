// Controller: the retry policy of ProcessNext on a real work queue with a fake clock, the
// wait for the cache at Start, and Stop's order (workers joined, then on_stopped).

#include "app/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

#include "fakes/fakes.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using fakes::ActionLog;
using Lines = std::vector<std::string>;

class RecordingMetrics final : public ReconcileMetrics {
 public:
  explicit RecordingMetrics(ActionLog* log) : log_(log) {}
  void Reconciled(const std::string& controller, const std::string& result, double) override {
    log_->Add(controller + " " + result);
  }

 private:
  ActionLog* log_;
};

class Synced final : public SyncSource {
 public:
  std::atomic<bool> synced{false};
  bool HasSynced() const override { return synced; }
};

class ControllerTest : public ::testing::Test {
 protected:
  std::shared_ptr<kube::FakeClock> clock_ = std::make_shared<kube::FakeClock>();
  std::shared_ptr<kube::WorkQueue> queue_ =
      std::make_shared<kube::WorkQueue>(clock_, kube::DefaultControllerRateLimiter(clock_));
  ActionLog log_;
  RecordingMetrics metrics_{&log_};
  // What the next reconciles do, in order; each call takes one.
  std::vector<std::function<ReconcileResult()>> script_;

  Controller Make(Controller::Options options = {}, const SyncSource* sync = nullptr) {
    if (options.name.empty()) options.name = "test";
    return Controller(
        options, queue_, sync,
        [this](const std::string& key) {
          log_.Add("reconcile " + key);
          auto next = script_.front();
          script_.erase(script_.begin());
          return next();
        },
        &metrics_, clock_);
  }
};

TEST_F(ControllerTest, SuccessForgetsTheKey) {
  Controller c = Make();
  script_ = {[] { return ReconcileResult{}; }};
  queue_->Add("ns/a");
  EXPECT_TRUE(c.ProcessNext());
  EXPECT_EQ(log_.Take(), (Lines{"reconcile ns/a", "test success"}));
  EXPECT_EQ(queue_->Len() + queue_->DelayedLen(), 0u);
  EXPECT_EQ(queue_->NumRequeues("ns/a"), 0);
}

// A replica whose lease lapsed (a frozen leader woken) must not act on what it dequeues:
// the key waits, and is reconciled once it may act again.
TEST_F(ControllerTest, AKeyDequeuedWithoutTheLeaseWaitsInsteadOfActing) {
  std::atomic<bool> may_act{false};
  Controller::Options options;
  options.may_act = [&] { return may_act.load(); };
  Controller c = Make(options);
  script_ = {[] { return ReconcileResult{}; }};
  queue_->Add("ns/a");
  EXPECT_TRUE(c.ProcessNext());
  EXPECT_EQ(log_.Take(), Lines{});  // not reconciled, no metric
  EXPECT_EQ(queue_->DelayedLen(), 1u);
  may_act = true;
  clock_->Advance(1s);
  EXPECT_TRUE(c.ProcessNext());
  EXPECT_EQ(log_.Take(), (Lines{"reconcile ns/a", "test success"}));
}

TEST_F(ControllerTest, RequeueAfterComesBackAtThatTimeAndNotBefore) {
  Controller c = Make();
  script_ = {[] { return ReconcileResult{30s}; }, [] { return ReconcileResult{}; }};
  queue_->Add("ns/a");
  c.ProcessNext();
  EXPECT_EQ(queue_->Len(), 0u);
  EXPECT_EQ(queue_->DelayedLen(), 1u);
  clock_->Advance(29s);
  EXPECT_FALSE(queue_->TryGet());
  clock_->Advance(1s);
  EXPECT_TRUE(c.ProcessNext());
  EXPECT_EQ(log_.Take(),
            (Lines{"reconcile ns/a", "test requeue_after", "reconcile ns/a", "test success"}));
}

TEST_F(ControllerTest, AnErrorIsRetriedUnderTheSameKeyWithBackoffThenForgotten) {
  Controller c = Make();
  script_ = {[]() -> ReconcileResult { throw std::runtime_error("database unreachable"); },
             []() -> ReconcileResult {
               throw kube::ApiError(kube::ErrorKind::kConflict, 409, "Conflict", "stale", {});
             },
             [] { return ReconcileResult{}; }};
  queue_->Add("ns/a");
  c.ProcessNext();
  EXPECT_EQ(queue_->NumRequeues("ns/a"), 1);
  EXPECT_EQ(queue_->Len(), 0u);  // not at once: after the limiter's delay
  clock_->Advance(1s);
  c.ProcessNext();
  EXPECT_EQ(queue_->NumRequeues("ns/a"), 2);
  clock_->Advance(1s);
  c.ProcessNext();
  EXPECT_EQ(queue_->NumRequeues("ns/a"), 0);
  EXPECT_EQ(log_.Take(), (Lines{"reconcile ns/a", "test error", "reconcile ns/a", "test error",
                                "reconcile ns/a", "test success"}));
}

TEST_F(ControllerTest, StartWaitsForTheCacheThenRunsWorkersUntilStop) {
  Synced sync;
  std::atomic<int> stopped{0};
  Controller::Options options;
  options.workers = 2;
  options.on_stopped = [&] { ++stopped; };
  Controller c = Make(options, &sync);
  script_ = {[] { return ReconcileResult{}; }};
  queue_->Add("ns/a");
  auto start = std::async(std::launch::async, [&] { c.Start(); });
  // Not synced: the fake clock has not moved, Start keeps waiting and nothing runs.
  EXPECT_EQ(start.wait_for(50ms), std::future_status::timeout);
  EXPECT_EQ(log_.Lines(), Lines{});
  sync.synced = true;
  while (start.wait_for(5ms) == std::future_status::timeout) clock_->Advance(100ms);
  start.get();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (log_.Lines().size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(log_.Lines(), (Lines{"reconcile ns/a", "test success"}));
  c.Stop();
  c.Stop();  // idempotent
  EXPECT_EQ(stopped, 1);
  EXPECT_TRUE(queue_->ShuttingDown());
}

TEST_F(ControllerTest, ACacheThatNeverSyncsFailsTheStart) {
  Synced never;
  Controller::Options options;
  options.sync_timeout = 2s;
  auto jump = std::make_shared<fakes::JumpClock>();
  Controller c(
      options, queue_, &never, [](const std::string&) { return ReconcileResult{}; }, nullptr, jump);
  try {
    c.Start();
    FAIL() << "started on an empty cache";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("did not sync within 2000 ms"), std::string::npos)
        << e.what();
  }
}

TEST_F(ControllerTest, AStopDuringTheWaitForTheCacheStartsNoWorker) {
  Synced never;
  std::atomic<int> stopped{0};
  Controller::Options options;
  options.on_stopped = [&] { ++stopped; };
  Controller c = Make(options, &never);
  queue_->Add("ns/a");
  auto start = std::async(std::launch::async, [&] { c.Start(); });
  EXPECT_EQ(start.wait_for(20ms), std::future_status::timeout);
  c.Stop();
  // Each step of the fake clock wakes the wait, which then sees the stop.
  while (start.wait_for(5ms) == std::future_status::timeout) clock_->Advance(100ms);
  start.get();
  EXPECT_EQ(stopped, 1);
  EXPECT_EQ(log_.Lines(), Lines{});  // nothing was reconciled
}

}  // namespace
}  // namespace poolguard::controller
