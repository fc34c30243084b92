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

// GET <url>/api/v1/query for `promql`: the parsed answer, or why there is none.
// `refused`: Prometheus answered 4xx (the query is wrong), not "no answer".
PromQueryResult AskPrometheus(Probes& probes, const std::string& url, const std::string& promql,
                              std::string* error, bool* refused = nullptr) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const HttpResult r = probes.Get(base + "/api/v1/query?query=" + UrlEncode(promql),
                                  milliseconds(1000), kMaxPrometheusBytes);
  if (r.status == 0) {
    *error = "Prometheus at " + base + ": " + (r.timed_out ? "timed out" : r.error);
    return {};
  }
  PromQueryResult parsed = ParsePromQueryResponse(r.body);
  if (refused != nullptr) *refused = r.status >= 400 && r.status < 500;
  if (!parsed.ok) {
    *error = "Prometheus at " + base + ": HTTP " + std::to_string(r.status) + ": " + parsed.error;
  }
  return parsed;
}

std::string HostPort(const std::string& ip, int port) {
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

}  // namespace

Collector::Collector(RemediationCluster* cluster, ClusterReader* reader, PgAdmin* db,
                     Probes* probes, CollectorOptions options, std::shared_ptr<kube::Clock> clock)
    : cluster_(cluster),
      reader_(reader),
      db_(db),
      probes_(probes),
      options_(std::move(options)),
      clock_(clock ? std::move(clock) : kube::Clock::Real()) {}

void Collector::Forget(const std::string& key) {
  std::vector<DbTarget> still_used;
  {
    std::lock_guard lock(mutex_);
    state_.erase(key);
    databases_.erase(key);
    credentials_.erase(key);
    logs_read_.erase(key);
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

  // ---- logs of each pod (while healthy, every healthy_logs_interval, since the last read) ----
  g.log_window = LogWindow(spec.detection);
  const auto now = clock_->Now();
  bool read_logs = true;
  {
    std::lock_guard lock(mutex_);
    auto last = logs_read_.find(in.key);
    if (!in.deep && last != logs_read_.end()) {
      const auto since = now - last->second;
      if (since < options_.healthy_logs_interval) {
        read_logs = false;
      } else {
        g.log_window = std::max(
            g.log_window, std::chrono::ceil<std::chrono::seconds>(since) + std::chrono::seconds(1));
      }
    }
  }
  auto logs = std::async(std::launch::async, [&] {
    if (g.endpoints.empty()) {
      g.logs_error = g.endpoints_error;
      return;
    }
    if (!read_logs) {
      g.logs = DbErrorCounts{};  // nothing new to count yet: the next read covers this tick
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
      std::lock_guard lock(mutex_);
      logs_read_[in.key] = now;
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
  const PromQueryResult parsed = AskPrometheus(probes, url, promql, &out.error);
  if (!parsed.ok) return out;
  out.answered = true;
  out.value = SingleValue(parsed);
  return out;
}

PromProbe Collector::GatherPrometheus(const CollectInput& in, const RemediationSpec& spec) {
  PromProbe p;
  if (spec.detection.prometheus_url.empty()) return p;
  const PromQueries q =
      QueriesFor(spec.detection, in.ns, spec.target_deployment, options_.promql_range);
  // The tick's queries (those the preset or the spec gives), in one request.
  std::vector<std::pair<std::optional<double>*, const std::string*>> asked;
  for (auto [field, promql] :
       {std::pair{&p.error_ratio, &q.error_ratio}, std::pair{&p.p99, &q.p99_latency},
        std::pair{&p.pool_timeouts, &q.pool_timeouts}, std::pair{&p.request_rate, &q.request_rate},
        std::pair{&p.auth_errors, &q.auth_errors}}) {
    if (!promql->empty()) asked.emplace_back(field, promql);
  }
  if (asked.empty()) return p;
  std::vector<std::string> queries;
  for (const auto& [_, promql] : asked) queries.push_back(*promql);
  std::string error;
  bool refused = false;
  const PromQueryResult batch = AskPrometheus(*probes_, spec.detection.prometheus_url,
                                              BatchPromQL(queries), &error, &refused);
  if (batch.ok) {
    p.answered = true;
    const auto values = SplitPromBatch(batch, queries.size());
    for (size_t i = 0; i < asked.size(); ++i) *asked[i].first = values[i];
    return p;
  }
  if (!refused) {
    p.error = std::move(error);  // no answer (refused, timed out, 5xx): the tick has none
    return p;
  }
  // Prometheus refused the batch (a spec's query that is a scalar, or does not parse): one
  // by one, so each answers or fails on its own.
  for (const auto& [field, promql] : asked) {
    PromInstant a = QueryPrometheusInstant(*probes_, spec.detection.prometheus_url, *promql);
    p.answered = p.answered || a.answered;
    if (!a.error.empty()) {
      p.error = std::move(a.error);
      break;  // one failure is enough for this tick
    }
    *field = a.value;
  }
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
  bool reused = false;
  try {
    Endpoint endpoint;
    try {
      endpoint = reader_->ResolveService(in.ns, spec.db_service, spec.db_port).front();
    } catch (const ResolveError& e) {
      // No ready endpoint behind the database's Service: nothing to connect to is a failed
      // reach, not an unknown one (a stopped database has no endpoints at all). Nothing to
      // log in to either: the Secret is not read.
      d.tcp = {Outcome::kFail, e.what()};
      return d;
    }
    target = Credentials(in.key, in.ns, spec.credentials_secret, false, &reused);
    target.endpoint = endpoint;
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
  if (in.deep) {
    d.login = db_->Login(target);
    if (d.login.result == LoginResult::kAuthRejected && reused) {
      // Perhaps the Secret changed since it was read: a rejection is the Secret's as it is now.
      try {
        const DbTarget fresh = Credentials(in.key, in.ns, spec.credentials_secret, true, &reused);
        if (fresh.password != target.password || fresh.user != target.user ||
            fresh.database != target.database) {
          DbTarget again = fresh;
          again.endpoint = target.endpoint;
          d.login = db_->Login(again);
        }
      } catch (const std::exception& e) {
        spdlog::debug("{}: credentials: {}", in.key, e.what());
      }
    }
  }
  return d;
}

DbTarget Collector::Credentials(const std::string& key, const std::string& ns,
                                const std::string& secret, bool fresh, bool* reused) {
  const std::string name = ns + "/" + secret;
  const auto now = clock_->Now();
  if (!fresh) {
    std::lock_guard lock(mutex_);
    auto it = credentials_.find(key);
    if (it != credentials_.end() && it->second.secret == name &&
        now - it->second.read_at < options_.credentials_ttl) {
      *reused = true;
      return it->second.db;
    }
  }
  DbTarget db = reader_->ReadCredentials(ns, secret);
  *reused = false;
  std::lock_guard lock(mutex_);
  credentials_[key] = {name, db, now};
  return db;
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
