#pragma once

// The process's lifecycle, as controller-runtime's manager: every long-running part is a
// Runnable that says whether it needs the leader lease. Health and metrics servers and the
// informer caches run on every replica; the controllers' workers run only on the leader.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace poolguard::controller {

class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual std::string Name() const = 0;
  /// Whether Start must wait until this replica holds the leader lease.
  virtual bool NeedsLeaderElection() const = 0;
  /// Starts the work on threads of its own and returns once it runs; throws what keeps it
  /// from running. May be called concurrently with Stop (a stop during start-up): then it
  /// returns without leaving anything running.
  virtual void Start() = 0;
  /// Stops and joins its threads. Idempotent; safe when Start never ran or failed.
  virtual void Stop() = 0;
};

/// The leader lease as the Manager sees it: kube::LeaderElector in the process
/// (app/app.cc), a scripted fake in tests.
class LeaderElection {
 public:
  virtual ~LeaderElection() = default;
  /// Starts campaigning: `on_started` once this replica leads, `on_stopped` when it stops
  /// leading (lease lost or released). Callbacks run on the election's own thread and must
  /// return promptly.
  virtual void Run(std::function<void()> on_started, std::function<void()> on_stopped) = 0;
  /// Stops campaigning and releases the lease if held. Blocks until its thread has exited.
  virtual void Stop() = 0;
  /// Whether this replica holds the lease now by its own clock (renewed within the renew
  /// deadline): false the moment a frozen leader wakes, before its renew loop notices.
  virtual bool HoldsLease() const { return true; }
};

/// Runs runnables in the order they were added and stops them in reverse: first those that
/// need the lease (after the lease is won, or at once without election), stopped before
/// the lease is released; then the others. Thread-safe: RequestStop may come from any
/// thread (the signal handler's).
class Manager {
 public:
  enum ExitCode { kStopped = 0, kLostLease = 1, kFailed = 2 };

  /// `election` may be null: then this process leads from the start.
  explicit Manager(std::unique_ptr<LeaderElection> election);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  /// Before Run. The manager does not own `runnable`.
  void Add(Runnable* runnable);
  /// Starts everything, blocks until RequestStop, a lost lease or a runnable that failed
  /// to start, then stops everything. kStopped after a requested stop, kLostLease after the
  /// lease was lost, kFailed when something could not start.
  ExitCode Run();
  void RequestStop();
  /// True once the leader's runnables have all started (and until they are stopped).
  bool Leading() const;
  /// True once Run is ending because the lease was lost: another replica may lead now, so
  /// stopping runnables must not write what the leader owns.
  bool LostLease() const;
  /// Not stopping, and holding the lease now (always, without election): what a worker
  /// asks before it acts.
  bool MayAct() const;

 private:
  void StartLeaderRunnables();
  void Finish(ExitCode code);

  std::unique_ptr<LeaderElection> election_;
  std::vector<Runnable*> runnables_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;  // Run should stop everything
  ExitCode code_ = kStopped;
  bool stopping_ = false;                  // no leader runnable may start any more
  std::vector<Runnable*> leader_started_;  // in start order (Start called, maybe running)
  bool leading_ = false;
  std::thread leader_thread_;
};

}  // namespace poolguard::controller
