#include "remediation/collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <future>

#include "core/duration.h"
#include "core/text.h"

namespace poolguard::controller {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kRateSpan{3000};
// The baseline follows healthy traffic slowly: a surge the target handles moves it little.
constexpr double kBaselineTauSeconds = 300;

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

// What one pod answered this tick.
struct PodProbe {
  PodEndpoint endpoint;
  HttpResult health, metrics;
  std::vector<PromSample> samples;
  std::string metrics_error;
};

struct DbProbe {
  std::optional<std::vector<PodState>> pods;
  ProbeResult tcp;
  LoginAttempt login;
  std::optional<DbCapacity> capacity;
  std::optional<std::vector<SessionRow>> sessions;
};

struct PromProbe {
  bool answered = false;
  std::string error;
  std::optional<double> error_ratio, p99, pool_timeouts, request_rate, auth_errors;
};

}  // namespace

PromQueries DefaultQueries(const std::string& ns, const std::string& deployment,
                           const std::string& range) {
  // Pods of a Deployment are named <deployment>-<template hash>-<suffix>.
  const std::string sel =
      "namespace=\"" + ns + "\",pod=~\"" + deployment + "-[a-z0-9]+-[a-z0-9]+\"";
  const std::string served = sel + ",route!=\"/metrics\",route!=\"/livez\"";
  PromQueries q;
  q.error_ratio = "sum(rate(http_requests_total{" + served + ",code=~\"5..\"}[" + range +
                  "])) / sum(rate(http_requests_total{" + served + "}[" + range + "]))";
  q.p99_latency =
      "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{" + served +
      "}[" + range + "])))";
  q.pool_timeouts = "sum(increase(db_pool_timeouts_total{" + sel + "}[" + range + "]))";
  q.request_rate = "sum(rate(http_requests_total{" + served + "}[" + range + "]))";
  q.auth_errors =
      "sum(increase(db_errors_total{" + sel + ",kind=\"authentication\"}[" + range + "]))";
  return q;
}

PromQueries QueriesFor(const DetectionSpec& detection, const std::string& ns,
                       const std::string& deployment, const std::string& range) {
  PromQueries q = DefaultQueries(ns, deployment, range);
  const QueryPlaceholders values{ns, deployment, range};
  // The spec parse rejected unknown placeholders, so the expansion has no error here.
  auto use = [&](const std::optional<std::string>& given, std::string* query) {
    if (given) *query = ExpandQuery(*given, values).text;
  };
  const PromQueryOverrides& o = detection.queries;
  use(o.error_ratio, &q.error_ratio);
  use(o.p99_latency_seconds, &q.p99_latency);
  use(o.pool_timeouts, &q.pool_timeouts);
  use(o.request_rate, &q.request_rate);
  use(o.auth_errors, &q.auth_errors);
  return q;
}

void Collector::Window::Add(WallTime t, double v, milliseconds keep) {
  if (!samples.empty() && v < samples.back().second) samples.clear();  // counter reset
  samples.emplace_back(t, v);
  while (samples.size() > 2 && t - samples.front().first > keep) samples.pop_front();
}

std::optional<double> Collector::Window::Increase(std::optional<WallTime> since) const {
  if (samples.size() < 2) return std::nullopt;
  auto from = samples.begin();
  if (since) {
    for (auto it = samples.begin(); it != samples.end() && it->first <= *since; ++it) from = it;
  }
  if (from == samples.end() - 1) return std::nullopt;
  return samples.back().second - from->second;
}

std::optional<double> HistogramQuantile(double q, std::vector<std::pair<double, double>> buckets) {
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return std::nullopt;
  const double rank = q * buckets.back().second;
  double lower = 0, below = 0;
  for (const auto& [le, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(le)) return lower;  // in the +Inf bucket: the highest finite bound
      if (count == below) return le;
      return lower + (le - lower) * (rank - below) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

Collector::Collector(RemediationCluster* cluster, ClusterReader* reader, PgAdmin* db,
                     HttpGetter* http, CollectorOptions options)
    : cluster_(cluster), reader_(reader), db_(db), http_(http), options_(std::move(options)) {}

void Collector::Forget(const std::string& key) {
  std::vector<DbTarget> still_used;
  {
    std::lock_guard lock(mutex_);
    state_.erase(key);
    for (const auto& [_, st] : state_) {
      if (st.db) still_used.push_back(*st.db);
    }
  }
  // The diagnostic connection of a database no Remediation watches any more is closed.
  db_->Retain(still_used);
}

void Collector::KeepBaseline(const std::string& key, const Observations& o, WallTime now) {
  std::lock_guard lock(mutex_);
  State& st = state_[key];
  Baseline& b = st.baseline;
  const double dt =
      st.baseline_at ? std::chrono::duration<double>(now - *st.baseline_at).count() : 0;
  const double alpha = st.baseline_at ? 1 - std::exp(-std::max(dt, 0.0) / kBaselineTauSeconds) : 1;
  auto follow = [alpha](std::optional<double>& kept, const std::optional<double>& v) {
    if (!v || !std::isfinite(*v)) return;
    kept = kept ? *kept + alpha * (*v - *kept) : *v;
  };
  follow(b.error_ratio, o.error_ratio);
  follow(b.p99_latency_seconds, o.p99_latency_seconds);
  follow(b.request_rate, o.request_rate);
  st.baseline_at = now;
}

Observations Collector::Collect(const CollectInput& in, const RemediationSpec& spec, WallTime now) {
  Observations o;
  o.generation = in.generation;
  o.approval = in.approval;
  const milliseconds health_timeout = std::min(options_.health_timeout, spec.detection.interval);

  // ---- the target's pods: /health and /metrics, concurrently ----
  std::vector<PodEndpoint> endpoints;
  std::string endpoints_error;
  try {
    endpoints = cluster_->TargetEndpoints(in.ns, spec.target_service, spec.target_port);
    if (endpoints.empty()) endpoints_error = "Service " + spec.target_service + " has no endpoints";
  } catch (const std::exception& e) {
    endpoints_error = e.what();
  }
  std::vector<std::future<PodProbe>> pods;
  for (const auto& ep : endpoints) {
    pods.push_back(std::async(std::launch::async, [this, ep, &spec, health_timeout] {
      PodProbe p;
      p.endpoint = ep;
      const std::string base = "http://" + HostPort(ep.ip, ep.port);
      auto metrics = std::async(std::launch::async, [&] {
        return http_->Get(base + "/metrics", std::max(health_timeout, milliseconds(1000)));
      });
      p.health = http_->Get(base + spec.health_path, health_timeout);
      p.metrics = metrics.get();
      if (p.metrics.status == 200) {
        auto parsed = ParsePrometheusText(p.metrics.body);
        p.samples = std::move(parsed.samples);
        p.metrics_error = parsed.error;
      } else {
        p.metrics_error = p.metrics.status ? "/metrics answered " + std::to_string(p.metrics.status)
                                           : "/metrics: " + p.metrics.error;
      }
      return p;
    }));
  }

  // ---- logs of each pod ----
  const int since =
      std::max(2, static_cast<int>(std::ceil(spec.detection.interval.count() / 1000.0)) + 1);
  auto logs =
      std::async(std::launch::async, [&]() -> std::pair<std::optional<DbErrorCounts>, std::string> {
        if (endpoints.empty()) return {std::nullopt, endpoints_error};
        DbErrorCounts total;
        std::vector<std::string> errors;
        int read = 0;
        for (const auto& ep : endpoints) {
          try {
            DbErrorCounts c = ParseDbErrorLines(cluster_->PodLogs(in.ns, ep.pod, since));
            ++read;
            for (const auto& [k, n] : c.by_kind) total.by_kind[k] += n;
            if (!c.sample.empty()) total.sample = c.sample;
          } catch (const std::exception& e) {
            errors.push_back(e.what());
          }
        }
        if (read == 0) return {std::nullopt, Join(errors, "; ")};
        return {total, ""};
      });

  // ---- Prometheus ----
  auto prom = std::async(std::launch::async, [&] {
    PromProbe p;
    if (spec.detection.prometheus_url.empty()) return p;
    const PromQueries q =
        QueriesFor(spec.detection, in.ns, spec.target_deployment, options_.promql_range);
    auto query = [&](const std::string& promql) -> std::optional<double> {
      if (!p.error.empty()) return std::nullopt;  // one failure is enough for this tick
      std::string base = spec.detection.prometheus_url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      const HttpResult r =
          http_->Get(base + "/api/v1/query?query=" + UrlEncode(promql), milliseconds(1000));
      if (r.status == 0) {
        p.error = "Prometheus at " + base + ": " + (r.timed_out ? "timed out" : r.error);
        return std::nullopt;
      }
      const PromQueryResult parsed = ParsePromQueryResponse(r.body);
      if (!parsed.ok) {
        p.error =
            "Prometheus at " + base + ": HTTP " + std::to_string(r.status) + ": " + parsed.error;
        return std::nullopt;
      }
      p.answered = true;
      return SingleValue(parsed);
    };
    p.error_ratio = query(q.error_ratio);
    p.p99 = query(q.p99_latency);
    p.pool_timeouts = query(q.pool_timeouts);
    p.request_rate = query(q.request_rate);
    p.auth_errors = query(q.auth_errors);
    return p;
  });

  // ---- the database ----
  auto dbf = std::async(std::launch::async, [&] {
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
      const auto eps = reader_->ResolveService(in.ns, spec.db_service, spec.db_port);
      target.endpoint = eps.front();
      std::vector<DbTarget> in_use;
      {
        std::lock_guard lock(mutex_);
        auto& kept = state_[in.key].db;
        const bool moved = kept && (kept->endpoint.ToString() != target.endpoint.ToString() ||
                                    kept->user != target.user || kept->database != target.database);
        kept = target;
        if (moved) {
          for (const auto& [_, st] : state_) {
            if (st.db) in_use.push_back(*st.db);
          }
        }
      }
      // The database moved (a restarted pod has a new address): close the old connection.
      if (!in_use.empty()) db_->Retain(in_use);
    } catch (const std::exception& e) {
      d.tcp = {Outcome::kError, e.what()};
      return d;
    }
    d.tcp = TcpConnect(target.endpoint, milliseconds(1000));
    if (d.tcp.outcome != Outcome::kPass) return d;
    SessionFilter filter;
    filter.target_application_name = options_.target_application_name;
    for (const auto& ep : endpoints) filter.target_addresses.push_back(ep.ip);
    try {
      d.capacity = db_->Capacity(target, PgConnection::kKept);
      if (in.deep) d.sessions = db_->Sessions(target, filter);
    } catch (const std::exception& e) {
      spdlog::debug("{}: diagnostic queries: {}", in.key, e.what());
    }
    if (in.deep) d.login = db_->Login(target);
    return d;
  });

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
      o.deployment = dep->rollout;
      o.pool_size = dep->pool_size;
      o.target_replicas = dep->replicas;
    }
  });
  read("the StatefulSet", [&] { o.database = cluster_->StatefulSet(in.ns, spec.db_statefulset); });
  read("ChaosExperiments", [&] {
    if (auto chaos = cluster_->ActiveChaos(in.ns, spec.target_deployment)) {
      o.chaos_experiment = chaos->key;
      o.chaos_started_at = chaos->started_at;
    }
  });

  // ---- signals ----
  std::vector<PodProbe> probes;
  for (auto& f : pods) probes.push_back(f.get());
  {
    std::lock_guard lock(mutex_);
    State& st = state_[in.key];
    // Samples are kept long enough for the verification window too.
    const milliseconds keep =
        std::max(options_.counter_window, spec.verification.window + milliseconds(5000));
    std::map<std::string, std::map<std::string, Window>> kept;
    std::optional<double> timeouts, auth, requests, recent_requests, errors, size, rate;
    std::map<double, double> buckets;
    auto add = [](std::optional<double>& sum, std::optional<double> v) {
      if (v) sum = sum.value_or(0) + *v;
    };
    for (const auto& p : probes) {
      HealthProbe hp;
      hp.pod = p.endpoint.pod;
      if (p.health.status != 0) hp.status = p.health.status;
      hp.timed_out = p.health.timed_out;
      hp.process_alive = p.metrics.status != 0;
      hp.error = p.health.error;
      o.signals.push_back(HealthSignal(hp, now));
      std::optional<PoolGauges> gauges;
      if (!p.samples.empty()) gauges = ReadPoolGauges(p.samples);
      o.signals.push_back(PoolSaturationSignal(p.endpoint.pod, gauges, p.metrics_error, now));
      if (p.samples.empty()) continue;
      auto& windows = kept[p.endpoint.pod] = std::move(st.counters[p.endpoint.pod]);
      auto track = [&](const char* name, std::optional<double> v) -> std::optional<double> {
        if (!v) return std::nullopt;
        windows[name].Add(now, *v, keep);
        return windows[name].Increase();
      };
      add(timeouts, track("timeouts", SumSamples(p.samples, "db_pool_timeouts_total")));
      add(auth,
          track("auth", SumSamples(p.samples, "db_errors_total", {{"kind", "authentication"}})));
      // Requests the target served (our own /metrics and /livez probes left out), its 5xx
      // answers and its latency buckets, as counters to take increases of.
      double served = 0, failed = 0;
      std::map<double, double> le_counts;
      for (const auto& smp : p.samples) {
        auto route = smp.labels.find("route");
        if (route != smp.labels.end() && (route->second == "/metrics" || route->second == "/livez"))
          continue;
        if (smp.name == "http_requests_total") {
          served += smp.value;
          auto code = smp.labels.find("code");
          if (code != smp.labels.end() && !code->second.empty() && code->second[0] == '5')
            failed += smp.value;
        } else if (smp.name == "http_request_duration_seconds_bucket") {
          auto le = smp.labels.find("le");
          if (le == smp.labels.end()) continue;
          const double bound =
              le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr);
          le_counts[bound] += smp.value;
        }
      }
      add(requests, track("requests", served));
      // The request rate now: over the last few seconds (the "under load?" question of
      // DiagnosisDriven is about the present; a 30 s PromQL range lags a surge).
      if (const auto& w = windows["requests"].samples; w.size() >= 2) {
        auto from = w.begin();
        while (from + 2 < w.end() && w.back().first - (from + 1)->first >= kRateSpan) ++from;
        const double span = std::chrono::duration<double>(w.back().first - from->first).count();
        if (span > 0) add(rate, (w.back().second - from->second) / span);
      }
      windows["errors"].Add(now, failed, keep);
      add(errors, windows["errors"].Increase(in.since));
      if (in.since) add(recent_requests, windows["requests"].Increase(in.since));
      for (const auto& [bound, count] : le_counts) {
        Window& w = windows["le:" + FormatSignificant(bound, 6)];
        w.Add(now, count, keep);
        if (auto inc = w.Increase(in.since)) buckets[bound] += *inc;
      }
      if (gauges && gauges->size) size = std::max(size.value_or(0), *gauges->size);
    }
    st.counters = std::move(kept);
    o.baseline = st.baseline;
    o.pool_timeouts = timeouts;
    o.auth_errors = auth;
    if (rate) o.request_rate = rate;
    const auto& base = in.since ? recent_requests : requests;
    if (base && *base > 0 && errors) o.error_ratio = *errors / *base;
    std::vector<std::pair<double, double>> cumulative(buckets.begin(), buckets.end());
    o.p99_latency_seconds = HistogramQuantile(0.99, cumulative);
    if (!o.pool_size && size) o.pool_size = static_cast<int>(*size);
  }
  if (probes.empty()) {
    o.signals.push_back(
        Signal{std::string(signal::kHealth), Outcome::kError, std::nullopt, now, endpoints_error});
  }

  auto [counts, log_error] = logs.get();
  o.logs = counts;
  auto stale = [&](std::chrono::milliseconds window) {
    return in.fresh_since && now - window < *in.fresh_since;
  };
  auto since_action = [&](std::chrono::milliseconds window) {
    return "its " + FormatDuration(window) + " window still reaches before the action at " +
           FormatTimeMs(*in.fresh_since);
  };
  const milliseconds log_window(since * 1000);
  if (stale(log_window)) {
    o.signals.push_back(Signal{signal::kDbErrorLogs, Outcome::kInconclusive, std::nullopt, now,
                               since_action(log_window)});
  } else {
    o.signals.push_back(LogSignal(counts, log_error, now));
  }

  PromProbe p = prom.get();
  o.prometheus_configured = !spec.detection.prometheus_url.empty();
  if (o.prometheus_configured) {
    o.prometheus = p.answered && p.error.empty() ? ProbeResult{Outcome::kPass, "answered"}
                                                 : ProbeResult{Outcome::kError, p.error};
    const std::string err = p.answered ? "" : p.error;
    const milliseconds range = ParseDuration(options_.promql_range).value_or(milliseconds(30000));
    if (stale(range)) {
      for (const char* name : {signal::kErrorRatio, signal::kP99Latency, signal::kPoolTimeouts}) {
        o.signals.push_back(
            Signal{name, Outcome::kInconclusive, std::nullopt, now, since_action(range)});
      }
    } else {
      o.signals.push_back(ThresholdSignal(signal::kErrorRatio, p.error_ratio,
                                          spec.detection.error_ratio, err, now));
      o.signals.push_back(ThresholdSignal(signal::kP99Latency, p.p99,
                                          spec.detection.p99_latency_seconds, err, now));
      o.signals.push_back(ThresholdSignal(signal::kPoolTimeouts, p.pool_timeouts, 0, err, now));
    }
    if (p.answered) {
      // Prometheus's view over its range wins over the pods' short windows, except while
      // verifying: its range still holds the outage, the pods' counters since the action
      // do not.
      if (p.error_ratio && !in.since) o.error_ratio = p.error_ratio;
      if (p.p99 && !in.since) o.p99_latency_seconds = p.p99;
      if (p.pool_timeouts)
        o.pool_timeouts = std::max(o.pool_timeouts.value_or(0), *p.pool_timeouts);
      if (p.request_rate && !o.request_rate) o.request_rate = p.request_rate;
      if (p.auth_errors) o.auth_errors = std::max(o.auth_errors.value_or(0), *p.auth_errors);
    }
  }

  DbProbe d = dbf.get();
  o.db_pods = d.pods;
  o.tcp = d.tcp;
  o.login = d.login.result;
  o.login_detail = d.login.detail;
  o.capacity = d.capacity;
  o.sessions = d.sessions;

  if (in.verifying) {
    const PodEndpoint* pick = nullptr;
    for (const auto& ep : endpoints) {
      if (pick == nullptr || (ep.ready && !pick->ready)) pick = &ep;
    }
    if (pick == nullptr) {
      o.test_request = {Outcome::kError, "no endpoint to send the test request to"};
    } else {
      const HttpResult r = http_->Get(
          "http://" + HostPort(pick->ip, pick->port) + options_.test_path, milliseconds(1000));
      const std::string what = "GET " + options_.test_path + " on " + pick->pod + ": ";
      if (r.status >= 200 && r.status < 300) {
        o.test_request = {Outcome::kPass, what + std::to_string(r.status)};
      } else if (r.status != 0 || r.timed_out) {
        o.test_request = {Outcome::kFail,
                          what + (r.timed_out ? "timed out" : std::to_string(r.status))};
      } else {
        o.test_request = {Outcome::kError, what + r.error};
      }
    }
  }
  return o;
}

}  // namespace poolguard::controller
