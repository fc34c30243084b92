#pragma once

// One kind's reconcile loop, as sample-controller's Controller: keys come into a
// rate-limited work queue (from the informers, see app/informer_set.h), `workers` threads
// take them and call the reconciler, and one switch turns the result into the retry policy
// and the reconcile metrics.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/manager.h"
#include "core/reconcile.h"
#include "poolguard/kube/clock.h"
#include "poolguard/kube/workqueue.h"

namespace poolguard::controller {

/// Whether the objects a Controller reconciles are all in its cache yet.
class SyncSource {
 public:
  virtual ~SyncSource() = default;
  virtual bool HasSynced() const = 0;
};

/// Counts reconciles (app/metrics.h implements it).
class ReconcileMetrics {
 public:
  virtual ~ReconcileMetrics() = default;
  /// result: success | error | requeue_after
  virtual void Reconciled(const std::string& controller, const std::string& result,
                          double seconds) = 0;
};

class Controller final : public Runnable {
 public:
  using Reconcile = std::function<ReconcileResult(const std::string& key)>;

  struct Options {
    std::string name;  // "chaosexperiment": the metrics' controller label, and logs
    int workers = 1;
    /// Start fails (the process exits non-zero and restarts) when the cache has not
    /// synced by then, as controller-runtime's CacheSyncTimeout.
    std::chrono::milliseconds sync_timeout{std::chrono::minutes(5)};
    /// Runs once the workers have stopped, before Stop returns: the chaos controller rolls
    /// back every fault this process holds here, while the caches still serve.
    std::function<void()> on_stopped;
    /// Asked before each reconcile: false (the lease is no longer ours by our own clock)
    /// puts the key back for later instead of acting. Null: always.
    std::function<bool()> may_act;
  };

  /// `sync` and `metrics` may be null (tests). Nothing is started until Start.
  Controller(Options options, std::shared_ptr<kube::WorkQueue> queue, const SyncSource* sync,
             Reconcile reconcile, ReconcileMetrics* metrics, std::shared_ptr<kube::Clock> clock);
  ~Controller() override;

  std::string Name() const override { return options_.name; }
  bool NeedsLeaderElection() const override { return true; }
  /// Waits for the cache's sync (throws std::runtime_error past sync_timeout), then
  /// starts the workers.
  void Start() override;
  /// Shuts the queue down, lets the workers finish the keys they hold, joins them, runs
  /// on_stopped.
  void Stop() override;

  /// Takes one key (blocking until there is one), reconciles it and requeues it as the
  /// result asks: Forget on success, AddAfter for requeue_after, AddRateLimited on an
  /// exception. False once the queue is shut down. What each worker loops on.
  bool ProcessNext();

 private:
  Options options_;
  std::shared_ptr<kube::WorkQueue> queue_;
  const SyncSource* sync_;
  Reconcile reconcile_;
  ReconcileMetrics* metrics_;
  std::shared_ptr<kube::Clock> clock_;

  std::mutex mutex_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace poolguard::controller
