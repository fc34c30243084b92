#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "chaos/decide.h"
#include "chaos/fault_engine.h"
#include "core/cluster_reader.h"
#include "core/events.h"
#include "core/notifier.h"
#include "core/object_store.h"
#include "core/pg_admin.h"
#include "core/reconcile.h"
#include "poolguard/kube/clock.h"

namespace poolguard::controller {

/// The password a CredentialRotation experiment gives the role: HMAC-SHA256 of the
/// experiment's uid keyed by the Secret's password. Nothing needs storing to set it back
/// after a crash (the next controller derives it again), and only who can read the Secret
/// can derive it.
std::string RotatedPassword(const std::string& original, const std::string& uid);

/// What the reconciler counts (app/metrics.h implements it).
class ChaosMetrics {
 public:
  virtual ~ChaosMetrics() = default;
  virtual void Injected(double seconds) = 0;
  /// Until pg_stat_activity no longer shows the sessions.
  virtual void RolledBack(double seconds) = 0;
};

struct ChaosReconcilerOptions {
  int max_connections_per_experiment = 200;
  int capacity_margin = 5;
  int max_surge_clients = 2000;
  /// Added to the remaining duration for the server-side session timeouts.
  std::chrono::milliseconds session_grace{30000};
  /// The cluster-wide kill switch (app/kill_switch.h): "" while off. None: always off.
  std::function<std::string()> kill_switch;
  /// Stop conditions. Whether a Remediation of the Deployment `ns`/`name` says NeedsHuman:
  /// "" if none, else what to tell ("Remediation ns/x needs a person: ...").
  std::function<std::string(const std::string& ns, const std::string& deployment)> needs_human;
  /// An instant PromQL query's single value (nullopt: empty, NaN or no answer; `error` says
  /// which), bounded in time and size.
  struct PromAnswer {
    std::optional<double> value;
    std::string error;
  };
  std::function<PromAnswer(const std::string& url, const std::string& query)> prometheus;
};

/// Level-based ChaosExperiment reconciler: observe (cache, engine, PostgreSQL) → DecideChaos
/// → write finalizer and status → run the one effect; repeat until nothing is left to do.
/// Reconcile for one key never runs concurrently (the work queue's guarantee); different
/// keys may. Throws on errors worth a rate-limited retry.
class ChaosReconciler {
 public:
  /// `events` and `metrics` may be null. Time (now, durations, the rollback's waits)
  /// comes from `clock`.
  ChaosReconciler(ObjectStore* store, ClusterReader* reader, FaultEngine* engine, PgAdmin* admin,
                  Events* events, ChaosMetrics* metrics, std::shared_ptr<kube::Clock> clock,
                  ChaosReconcilerOptions options);

  ReconcileResult Reconcile(const std::string& key);
  /// Where to tell people (AwaitingApproval, NeedsHuman, Resolved, Rejected, Failed); none
  /// by default. Set before the first Reconcile.
  void set_notifier(Notifier* notifier) { notifier_ = notifier; }
  /// SIGTERM path: roll back the fault of `key` and record it in status.
  void Shutdown(const std::string& key);
  /// Experiments whose fault this process holds: the engine's sessions and clients, the
  /// passwords it rotated and the StatefulSets it stopped (those outlive the process unless
  /// set back: the SIGTERM path walks this list).
  std::vector<std::string> Holding();
  /// The kill switch turned on (`why` says where): closes every session and client this
  /// process holds at once, before any status is written; each experiment then records
  /// its rollback when reconciled, as stopped by the switch even if it is off again by
  /// then (a fault released is never injected again). Faults outside the process (a
  /// password, a StatefulSet, a selector) are set back by those reconciles.
  void ReleaseHeld(const std::string& why);

 private:
  ChaosObserved Observe(const kube::Json& object, bool shutting_down);
  std::optional<DbTarget> Database(const std::string& key, const kube::Json& object,
                                   const ChaosSpec& spec, std::string* error);
  /// NetworkPartition's guardrail: why the Service cannot be partitioned ("" when it can): not
  /// found, no selector, partitioned already, or (terminateSessions) the database unresolved.
  std::string PartitionGuard(const std::string& key, const kube::Json& object,
                             const ChaosSpec& spec, std::string* endpoint);
  void RunInject(const std::string& key, const kube::Json& object, const ChaosObserved& o);
  void RunRollback(const std::string& key, const kube::Json& object, const ChaosObserved& o);
  ReconcileResult Run(const std::string& key, bool shutting_down);
  /// Whether the role's password is the experiment's: true when only the rotated password
  /// logs in, false when the Secret's does or neither does (someone else changed it; it is
  /// not ours to set back), nullopt when the database did not answer.
  std::optional<bool> PasswordRotated(const std::string& key, const DbTarget& db,
                                      const std::string& rotated);
  /// A fault outside this process (a password, a StatefulSet, a Service) read back: `present`
  /// (nullopt: could not tell, then `last_known`, status's). Kept in outside_; returns `held` (0 or
  /// 1).
  int TrackOutside(const std::string& key, std::optional<bool> present, bool last_known);
  /// Closes the admin's kept connections to databases no held fault uses (db_cache_). The
  /// admin must be this reconciler's own: another user's kept connections would be closed.
  void RetainHeldDatabases();

  ObjectStore* store_;
  ClusterReader* reader_;
  FaultEngine* engine_;
  PgAdmin* admin_;
  Events* events_;
  Notifier* notifier_ = nullptr;
  ChaosMetrics* metrics_;
  std::shared_ptr<kube::Clock> clock_;
  ChaosReconcilerOptions options_;

  std::mutex admission_mutex_;                 // guardrail checks + claiming a target are one step
  std::mutex mutex_;                           // guards the maps below
  std::map<std::string, std::string> claims_;  // key → "ns/deployment" admitted here
  std::map<std::string, DbTarget> db_cache_;   // key → database of the held fault
  /// Keys whose fault lives outside this process and the engine (a rotated password, a
  /// stopped StatefulSet) as this process last saw it: the SIGTERM path's list.
  std::set<std::string> outside_;
  std::map<std::string, std::string> inject_errors_;
  std::map<std::string, std::string> released_;  // key → the kill switch that released it
};

}  // namespace poolguard::controller
