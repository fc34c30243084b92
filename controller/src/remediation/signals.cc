#include "remediation/signals.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/duration.h"
#include "core/text.h"

namespace poolguard::controller {
namespace {

// Parses a Prometheus float: decimal, exponent, +Inf, -Inf, NaN.
std::optional<double> ParseFloat(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text.empty()) return std::nullopt;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

bool NameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool NameChar(char c) { return NameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

}  // namespace

DetectionState Detect(const DetectionSpec& spec, const DetectionState& previous,
                      const std::vector<Signal>& signals, WallTime now) {
  std::vector<std::string> failing;
  bool any_pass = false;
  for (const auto& s : signals) {
    if (s.outcome == Outcome::kFail) failing.push_back(s.name);
    if (s.outcome == Outcome::kPass) any_pass = true;
  }
  DetectionState state = previous;
  if (failing.empty() && !any_pass) return state;  // no evidence either way
  // DB_ERROR lines, pool-timeout counts and the PromQL error ratio and p99 look back over
  // a window; alone, while every pod answers /health and no pool is saturated, they
  // describe the recent past (the tail of an outage just fixed, or one that ended before
  // this Remediation existed), not the present: no evidence either way. A pool outage
  // always shows live: /health needs a connection from the same pool.
  const bool only_lagging =
      !failing.empty() && std::all_of(failing.begin(), failing.end(), [](const std::string& name) {
        return name == signal::kDbErrorLogs || name == signal::kPoolTimeouts ||
               name == signal::kErrorRatio || name == signal::kP99Latency;
      });
  // A pod that does not answer at all (starting, as in a rollout, or gone) is no evidence
  // either: one that answers healthy is enough to read the lagging signals as the past.
  if (only_lagging) {
    bool answered_healthy = false, live_failing = false;
    for (const auto& s : signals) {
      const bool health = s.name.rfind(std::string(signal::kHealth) + "/", 0) == 0;
      const bool live = health || s.name.rfind(std::string(signal::kPoolSaturation) + "/", 0) == 0;
      if (!live) continue;
      answered_healthy = answered_healthy || (health && s.outcome == Outcome::kPass);
      live_failing = live_failing || s.outcome == Outcome::kFail;
    }
    if (answered_healthy && !live_failing) return state;
  }

  const std::string window = FormatDuration(spec.for_window);
  if (!failing.empty()) {
    std::sort(failing.begin(), failing.end());
    if (!state.failing_since) state.failing_since = now;
    state.passing_since.reset();
    state.failing = failing;
    if (state.health != Health::kDegraded && now - *state.failing_since >= spec.for_window) {
      state.health = Health::kDegraded;
    }
    state.reason = state.health == Health::kDegraded
                       ? "failing for at least " + window + ": " + Join(failing, ", ")
                       : "failing, within the " + window + " window: " + Join(failing, ", ");
    return state;
  }
  if (!state.passing_since) state.passing_since = now;
  state.failing_since.reset();
  state.failing.clear();
  if (state.health == Health::kUnknown ||
      (state.health == Health::kDegraded && now - *state.passing_since >= spec.for_window)) {
    state.health = Health::kHealthy;
  }
  state.reason = state.health == Health::kHealthy
                     ? "signals passing"
                     : "passing, within the " + window + " window before Healthy";
  return state;
}

namespace {

// A health word's meaning: true (up), false (down), nullopt (not in the table).
std::optional<bool> HealthWord(const Json& value) {
  if (value.is_boolean()) return value.as_bool();
  if (!value.is_string()) return std::nullopt;
  std::string word = value.as_string();
  if (word.size() > 32) return std::nullopt;
  std::transform(word.begin(), word.end(), word.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::string_view kUp[] = {"ok",   "up",    "healthy",   "pass",      "passing",
                                             "warn", "green", "available", "connected", "true"};
  static constexpr std::string_view kDown[] = {
      "down",  "out_of_service", "degraded", "unhealthy",   "fail",         "failing",     "failed",
      "error", "critical",       "red",      "unavailable", "disconnected", "unreachable", "false"};
  if (std::find(std::begin(kUp), std::end(kUp), word) != std::end(kUp)) return true;
  if (std::find(std::begin(kDown), std::end(kDown), word) != std::end(kDown)) return false;
  return std::nullopt;
}

}  // namespace

HealthBodyVerdict ReadHealthBody(std::string_view body) {
  HealthBodyVerdict verdict;
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '{') return verdict;
  Json doc;
  try {
    doc = Json::parse(std::string(body));
  } catch (const std::exception&) {
    return verdict;
  }
  if (!doc.is_object()) return verdict;
  // (label, value): the top-level status, the database field, Actuator's db component.
  std::vector<std::pair<std::string, const Json*>> fields;
  if (const Json* v = json::Field(doc, "status")) fields.emplace_back("status", v);
  for (const char* name : {"database", "db"}) {
    const Json* v = json::Field(doc, name);
    if (v == nullptr) continue;
    if (v->is_object()) v = json::Field(*v, "status");
    if (v != nullptr) fields.emplace_back(name, v);
  }
  for (const char* name : {"db", "database"}) {
    const Json* v = json::Find(doc, {"components", name, "status"});
    if (v != nullptr) fields.emplace_back(std::string("components.") + name, v);
  }
  for (const auto& [label, value] : fields) {
    const auto word = HealthWord(*value);
    if (!word) continue;
    const std::string shown =
        value->is_string() ? "\"" + value->as_string() + "\"" : (*word ? "true" : "false");
    verdict.detail += (verdict.detail.empty() ? "" : ", ") + label + " " + shown;
    verdict.healthy = verdict.healthy.value_or(true) && *word;
  }
  return verdict;
}

Signal HealthSignal(const HealthProbe& probe, WallTime now) {
  Signal s{std::string(signal::kHealth) + "/" + probe.pod, Outcome::kError, std::nullopt, now, ""};
  if (probe.status) {
    s.value = *probe.status;
    s.outcome = *probe.status == 200 ? Outcome::kPass : Outcome::kFail;
    s.detail = "HTTP " + std::to_string(*probe.status);
    if (probe.read_body) {
      const HealthBodyVerdict verdict = ReadHealthBody(probe.body);
      if (!verdict.detail.empty()) s.detail += ", body: " + verdict.detail;
      if (verdict.healthy == false) s.outcome = Outcome::kFail;
    }
  } else if (probe.timed_out && probe.process_alive && !probe.ready) {
    s.outcome = Outcome::kInconclusive;
    s.detail = "timed out on a pod not Ready: starting, no evidence yet";
  } else if (probe.timed_out && probe.process_alive) {
    s.outcome = Outcome::kFail;
    s.detail = "timed out while the process answers: the health check is stuck";
  } else if (probe.timed_out && probe.connected && probe.ready) {
    s.outcome = Outcome::kFail;
    s.detail =
        "timed out after the connection was accepted, and nothing else answers: the "
        "process is hung";
  } else {
    s.detail = probe.timed_out ? "timed out" : (probe.error.empty() ? "no answer" : probe.error);
  }
  return s;
}

Signal ThresholdSignal(std::string name, std::optional<double> value, double threshold,
                       const std::string& error, WallTime now) {
  Signal s{std::move(name), Outcome::kInconclusive, std::nullopt, now, ""};
  if (!value || std::isnan(*value)) {
    if (!error.empty()) {
      s.outcome = Outcome::kError;
      s.detail = error;
    } else {
      s.detail = "no data";
    }
    return s;
  }
  s.value = *value;
  s.outcome = *value > threshold ? Outcome::kFail : Outcome::kPass;
  s.detail = FormatSignificant(*value, 3) + (*value > threshold ? " > " : " <= ") +
             FormatSignificant(threshold, 3);
  return s;
}

bool PoolSaturated(const PoolGauges& g) {
  if (!g.size || !g.checked_out || !g.waiters) return false;
  const double capacity = *g.size + g.max_overflow.value_or(0);
  return *g.checked_out >= capacity && *g.waiters > 0;
}

Signal PoolSaturationSignal(const std::string& pod, const std::optional<PoolGauges>& gauges,
                            const std::string& error, WallTime now) {
  Signal s{std::string(signal::kPoolSaturation) + (pod.empty() ? "" : "/" + pod),
           Outcome::kInconclusive, std::nullopt, now, ""};
  if (!gauges) {
    s.outcome = error.empty() ? Outcome::kInconclusive : Outcome::kError;
    s.detail = error.empty() ? "no pool gauges" : error;
    return s;
  }
  if (!gauges->size || !gauges->checked_out || !gauges->waiters) {
    s.detail = "pool gauges incomplete";
    return s;
  }
  s.value = *gauges->waiters;
  s.outcome = PoolSaturated(*gauges) ? Outcome::kFail : Outcome::kPass;
  s.detail = FormatSignificant(*gauges->checked_out, 3) + " of " +
             FormatSignificant(*gauges->size + gauges->max_overflow.value_or(0), 3) +
             " checked out, " + FormatSignificant(*gauges->waiters, 3) + " waiting";
  return s;
}

int DbErrorCounts::Total() const {
  int n = 0;
  for (const auto& [kind, count] : by_kind) n += count;
  return n;
}

int DbErrorCounts::Count(const std::string& kind) const {
  auto it = by_kind.find(kind);
  return it == by_kind.end() ? 0 : it->second;
}

Signal LogSignal(const std::optional<DbErrorCounts>& counts, const std::string& error,
                 WallTime now) {
  Signal s{signal::kDbErrorLogs, Outcome::kError, std::nullopt, now, ""};
  if (!counts) {
    s.detail = error.empty() ? "logs not read" : error;
    return s;
  }
  int outage = 0;
  std::vector<std::string> parts;
  for (const auto& [kind, count] : counts->by_kind) {
    if (kind == "query") continue;
    outage += count;
    parts.push_back(kind + " " + std::to_string(count));
  }
  s.value = outage;
  s.outcome = outage > 0 ? Outcome::kFail : Outcome::kPass;
  s.detail = outage > 0 ? std::to_string(outage) + " database errors in logs: " + Join(parts, ", ")
                        : "no database errors in logs";
  return s;
}

DbPoolView ViewDbPool(const DbSessionsInput& in) {
  DbPoolView v;
  if (!in.sessions) return v;
  const double lock_wait = static_cast<double>(in.lock_wait.count()) / 1000;
  const double idle_in_tx = static_cast<double>(in.idle_in_transaction.count()) / 1000;
  constexpr double kHeldIdle = 1.0;  // seconds: longer than any gap between two queries
  int held_idle = 0, held_in_tx = 0;
  for (const SessionRow& row : *in.sessions) {
    if (!row.is_target) continue;
    ++v.target;
    if (!row.blocked_by.empty()) {
      ++v.waiting;
      if (row.state_seconds >= lock_wait) ++v.waiting_long;
      v.longest_wait = std::max(v.longest_wait, row.state_seconds);
      v.blockers.insert(v.blockers.end(), row.blocked_by.begin(), row.blocked_by.end());
    }
    if (row.state == "idle") ++v.idle;
    if (row.state == "active") ++v.active;
    if (row.state.rfind("idle in transaction", 0) == 0) {
      ++v.idle_in_transaction;
      if (row.state_seconds >= idle_in_tx) ++v.idle_in_transaction_long;
      if (row.state_seconds >= kHeldIdle) ++held_in_tx;
    }
    if ((row.state == "idle" || row.state.rfind("idle in transaction", 0) == 0) &&
        row.state_seconds >= kHeldIdle) {
      ++held_idle;
    }
  }
  std::sort(v.blockers.begin(), v.blockers.end());
  v.blockers.erase(std::unique(v.blockers.begin(), v.blockers.end()), v.blockers.end());
  const bool full = !in.pool_capacity || v.target >= *in.pool_capacity;
  if (v.waiting_long > 0 && v.idle == 0 && full) {
    v.starved = true;
    v.detail = std::to_string(v.waiting) + " of " +
               Plural(v.target, "target session", "target sessions") +
               " wait on a lock, none idle" +
               (in.pool_capacity ? " (pools hold " + std::to_string(*in.pool_capacity) + ")" : "");
  } else if (in.pool_capacity && *in.pool_capacity > 0 &&
             v.idle_in_transaction_long >= *in.pool_capacity) {
    v.starved = true;
    v.detail = std::to_string(v.idle_in_transaction_long) + " target sessions idle in a " +
               "transaction for " + FormatDuration(in.idle_in_transaction) +
               " or more fill the pools (" + std::to_string(*in.pool_capacity) + ")";
  } else if (in.pool_capacity && *in.pool_capacity > 0 && v.waiting == 0 && v.active == v.target &&
             v.active >= *in.pool_capacity) {
    // Only with the pools' size known: "none idle" alone is any busy moment of a small app.
    v.starved = true;
    v.all_active = true;
    v.detail = "all " + Plural(v.active, "target session", "target sessions") +
               " running queries, none idle (pools hold " + std::to_string(*in.pool_capacity) + ")";
  }
  if (!v.starved && in.pool_capacity && *in.pool_capacity > 0 && v.target >= *in.pool_capacity &&
      v.active == 0 && v.waiting == 0 && held_idle >= *in.pool_capacity) {
    v.held_idle = true;
    v.detail = "all " + Plural(v.target, "target session", "target sessions") + " idle" +
               (held_in_tx > 0 ? " (" + std::to_string(held_in_tx) + " in a transaction)" : "") +
               " for 1s or more, none running a query, none blocked, the pools (" +
               std::to_string(*in.pool_capacity) + ") full";
  }
  return v;
}

Signal DbSessionsSignal(const DbSessionsInput& in, WallTime now) {
  Signal s{signal::kDbSessions, Outcome::kError, std::nullopt, now, ""};
  if (!in.sessions) {
    s.detail = in.error.empty() ? "pg_stat_activity not read" : in.error;
    return s;
  }
  const DbPoolView v = ViewDbPool(in);
  if (v.target == 0) {
    s.outcome = Outcome::kInconclusive;
    s.detail = "no session of the target (matched by " + in.matched_by + ") among " +
               Plural(static_cast<int>(in.sessions->size()), "session", "sessions");
    return s;
  }
  s.value = v.longest_wait;
  std::vector<std::string> fail;
  if (v.waiting_long > 0) {
    std::vector<std::string> pids;
    for (size_t i = 0; i < v.blockers.size() && i < 5; ++i) {
      pids.push_back(std::to_string(v.blockers[i]));
    }
    fail.push_back(Plural(v.waiting, "waits", "wait") + " on a lock, the longest " +
                   FormatFixed(v.longest_wait, 1) + "s (blocked by pid " + Join(pids, ", ") +
                   (v.blockers.size() > 5 ? ", ..." : "") + ")");
  }
  if (in.pool_capacity && *in.pool_capacity > 0 &&
      v.idle_in_transaction_long >= *in.pool_capacity) {
    fail.push_back(std::to_string(v.idle_in_transaction_long) + " idle in a transaction for " +
                   FormatDuration(in.idle_in_transaction) + " or more fill the pools (" +
                   std::to_string(*in.pool_capacity) + ")");
  }
  std::string counts = Plural(v.target, "target session", "target sessions") + " (" +
                       std::to_string(v.active) + " active, " +
                       std::to_string(v.idle_in_transaction) + " idle in transaction";
  if (in.pool_capacity) counts += ", pools hold " + std::to_string(*in.pool_capacity);
  counts += ")";
  if (in.server) {
    counts += "; server slots " + std::to_string(in.server->in_use) + " of " +
              std::to_string(in.server->max_connections - in.server->reserved) + " in use";
  }
  if (!fail.empty()) {
    s.outcome = Outcome::kFail;
    s.detail = counts + ": " + Join(fail, "; ");
  } else {
    s.outcome = Outcome::kPass;
    s.detail = counts + (v.waiting > 0 ? ": " + Plural(v.waiting, "waits", "wait") +
                                             " on a lock, under " + FormatDuration(in.lock_wait)
                                       : ": none waits on a lock");
  }
  return s;
}

SessionsStatus SummarizeSessions(const std::vector<SessionRow>& rows,
                                 const std::string& matched_by) {
  SessionsStatus out;
  out.matched_by = matched_by;
  for (const SessionRow& row : rows) {
    if (row.is_target) {
      ++out.target;
    } else if (!IsControllerSession(row.application_name)) {
      ++out.others;
    }
  }
  return out;
}

PromTextParse ParsePrometheusText(std::string_view text) {
  PromTextParse out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t i = 0;
    auto skip_spaces = [&] {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    };
    skip_spaces();
    if (i == line.size() || line[i] == '#') continue;
    auto fail = [&](const std::string& why) {
      out.error = "line " + std::to_string(line_no) + ": " + why;
    };
    if (out.samples.size() >= kMaxPromSamples) {
      fail("more than " + std::to_string(kMaxPromSamples) + " samples; the rest is ignored");
      break;
    }
    PromSample sample;
    const size_t name_start = i;
    if (!NameStart(line[i])) {
      fail("expected a metric name");
      break;
    }
    while (i < line.size() && NameChar(line[i])) ++i;
    sample.name = std::string(line.substr(name_start, i - name_start));
    skip_spaces();
    bool bad = false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        skip_spaces();
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        const size_t ls = i;
        while (i < line.size() && NameChar(line[i]) && line[i] != ':') ++i;
        if (i == ls) {
          fail("expected a label name");
          bad = true;
          break;
        }
        const std::string label(line.substr(ls, i - ls));
        skip_spaces();
        if (i >= line.size() || line[i] != '=') {
          fail("expected = after label " + label);
          bad = true;
          break;
        }
        ++i;
        skip_spaces();
        if (i >= line.size() || line[i] != '"') {
          fail("expected a quoted value for label " + label);
          bad = true;
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && i < line.size()) {
            const char e = line[i++];
            value += e == 'n' ? '\n' : e;
          } else {
            value += c;
          }
        }
        if (!closed) {
          fail("unterminated value for label " + label);
          bad = true;
          break;
        }
        sample.labels[label] = value;
        skip_spaces();
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (bad) break;
    }
    skip_spaces();
    const size_t vs = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    const auto value = ParseFloat(line.substr(vs, i - vs));
    if (!value) {
      fail("invalid value for " + sample.name);
      break;
    }
    sample.value = *value;
    out.samples.push_back(std::move(sample));
  }
  return out;
}

std::optional<double> SumSamples(const std::vector<PromSample>& samples, std::string_view name,
                                 const std::map<std::string, std::string>& match) {
  std::optional<double> sum;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool matches = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) matches = false;
    }
    if (matches) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

PoolGauges ReadPoolGauges(const std::vector<PromSample>& samples, const PodMetricNames& names) {
  auto sum = [&](const std::string& name) -> std::optional<double> {
    if (name.empty()) return std::nullopt;
    return SumSamples(samples, name);
  };
  PoolGauges g;
  g.size = sum(names.pool_size);
  g.max_overflow = sum(names.pool_max_overflow);
  g.checked_out = sum(names.pool_checked_out);
  g.idle = sum(names.pool_idle);
  g.waiters = sum(names.pool_waiters);
  g.timeouts_total = sum(names.pool_timeouts);
  return g;
}

PromQueryResult ParsePromQueryResponse(std::string_view body) {
  PromQueryResult out;
  Json doc;
  try {
    doc = Json::parse(std::string(body));
  } catch (const std::exception& e) {
    out.error = std::string("not JSON: ") + e.what();
    return out;
  }
  auto str = [](const Json& o, const char* k) -> std::string {
    return o.is_object() && o.has_field(k) && o.at(k).is_string() ? o.at(k).as_string() : "";
  };
  const std::string status = str(doc, "status");
  if (status != "success") {
    const std::string type = str(doc, "errorType");
    const std::string msg = str(doc, "error");
    out.error = status.empty() ? "no status in the answer"
                               : (type.empty() ? "" : type + ": ") + (msg.empty() ? status : msg);
    return out;
  }
  if (!doc.has_field("data") || !doc.at("data").is_object()) {
    out.error = "no data in the answer";
    return out;
  }
  const Json& data = doc.at("data");
  const std::string type = str(data, "resultType");
  if (!data.has_field("result")) {
    out.error = "no result in the answer";
    return out;
  }
  const Json& result = data.at("result");
  auto read_pair = [](const Json& pair) -> std::optional<double> {
    if (!pair.is_array() || pair.size() != 2 || !pair.at(1).is_string()) return std::nullopt;
    return ParseFloat(pair.at(1).as_string());
  };
  if (type == "scalar") {
    const auto v = read_pair(result);
    if (!v) {
      out.error = "malformed scalar";
      return out;
    }
    out.samples.push_back({"", {}, *v});
  } else if (type == "vector") {
    if (!result.is_array()) {
      out.error = "malformed vector";
      return out;
    }
    for (const auto& item : result.as_array()) {
      PromSample s;
      if (item.has_field("metric") && item.at("metric").is_object()) {
        for (const auto& [k, v] : item.at("metric").as_object()) {
          if (!v.is_string()) continue;
          if (k == "__name__") {
            s.name = v.as_string();
          } else {
            s.labels[k] = v.as_string();
          }
        }
      }
      const auto v = item.has_field("value") ? read_pair(item.at("value")) : std::nullopt;
      if (!v) {
        out.error = "malformed sample in vector";
        return out;
      }
      s.value = *v;
      out.samples.push_back(std::move(s));
    }
  } else {
    out.error = "resultType " + (type.empty() ? std::string("missing") : type) +
                ": expected an instant vector or scalar";
    return out;
  }
  out.ok = true;
  return out;
}

std::optional<double> SingleValue(const PromQueryResult& result) {
  if (!result.ok) return std::nullopt;
  std::optional<double> best;
  for (const auto& s : result.samples) {
    if (std::isnan(s.value)) continue;
    if (!best || s.value > *best) best = s.value;
  }
  return best;
}

namespace {
constexpr char kBatchLabel[] = "poolguard_query";
}  // namespace

std::string BatchPromQL(const std::vector<std::string>& queries) {
  std::string out;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (i > 0) out += " or ";
    out += "label_replace((" + queries[i] + "), \"" + kBatchLabel + "\", \"" + std::to_string(i) +
           "\", \"\", \"\")";
  }
  return out;
}

std::vector<std::optional<double>> SplitPromBatch(const PromQueryResult& result, size_t queries) {
  std::vector<std::optional<double>> values(queries);
  if (!result.ok) return values;
  for (const auto& s : result.samples) {
    auto it = s.labels.find(kBatchLabel);
    if (it == s.labels.end() || std::isnan(s.value)) continue;
    size_t i = 0;
    const auto [end, ec] =
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), i);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || i >= queries) {
      continue;
    }
    if (!values[i] || s.value > *values[i]) values[i] = s.value;
  }
  return values;
}

const std::vector<LogPattern>& DriverLogPatterns() {
  // Substrings of what the libraries print, most specific first, tested against
  // recordings of the libraries themselves (controller/tests/remediation/driver_logs/).
  static const std::vector<LogPattern> kPatterns = {
      // The pool had no connection to give within its timeout.
      {"QueuePool limit of size", "pool_timeout"},                               // SQLAlchemy
      {"Connection is not available, request timed out after", "pool_timeout"},  // HikariCP
      {"timeout exceeded when trying to connect", "pool_timeout"},               // pg-pool
      // The server has no slot left (PostgreSQL's own FATAL texts, through any driver).
      {"too many clients already", "too_many_clients"},
      {"connection slots are reserved", "too_many_clients"},
      // The server refused the credentials.
      {"password authentication failed", "authentication"},
      {"no pg_hba.conf entry", "authentication"},
      {"no password supplied", "authentication"},
      {"requested password-based authentication, but no password", "authentication"},
      // A connection that was up broke.
      {"server closed the connection unexpectedly", "connection_lost"},  // libpq
      {"Connection terminated unexpectedly", "connection_lost"},         // node-postgres
      {"Client has encountered a connection error and is not queryable", "connection_lost"},
      {"terminating connection due to administrator command", "connection_lost"},
      {"An I/O error occurred while sending to the backend", "connection_lost"},  // PgJDBC
      {"the database system is shutting down", "connection_lost"},
      {"the database system is starting up", "connection_lost"},
      {"the database system is in recovery mode", "connection_lost"},
      // The server cannot be reached.
      {"Connection refused", "connection_refused"},  // libpq, PgJDBC's cause
      {"ECONNREFUSED", "connection_refused"},        // node
      {"refused. Check that the hostname and port are correct", "connection_refused"},  // PgJDBC
      {"could not translate host name", "connection_refused"},                          // libpq
      {"getaddrinfo ENOTFOUND", "connection_refused"},                                  // node
      {"getaddrinfo EAI_AGAIN", "connection_refused"},                                  // node
      {"java.net.UnknownHostException", "connection_refused"},
      {"failed: timeout expired", "connection_refused"},  // libpq connect_timeout
      {"Connection terminated due to connection timeout", "connection_refused"},  // node-postgres
      {"The connection attempt failed", "connection_refused"},                    // PgJDBC
  };
  return kPatterns;
}

namespace {

// Only the start of a very long line is searched (a driver's message comes early).
constexpr size_t kMaxSearched = 16 << 10;
constexpr size_t kMaxSample = 300;
constexpr std::string_view kMarker = "DB_ERROR: ";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The line without a leading RFC 3339 timestamp such as pods/log?timestamps=true writes
// ("2027-01-15T08:00:03.000000001Z ") or a text log starts with.
std::string_view WithoutTimestamp(std::string_view line) {
  if (line.size() < 21 || line[4] != '-' || line[7] != '-' || line[10] != 'T') return line;
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || space > 40) return line;
  return line.substr(space + 1);
}

// The message of a JSON log line ("msg", "message" or "event"), when the line is one.
std::optional<std::string> JsonMessage(std::string_view line) {
  const size_t brace = line.find('{');
  if (brace == std::string_view::npos || line.back() != '}') return std::nullopt;
  try {
    const Json doc = Json::parse(std::string(line.substr(brace)));
    for (const char* field : {"msg", "message", "event"}) {
      const std::string msg = json::StringField(doc, field);
      if (!msg.empty()) return msg;
    }
  } catch (const std::exception&) {
    // Not JSON after all (or cut short): the raw text is read.
  }
  return std::nullopt;
}

std::string FirstLine(std::string text) {
  if (const size_t nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.size() > kMaxSample) text = text.substr(0, kMaxSample - 3) + "...";
  return text;
}

// `DB_ERROR: <kind>: <message>` in `text`: the kind (lowercase letters and _) and the
// message from the marker on.
std::optional<std::pair<std::string, std::string>> MarkedKind(std::string_view text) {
  const size_t at = text.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string message = FirstLine(std::string(text.substr(at, kMaxSearched)));
  // "DB_ERROR:" with nothing after it (its space trimmed): no kind (found by the fuzzer).
  if (message.size() <= kMarker.size()) return std::nullopt;
  const std::string rest = message.substr(kMarker.size());
  const size_t colon = rest.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string kind = rest.substr(0, colon);
  if (!std::all_of(kind.begin(), kind.end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c)) || c == '_';
      })) {
    return std::nullopt;
  }
  return std::make_pair(std::move(kind), message);
}

// "java.sql.SQLTransientConnectionException: ..." or "org.postgresql.util.PSQLException":
// the header of a Java stack trace, which a logger prints on the line after the message.
bool LooksLikeExceptionHeader(std::string_view line) {
  const size_t end = line.find_first_of(": ");
  const std::string_view name = line.substr(0, end);
  if (name.find('.') == std::string_view::npos) return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '$';
      })) {
    return false;
  }
  for (std::string_view suffix : {"Exception", "Error", "Throwable"}) {
    if (name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      return true;
    }
  }
  return false;
}

const LogPattern* Matching(std::string_view text, const std::vector<LogPattern>& patterns) {
  text = text.substr(0, kMaxSearched);
  for (const auto* table : {&patterns, &DriverLogPatterns()}) {
    for (const LogPattern& p : *table) {
      if (!p.contains.empty() && text.find(p.contains) != std::string_view::npos) return &p;
    }
  }
  return nullptr;
}

}  // namespace

DbErrorCounts ParseDbErrorLines(std::string_view logs, const std::vector<LogPattern>& patterns) {
  DbErrorCounts out;
  std::map<std::string, std::string> latest;
  // The record being read: its kind once known (a marked kind outranks a pattern's).
  std::string kind, sample;
  bool marked = false, in_traceback = false;
  int record_lines = 0;
  // A pattern with a character JSON escapes would not show as written in a JSON line.
  const bool prefilter = std::none_of(patterns.begin(), patterns.end(), [](const LogPattern& p) {
    return std::any_of(p.contains.begin(), p.contains.end(), [](char c) {
      return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
             static_cast<unsigned char>(c) >= 0x80;
    });
  });
  auto close_record = [&] {
    if (!kind.empty()) {
      ++out.by_kind[kind];
      latest[kind] = sample;
    }
    kind.clear();
    sample.clear();
    marked = false;
    record_lines = 0;
  };
  size_t pos = 0;
  while (pos < logs.size()) {
    size_t eol = logs.find('\n', pos);
    if (eol == std::string_view::npos) eol = logs.size();
    std::string_view line = logs.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view rest = WithoutTimestamp(line);

    const bool indented = !rest.empty() && (rest[0] == ' ' || rest[0] == '\t');
    bool continues = rest.empty() || indented || StartsWith(rest, "Caused by: ") ||
                     StartsWith(rest, "The above exception was the direct cause") ||
                     StartsWith(rest, "During handling of the above exception") ||
                     // SQLAlchemy's tail: the statement, its parameters, the docs link
                     StartsWith(rest, "[SQL: ") || StartsWith(rest, "[parameters: ") ||
                     StartsWith(rest, "(Background on this error at:");
    if (StartsWith(rest, "Traceback (most recent call last):")) {
      continues = true;
      in_traceback = true;
    } else if (!indented && !rest.empty() && in_traceback) {
      continues = true;  // the exception line that ends a Python traceback
      in_traceback = false;
    } else if (record_lines == 1 && LooksLikeExceptionHeader(rest)) {
      continues = true;  // a Java stack trace's header, right after the logged message
    }
    if (!continues) {
      close_record();
      in_traceback = false;
    }
    ++record_lines;
    if (marked || rest.empty()) continue;
    // Most lines say nothing of a database: a line is parsed further (as JSON, say) only
    // when it holds the marker or a pattern as written.
    if (prefilter && rest.find(kMarker) == std::string_view::npos &&
        (!kind.empty() || Matching(rest, patterns) == nullptr)) {
      continue;
    }

    const auto json_message = JsonMessage(rest);
    const std::string_view text = json_message ? std::string_view(*json_message) : rest;
    if (auto m = MarkedKind(text)) {
      kind = std::move(m->first);
      sample = std::move(m->second);
      marked = true;
      continue;
    }
    if (!kind.empty()) continue;  // the first pattern found in a record counts
    if (const LogPattern* p = Matching(text, patterns)) {
      kind = p->kind;
      sample = FirstLine(std::string(text));
    }
  }
  close_record();
  int best = 0;
  for (const auto& [k, count] : out.by_kind) {
    if (count > best) {
      best = count;
      out.sample = latest[k];
    }
  }
  return out;
}

}  // namespace poolguard::controller
