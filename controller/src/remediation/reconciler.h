#pragma once

#include <map>
#include <mutex>
#include <string>

#include "core/events.h"
#include "core/notifier.h"
#include "core/object_store.h"
#include "core/reconcile.h"
#include "poolguard/kube/clock.h"
#include "remediation/collector.h"
#include "remediation/plan.h"

namespace poolguard::controller {

/// What the reconciler counts (app/metrics.h implements it).
class RemediationMetrics {
 public:
  virtual ~RemediationMetrics() = default;
  /// A new incident and its detection time.
  virtual void IncidentOpened(double detection_seconds) = 0;
  virtual void IncidentResolved(double recovery_seconds) = 0;
  /// An action that finished: result Verified | VerificationFailed | Failed.
  virtual void ActionFinished(const std::string& action, const std::string& result) = 0;
};

/// Level-based Remediation reconciler, one tick per call: gather (Collector) → Detect →
/// Next → write status when it changed (always before the effect it records) → run the one
/// effect → events and metrics → requeue. Reconcile for one key never runs concurrently
/// (the work queue's guarantee). Throws on errors worth a rate-limited retry (a status
/// write that conflicted: the next call re-reads and decides again).
class RemediationReconciler {
 public:
  /// `events` and `metrics` may be null; `now` comes from `clock`.
  RemediationReconciler(ObjectStore* store, Collector* collector, RemediationCluster* cluster,
                        ClusterReader* reader, PgAdmin* db, Events* events,
                        RemediationMetrics* metrics, std::shared_ptr<kube::Clock> clock);

  ReconcileResult Reconcile(const std::string& key);
  /// Where to tell people (AwaitingApproval, NeedsHuman, Resolved, Rejected, Failed); none
  /// by default. Set before the first Reconcile.
  void set_notifier(Notifier* notifier) { notifier_ = notifier; }

 private:
  void RunEffect(const std::string& ns, const RemediationSpec& spec, const Effect& effect);
  void Account(const RemediationStatus& before, const RemediationStatus& after);

  // The object this reconciler's last status write for a key returned, and the
  // resourceVersion that write replaced. The next tick may come before the cache has seen
  // the write (at once, after an intent is recorded): on the replaced copy it would decide
  // again from the old status, collect for nothing and end in a 409.
  struct Written {
    std::string replaced;
    kube::Json object;
  };
  kube::Json Latest(const std::string& key, kube::Json cached);
  void Wrote(const std::string& key, const std::string& replaced, const kube::Json& object);

  std::mutex written_mutex_;
  std::map<std::string, Written> written_;
  ObjectStore* store_;
  Collector* collector_;
  RemediationCluster* cluster_;
  ClusterReader* reader_;
  PgAdmin* db_;
  Events* events_;
  Notifier* notifier_ = nullptr;
  RemediationMetrics* metrics_;
  std::shared_ptr<kube::Clock> clock_;
};

}  // namespace poolguard::controller
