#pragma once

// One tick's gathering for a Remediation: every source the design names, run
// concurrently, each failure kept as an error text or an unset field ("not known"), never
// as healthy. The arithmetic on what it gathered is remediation/collect.h's Assemble.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/cluster_reader.h"
#include "core/pg_admin.h"
#include "poolguard/kube/clock.h"
#include "remediation/cluster.h"
#include "remediation/collect.h"
#include "remediation/probes.h"

namespace poolguard::controller {

/// One instant query's answer from Prometheus.
struct PromInstant {
  std::optional<double> value;  // the single sample's value (nullopt: no sample, or no answer)
  bool answered = false;        // Prometheus answered the query (with or without a sample)
  std::string error;            // why it did not ("Prometheus at URL: timed out", "HTTP 400: ...")
};
/// GET <url>/api/v1/query?query=<promql> (trailing slashes of `url` ignored) through
/// `probes`, within 1 s and kMaxPrometheusBytes. Shared by Remediations' detection and
/// ChaosExperiments' stop conditions.
PromInstant QueryPrometheusInstant(Probes& probes, const std::string& url,
                                   const std::string& promql);

/// Thread-safe: ticks of different Remediations may gather at once.
class Collector {
 public:
  /// The credentials' TTL and the logs' cadence are timed by `clock` (null: the real one).
  Collector(RemediationCluster* cluster, ClusterReader* reader, PgAdmin* db, Probes* probes,
            CollectorOptions options, std::shared_ptr<kube::Clock> clock = nullptr);

  /// Gathers the tick's answers (Gather) and assembles them with the counters kept for
  /// `in.key`: observations with `signals` filled and `detection` left for the caller.
  Observations Collect(const CollectInput& in, const RemediationSpec& spec, WallTime now);
  /// The raw answers of one tick: the target's pods (/health, /metrics), their logs,
  /// Prometheus, the database, the workloads and the experiment on the target.
  Gathered Gather(const CollectInput& in, const RemediationSpec& spec);
  /// Moves the baseline kept for `key` toward a healthy tick's observations.
  void KeepBaseline(const std::string& key, const Observations& o, WallTime now);
  /// Drops what is kept for `key` and closes diagnostic connections no one uses any more.
  void Forget(const std::string& key);

 private:
  DbProbe GatherDatabase(const CollectInput& in, const RemediationSpec& spec,
                         const std::vector<PodEndpoint>& endpoints);
  PromProbe GatherPrometheus(const CollectInput& in, const RemediationSpec& spec);
  /// The credentials in `secret` for `key`: reused within credentials_ttl unless `fresh`;
  /// `*reused` says which.
  DbTarget Credentials(const std::string& key, const std::string& ns, const std::string& secret,
                       bool fresh, bool* reused);
  ProbeResult TestRequest(const std::vector<PodEndpoint>& endpoints, const std::string& path);

  RemediationCluster* cluster_;
  ClusterReader* reader_;
  PgAdmin* db_;
  Probes* probes_;
  CollectorOptions options_;
  std::shared_ptr<kube::Clock> clock_;
  std::mutex mutex_;
  std::map<std::string, CollectState> state_;
  std::map<std::string, DbTarget> databases_;  // the database each key read last (Retain)
  struct KeptCredentials {
    std::string secret;  // ns/name
    DbTarget db;
    kube::Clock::TimePoint read_at;
  };
  std::map<std::string, KeptCredentials> credentials_;       // by key
  std::map<std::string, kube::Clock::TimePoint> logs_read_;  // by key
};

}  // namespace poolguard::controller
