#include "remediation/collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <future>

#include "core/text.h"

namespace poolguard::controller {
namespace {

using std::chrono::milliseconds;

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string HostPort(const std::string& ip, int port) {
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

}  // namespace

Collector::Collector(RemediationCluster* cluster, ClusterReader* reader, PgAdmin* db,
                     Probes* probes, CollectorOptions options)
    : cluster_(cluster), reader_(reader), db_(db), probes_(probes), options_(std::move(options)) {}

void Collector::Forget(const std::string& key) {
  std::vector<DbTarget> still_used;
  {
    std::lock_guard lock(mutex_);
    state_.erase(key);
    databases_.erase(key);
    for (const auto& [_, db] : databases_) still_used.push_back(db);
  }
  // The diagnostic connection of a database no Remediation watches any more is closed.
  db_->Retain(still_used);
}

void Collector::KeepBaseline(const std::string& key, const Observations& o, WallTime now) {
  std::lock_guard lock(mutex_);
  MoveBaseline(state_[key], o, now);
}

Observations Collector::Collect(const CollectInput& in, const RemediationSpec& spec, WallTime now) {
  const Gathered gathered = Gather(in, spec);
  std::lock_guard lock(mutex_);
  return Assemble(gathered, in, spec, options_, state_[in.key], now);
}

Gathered Collector::Gather(const CollectInput& in, const RemediationSpec& spec) {
  Gathered g;
  const milliseconds health_timeout = std::min(options_.health_timeout, spec.detection.interval);

  // ---- the target's pods: /health and /metrics, concurrently ----
  try {
    g.endpoints = cluster_->TargetEndpoints(in.ns, spec.target_service, spec.target_port);
    if (g.endpoints.empty())
      g.endpoints_error = "Service " + spec.target_service + " has no endpoints";
  } catch (const std::exception& e) {
    g.endpoints_error = e.what();
  }
  std::vector<std::future<PodProbe>> pods;
  for (const auto& ep : g.endpoints) {
    pods.push_back(std::async(std::launch::async, [this, ep, &spec, health_timeout] {
      PodProbe p;
      p.endpoint = ep;
      const std::string base = "http://" + HostPort(ep.ip, ep.port);
      const std::string& path = spec.detection.metrics_path.empty()
                                    ? PresetOf(spec.detection.metrics_preset).pod.path
                                    : spec.detection.metrics_path;
      // The metrics answer also says the process is alive while /health hangs; without a
      // metrics endpoint, a TCP connect to the pod's port says it.
      p.metrics_path = path;
      auto metrics = std::async(std::launch::async, [&] {
        if (!path.empty()) {
          p.metrics = probes_->Get(base + path, std::max(health_timeout, milliseconds(1000)),
                                   kMaxMetricsBytes);
        } else {
          p.alive = probes_->TcpConnect(Endpoint{ep.ip, ep.port}, milliseconds(1000)).outcome ==
                    Outcome::kPass;
        }
      });
      p.health = probes_->Get(base + spec.health_path, health_timeout, kMaxHealthBytes);
      metrics.get();
      return p;
    }));
  }

  // ---- logs of each pod ----
  g.log_window = LogWindow(spec.detection);
  auto logs = std::async(std::launch::async, [&] {
    if (g.endpoints.empty()) {
      g.logs_error = g.endpoints_error;
      return;
    }
    DbErrorCounts total;
    std::vector<std::string> errors;
    int read = 0;
    for (const auto& ep : g.endpoints) {
      try {
        DbErrorCounts c = ParseDbErrorLines(
            cluster_->PodLogs(in.ns, ep.pod, static_cast<int>(g.log_window.count())),
            spec.detection.log_patterns);
        ++read;
        for (const auto& [k, n] : c.by_kind) total.by_kind[k] += n;
        if (!c.sample.empty()) total.sample = c.sample;
      } catch (const std::exception& e) {
        errors.push_back(e.what());
      }
    }
    if (read == 0) {
      g.logs_error = Join(errors, "; ");
    } else {
      g.logs = total;
    }
  });

  auto prometheus = std::async(std::launch::async, [&] { return GatherPrometheus(in, spec); });
  auto database =
      std::async(std::launch::async, [&] { return GatherDatabase(in, spec, g.endpoints); });

  // ---- Kubernetes objects (each read on its own: one failing loses only its fields) ----
  auto read = [&](const char* what, const std::function<void()>& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::warn("{}: reading {}: {}", in.key, what, e.what());
    }
  };
  read("the Deployment", [&] {
    if (auto dep =
            cluster_->Deployment(in.ns, spec.target_deployment, spec.increase_pool_size.container,
                                 spec.increase_pool_size.env)) {
      g.deployment = dep->rollout;
      g.pool_size = dep->pool_size;
      g.target_replicas = dep->replicas;
    }
  });
  read("the StatefulSet", [&] { g.database = cluster_->StatefulSet(in.ns, spec.db_statefulset); });
  read("ChaosExperiments", [&] {
    if (auto chaos = cluster_->ActiveChaos(in.ns, spec.target_deployment)) {
      g.chaos_experiment = chaos->key;
      g.chaos_started_at = chaos->started_at;
      g.chaos_report = chaos->report;
    }
  });

  for (auto& f : pods) g.pods.push_back(f.get());
  logs.get();
  g.prometheus = prometheus.get();
  g.db = database.get();
  if (in.verifying && !spec.verification.test_path.empty()) {
    g.test_request = TestRequest(g.endpoints, spec.verification.test_path);
  }
  return g;
}

PromInstant QueryPrometheusInstant(Probes& probes, const std::string& url,
                                   const std::string& promql) {
  PromInstant out;
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const HttpResult r = probes.Get(base + "/api/v1/query?query=" + UrlEncode(promql),
                                  milliseconds(1000), kMaxPrometheusBytes);
  if (r.status == 0) {
    out.error = "Prometheus at " + base + ": " + (r.timed_out ? "timed out" : r.error);
    return out;
  }
  const PromQueryResult parsed = ParsePromQueryResponse(r.body);
  if (!parsed.ok) {
    out.error =
        "Prometheus at " + base + ": HTTP " + std::to_string(r.status) + ": " + parsed.error;
    return out;
  }
  out.answered = true;
  out.value = SingleValue(parsed);
  return out;
}

PromProbe Collector::GatherPrometheus(const CollectInput& in, const RemediationSpec& spec) {
  PromProbe p;
  if (spec.detection.prometheus_url.empty()) return p;
  const PromQueries q =
      QueriesFor(spec.detection, in.ns, spec.target_deployment, options_.promql_range);
  auto query = [&](const std::string& promql) -> std::optional<double> {
    if (promql.empty()) return std::nullopt;    // the preset has none and the spec gave none
    if (!p.error.empty()) return std::nullopt;  // one failure is enough for this tick
    PromInstant a = QueryPrometheusInstant(*probes_, spec.detection.prometheus_url, promql);
    p.error = std::move(a.error);
    p.answered = p.answered || a.answered;
    return a.value;
  };
  p.error_ratio = query(q.error_ratio);
  p.p99 = query(q.p99_latency);
  p.pool_timeouts = query(q.pool_timeouts);
  p.request_rate = query(q.request_rate);
  p.auth_errors = query(q.auth_errors);
  return p;
}

DbProbe Collector::GatherDatabase(const CollectInput& in, const RemediationSpec& spec,
                                  const std::vector<PodEndpoint>& endpoints) {
  DbProbe d;
  if (in.deep) {
    try {
      d.pods = cluster_->StatefulSetPods(in.ns, spec.db_statefulset);
    } catch (const std::exception& e) {
      spdlog::debug("{}: database pods: {}", in.key, e.what());
    }
  }
  DbTarget target;
  try {
    target = reader_->ReadCredentials(in.ns, spec.credentials_secret);
    try {
      target.endpoint = reader_->ResolveService(in.ns, spec.db_service, spec.db_port).front();
    } catch (const ResolveError& e) {
      // No ready endpoint behind the database's Service: nothing to connect to is a failed
      // reach, not an unknown one (a stopped database has no endpoints at all).
      d.tcp = {Outcome::kFail, e.what()};
      return d;
    }
    std::vector<DbTarget> in_use;
    {
      std::lock_guard lock(mutex_);
      auto kept = databases_.find(in.key);
      const bool moved =
          kept != databases_.end() &&
          (kept->second.endpoint.ToString() != target.endpoint.ToString() ||
           kept->second.user != target.user || kept->second.database != target.database ||
           kept->second.password != target.password);
      databases_[in.key] = target;
      if (moved) {
        for (const auto& [_, db] : databases_) in_use.push_back(db);
      }
    }
    // The database moved (a restarted pod has a new address, a rotated password): close
    // the old connection.
    if (!in_use.empty()) db_->Retain(in_use);
  } catch (const std::exception& e) {
    d.tcp = {Outcome::kError, e.what()};
    return d;
  }
  d.tcp = probes_->TcpConnect(target.endpoint, milliseconds(1000));
  if (d.tcp.outcome != Outcome::kPass) return d;
  // Every tick, not only when an incident may be open: the target's sessions are a
  // detection signal too (dbSessions), for apps with no metrics and no readable logs.
  const SessionFilter filter = TargetSessions(spec, target.user, endpoints);
  d.sessions_matched_by = filter.Describe();
  try {
    d.capacity = db_->Capacity(target, PgConnection::kKept);
    d.sessions = db_->Sessions(target, filter);
  } catch (const std::exception& e) {
    d.sessions_error = e.what();
    spdlog::debug("{}: diagnostic queries: {}", in.key, e.what());
  }
  if (in.deep) d.login = db_->Login(target);
  return d;
}

ProbeResult Collector::TestRequest(const std::vector<PodEndpoint>& endpoints,
                                   const std::string& path) {
  const PodEndpoint* pick = nullptr;
  for (const auto& ep : endpoints) {
    if (pick == nullptr || (ep.ready && !pick->ready)) pick = &ep;
  }
  if (pick == nullptr) return {Outcome::kError, "no endpoint to send the test request to"};
  const HttpResult r = probes_->Get("http://" + HostPort(pick->ip, pick->port) + path,
                                    milliseconds(1000), kMaxMetricsBytes);
  const std::string what = "GET " + path + " on " + pick->pod + ": ";
  if (r.status >= 200 && r.status < 300) return {Outcome::kPass, what + std::to_string(r.status)};
  if (r.status != 0 || r.timed_out) {
    return {Outcome::kFail, what + (r.timed_out ? "timed out" : std::to_string(r.status))};
  }
  return {Outcome::kError, what + r.error};
}

}  // namespace poolguard::controller
