#include "remediation/spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <regex>

#include "core/duration.h"
#include "core/enum_names.h"
#include "core/names.h"

namespace poolguard::controller {
namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// Reads the spec field by field, keeping the first error with the field's path.
class SpecReader {
 public:
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void Fail(const std::string& path, const std::string& message) {
    if (error_.empty()) error_ = path + ": " + message;
  }

  // An optional object; a present non-object is an error.
  const Json* Object(const Json* parent, const std::string& name, const std::string& path) {
    if (parent == nullptr) return nullptr;
    const Json* v = Field(*parent, name);
    if (v != nullptr && !v->is_object()) {
      Fail(path, "Invalid value: expected an object");
      return nullptr;
    }
    return v;
  }

  std::string String(const Json* parent, const std::string& name, const std::string& path,
                     std::string fallback = "") {
    const Json* v = parent == nullptr ? nullptr : Field(*parent, name);
    if (v == nullptr) return fallback;
    if (!v->is_string()) {
      Fail(path, "Invalid value: expected a string");
      return fallback;
    }
    return v->as_string();
  }

  int64_t Integer(const Json* parent, const std::string& name, const std::string& path,
                  int64_t fallback, int64_t min, int64_t max) {
    const Json* v = parent == nullptr ? nullptr : Field(*parent, name);
    if (v == nullptr) return fallback;
    if (!v->is_number() || !v->is_integer()) {
      Fail(path, "Invalid value: expected an integer");
      return fallback;
    }
    const auto n = json::AsInt64(*v);
    if (!n || *n < min || *n > max) {
      Fail(path, "Invalid value " + v->serialize() + ": must be between " + std::to_string(min) +
                     " and " + std::to_string(max));
      return fallback;
    }
    return *n;
  }

  double Number(const Json* parent, const std::string& name, const std::string& path,
                double fallback, double min, std::optional<double> max) {
    const Json* v = parent == nullptr ? nullptr : Field(*parent, name);
    if (v == nullptr) return fallback;
    if (!v->is_number()) {
      Fail(path, "Invalid value: expected a number");
      return fallback;
    }
    const double n = v->as_double();
    if (!std::isfinite(n) || n < min || (max && n > *max)) {
      char buf[96];
      if (max) {
        std::snprintf(buf, sizeof buf, "Invalid value %g: must be between %g and %g", n, min, *max);
      } else {
        std::snprintf(buf, sizeof buf, "Invalid value %g: must be at least %g", n, min);
      }
      Fail(path, buf);
      return fallback;
    }
    return n;
  }

  bool Boolean(const Json* parent, const std::string& name, const std::string& path) {
    const Json* v = parent == nullptr ? nullptr : Field(*parent, name);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      Fail(path, "Invalid value: expected true or false");
      return false;
    }
    return v->as_bool();
  }

  std::chrono::milliseconds Duration(const Json* parent, const std::string& name,
                                     const std::string& path, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min) {
    const std::string text = String(parent, name, path);
    if (text.empty()) return fallback;
    const auto d = ParseDuration(text);
    if (!d) {
      Fail(path, "Invalid value " + Quote(text) + ": expected a duration such as 500ms, 3s or 1m");
      return fallback;
    }
    if (*d < min) {
      Fail(path, "Invalid value " + Quote(text) + ": must be at least " + FormatDuration(min));
      return fallback;
    }
    return *d;
  }

  std::vector<RemediationAction> Actions(const Json* parent, const std::string& name,
                                         const std::string& path,
                                         std::vector<RemediationAction> fallback) {
    const Json* v = parent == nullptr ? nullptr : Field(*parent, name);
    if (v == nullptr) return fallback;
    if (!v->is_array()) {
      Fail(path, "Invalid value: expected a list of actions");
      return fallback;
    }
    std::vector<RemediationAction> out;
    size_t i = 0;
    for (const auto& item : v->as_array()) {
      const std::string at = path + "[" + std::to_string(i++) + "]";
      const std::string s = item.is_string() ? item.as_string() : "";
      const auto a = ParseAction(s);
      if (!a) {
        Fail(at, "Unsupported value " + Quote(s) +
                     ": supported values: RestartDeployment, RestartDatabase, "
                     "IncreasePoolSize, TerminateBlockingSessions");
        return fallback;
      }
      if (std::find(out.begin(), out.end(), *a) != out.end()) {
        Fail(at, "Duplicate value " + Quote(s));
        return fallback;
      }
      out.push_back(*a);
    }
    return out;
  }

 private:
  std::string error_;
};

}  // namespace

constexpr EnumName<RemediationAction> kActionNames[] = {
    {RemediationAction::kRestartDeployment, "RestartDeployment"},
    {RemediationAction::kRestartDatabase, "RestartDatabase"},
    {RemediationAction::kIncreasePoolSize, "IncreasePoolSize"},
    {RemediationAction::kTerminateBlockingSessions, "TerminateBlockingSessions"},
};

constexpr EnumName<Strategy> kStrategyNames[] = {
    {Strategy::kLadder, "Ladder"},
    {Strategy::kDiagnosisDriven, "DiagnosisDriven"},
};

std::string_view ActionName(RemediationAction action) { return NameOf(kActionNames, action); }

std::optional<RemediationAction> ParseAction(std::string_view name) {
  return ValueOf(kActionNames, name);
}

constexpr EnumName<BlockerScope> kBlockerScopeNames[] = {
    {BlockerScope::kRole, "Role"},
    {BlockerScope::kDatabase, "Database"},
    {BlockerScope::kServer, "Server"},
};

std::string_view BlockerScopeName(BlockerScope scope) { return NameOf(kBlockerScopeNames, scope); }

constexpr EnumName<HealthBody> kHealthBodyNames[] = {
    {HealthBody::kAuto, "Auto"},
    {HealthBody::kIgnore, "Ignore"},
};

std::string_view HealthBodyName(HealthBody mode) { return NameOf(kHealthBodyNames, mode); }

constexpr EnumName<MetricPreset> kMetricPresetNames[] = {
    {MetricPreset::kPoolGuardTarget, "PoolGuardTarget"},
    {MetricPreset::kHikariCP, "HikariCP"},
    {MetricPreset::kNone, "None"},
};

std::string_view MetricPresetName(MetricPreset preset) {
  return NameOf(kMetricPresetNames, preset);
}

std::string_view StrategyName(Strategy strategy) { return NameOf(kStrategyNames, strategy); }

ExpandedQuery ExpandQuery(std::string_view query, const QueryPlaceholders& values) {
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  };
  auto value_of = [&](std::string_view name) -> const std::string* {
    if (name == "namespace") return &values.ns;
    if (name == "deployment") return &values.deployment;
    if (name == "range") return &values.range;
    return nullptr;
  };
  const std::string supported = "supported: $namespace, $deployment, $range, $$ for a literal $";
  ExpandedQuery out;
  for (size_t i = 0; i < query.size(); ++i) {
    if (query[i] != '$') {
      out.text.push_back(query[i]);
      continue;
    }
    const size_t at = i;
    if (i + 1 < query.size() && query[i + 1] == '$') {
      out.text.push_back('$');
      ++i;
      continue;
    }
    const bool braces = i + 1 < query.size() && query[i + 1] == '{';
    const size_t start = i + (braces ? 2 : 1);
    size_t end = start;
    while (end < query.size() && is_name_char(query[end])) ++end;
    const std::string_view name = query.substr(start, end - start);
    if (braces && (end == query.size() || query[end] != '}')) {
      out.error = "unclosed ${ at offset " + std::to_string(at) + " (" + supported + ")";
      return out;
    }
    i = braces ? end : end - 1;
    const std::string* value = value_of(name);
    if (value == nullptr) {
      out.error = (!name.empty() ? "unknown placeholder $" + std::string(name)
                   : braces      ? std::string("an empty ${}")
                                 : std::string("a lone $")) +
                  " at offset " + std::to_string(at) + " (" + supported + ")";
      return out;
    }
    out.text += *value;
  }
  return out;
}

bool RemediationSpec::Allows(RemediationAction action) const {
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

ActionRequest ParseActionRequest(std::string_view value) {
  ActionRequest r;
  const auto first = value.find('/');
  const auto second = first == std::string_view::npos ? first : value.find('/', first + 1);
  if (second == std::string_view::npos) {
    r.id = std::string(value.substr(0, 64));
    r.error = std::string(kRequestActionAnnotation) + " must read <request id>/<action>/<user>";
    return r;
  }
  r.id = std::string(value.substr(0, first));
  r.action = std::string(value.substr(first + 1, second - first - 1));
  r.by = std::string(value.substr(second + 1, 256));
  if (r.id.empty() || r.id.size() > 64) {
    r.id = std::string(value.substr(0, 64));
    r.error = "the request id must be 1 to 64 characters";
  } else if (!ParseAction(r.action)) {
    r.error = "unknown action " + Quote(r.action.substr(0, 64)) +
              ": supported: RestartDeployment, RestartDatabase, IncreasePoolSize, "
              "TerminateBlockingSessions";
  }
  return r;
}

bool RemediationSpec::NeedsApproval(RemediationAction action) const {
  const auto& r = safety.require_approval;
  return std::find(r.begin(), r.end(), action) != r.end();
}

RemediationSpecParse ParseRemediationSpec(const Json& object) {
  using std::chrono::milliseconds;
  RemediationSpecParse result;
  const Json* spec_json = Field(object, "spec");
  if (spec_json == nullptr || !spec_json->is_object()) {
    result.error = "spec: Required value";
    return result;
  }
  SpecReader r;
  RemediationSpec spec;

  const Json* target = r.Object(spec_json, "target", "spec.target");
  if (r.ok() && target == nullptr) r.Fail("spec.target", "Required value");
  spec.target_deployment = r.String(target, "deployment", "spec.target.deployment");
  if (r.ok() && spec.target_deployment.empty()) {
    r.Fail("spec.target.deployment", "Required value");
  }
  // Names go into URL paths: each must be what Kubernetes allows, nothing more.
  auto check_name = [&](const std::string& path, const std::string& value, bool label) {
    if (!r.ok() || value.empty()) return;
    const std::string why = label ? CheckDnsLabel(value) : CheckDnsSubdomain(value);
    if (!why.empty()) r.Fail(path, "Invalid value " + Quote(value.substr(0, 64)) + ": " + why);
  };
  check_name("spec.target.deployment", spec.target_deployment, false);
  spec.target_service = r.String(target, "service", "spec.target.service");
  check_name("spec.target.service", spec.target_service, true);
  if (spec.target_service.empty()) spec.target_service = spec.target_deployment;
  spec.target_port =
      static_cast<int>(r.Integer(target, "port", "spec.target.port", 8000, 1, 65535));
  spec.health_path = r.String(target, "healthPath", "spec.target.healthPath", "/health");
  if (r.ok() && (spec.health_path.empty() || spec.health_path.front() != '/')) {
    r.Fail("spec.target.healthPath",
           "Invalid value " + Quote(spec.health_path) + ": must start with /");
  }
  const std::string health_body = r.String(target, "healthBody", "spec.target.healthBody");
  if (!health_body.empty()) {
    if (auto parsed = ValueOf(kHealthBodyNames, health_body)) {
      spec.health_body = *parsed;
    } else {
      r.Fail("spec.target.healthBody", "Unsupported value " + Quote(health_body.substr(0, 64)) +
                                           ": supported values: Auto, Ignore");
    }
  }

  const Json* sessions = r.Object(target, "sessions", "spec.target.sessions");
  // PostgreSQL keeps at most 63 bytes of a name (NAMEDATALEN - 1): a longer one never
  // matches.
  auto session_name = [&](const char* name) {
    const std::string path = std::string("spec.target.sessions.") + name;
    std::string value = r.String(sessions, name, path);
    if (r.ok() && value.size() > 63) {
      r.Fail(path, "Too long: may not be more than 63 bytes (PostgreSQL's limit for names)");
    }
    return value;
  };
  spec.session_role = session_name("role");
  spec.session_application_name = session_name("applicationName");

  const Json* db = r.Object(spec_json, "database", "spec.database");
  if (r.ok() && db == nullptr) r.Fail("spec.database", "Required value");
  spec.db_service = r.String(db, "service", "spec.database.service");
  if (r.ok() && spec.db_service.empty()) r.Fail("spec.database.service", "Required value");
  check_name("spec.database.service", spec.db_service, true);
  spec.db_port = static_cast<int>(r.Integer(db, "port", "spec.database.port", 5432, 1, 65535));
  spec.credentials_secret = r.String(db, "credentialsSecret", "spec.database.credentialsSecret");
  if (r.ok() && spec.credentials_secret.empty()) {
    r.Fail("spec.database.credentialsSecret", "Required value");
  }
  check_name("spec.database.credentialsSecret", spec.credentials_secret, false);
  spec.db_statefulset = r.String(db, "statefulSet", "spec.database.statefulSet");
  check_name("spec.database.statefulSet", spec.db_statefulset, false);
  if (spec.db_statefulset.empty()) spec.db_statefulset = spec.db_service;

  const Json* detection = r.Object(spec_json, "detection", "spec.detection");
  spec.detection.interval = r.Duration(detection, "interval", "spec.detection.interval",
                                       milliseconds(1000), milliseconds(100));
  spec.detection.for_window =
      r.Duration(detection, "for", "spec.detection.for", milliseconds(3000), milliseconds(0));
  const Json* metrics = r.Object(detection, "metrics", "spec.detection.metrics");
  const std::string preset = r.String(metrics, "preset", "spec.detection.metrics.preset");
  if (!preset.empty()) {
    if (auto parsed = ValueOf(kMetricPresetNames, preset)) {
      spec.detection.metrics_preset = *parsed;
    } else {
      r.Fail("spec.detection.metrics.preset",
             "Unsupported value " + Quote(preset.substr(0, 64)) +
                 ": supported values: PoolGuardTarget, HikariCP, None");
    }
  }
  spec.detection.metrics_path = r.String(metrics, "path", "spec.detection.metrics.path");
  if (r.ok() && !spec.detection.metrics_path.empty() &&
      (spec.detection.metrics_path.front() != '/' || spec.detection.metrics_path.size() > 256 ||
       spec.detection.metrics_path.find_first_of(" \t\r\n") != std::string::npos)) {
    r.Fail("spec.detection.metrics.path",
           "Invalid value " + Quote(spec.detection.metrics_path.substr(0, 64)) +
               ": must be a URL path starting with /, at most 256 bytes, no spaces");
  }
  const Json* database = r.Object(detection, "database", "spec.detection.database");
  spec.detection.lock_wait = r.Duration(database, "lockWait", "spec.detection.database.lockWait",
                                        milliseconds(1000), milliseconds(100));
  spec.detection.idle_in_transaction =
      r.Duration(database, "idleInTransaction", "spec.detection.database.idleInTransaction",
                 milliseconds(10'000), milliseconds(1000));
  spec.detection.idle_slot_holder =
      r.Duration(database, "idleSlotHolder", "spec.detection.database.idleSlotHolder",
                 milliseconds(10'000), milliseconds(1000));
  const Json* prometheus = r.Object(detection, "prometheus", "spec.detection.prometheus");
  if (prometheus != nullptr) {
    spec.detection.prometheus_url = r.String(prometheus, "url", "spec.detection.prometheus.url");
    const auto& url = spec.detection.prometheus_url;
    if (r.ok() && url.empty()) r.Fail("spec.detection.prometheus.url", "Required value");
    if (r.ok() && url.rfind("https://", 0) == 0) {
      r.Fail("spec.detection.prometheus.url",
             "Invalid value " + Quote(url.substr(0, 128)) +
                 ": https:// is not supported; give Prometheus's plain http:// address "
                 "(its in-cluster Service)");
    } else if (r.ok() && url.rfind("http://", 0) != 0) {
      r.Fail("spec.detection.prometheus.url",
             "Invalid value " + Quote(url.substr(0, 128)) + ": must start with http://");
    }
    while (!spec.detection.prometheus_url.empty() && spec.detection.prometheus_url.back() == '/') {
      spec.detection.prometheus_url.pop_back();
    }
    const Json* queries = r.Object(prometheus, "queries", "spec.detection.prometheus.queries");
    auto query = [&](const char* name, std::optional<std::string>* out) {
      if (queries == nullptr || Field(*queries, name) == nullptr) return;  // the default
      const std::string path = std::string("spec.detection.prometheus.queries.") + name;
      const std::string text = r.String(queries, name, path);
      if (!r.ok()) return;
      if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        r.Fail(path, "Required value: a PromQL query (leave the field out for the default)");
        return;
      }
      const ExpandedQuery checked = ExpandQuery(text, {});
      if (!checked.error.empty()) {
        r.Fail(path, "Invalid value " + Quote(text) + ": " + checked.error);
        return;
      }
      *out = text;
    };
    auto& q = spec.detection.queries;
    query("errorRatio", &q.error_ratio);
    query("p99LatencySeconds", &q.p99_latency_seconds);
    query("poolTimeouts", &q.pool_timeouts);
    query("requestRate", &q.request_rate);
    query("authErrors", &q.auth_errors);
    if (r.ok() && spec.detection.metrics_preset == MetricPreset::kNone && !q.error_ratio &&
        !q.p99_latency_seconds && !q.pool_timeouts && !q.request_rate && !q.auth_errors) {
      r.Fail("spec.detection.prometheus.queries",
             "Required value: metrics preset None has no default PromQL; give the queries, or "
             "leave spec.detection.prometheus out");
    }
  }
  const Json* thresholds = r.Object(detection, "thresholds", "spec.detection.thresholds");
  spec.detection.error_ratio =
      r.Number(thresholds, "errorRatio", "spec.detection.thresholds.errorRatio", 0.2, 0, 1.0);
  spec.detection.p99_latency_seconds =
      r.Number(thresholds, "p99LatencySeconds", "spec.detection.thresholds.p99LatencySeconds", 2, 0,
               std::nullopt);

  if (const Json* patterns = detection == nullptr ? nullptr : Field(*detection, "logPatterns")) {
    if (!patterns->is_array()) {
      r.Fail("spec.detection.logPatterns", "Invalid value: expected an array");
    } else if (patterns->size() > kMaxLogPatterns) {
      r.Fail("spec.detection.logPatterns", "Too many: " + std::to_string(patterns->size()) +
                                               ": must have at most " +
                                               std::to_string(kMaxLogPatterns) + " items");
    } else {
      for (size_t i = 0; i < patterns->size() && r.ok(); ++i) {
        const std::string path = "spec.detection.logPatterns[" + std::to_string(i) + "]";
        const Json& item = patterns->at(i);
        if (!item.is_object()) {
          r.Fail(path, "Invalid value: expected an object");
          break;
        }
        LogPattern p;
        p.contains = r.String(&item, "contains", path + ".contains");
        p.kind = r.String(&item, "kind", path + ".kind");
        if (!r.ok()) break;
        if (p.contains.empty() || p.contains.size() > kMaxLogPatternBytes) {
          r.Fail(path + ".contains", p.contains.empty()
                                         ? "Required value"
                                         : "Too long: must have at most " +
                                               std::to_string(kMaxLogPatternBytes) + " bytes");
          break;
        }
        if (std::find(std::begin(kLogPatternKinds), std::end(kLogPatternKinds), p.kind) ==
            std::end(kLogPatternKinds)) {
          r.Fail(path + ".kind", "Unsupported value " + Quote(p.kind.substr(0, 64)) +
                                     ": supported values: pool_timeout, too_many_clients, "
                                     "authentication, connection_refused, connection_lost");
          break;
        }
        spec.detection.log_patterns.push_back(std::move(p));
      }
    }
  }

  const std::string strategy = r.String(spec_json, "strategy", "spec.strategy");
  if (strategy.empty() || strategy == "Ladder") {
    spec.strategy = Strategy::kLadder;
  } else if (strategy == "DiagnosisDriven") {
    spec.strategy = Strategy::kDiagnosisDriven;
  } else {
    r.Fail("spec.strategy",
           "Unsupported value " + Quote(strategy) + ": supported values: Ladder, DiagnosisDriven");
  }
  spec.actions = r.Actions(spec_json, "actions", "spec.actions", spec.actions);

  const Json* pool = r.Object(spec_json, "increasePoolSize", "spec.increasePoolSize");
  spec.increase_pool_size.env =
      r.String(pool, "env", "spec.increasePoolSize.env", spec.increase_pool_size.env);
  if (r.ok() && spec.increase_pool_size.env.empty()) {
    r.Fail("spec.increasePoolSize.env", "Required value");
  }
  // Only a pool-size variable may be raised: not DATABASE_URL, PORT or any other setting.
  static const std::regex kPoolEnv(kPoolSizeEnvPattern);
  if (r.ok() && (!std::regex_match(spec.increase_pool_size.env, kPoolEnv) ||
                 spec.increase_pool_size.env.find("POOL") == std::string::npos)) {
    r.Fail("spec.increasePoolSize.env",
           "Invalid value " + Quote(spec.increase_pool_size.env.substr(0, 64)) +
               ": must be an upper-case variable name containing POOL (DB_POOL_SIZE, "
               "SPRING_DATASOURCE_HIKARI_MAXIMUMPOOLSIZE, ...)");
  }
  spec.increase_pool_size.container =
      r.String(pool, "container", "spec.increasePoolSize.container");
  check_name("spec.increasePoolSize.container", spec.increase_pool_size.container, true);
  spec.increase_pool_size.step =
      static_cast<int>(r.Integer(pool, "step", "spec.increasePoolSize.step", 5, 1, 1000));
  spec.increase_pool_size.max =
      static_cast<int>(r.Integer(pool, "max", "spec.increasePoolSize.max", 20, 1, 10000));
  if (r.ok() && spec.increase_pool_size.max < spec.increase_pool_size.step) {
    r.Fail("spec.increasePoolSize.max", "Invalid value " +
                                            std::to_string(spec.increase_pool_size.max) +
                                            ": max must be at least step");
  }

  const Json* terminate =
      r.Object(spec_json, "terminateBlockingSessions", "spec.terminateBlockingSessions");
  const std::string scope = r.String(terminate, "scope", "spec.terminateBlockingSessions.scope");
  if (!scope.empty()) {
    if (auto parsed = ValueOf(kBlockerScopeNames, scope)) {
      spec.terminate_scope = *parsed;
    } else {
      r.Fail("spec.terminateBlockingSessions.scope",
             "Unsupported value " + Quote(scope.substr(0, 64)) +
                 ": supported values: Role, Database, Server");
    }
  }

  const Json* verification = r.Object(spec_json, "verification", "spec.verification");
  auto& v = spec.verification;
  v.consecutive_healthy = static_cast<int>(r.Integer(
      verification, "consecutiveHealthy", "spec.verification.consecutiveHealthy", 3, 1, 100));
  v.window = r.Duration(verification, "window", "spec.verification.window", milliseconds(10'000),
                        milliseconds(0));
  v.timeout = r.Duration(verification, "timeout", "spec.verification.timeout", milliseconds(60'000),
                         milliseconds(1000));
  v.max_error_ratio =
      r.Number(verification, "maxErrorRatio", "spec.verification.maxErrorRatio", 0.01, 0, 1.0);
  v.latency_factor = r.Number(verification, "latencyFactor", "spec.verification.latencyFactor", 2.0,
                              1, std::nullopt);
  v.test_path = r.String(verification, "testPath", "spec.verification.testPath");
  if (r.ok() && !v.test_path.empty() &&
      (v.test_path.front() != '/' || v.test_path.size() > 256 ||
       v.test_path.find_first_of(" \t\r\n") != std::string::npos)) {
    r.Fail("spec.verification.testPath",
           "Invalid value " + Quote(v.test_path.substr(0, 64)) +
               ": must be a URL path starting with /, at most 256 bytes, no spaces");
  }

  const Json* safety = r.Object(spec_json, "safety", "spec.safety");
  auto& s = spec.safety;
  s.max_actions_per_hour = static_cast<int>(
      r.Integer(safety, "maxActionsPerHour", "spec.safety.maxActionsPerHour", 3, 0, 100));
  s.cooldown =
      r.Duration(safety, "cooldown", "spec.safety.cooldown", milliseconds(60'000), milliseconds(0));
  s.dry_run = r.Boolean(safety, "dryRun", "spec.safety.dryRun");
  s.require_approval = r.Actions(safety, "requireApproval", "spec.safety.requireApproval", {});
  const Json* breaker = r.Object(safety, "loopBreaker", "spec.safety.loopBreaker");
  s.relapse_window = r.Duration(breaker, "relapseWindow", "spec.safety.loopBreaker.relapseWindow",
                                milliseconds(5 * 60'000), milliseconds(1000));
  s.max_relapses = static_cast<int>(
      r.Integer(breaker, "maxRelapses", "spec.safety.loopBreaker.maxRelapses", 2, 1, 100));
  for (auto a : s.require_approval) {
    if (r.ok() && !spec.Allows(a)) {
      r.Fail("spec.safety.requireApproval", "Invalid value " + Quote(std::string(ActionName(a))) +
                                                ": may only name actions listed in actions");
    }
  }

  const Json* notifications = r.Object(spec_json, "notifications", "spec.notifications");
  const Json* webhook = r.Object(notifications, "webhook", "spec.notifications.webhook");
  if (r.ok() && webhook != nullptr) {
    WebhookTarget t;
    t.url = r.String(webhook, "url", "spec.notifications.webhook.url");
    const std::string why = CheckWebhookUrl(t.url);
    if (r.ok() && !why.empty()) {
      r.Fail("spec.notifications.webhook.url",
             "Invalid value " + Quote(t.url.substr(0, 64)) + ": " + why);
    }
    const std::string format = r.String(webhook, "format", "spec.notifications.webhook.format");
    const auto parsed = ParseWebhookFormat(format);
    if (r.ok() && !parsed) {
      r.Fail("spec.notifications.webhook.format", "Unsupported value " +
                                                      Quote(format.substr(0, 64)) +
                                                      ": supported values: Slack, "
                                                      "Alertmanager");
    }
    if (r.ok()) {
      t.format = *parsed;
      spec.webhook = t;
    }
  }

  if (!r.ok()) {
    result.error = r.error();
    return result;
  }
  result.spec = std::move(spec);
  return result;
}

}  // namespace poolguard::controller
