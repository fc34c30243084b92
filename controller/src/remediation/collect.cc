#include "remediation/collect.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/duration.h"
#include "core/text.h"

namespace poolguard::controller {
namespace {

using std::chrono::milliseconds;

// "The request rate now": over the last few seconds (DiagnosisDriven's "under load?" is a
// question about the present; a 30 s PromQL range lags a surge).
constexpr milliseconds kRateSpan{3000};
// The baseline follows healthy traffic slowly: a surge the target handles moves it little.
constexpr double kBaselineTauSeconds = 300;

void AddTo(std::optional<double>& sum, std::optional<double> v) {
  if (v) sum = sum.value_or(0) + *v;
}

}  // namespace

// ---- counter windows ------------------------------------------------------------------

void CounterWindow::Add(WallTime t, double v, milliseconds keep) {
  if (!samples_.empty() && v < samples_.back().second) samples_.clear();  // counter reset
  samples_.emplace_back(t, v);
  while (samples_.size() > 2 && t - samples_.front().first > keep) samples_.pop_front();
}

std::optional<double> CounterWindow::Increase(std::optional<WallTime> since) const {
  if (samples_.size() < 2) return std::nullopt;
  auto from = samples_.begin();
  if (since) {
    for (auto it = samples_.begin(); it != samples_.end() && it->first <= *since; ++it) from = it;
  }
  if (from == samples_.end() - 1) return std::nullopt;
  return samples_.back().second - from->second;
}

std::optional<double> CounterWindow::RecentRate(milliseconds span) const {
  if (samples_.size() < 2) return std::nullopt;
  auto from = samples_.begin();
  while (from + 2 < samples_.end() && samples_.back().first - (from + 1)->first >= span) ++from;
  const double seconds = std::chrono::duration<double>(samples_.back().first - from->first).count();
  if (seconds <= 0) return std::nullopt;
  return (samples_.back().second - from->second) / seconds;
}

void MoveBaseline(CollectState& st, const Observations& o, WallTime now) {
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

std::chrono::seconds LogWindow(const DetectionSpec& detection) {
  return std::chrono::seconds(
      std::max(2, static_cast<int>(std::ceil(detection.interval.count() / 1000.0)) + 1));
}

SessionFilter TargetSessions(const RemediationSpec& spec, const std::string& db_user,
                             const std::vector<PodEndpoint>& endpoints) {
  SessionFilter filter;
  filter.role = spec.session_role.empty() ? db_user : spec.session_role;
  filter.application_name = spec.session_application_name;
  for (const auto& ep : endpoints) {
    if (!ep.ip.empty()) filter.addresses.push_back(ep.ip);
  }
  return filter;
}

// ---- PromQL ---------------------------------------------------------------------------

PromQueries DefaultQueries(MetricPreset preset, const std::string& ns,
                           const std::string& deployment, const std::string& range) {
  const QueryPlaceholders values{ns, deployment, range};
  // The presets' templates use only the known placeholders.
  auto expand = [&](const std::string& t) { return t.empty() ? t : ExpandQuery(t, values).text; };
  const PromQueries& t = PresetOf(preset).queries;
  return {expand(t.error_ratio),  expand(t.p99_latency), expand(t.pool_timeouts),
          expand(t.request_rate), expand(t.auth_errors), expand(t.pool_saturation)};
}

PromQueries QueriesFor(const DetectionSpec& detection, const std::string& ns,
                       const std::string& deployment, const std::string& range) {
  PromQueries q = DefaultQueries(detection.metrics_preset, ns, deployment, range);
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

// ---- Assemble -------------------------------------------------------------------------

Observations Assemble(const Gathered& g, const CollectInput& in, const RemediationSpec& spec,
                      const CollectorOptions& options, CollectState& st, WallTime now) {
  Observations o;
  o.generation = in.generation;
  o.approval = in.approval;
  o.rejection = in.rejection;
  o.decided_by = in.decided_by;
  o.action_request = in.action_request;

  // ---- the pods: health, pool saturation, and their counters ----
  // Samples are kept long enough for the verification window too.
  const milliseconds keep =
      std::max(options.counter_window, spec.verification.window + milliseconds(5000));
  const PodMetricNames& names = PresetOf(spec.detection.metrics_preset).pod;
  std::map<std::string, std::map<std::string, CounterWindow>> kept;
  std::optional<double> timeouts, auth, requests, recent_requests, errors, size, rate;
  std::map<double, double> buckets;
  // No slot left on the server: a pod's health check that hangs cannot be a slow start
  // alone, it waits for a connection it cannot have (a new pod of a scale-out).
  const bool server_full =
      g.db.capacity && g.db.capacity->max_connections > 0 &&
      g.db.capacity->in_use >= g.db.capacity->max_connections - g.db.capacity->reserved;
  for (const PodProbe& p : g.pods) {
    HealthProbe hp;
    hp.pod = p.endpoint.pod;
    if (p.health.status != 0) hp.status = p.health.status;
    hp.body = p.health.body;
    hp.read_body = spec.health_body == HealthBody::kAuto;
    hp.timed_out = p.health.timed_out;
    hp.connected = p.health.connected;
    hp.process_alive = p.metrics.status != 0 || p.alive;
    hp.error = p.health.error;
    hp.ready = p.endpoint.ready || server_full;
    o.signals.push_back(HealthSignal(hp, now));

    std::vector<PromSample> samples;
    std::string metrics_error;
    if (p.metrics.status == 0 && p.metrics.error.empty()) {
      continue;  // not scraped: the preset reads no metrics
    } else if (p.metrics.status == 200) {
      auto parsed = ParsePrometheusText(p.metrics.body);
      samples = std::move(parsed.samples);
      metrics_error = parsed.error;
    } else {
      const std::string path = p.metrics_path.empty() ? "metrics" : p.metrics_path;
      metrics_error = p.metrics.status ? path + " answered " + std::to_string(p.metrics.status)
                                       : path + ": " + p.metrics.error;
    }
    std::optional<PoolGauges> gauges;
    if (!samples.empty()) gauges = ReadPoolGauges(samples, names);
    o.signals.push_back(PoolSaturationSignal(p.endpoint.pod, gauges, metrics_error, now));
    if (samples.empty()) continue;

    // This tick's windows of the pod: the counters it still exports, with their history; a
    // series it no longer exports (a histogram's buckets changed) is dropped, not kept.
    auto& last = st.counters[p.endpoint.pod];
    auto& windows = kept[p.endpoint.pod];
    auto window = [&](const std::string& name) -> CounterWindow& {
      if (auto it = windows.find(name); it != windows.end()) return it->second;
      auto before = last.find(name);
      return windows[name] = before != last.end() ? std::move(before->second) : CounterWindow{};
    };
    auto track = [&](const char* name, std::optional<double> v) -> std::optional<double> {
      if (!v) return std::nullopt;
      window(name).Add(now, *v, keep);
      return window(name).Increase();
    };
    if (!names.pool_timeouts.empty()) {
      AddTo(timeouts, track("timeouts", SumSamples(samples, names.pool_timeouts)));
    }
    if (!names.auth_errors.empty()) {
      AddTo(auth, track("auth", SumSamples(samples, names.auth_errors, names.auth_errors_labels)));
    }
    // Requests the target served (probes such as /metrics and /livez left out), its 5xx
    // answers and its latency buckets, as counters to take increases of.
    double served = 0, failed = 0;
    std::map<double, double> le_counts;
    for (const auto& smp : samples) {
      if (smp.name != names.requests && smp.name != names.duration_bucket) continue;
      auto route = smp.labels.find(names.route_label);
      if (route != smp.labels.end() &&
          std::any_of(names.probe_routes.begin(), names.probe_routes.end(),
                      [&](const std::string& prefix) {
                        return route->second.compare(0, prefix.size(), prefix) == 0;
                      })) {
        continue;
      }
      if (smp.name == names.requests) {
        served += smp.value;
        auto code = smp.labels.find(names.status_label);
        if (code != smp.labels.end() && !code->second.empty() && code->second[0] == '5')
          failed += smp.value;
      } else {
        auto le = smp.labels.find("le");
        if (le == smp.labels.end()) continue;
        const double bound =
            le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr);
        le_counts[bound] += smp.value;
      }
    }
    AddTo(requests, track("requests", served));
    AddTo(rate, window("requests").RecentRate(kRateSpan));
    window("errors").Add(now, failed, keep);
    AddTo(errors, window("errors").Increase(in.since));
    if (in.since) AddTo(recent_requests, window("requests").Increase(in.since));
    for (const auto& [bound, count] : le_counts) {
      CounterWindow& w = window("le:" + FormatSignificant(bound, 6));
      w.Add(now, count, keep);
      if (auto inc = w.Increase(in.since)) buckets[bound] += *inc;
    }
    if (gauges && gauges->size) size = std::max(size.value_or(0), *gauges->size);
  }
  st.counters = std::move(kept);  // pods gone (or without metrics) are forgotten
  o.baseline = st.baseline;
  o.pool_timeouts = timeouts;
  o.auth_errors = auth;
  if (rate) o.request_rate = rate;
  const auto& base = in.since ? recent_requests : requests;
  if (base && *base > 0 && errors) o.error_ratio = *errors / *base;
  std::vector<std::pair<double, double>> cumulative(buckets.begin(), buckets.end());
  o.p99_latency_seconds = HistogramQuantile(0.99, cumulative);
  if (g.pods.empty()) {
    o.signals.push_back(Signal{std::string(signal::kHealth), Outcome::kError, std::nullopt, now,
                               g.endpoints_error});
  }

  // ---- logs: no evidence while their window still reaches before the last action ----
  o.logs = g.logs;
  auto stale = [&](milliseconds window) {
    return in.fresh_since && now - window < *in.fresh_since;
  };
  auto since_action = [&](milliseconds window) {
    return "its " + FormatDuration(window) + " window still reaches before the action at " +
           FormatTimeMs(*in.fresh_since);
  };
  const milliseconds log_window = g.log_window;
  if (stale(log_window)) {
    o.signals.push_back(Signal{signal::kDbErrorLogs, Outcome::kInconclusive, std::nullopt, now,
                               since_action(log_window)});
  } else {
    o.signals.push_back(LogSignal(g.logs, g.logs_error, now));
  }

  // ---- Prometheus ----
  const PromProbe& p = g.prometheus;
  o.prometheus_configured = !spec.detection.prometheus_url.empty();
  if (o.prometheus_configured) {
    o.prometheus = p.answered && p.error.empty() ? ProbeResult{Outcome::kPass, "answered"}
                                                 : ProbeResult{Outcome::kError, p.error};
    const std::string err = p.answered ? "" : p.error;
    const milliseconds range = ParseDuration(options.promql_range).value_or(milliseconds(30000));
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
      if (p.pool_timeouts) {
        o.pool_timeouts = std::max(o.pool_timeouts.value_or(0), *p.pool_timeouts);
      }
      if (p.request_rate && !o.request_rate) o.request_rate = p.request_rate;
      if (p.auth_errors) o.auth_errors = std::max(o.auth_errors.value_or(0), *p.auth_errors);
    }
  }

  // ---- the database and the Kubernetes objects ----
  o.db_pods = g.db.pods;
  o.tcp = g.db.tcp;
  o.login = g.db.login.result;
  o.login_detail = g.db.login.detail;
  o.capacity = g.db.capacity;
  o.sessions = g.db.sessions;
  o.sessions_matched_by = g.db.sessions_matched_by;
  o.idle_slot_holder = spec.detection.idle_slot_holder;
  o.deployment = g.deployment;
  o.pool_size = g.pool_size;
  if (!o.pool_size && size) o.pool_size = static_cast<int>(*size);
  o.target_replicas = g.target_replicas;
  DbSessionsInput db_sessions;
  db_sessions.sessions = g.db.sessions;
  db_sessions.error = g.db.tcp.outcome == Outcome::kPass || g.db.tcp.detail.empty()
                          ? g.db.sessions_error
                          : g.db.tcp.detail;
  db_sessions.matched_by = g.db.sessions_matched_by;
  if (o.pool_size) db_sessions.pool_capacity = *o.pool_size * std::max(1, o.target_replicas);
  db_sessions.server = g.db.capacity;
  db_sessions.lock_wait = spec.detection.lock_wait;
  db_sessions.idle_in_transaction = spec.detection.idle_in_transaction;
  o.signals.push_back(DbSessionsSignal(db_sessions, now));
  if (g.db.sessions) o.db_pool = ViewDbPool(db_sessions);
  o.database = g.database;
  o.chaos_experiment = g.chaos_experiment;
  o.chaos_report = g.chaos_report;
  o.chaos_started_at = g.chaos_started_at;
  o.test_request = g.test_request;
  return o;
}

}  // namespace poolguard::controller
