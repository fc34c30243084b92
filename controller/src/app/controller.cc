#include "app/controller.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <stdexcept>

#include "poolguard/kube/errors.h"

namespace poolguard::controller {
namespace {

constexpr std::chrono::milliseconds kSyncPoll{50};

}  // namespace

Controller::Controller(Options options, std::shared_ptr<kube::WorkQueue> queue,
                       const SyncSource* sync, Reconcile reconcile, ReconcileMetrics* metrics,
                       std::shared_ptr<kube::Clock> clock)
    : options_(std::move(options)),
      queue_(std::move(queue)),
      sync_(sync),
      reconcile_(std::move(reconcile)),
      metrics_(metrics),
      clock_(std::move(clock)) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  // Wait for the cache, waking every kSyncPoll to notice a Stop that came meanwhile.
  const auto deadline = clock_->Now() + options_.sync_timeout;
  std::mutex wait_mutex;
  std::condition_variable never;
  while (sync_ != nullptr && !sync_->HasSynced()) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (clock_->Now() >= deadline) {
      throw std::runtime_error("the " + options_.name + " cache did not sync within " +
                               std::to_string(options_.sync_timeout.count()) + " ms");
    }
    std::unique_lock lock(wait_mutex);
    clock_->WaitUntil(lock, never, std::min(deadline, clock_->Now() + kSyncPoll));
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  spdlog::info("{}: starting {} workers", options_.name, options_.workers);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] {
      while (ProcessNext()) {
      }
    });
  }
}

void Controller::Stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = stopping_ = true;
    workers = std::move(workers_);
  }
  queue_->ShutDown();
  for (auto& w : workers) w.join();
  if (options_.on_stopped) options_.on_stopped();
}

bool Controller::ProcessNext() {
  const auto key = queue_->Get();
  if (!key) return false;
  if (options_.may_act && !options_.may_act()) {
    // Not ours to act on now (a lost or lapsing lease): the key waits for a leader.
    queue_->AddAfter(*key, std::chrono::seconds(1));
    queue_->Done(*key);
    return true;
  }
  const auto start = clock_->Now();
  std::string result = "success";
  try {
    const ReconcileResult r = reconcile_(*key);
    queue_->Forget(*key);
    if (r.requeue_after) {
      queue_->AddAfter(*key, *r.requeue_after);
      result = "requeue_after";
    }
  } catch (const kube::ApiError& e) {
    result = "error";
    if (kube::IsConflict(e)) {
      spdlog::debug("{}: {}; retrying", *key, e.what());
    } else {
      spdlog::warn("{}: {}; retrying", *key, e.what());
    }
    queue_->AddRateLimited(*key);
  } catch (const std::exception& e) {
    result = "error";
    spdlog::error("{}: {}; retrying", *key, e.what());
    queue_->AddRateLimited(*key);
  }
  if (metrics_ != nullptr) {
    metrics_->Reconciled(options_.name, result,
                         std::chrono::duration<double>(clock_->Now() - start).count());
  }
  queue_->Done(*key);
  return true;
}

}  // namespace poolguard::controller
