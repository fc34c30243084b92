#include "app/metrics.h"

namespace poolguard::controller {
namespace {

prometheus::Histogram::BucketBoundaries Buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

class QueueHooks final : public kube::WorkQueueMetrics {
 public:
  QueueHooks(prometheus::Counter& adds, prometheus::Gauge& depth, prometheus::Histogram& latency,
             prometheus::Histogram& work, prometheus::Counter& retries)
      : adds_(adds), depth_(depth), latency_(latency), work_(work), retries_(retries) {}
  void OnAdd() override { adds_.Increment(); }
  void OnDepth(size_t depth) override { depth_.Set(static_cast<double>(depth)); }
  void OnQueueLatency(kube::Clock::Duration d) override {
    latency_.Observe(std::chrono::duration<double>(d).count());
  }
  void OnWorkDuration(kube::Clock::Duration d) override {
    work_.Observe(std::chrono::duration<double>(d).count());
  }
  void OnRetry() override { retries_.Increment(); }

 private:
  prometheus::Counter& adds_;
  prometheus::Gauge& depth_;
  prometheus::Histogram& latency_;
  prometheus::Histogram& work_;
  prometheus::Counter& retries_;
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  reconcile_total_ = &BuildCounter()
                          .Name("controller_runtime_reconcile_total")
                          .Help("Reconciliations per controller and result")
                          .Register(*registry_);
  reconcile_errors_ = &BuildCounter()
                           .Name("controller_runtime_reconcile_errors_total")
                           .Help("Reconciliations that returned an error")
                           .Register(*registry_);
  reconcile_time_ = &BuildHistogram()
                         .Name("controller_runtime_reconcile_time_seconds")
                         .Help("Time per reconciliation")
                         .Register(*registry_);
  experiments_ = &BuildGauge()
                      .Name("poolguard_chaos_experiments")
                      .Help("ChaosExperiments by phase (from the cache)")
                      .Register(*registry_);
  sessions_ = &BuildGauge()
                   .Name("poolguard_chaos_connections_held")
                   .Help("Leak sessions this controller holds open")
                   .Register(*registry_)
                   .Add({});
  clients_ = &BuildGauge()
                  .Name("poolguard_chaos_surge_clients")
                  .Help("Traffic-surge clients this controller runs")
                  .Register(*registry_)
                  .Add({});
  injection_ = &BuildHistogram()
                    .Name("poolguard_chaos_injection_duration_seconds")
                    .Help("Time to open a fault's sessions or clients")
                    .Register(*registry_)
                    .Add({}, Buckets());
  rollback_ = &BuildHistogram()
                   .Name("poolguard_chaos_rollback_duration_seconds")
                   .Help("Time to roll a fault back until PostgreSQL no longer shows it")
                   .Register(*registry_)
                   .Add({}, Buckets());
  leader_ = &BuildGauge()
                 .Name("poolguard_leader")
                 .Help("1 while this replica holds the leader lease")
                 .Register(*registry_)
                 .Add({});
  kill_switch_ = &BuildGauge()
                      .Name("poolguard_chaos_kill_switch")
                      .Help("1 while the chaos kill switch is on (no experiment runs)")
                      .Register(*registry_)
                      .Add({});
  remediations_ = &BuildGauge()
                       .Name("poolguard_remediations")
                       .Help("Remediations per phase")
                       .Register(*registry_);
  incidents_ = &BuildCounter()
                    .Name("poolguard_incidents_total")
                    .Help("Incidents detected by Remediations")
                    .Register(*registry_)
                    .Add({});
  // Detection and recovery are seconds to a minute; the floors are 2 s, 3 s and 10 s.
  const prometheus::Histogram::BucketBoundaries incident_buckets{0.5, 1,  1.5, 2,  3,  5,
                                                                 7.5, 10, 15,  20, 30, 60};
  detection_ =
      &BuildHistogram()
           .Name("poolguard_detection_seconds")
           .Help("From the fault (an experiment's start, else the first bad signal) to Degraded")
           .Register(*registry_)
           .Add({}, incident_buckets);
  recovery_ = &BuildHistogram()
                   .Name("poolguard_recovery_seconds")
                   .Help("From Degraded to a verified fix")
                   .Register(*registry_)
                   .Add({}, incident_buckets);
  actions_ = &BuildCounter()
                  .Name("poolguard_remediation_actions_total")
                  .Help("Remediation actions finished, by action and result")
                  .Register(*registry_);
  notifications_ = &BuildCounter()
                        .Name("poolguard_notifications_total")
                        .Help(
                            "Webhook notifications by result: sent, failed (attempts used "
                            "up) or dropped (queue full)")
                        .Register(*registry_);
  for (const char* result : {"sent", "failed", "dropped"}) {
    notifications_->Add({{"result", result}});  // exported from zero, so rate() sees the first
  }
  wq_adds_ = &BuildCounter()
                  .Name("workqueue_adds_total")
                  .Help("Adds to the work queue")
                  .Register(*registry_);
  wq_depth_ = &BuildGauge()
                   .Name("workqueue_depth")
                   .Help("Items ready in the work queue")
                   .Register(*registry_);
  wq_latency_ = &BuildHistogram()
                     .Name("workqueue_queue_duration_seconds")
                     .Help("How long an item waited in the queue")
                     .Register(*registry_);
  wq_work_ = &BuildHistogram()
                  .Name("workqueue_work_duration_seconds")
                  .Help("How long processing an item took")
                  .Register(*registry_);
  wq_retries_ = &BuildCounter()
                     .Name("workqueue_retries_total")
                     .Help("Rate-limited retries")
                     .Register(*registry_);
  for (const char* controller : {"chaosexperiment", "remediation"}) {
    for (const char* result : {"success", "error", "requeue_after"}) {
      reconcile_total_->Add({{"controller", controller}, {"result", result}});
    }
    reconcile_errors_->Add({{"controller", controller}});
  }
  for (const char* action :
       {"RestartDeployment", "RestartDatabase", "IncreasePoolSize", "TerminateBlockingSessions"}) {
    for (const char* result : {"Verified", "VerificationFailed", "Failed"}) {
      actions_->Add({{"action", action}, {"result", result}});
    }
  }
  SetRemediationPhaseCounts({});
}

void Metrics::Reconciled(const std::string& controller, const std::string& result, double seconds) {
  reconcile_total_->Add({{"controller", controller}, {"result", result}}).Increment();
  if (result == "error") reconcile_errors_->Add({{"controller", controller}}).Increment();
  reconcile_time_->Add({{"controller", controller}}, Buckets()).Observe(seconds);
}

void Metrics::SetPhaseCounts(const std::map<std::string, size_t>& by_phase) {
  for (const char* phase : {"Pending", "Injecting", "Active", "RollingBack", "Completed", "Aborted",
                            "Failed", "Rejected"}) {
    auto it = by_phase.find(phase);
    experiments_->Add({{"phase", phase}})
        .Set(it == by_phase.end() ? 0 : static_cast<double>(it->second));
  }
}

void Metrics::SetRemediationPhaseCounts(const std::map<std::string, size_t>& by_phase) {
  for (const char* phase : {"Watching", "Detected", "Diagnosing", "Remediating", "Verifying",
                            "Resolved", "Exhausted", "AwaitingApproval", "Invalid"}) {
    auto it = by_phase.find(phase);
    remediations_->Add({{"phase", phase}})
        .Set(it == by_phase.end() ? 0 : static_cast<double>(it->second));
  }
}

void Metrics::IncidentOpened(double detection_seconds) {
  incidents_->Increment();
  detection_->Observe(detection_seconds);
}

void Metrics::IncidentResolved(double recovery_seconds) { recovery_->Observe(recovery_seconds); }

void Metrics::ActionFinished(const std::string& action, const std::string& result) {
  actions_->Add({{"action", action}, {"result", result}}).Increment();
}

void Metrics::Notified(const std::string& result) {
  notifications_->Add({{"result", result}}).Increment();
}

void Metrics::SetHeld(int sessions, int clients) {
  sessions_->Set(sessions);
  clients_->Set(clients);
}
void Metrics::Injected(double seconds) { injection_->Observe(seconds); }
void Metrics::RolledBack(double seconds) { rollback_->Observe(seconds); }
void Metrics::SetLeader(bool leader) { leader_->Set(leader ? 1 : 0); }
void Metrics::SetKillSwitch(bool on) { kill_switch_->Set(on ? 1 : 0); }

std::shared_ptr<kube::WorkQueueMetrics> Metrics::QueueMetrics(const std::string& name) {
  const prometheus::Labels l{{"name", name}};
  return std::make_shared<QueueHooks>(wq_adds_->Add(l), wq_depth_->Add(l),
                                      wq_latency_->Add(l, Buckets()), wq_work_->Add(l, Buckets()),
                                      wq_retries_->Add(l));
}

}  // namespace poolguard::controller
