#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

#include "app/controller.h"
#include "chaos/reconciler.h"
#include "poolguard/kube/workqueue.h"
#include "remediation/reconciler.h"

namespace poolguard::controller {

/// The controller's Prometheus metrics (names follow controller-runtime where it has them).
/// Thread-safe (prometheus-cpp's types are).
class Metrics final : public ReconcileMetrics, public ChaosMetrics, public RemediationMetrics {
 public:
  Metrics();
  prometheus::Registry& registry() { return *registry_; }

  /// result: success | error | requeue_after
  void Reconciled(const std::string& controller, const std::string& result,
                  double seconds) override;
  void SetPhaseCounts(const std::map<std::string, size_t>& by_phase);
  void SetHeld(int sessions, int clients);
  void Injected(double seconds) override;
  void RolledBack(double seconds) override;
  void SetLeader(bool leader);
  void SetKillSwitch(bool on);
  // The Remediation reconciler.
  void SetRemediationPhaseCounts(const std::map<std::string, size_t>& by_phase);
  /// A new incident and its detection time.
  void IncidentOpened(double detection_seconds) override;
  void IncidentResolved(double recovery_seconds) override;
  /// An action that finished: result Verified | VerificationFailed | Failed.
  void ActionFinished(const std::string& action, const std::string& result) override;
  /// A notification delivered ("sent"), given up ("failed") or not queued ("dropped").
  void Notified(const std::string& result);
  /// Work-queue hooks for the queue named `name`.
  std::shared_ptr<kube::WorkQueueMetrics> QueueMetrics(const std::string& name);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* reconcile_total_;
  prometheus::Family<prometheus::Counter>* reconcile_errors_;
  prometheus::Family<prometheus::Histogram>* reconcile_time_;
  prometheus::Family<prometheus::Gauge>* experiments_;
  prometheus::Gauge* sessions_;
  prometheus::Gauge* clients_;
  prometheus::Histogram* injection_;
  prometheus::Histogram* rollback_;
  prometheus::Gauge* leader_;
  prometheus::Gauge* kill_switch_;
  prometheus::Family<prometheus::Gauge>* remediations_;
  prometheus::Counter* incidents_;
  prometheus::Histogram* detection_;
  prometheus::Histogram* recovery_;
  prometheus::Family<prometheus::Counter>* actions_;
  prometheus::Family<prometheus::Counter>* notifications_;
  prometheus::Family<prometheus::Counter>* wq_adds_;
  prometheus::Family<prometheus::Gauge>* wq_depth_;
  prometheus::Family<prometheus::Histogram>* wq_latency_;
  prometheus::Family<prometheus::Histogram>* wq_work_;
  prometheus::Family<prometheus::Counter>* wq_retries_;
};

}  // namespace poolguard::controller
