// The Manager's lifecycle with recording runnables and a scripted lease: what starts when,
// what stops in which order, and the exit code for each way of ending.

#include "app/manager.h"

#include <gtest/gtest.h>

#include <atomic>

#include <chrono>
#include <future>
#include <stdexcept>

#include "fakes/fakes.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using fakes::ActionLog;
using Lines = std::vector<std::string>;

class FakeRunnable final : public Runnable {
 public:
  FakeRunnable(ActionLog* log, std::string name, bool leader, bool fail = false)
      : log_(log), name_(std::move(name)), leader_(leader), fail_(fail) {}
  std::string Name() const override { return name_; }
  bool NeedsLeaderElection() const override { return leader_; }
  void Start() override {
    log_->Add("start " + name_);
    if (fail_) throw std::runtime_error(name_ + " cannot start");
  }
  void Stop() override { log_->Add("stop " + name_); }

 private:
  ActionLog* log_;
  std::string name_;
  bool leader_, fail_;
};

// A lease the test hands out and takes back.
class FakeElection final : public LeaderElection {
 public:
  explicit FakeElection(ActionLog* log) : log_(log) {}
  void Run(std::function<void()> on_started, std::function<void()> on_stopped) override {
    std::lock_guard lock(mutex_);
    log_->Add("campaign");
    on_started_ = std::move(on_started);
    on_stopped_ = std::move(on_stopped);
  }
  void Stop() override { log_->Add("release lease"); }
  bool HoldsLease() const override { return holds; }
  void Win() { Callback(true)(); }
  void Lose() { Callback(false)(); }
  bool Campaigning() {
    std::lock_guard lock(mutex_);
    return static_cast<bool>(on_started_);
  }

 private:
  std::function<void()> Callback(bool started) {
    std::lock_guard lock(mutex_);
    return started ? on_started_ : on_stopped_;
  }
  ActionLog* log_;
  std::mutex mutex_;
  std::function<void()> on_started_, on_stopped_;

 public:
  std::atomic<bool> holds{true};  // the lease renewed within its deadline
};

// Polls `condition` for up to 10 s (the manager runs on a thread of its own).
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

TEST(Manager, WithoutElectionStartsAllInOrderAndStopsInReverse) {
  ActionLog log;
  FakeRunnable health(&log, "health", false), cache(&log, "cache", false);
  FakeRunnable chaos(&log, "chaos", true), remediation(&log, "remediation", true);
  Manager manager(nullptr);
  for (Runnable* r : {static_cast<Runnable*>(&health), static_cast<Runnable*>(&cache),
                      static_cast<Runnable*>(&chaos), static_cast<Runnable*>(&remediation)}) {
    manager.Add(r);
  }
  auto run = std::async(std::launch::async, [&] { return manager.Run(); });
  ASSERT_TRUE(Eventually([&] { return manager.Leading(); }));
  manager.RequestStop();
  EXPECT_EQ(run.get(), Manager::kStopped);
  EXPECT_FALSE(manager.Leading());
  EXPECT_EQ(log.Take(), (Lines{"start health", "start cache", "start chaos", "start remediation",
                               "stop remediation", "stop chaos", "stop cache", "stop health"}));
}

// A cache on every replica and a controller on the leader, under a lease the test holds.
class ManagerWithLease : public ::testing::Test {
 protected:
  ManagerWithLease() {
    auto election = std::make_unique<FakeElection>(&log_);
    lease_ = election.get();
    manager_ = std::make_unique<Manager>(std::move(election));
    manager_->Add(&cache_);
    manager_->Add(&chaos_);
    run_ = std::async(std::launch::async, [this] { return manager_->Run(); });
    EXPECT_TRUE(Eventually([this] { return lease_->Campaigning(); }));
  }
  void Lead() {
    lease_->Win();
    ASSERT_TRUE(Eventually([this] { return manager_->Leading(); }));
  }

  ActionLog log_;
  FakeRunnable cache_{&log_, "cache", false}, chaos_{&log_, "chaos", true};
  FakeElection* lease_ = nullptr;
  std::unique_ptr<Manager> manager_;
  std::future<Manager::ExitCode> run_;
};

TEST_F(ManagerWithLease, TheLeadersWorkWaitsForTheLeaseAndStopsBeforeItIsReleased) {
  EXPECT_EQ(log_.Lines(), (Lines{"start cache", "campaign"}));  // not leading: no workers
  Lead();
  manager_->RequestStop();
  EXPECT_EQ(run_.get(), Manager::kStopped);
  EXPECT_EQ(log_.Take(), (Lines{"start cache", "campaign", "start chaos", "stop chaos",
                                "release lease", "stop cache"}));
}

TEST_F(ManagerWithLease, ALostLeaseStopsEverythingWithExitCode1) {
  Lead();
  lease_->Lose();
  EXPECT_EQ(run_.get(), Manager::kLostLease);
  EXPECT_EQ(log_.Take(), (Lines{"start cache", "campaign", "start chaos", "stop chaos",
                                "release lease", "stop cache"}));
}

TEST_F(ManagerWithLease, WorkersMayActOnlyWhileTheLeaseIsHeldAndNotWhileStopping) {
  Lead();
  EXPECT_TRUE(manager_->MayAct());
  lease_->holds = false;  // overdue by our own clock: a frozen leader just woken
  EXPECT_FALSE(manager_->MayAct());
  lease_->holds = true;
  lease_->Lose();
  EXPECT_EQ(run_.get(), Manager::kLostLease);
  EXPECT_FALSE(manager_->MayAct());
  EXPECT_TRUE(manager_->LostLease());
}

TEST_F(ManagerWithLease, AStopBeforeTheLeaseIsWonStartsNoLeaderWork) {
  manager_->RequestStop();
  EXPECT_EQ(run_.get(), Manager::kStopped);
  lease_->Win();  // too late: nothing may start now
  EXPECT_EQ(log_.Take(), (Lines{"start cache", "campaign", "release lease", "stop cache"}));
}

TEST(Manager, ARunnableThatCannotStartFailsTheRunAndStopsWhatStarted) {
  ActionLog log;
  FakeRunnable health(&log, "health", false), metrics(&log, "metrics", false, /*fail=*/true);
  FakeRunnable chaos(&log, "chaos", true);
  Manager manager(nullptr);
  manager.Add(&health);
  manager.Add(&metrics);
  manager.Add(&chaos);
  EXPECT_EQ(manager.Run(), Manager::kFailed);
  EXPECT_EQ(log.Take(), (Lines{"start health", "start metrics", "stop health"}));
}

TEST(Manager, ALeaderRunnableThatCannotStartFailsTheRun) {
  ActionLog log;
  FakeRunnable cache(&log, "cache", false), chaos(&log, "chaos", true, /*fail=*/true);
  FakeRunnable remediation(&log, "remediation", true);
  Manager manager(nullptr);
  manager.Add(&cache);
  manager.Add(&chaos);
  manager.Add(&remediation);
  EXPECT_EQ(manager.Run(), Manager::kFailed);
  EXPECT_EQ(log.Take(), (Lines{"start cache", "start chaos", "stop chaos", "stop cache"}));
}

}  // namespace
}  // namespace poolguard::controller
