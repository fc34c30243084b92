#pragma once

#include <map>
#include <mutex>
#include <string>

#include "app/metrics.h"
#include "chaos/reconciler.h"  // ObjectStore, ReconcileResult
#include "poolguard/kube/events.h"
#include "remediation/collector.h"
#include "remediation/plan.h"

namespace poolguard::controller {

/// Level-based Remediation reconciler, one tick per call: gather (Collector) → Detect →
/// Next → write status when it changed (always before the effect it records) → run the one
/// effect → events and metrics → requeue. Reconcile for one key never runs concurrently
/// (the work queue's guarantee). Throws on errors worth a rate-limited retry (a status
/// write that conflicted: the next call re-reads and decides again).
class RemediationReconciler {
 public:
  RemediationReconciler(ObjectStore* store, Collector* collector, RemediationCluster* cluster,
                        ClusterReader* reader, PgAdmin* db, kube::EventRecorder* recorder,
                        Metrics* metrics, std::string target_application_name);

  ReconcileResult Reconcile(const std::string& key);

 private:
  void RunEffect(const std::string& ns, const RemediationSpec& spec, const Effect& effect);
  void Account(const RemediationStatus& before, const RemediationStatus& after);

  ObjectStore* store_;
  Collector* collector_;
  RemediationCluster* cluster_;
  ClusterReader* reader_;
  PgAdmin* db_;
  kube::EventRecorder* recorder_;
  Metrics* metrics_;
  std::string target_application_name_;
};

}  // namespace poolguard::controller
