#include "app/manager.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace poolguard::controller {

Manager::Manager(std::unique_ptr<LeaderElection> election) : election_(std::move(election)) {}

Manager::~Manager() {
  if (leader_thread_.joinable()) leader_thread_.join();
}

void Manager::Add(Runnable* runnable) { runnables_.push_back(runnable); }

void Manager::RequestStop() { Finish(kStopped); }

bool Manager::Leading() const {
  std::lock_guard lock(mutex_);
  return leading_;
}

bool Manager::MayAct() const {
  {
    std::lock_guard lock(mutex_);
    if (done_) return false;  // stopping: a lost lease, or a stop requested
  }
  return election_ == nullptr || election_->HoldsLease();
}

bool Manager::LostLease() const {
  std::lock_guard lock(mutex_);
  return done_ && code_ == kLostLease;
}

void Manager::Finish(ExitCode code) {
  std::lock_guard lock(mutex_);
  if (done_) return;  // the first reason wins (a lease released while stopping is not lost)
  done_ = true;
  code_ = code;
  cv_.notify_all();
}

void Manager::StartLeaderRunnables() {
  for (Runnable* r : runnables_) {
    if (!r->NeedsLeaderElection()) continue;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      leader_started_.push_back(r);
    }
    try {
      r->Start();
    } catch (const std::exception& e) {
      spdlog::critical("cannot start {}: {}", r->Name(), e.what());
      Finish(kFailed);
      return;
    }
  }
  std::lock_guard lock(mutex_);
  if (!stopping_) leading_ = true;
}

Manager::ExitCode Manager::Run() {
  std::vector<Runnable*> started;
  for (Runnable* r : runnables_) {
    if (r->NeedsLeaderElection()) continue;
    try {
      r->Start();
      started.push_back(r);
    } catch (const std::exception& e) {
      spdlog::critical("cannot start {}: {}", r->Name(), e.what());
      Finish(kFailed);
      break;
    }
  }

  // The leader's runnables start on a thread of their own: Controllers wait for their
  // caches to sync, and the election's callback must return promptly.
  auto lead = [this] {
    std::lock_guard lock(mutex_);
    if (stopping_ || done_ || leader_thread_.joinable()) return;
    leader_thread_ = std::thread([this] { StartLeaderRunnables(); });
  };
  bool failed;
  {
    std::lock_guard lock(mutex_);
    failed = done_;
  }
  if (!failed) {
    if (election_ != nullptr) {
      election_->Run(lead, [this] {
        spdlog::error("lost the leader lease; stopping");
        Finish(kLostLease);
      });
    } else {
      lead();
    }
  }

  std::vector<Runnable*> leaders;
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    stopping_ = true;
    leading_ = false;
    leaders = leader_started_;
  }
  spdlog::info("stopping");
  // The leader's work first (workers finish what they hold; faults are rolled back), while
  // the lease is still ours and the caches still serve; then the lease; then the rest.
  for (auto it = leaders.rbegin(); it != leaders.rend(); ++it) (*it)->Stop();
  {
    std::thread joining;
    {
      std::lock_guard lock(mutex_);
      joining = std::move(leader_thread_);
    }
    if (joining.joinable()) joining.join();
  }
  if (election_ != nullptr) election_->Stop();
  for (auto it = started.rbegin(); it != started.rend(); ++it) (*it)->Stop();
  std::lock_guard lock(mutex_);
  return code_;
}

}  // namespace poolguard::controller
