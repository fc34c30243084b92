#pragma once

// The arithmetic of one Remediation tick, apart from the I/O that feeds it: what the
// collector gathered (Gathered, raw answers and errors) becomes Observations through
// Assemble, which also keeps the counter windows that span ticks (increases over a window,
// the rates since an action). Pure: tests call it with tables, no sockets.

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_reader.h"  // PodEndpoint
#include "poolguard/common/http_client.h"
#include "remediation/metric_presets.h"
#include "remediation/observations.h"
#include "remediation/spec.h"

namespace poolguard::controller {

struct CollectorOptions {
  /// Cap on one /health probe; a probe that takes longer while /metrics answers is Fail.
  std::chrono::milliseconds health_timeout{500};
  /// Window of the counter increases (pool timeouts, auth errors, 5xx ratio, request rate)
  /// taken from the pods' own /metrics.
  std::chrono::milliseconds counter_window{15000};
  /// The PromQL range; Prometheus scrapes every 5 s in the demo.
  std::string promql_range = "30s";
  /// How long the credentials Secret read for a Remediation is reused (RBAC grants `get`
  /// on Secrets, no watch: without this every tick is a GET). A login the database rejects
  /// with reused credentials reads the Secret again at once.
  std::chrono::milliseconds credentials_ttl{300000};
  /// While the target is healthy (no signal failing, no incident), pods' logs are read at
  /// most this often (a GET per pod), over the time since the last read: lines are found at
  /// most this late, none is missed. Every tick reads them once anything fails.
  std::chrono::milliseconds healthy_logs_interval{5000};
};

/// Which sessions are the target's (SessionFilter): spec.target.sessions, its role
/// defaulting to `db_user` (the credentials Secret's), and the target pods' addresses.
SessionFilter TargetSessions(const RemediationSpec& spec, const std::string& db_user,
                             const std::vector<PodEndpoint>& endpoints);

/// What the reconciler hands the collector besides the spec.
struct CollectInput {
  std::string key;  // ns/name of the Remediation
  std::string ns;
  int64_t generation = 0;
  std::string approval;        // the approve annotation
  std::string rejection;       // the reject annotation
  std::string decided_by;      // the decided-by annotation
  std::string action_request;  // the request-action annotation
  bool deep = false;           // read sessions, login, db pods: an incident may be open
  bool verifying = false;      // send the test request
  /// Verifying: the rates (error ratio, p99) are taken from the pods' own counters since
  /// this time (the later of the action's appliedAt and now - verification.window), not
  /// over windows that still hold the outage.
  std::optional<WallTime> since;
  /// The last action's appliedAt (this incident's or, after a fix, the previous one's):
  /// signals whose look-back window still reaches before it (PromQL ranges, the log
  /// window) cannot tell whether the action worked, so they are Inconclusive until their
  /// window has moved past it.
  std::optional<WallTime> fresh_since;
};

/// One counter's samples over time, for increases over a window.
class CounterWindow {
 public:
  /// Adds a sample; a value below the last one is a counter reset (the pod restarted) and
  /// starts the window anew. Samples older than `keep` go (two are always kept).
  void Add(WallTime t, double v, std::chrono::milliseconds keep);
  /// newest - the last sample at or before `since` (else the oldest); nullopt with fewer
  /// than 2 samples or nothing after `since`.
  std::optional<double> Increase(std::optional<WallTime> since = std::nullopt) const;
  /// The per-second rate over at least `span` (or all there is), from the newest sample.
  std::optional<double> RecentRate(std::chrono::milliseconds span) const;
  size_t size() const { return samples_.size(); }

 private:
  std::deque<std::pair<WallTime, double>> samples_;
};

/// What Assemble keeps per Remediation across ticks.
struct CollectState {
  Baseline baseline;
  std::optional<WallTime> baseline_at;
  std::map<std::string, std::map<std::string, CounterWindow>> counters;  // pod → counter
};

/// Moves `state`'s baseline toward a healthy tick's observations: an exponentially
/// weighted average with a 5-minute time constant; the first sets it.
void MoveBaseline(CollectState& state, const Observations& o, WallTime now);

/// One pod's answers this tick.
struct PodProbe {
  PodEndpoint endpoint;
  http::ClientResponse health, metrics;  // metrics: not asked (status 0, no error) without a path
  std::string metrics_path;              // where metrics were asked, for messages
  bool alive = false;  // without a metrics path: the pod's port accepted a connection
};

/// The Prometheus instant queries' values this tick.
struct PromProbe {
  bool answered = false;
  std::string error;  // the first failure; later queries were not sent
  std::optional<double> error_ratio, p99, pool_timeouts, request_rate, auth_errors;
};

/// The database as seen from the controller this tick.
struct DbProbe {
  std::optional<std::vector<PodState>> pods;
  ProbeResult tcp;
  LoginAttempt login;
  std::optional<DbCapacity> capacity;
  std::optional<std::vector<SessionRow>> sessions;
  std::string sessions_error;       // why sessions were not read
  std::string sessions_matched_by;  // SessionFilter::Describe() of the read
};

/// Everything one tick gathered, as it came: answers, values, and why each missing one is
/// missing.
struct Gathered {
  std::vector<PodEndpoint> endpoints;
  std::string endpoints_error;  // why there are none
  std::vector<PodProbe> pods;   // one per endpoint
  std::optional<DbErrorCounts> logs;
  std::string logs_error;
  std::chrono::seconds log_window{0};  // how far back the logs were read
  PromProbe prometheus;
  DbProbe db;
  std::optional<RolloutObservation> deployment;
  std::optional<int> pool_size;  // the env value on the Deployment's pool container
  int target_replicas = 1;
  std::optional<RolloutObservation> database;
  std::string chaos_experiment;
  std::string chaos_report;  // the experiment's poolguard.dev/report annotation
  std::optional<WallTime> chaos_started_at;
  ProbeResult test_request;  // verifying only
};

/// The Observations of a tick (every field but `detection`, which the caller decides with
/// Detect), taking the pods' counter samples into `state`'s windows.
Observations Assemble(const Gathered& gathered, const CollectInput& in, const RemediationSpec& spec,
                      const CollectorOptions& options, CollectState& state, WallTime now);

/// How far back a tick reads the pods' logs: the interval rounded up, plus a second, at
/// least 2 s.
std::chrono::seconds LogWindow(const DetectionSpec& detection);

/// The default PromQL of each signal for a target Deployment in a namespace: the preset's
/// (exposed for tests and docs).
PromQueries DefaultQueries(MetricPreset preset, const std::string& ns,
                           const std::string& deployment, const std::string& range);
/// The PromQL the collector sends: each query given in spec.detection.prometheus.queries,
/// its placeholders substituted, in place of the default.
PromQueries QueriesFor(const DetectionSpec& detection, const std::string& ns,
                       const std::string& deployment, const std::string& range);

/// The q-quantile of a cumulative histogram given as (upper bound, count) pairs, with
/// linear interpolation inside the bucket as PromQL's histogram_quantile does; nullopt
/// without observations.
std::optional<double> HistogramQuantile(double q, std::vector<std::pair<double, double>> buckets);

}  // namespace poolguard::controller
