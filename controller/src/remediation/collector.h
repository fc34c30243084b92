#pragma once

// One tick's gathering for a Remediation: every source the design names, run
// concurrently, each failure kept as a signal's Error or an unset field ("not known"),
// never as healthy. Keeps, per object, what must span ticks: counter samples for
// increases over a window, and the pre-incident baseline.

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "core/cluster_reader.h"
#include "remediation/cluster.h"
#include "remediation/probes.h"
#include "remediation/status.h"

namespace poolguard::controller {

struct CollectorOptions {
  /// Cap on one /health probe; a probe that takes longer while /metrics answers is Fail.
  std::chrono::milliseconds health_timeout{500};
  /// Window of the counter increases (pool timeouts, auth errors, 5xx ratio, request rate)
  /// taken from the pods' own /metrics.
  std::chrono::milliseconds counter_window{15000};
  /// The PromQL range; Prometheus scrapes every 5 s in the demo.
  std::string promql_range = "30s";
  std::string test_path = "/items?limit=1";
  std::string target_application_name = "poolguard-target";
};

/// What the reconciler hands the collector besides the spec.
struct CollectInput {
  std::string key;  // ns/name of the Remediation
  std::string ns;
  int64_t generation = 0;
  std::string approval;    // the approve annotation
  bool deep = false;       // read sessions, login, db pods: an incident may be open
  bool verifying = false;  // send the test request
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

class Collector {
 public:
  Collector(RemediationCluster* cluster, ClusterReader* reader, PgAdmin* db, HttpGetter* http,
            CollectorOptions options);

  /// Observations with `signals` filled and `detection` left for the caller (Detect).
  Observations Collect(const CollectInput& in, const RemediationSpec& spec, WallTime now);
  /// Moves the baseline kept for `key` toward a healthy tick's observations (an
  /// exponentially weighted average with a 5-minute time constant; the first sets it).
  void KeepBaseline(const std::string& key, const Observations& o, WallTime now);
  void Forget(const std::string& key);

 private:
  struct Window {
    std::deque<std::pair<WallTime, double>> samples;
    void Add(WallTime t, double v, std::chrono::milliseconds keep);
    /// newest - the last sample at or before `since` (else the oldest); nullopt with fewer
    /// than 2 samples.
    std::optional<double> Increase(std::optional<WallTime> since = std::nullopt) const;
  };
  struct State {
    Baseline baseline;
    std::optional<WallTime> baseline_at;
    std::optional<DbTarget> db;  // the database last read, for PgAdmin::Retain
    std::map<std::string, std::map<std::string, Window>> counters;  // pod → counter → window
  };

  RemediationCluster* cluster_;
  ClusterReader* reader_;
  PgAdmin* db_;
  HttpGetter* http_;
  CollectorOptions options_;
  std::mutex mutex_;
  std::map<std::string, State> state_;
};

/// The default PromQL of each signal for a target Deployment in a namespace (exposed for
/// tests and docs).
struct PromQueries {
  std::string error_ratio, p99_latency, pool_timeouts, request_rate, auth_errors;
  bool operator==(const PromQueries&) const = default;
};
PromQueries DefaultQueries(const std::string& ns, const std::string& deployment,
                           const std::string& range);
/// The PromQL the collector sends: each query given in spec.detection.prometheus.queries,
/// its placeholders substituted, in place of the default.
PromQueries QueriesFor(const DetectionSpec& detection, const std::string& ns,
                       const std::string& deployment, const std::string& range);

/// The q-quantile of a cumulative histogram given as (upper bound, count) pairs, with
/// linear interpolation inside the bucket as PromQL's histogram_quantile does; nullopt
/// without observations.
std::optional<double> HistogramQuantile(double q, std::vector<std::pair<double, double>> buckets);

}  // namespace poolguard::controller
