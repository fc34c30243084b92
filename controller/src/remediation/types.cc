#include "remediation/types.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

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
    const int64_t n = v->as_number().to_int64();
    if (n < min || n > max) {
      Fail(path, "Invalid value " + std::to_string(n) + ": must be between " + std::to_string(min) +
                     " and " + std::to_string(max));
      return fallback;
    }
    return n;
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

std::string_view ActionName(RemediationAction action) {
  switch (action) {
    case RemediationAction::kRestartDeployment:
      return "RestartDeployment";
    case RemediationAction::kRestartDatabase:
      return "RestartDatabase";
    case RemediationAction::kIncreasePoolSize:
      return "IncreasePoolSize";
    case RemediationAction::kTerminateBlockingSessions:
      return "TerminateBlockingSessions";
  }
  return "";
}

std::optional<RemediationAction> ParseAction(std::string_view name) {
  for (auto a :
       {RemediationAction::kRestartDeployment, RemediationAction::kRestartDatabase,
        RemediationAction::kIncreasePoolSize, RemediationAction::kTerminateBlockingSessions}) {
    if (ActionName(a) == name) return a;
  }
  return std::nullopt;
}

std::string_view StrategyName(Strategy strategy) {
  return strategy == Strategy::kLadder ? "Ladder" : "DiagnosisDriven";
}

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
  if (r.ok() && spec.target_deployment.size() > 253) {
    r.Fail("spec.target.deployment", "Too long: must have at most 253 bytes");
  }
  spec.target_service = r.String(target, "service", "spec.target.service");
  if (r.ok() && spec.target_service.size() > 63) {
    r.Fail("spec.target.service", "Too long: must have at most 63 bytes");
  }
  if (spec.target_service.empty()) spec.target_service = spec.target_deployment;
  spec.target_port =
      static_cast<int>(r.Integer(target, "port", "spec.target.port", 8000, 1, 65535));
  spec.health_path = r.String(target, "healthPath", "spec.target.healthPath", "/health");
  if (r.ok() && (spec.health_path.empty() || spec.health_path.front() != '/')) {
    r.Fail("spec.target.healthPath",
           "Invalid value " + Quote(spec.health_path) + ": must start with /");
  }

  const Json* db = r.Object(spec_json, "database", "spec.database");
  if (r.ok() && db == nullptr) r.Fail("spec.database", "Required value");
  spec.db_service = r.String(db, "service", "spec.database.service");
  if (r.ok() && spec.db_service.empty()) r.Fail("spec.database.service", "Required value");
  spec.db_port = static_cast<int>(r.Integer(db, "port", "spec.database.port", 5432, 1, 65535));
  spec.credentials_secret = r.String(db, "credentialsSecret", "spec.database.credentialsSecret");
  if (r.ok() && spec.credentials_secret.empty()) {
    r.Fail("spec.database.credentialsSecret", "Required value");
  }
  spec.db_statefulset = r.String(db, "statefulSet", "spec.database.statefulSet");
  if (spec.db_statefulset.empty()) spec.db_statefulset = spec.db_service;

  const Json* detection = r.Object(spec_json, "detection", "spec.detection");
  spec.detection.interval = r.Duration(detection, "interval", "spec.detection.interval",
                                       milliseconds(1000), milliseconds(100));
  spec.detection.for_window =
      r.Duration(detection, "for", "spec.detection.for", milliseconds(3000), milliseconds(0));
  const Json* prometheus = r.Object(detection, "prometheus", "spec.detection.prometheus");
  if (prometheus != nullptr) {
    spec.detection.prometheus_url = r.String(prometheus, "url", "spec.detection.prometheus.url");
    const auto& url = spec.detection.prometheus_url;
    if (r.ok() && url.empty()) r.Fail("spec.detection.prometheus.url", "Required value");
    if (r.ok() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      r.Fail("spec.detection.prometheus.url",
             "Invalid value " + Quote(url) + ": must start with http:// or https://");
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
  }
  const Json* thresholds = r.Object(detection, "thresholds", "spec.detection.thresholds");
  spec.detection.error_ratio =
      r.Number(thresholds, "errorRatio", "spec.detection.thresholds.errorRatio", 0.2, 0, 1.0);
  spec.detection.p99_latency_seconds =
      r.Number(thresholds, "p99LatencySeconds", "spec.detection.thresholds.p99LatencySeconds", 2, 0,
               std::nullopt);

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
  spec.increase_pool_size.container =
      r.String(pool, "container", "spec.increasePoolSize.container");
  spec.increase_pool_size.step =
      static_cast<int>(r.Integer(pool, "step", "spec.increasePoolSize.step", 5, 1, 1000));
  spec.increase_pool_size.max =
      static_cast<int>(r.Integer(pool, "max", "spec.increasePoolSize.max", 20, 1, 10000));
  if (r.ok() && spec.increase_pool_size.max < spec.increase_pool_size.step) {
    r.Fail("spec.increasePoolSize.max", "Invalid value " +
                                            std::to_string(spec.increase_pool_size.max) +
                                            ": max must be at least step");
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

  if (!r.ok()) {
    result.error = r.error();
    return result;
  }
  result.spec = std::move(spec);
  return result;
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass:
      return "Pass";
    case Outcome::kFail:
      return "Fail";
    case Outcome::kError:
      return "Error";
    case Outcome::kInconclusive:
      return "Inconclusive";
  }
  return "Inconclusive";
}

Outcome ParseOutcome(std::string_view name) {
  for (auto o : {Outcome::kPass, Outcome::kFail, Outcome::kError}) {
    if (OutcomeName(o) == name) return o;
  }
  return Outcome::kInconclusive;
}

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kUnknown:
      return "Unknown";
    case Health::kHealthy:
      return "Healthy";
    case Health::kDegraded:
      return "Degraded";
  }
  return "Unknown";
}

Health ParseHealth(std::string_view name) {
  if (name == "Healthy") return Health::kHealthy;
  if (name == "Degraded") return Health::kDegraded;
  return Health::kUnknown;
}

std::string_view ConclusionName(Conclusion conclusion) {
  switch (conclusion) {
    case Conclusion::kUnknown:
      return "Unknown";
    case Conclusion::kConnectionPoolExhausted:
      return "ConnectionPoolExhausted";
    case Conclusion::kLockContention:
      return "LockContention";
    case Conclusion::kServerSlotsExhausted:
      return "ServerSlotsExhausted";
    case Conclusion::kDatabaseDown:
      return "DatabaseDown";
    case Conclusion::kCredentialsRejected:
      return "CredentialsRejected";
    case Conclusion::kNetworkUnreachable:
      return "NetworkUnreachable";
  }
  return "Unknown";
}

Conclusion ParseConclusion(std::string_view name) {
  for (auto c : {Conclusion::kConnectionPoolExhausted, Conclusion::kLockContention,
                 Conclusion::kServerSlotsExhausted, Conclusion::kDatabaseDown,
                 Conclusion::kCredentialsRejected, Conclusion::kNetworkUnreachable}) {
    if (ConclusionName(c) == name) return c;
  }
  return Conclusion::kUnknown;
}

std::string_view ConfidenceName(Confidence confidence) {
  switch (confidence) {
    case Confidence::kLow:
      return "Low";
    case Confidence::kMedium:
      return "Medium";
    case Confidence::kHigh:
      return "High";
  }
  return "Low";
}

Confidence ParseConfidence(std::string_view name) {
  if (name == "High") return Confidence::kHigh;
  if (name == "Medium") return Confidence::kMedium;
  return Confidence::kLow;
}

std::string_view ActionResultName(ActionResult result) {
  switch (result) {
    case ActionResult::kInProgress:
      return "InProgress";
    case ActionResult::kVerifying:
      return "Verifying";
    case ActionResult::kVerified:
      return "Verified";
    case ActionResult::kVerificationFailed:
      return "VerificationFailed";
    case ActionResult::kFailed:
      return "Failed";
    case ActionResult::kPlanned:
      return "Planned";
  }
  return "InProgress";
}

ActionResult ParseActionResult(std::string_view name) {
  for (auto r :
       {ActionResult::kVerifying, ActionResult::kVerified, ActionResult::kVerificationFailed,
        ActionResult::kFailed, ActionResult::kPlanned}) {
    if (ActionResultName(r) == name) return r;
  }
  // Anything unreadable is treated as still in progress: the planner then continues it
  // (idempotently) rather than starting another action.
  return ActionResult::kInProgress;
}

std::string_view RemediationPhaseName(RemediationPhase phase) {
  switch (phase) {
    case RemediationPhase::kNone:
      return "";
    case RemediationPhase::kWatching:
      return "Watching";
    case RemediationPhase::kDetected:
      return "Detected";
    case RemediationPhase::kDiagnosing:
      return "Diagnosing";
    case RemediationPhase::kRemediating:
      return "Remediating";
    case RemediationPhase::kVerifying:
      return "Verifying";
    case RemediationPhase::kResolved:
      return "Resolved";
    case RemediationPhase::kExhausted:
      return "Exhausted";
    case RemediationPhase::kAwaitingApproval:
      return "AwaitingApproval";
    case RemediationPhase::kInvalid:
      return "Invalid";
  }
  return "";
}

RemediationPhase ParseRemediationPhase(std::string_view name) {
  for (auto p :
       {RemediationPhase::kWatching, RemediationPhase::kDetected, RemediationPhase::kDiagnosing,
        RemediationPhase::kRemediating, RemediationPhase::kVerifying, RemediationPhase::kResolved,
        RemediationPhase::kExhausted, RemediationPhase::kAwaitingApproval,
        RemediationPhase::kInvalid}) {
    if (RemediationPhaseName(p) == name) return p;
  }
  return RemediationPhase::kNone;
}

std::string IncidentId(WallTime t) { return FormatUtc(t, "%Y%m%dT%H%M%SZ"); }

// ---- status JSON ----

namespace {

void PutTime(Json* j, const char* name, const std::optional<WallTime>& t) {
  if (t) (*j)[name] = Json::string(FormatTimeMs(*t));
}
void PutNum(Json* j, const char* name, const std::optional<double>& v) {
  if (v && std::isfinite(*v)) (*j)[name] = Json::number(*v);
}
void PutStr(Json* j, const char* name, const std::string& v) {
  if (!v.empty()) (*j)[name] = Json::string(v);
}
Json Strings(const std::vector<std::string>& values) {
  Json a = Json::array();
  for (size_t i = 0; i < values.size(); ++i) a[i] = Json::string(values[i]);
  return a;
}
std::vector<std::string> ReadStrings(const Json& object, const std::string& name) {
  std::vector<std::string> out;
  const Json* a = Field(object, name);
  if (a == nullptr || !a->is_array()) return out;
  for (const auto& v : a->as_array()) {
    if (v.is_string()) out.push_back(v.as_string());
  }
  return out;
}
Json Ints(const std::vector<int>& values) {
  Json a = Json::array();
  for (size_t i = 0; i < values.size(); ++i) a[i] = Json::number(values[i]);
  return a;
}
std::vector<int> ReadInts(const Json& object, const std::string& name) {
  std::vector<int> out;
  const Json* a = Field(object, name);
  if (a == nullptr || !a->is_array()) return out;
  for (const auto& v : a->as_array()) {
    if (v.is_number()) out.push_back(static_cast<int>(v.as_number().to_int64()));
  }
  return out;
}

Json ToJson(const DetectionState& d) {
  Json j = Json::object();
  j["health"] = Json::string(std::string(HealthName(d.health)));
  PutTime(&j, "failingSince", d.failing_since);
  PutTime(&j, "passingSince", d.passing_since);
  if (!d.failing.empty()) j["failing"] = Strings(d.failing);
  PutStr(&j, "reason", d.reason);
  return j;
}

DetectionState ParseDetection(const Json& j) {
  DetectionState d;
  d.health = ParseHealth(StringField(j, "health"));
  d.failing_since = TimeMsField(j, "failingSince");
  d.passing_since = TimeMsField(j, "passingSince");
  d.failing = ReadStrings(j, "failing");
  d.reason = StringField(j, "reason");
  return d;
}

Json ToJson(const Diagnosis& d) {
  Json j = Json::object();
  Json checks = Json::array();
  for (size_t i = 0; i < d.checks.size(); ++i) {
    Json c = Json::object();
    c["name"] = Json::string(d.checks[i].name);
    c["result"] = Json::string(std::string(OutcomeName(d.checks[i].result)));
    c["evidence"] = Json::string(d.checks[i].evidence);
    checks[i] = c;
  }
  j["checks"] = checks;
  j["conclusion"] = Json::string(std::string(ConclusionName(d.conclusion)));
  j["confidence"] = Json::string(std::string(ConfidenceName(d.confidence)));
  PutStr(&j, "summary", d.summary);
  if (!d.blocking_pids.empty()) j["blockingPids"] = Ints(d.blocking_pids);
  return j;
}

Diagnosis ParseDiagnosis(const Json& j) {
  Diagnosis d;
  if (const Json* checks = Field(j, "checks"); checks != nullptr && checks->is_array()) {
    for (const auto& c : checks->as_array()) {
      d.checks.push_back({StringField(c, "name"), ParseOutcome(StringField(c, "result")),
                          StringField(c, "evidence")});
    }
  }
  d.conclusion = ParseConclusion(StringField(j, "conclusion"));
  d.confidence = ParseConfidence(StringField(j, "confidence"));
  d.summary = StringField(j, "summary");
  d.blocking_pids = ReadInts(j, "blockingPids");
  return d;
}

Json ToJson(const ActionRecord& a) {
  Json j = Json::object();
  j["name"] = Json::string(std::string(ActionName(a.action)));
  if (a.rung > 0) j["rung"] = Json::number(a.rung);
  PutTime(&j, "startedAt", a.started_at);
  PutTime(&j, "appliedAt", a.applied_at);
  PutTime(&j, "finishedAt", a.finished_at);
  j["result"] = Json::string(std::string(ActionResultName(a.result)));
  PutStr(&j, "key", a.key);
  PutStr(&j, "detail", a.detail);
  PutStr(&j, "verification", a.verification);
  if (a.from_pool_size) j["fromPoolSize"] = Json::number(*a.from_pool_size);
  if (a.to_pool_size) j["toPoolSize"] = Json::number(*a.to_pool_size);
  if (!a.pids.empty()) j["pids"] = Ints(a.pids);
  if (a.healthy_streak > 0) j["healthyStreak"] = Json::number(a.healthy_streak);
  if (a.failed_streak > 0) j["failedStreak"] = Json::number(a.failed_streak);
  return j;
}

std::optional<ActionRecord> ParseActionRecord(const Json& j) {
  const auto action = ParseAction(StringField(j, "name"));
  if (!action) return std::nullopt;
  ActionRecord a;
  a.action = *action;
  a.rung = static_cast<int>(RoundedIntField(j, "rung").value_or(0));
  a.started_at = TimeMsField(j, "startedAt");
  a.applied_at = TimeMsField(j, "appliedAt");
  a.finished_at = TimeMsField(j, "finishedAt");
  a.result = ParseActionResult(StringField(j, "result"));
  a.key = StringField(j, "key");
  a.detail = StringField(j, "detail");
  a.verification = StringField(j, "verification");
  if (auto v = RoundedIntField(j, "fromPoolSize")) a.from_pool_size = static_cast<int>(*v);
  if (auto v = RoundedIntField(j, "toPoolSize")) a.to_pool_size = static_cast<int>(*v);
  a.pids = ReadInts(j, "pids");
  a.healthy_streak = static_cast<int>(RoundedIntField(j, "healthyStreak").value_or(0));
  a.failed_streak = static_cast<int>(RoundedIntField(j, "failedStreak").value_or(0));
  return a;
}

}  // namespace

Json ToJson(const Incident& in) {
  Json j = Json::object();
  j["id"] = Json::string(in.id);
  PutTime(&j, "firstBadAt", in.first_bad_at);
  PutTime(&j, "detectedAt", in.detected_at);
  PutTime(&j, "diagnosedAt", in.diagnosed_at);
  PutTime(&j, "resolvedAt", in.resolved_at);
  PutTime(&j, "closedAt", in.closed_at);
  PutNum(&j, "detectionSeconds", in.detection_seconds);
  PutNum(&j, "recoverySeconds", in.recovery_seconds);
  PutStr(&j, "chaosExperiment", in.chaos_experiment);

  Json s = Json::object();
  PutStr(&s, "health", in.signals.health);
  PutNum(&s, "errorRatio", in.signals.error_ratio);
  PutNum(&s, "p99LatencySeconds", in.signals.p99_latency_seconds);
  PutNum(&s, "poolTimeouts", in.signals.pool_timeouts);
  if (in.signals.pool_saturated) s["poolSaturated"] = Json::boolean(true);
  PutStr(&s, "logSample", in.signals.log_sample);
  if (!in.signals.failing.empty()) s["failing"] = Strings(in.signals.failing);
  j["signals"] = s;

  Json b = Json::object();
  PutNum(&b, "errorRatio", in.baseline.error_ratio);
  PutNum(&b, "p99LatencySeconds", in.baseline.p99_latency_seconds);
  PutNum(&b, "requestRate", in.baseline.request_rate);
  if (b.size() > 0) j["baseline"] = b;

  if (in.diagnosis) j["diagnosis"] = ToJson(*in.diagnosis);
  Json actions = Json::array();
  for (size_t i = 0; i < in.actions.size(); ++i) actions[i] = ToJson(in.actions[i]);
  j["actions"] = actions;
  if (in.pool_revert) {
    Json r = Json::object();
    r["env"] = Json::string(in.pool_revert->env);
    r["from"] = Json::number(in.pool_revert->from);
    r["to"] = Json::number(in.pool_revert->to);
    PutTime(&r, "startedAt", in.pool_revert->started_at);
    PutTime(&r, "finishedAt", in.pool_revert->finished_at);
    PutStr(&r, "result", in.pool_revert->result);
    j["poolSizeRevert"] = r;
  }
  PutStr(&j, "outcome", in.outcome);
  PutStr(&j, "verdict", in.verdict);
  return j;
}

Incident ParseIncident(const Json& j) {
  Incident in;
  in.id = StringField(j, "id");
  in.first_bad_at = TimeMsField(j, "firstBadAt");
  in.detected_at = TimeMsField(j, "detectedAt");
  in.diagnosed_at = TimeMsField(j, "diagnosedAt");
  in.resolved_at = TimeMsField(j, "resolvedAt");
  in.closed_at = TimeMsField(j, "closedAt");
  in.detection_seconds = NumberField(j, "detectionSeconds");
  in.recovery_seconds = NumberField(j, "recoverySeconds");
  in.chaos_experiment = StringField(j, "chaosExperiment");
  if (const Json* s = Field(j, "signals"); s != nullptr && s->is_object()) {
    in.signals.health = StringField(*s, "health");
    in.signals.error_ratio = NumberField(*s, "errorRatio");
    in.signals.p99_latency_seconds = NumberField(*s, "p99LatencySeconds");
    in.signals.pool_timeouts = NumberField(*s, "poolTimeouts");
    in.signals.pool_saturated = BoolField(*s, "poolSaturated");
    in.signals.log_sample = StringField(*s, "logSample");
    in.signals.failing = ReadStrings(*s, "failing");
  }
  if (const Json* b = Field(j, "baseline"); b != nullptr && b->is_object()) {
    in.baseline.error_ratio = NumberField(*b, "errorRatio");
    in.baseline.p99_latency_seconds = NumberField(*b, "p99LatencySeconds");
    in.baseline.request_rate = NumberField(*b, "requestRate");
  }
  if (const Json* d = Field(j, "diagnosis"); d != nullptr && d->is_object()) {
    in.diagnosis = ParseDiagnosis(*d);
  }
  if (const Json* a = Field(j, "actions"); a != nullptr && a->is_array()) {
    for (const auto& item : a->as_array()) {
      if (auto rec = ParseActionRecord(item)) in.actions.push_back(*rec);
    }
  }
  if (const Json* r = Field(j, "poolSizeRevert"); r != nullptr && r->is_object()) {
    PoolSizeRevert rev;
    rev.env = StringField(*r, "env");
    rev.from = static_cast<int>(RoundedIntField(*r, "from").value_or(0));
    rev.to = static_cast<int>(RoundedIntField(*r, "to").value_or(0));
    rev.started_at = TimeMsField(*r, "startedAt");
    rev.finished_at = TimeMsField(*r, "finishedAt");
    rev.result = StringField(*r, "result");
    in.pool_revert = rev;
  }
  in.outcome = StringField(j, "outcome");
  in.verdict = StringField(j, "verdict");
  return in;
}

RemediationStatus ParseRemediationStatus(const Json& object) {
  RemediationStatus status;
  const Json* s = Field(object, "status");
  if (s == nullptr || !s->is_object()) return status;
  status.phase = ParseRemediationPhase(StringField(*s, "phase"));
  status.observed_generation = RoundedIntField(*s, "observedGeneration").value_or(0);
  status.message = StringField(*s, "message");
  if (const Json* d = Field(*s, "detection"); d != nullptr && d->is_object()) {
    status.detection = ParseDetection(*d);
  }
  if (const Json* in = Field(*s, "incident"); in != nullptr && in->is_object()) {
    status.incident = ParseIncident(*in);
  }
  if (const Json* h = Field(*s, "history"); h != nullptr && h->is_array()) {
    for (const auto& item : h->as_array()) {
      if (status.history.size() >= kMaxHistory) break;
      if (item.is_object()) status.history.push_back(ParseIncident(item));
    }
  }
  status.conditions = ParseConditions(*s, TimeMsField, RoundedIntField);
  return status;
}

Json ToJson(const RemediationStatus& status) {
  Json s = Json::object();
  if (status.phase != RemediationPhase::kNone) {
    s["phase"] = Json::string(std::string(RemediationPhaseName(status.phase)));
  }
  s["observedGeneration"] = Json::number(status.observed_generation);
  PutStr(&s, "message", status.message);
  s["detection"] = ToJson(status.detection);
  if (status.incident) s["incident"] = ToJson(*status.incident);
  Json history = Json::array();
  for (size_t i = 0; i < status.history.size() && i < kMaxHistory; ++i) {
    history[i] = ToJson(status.history[i]);
  }
  s["history"] = history;
  s["conditions"] = ConditionsToJson(status.conditions);  // metav1.Time: whole seconds
  return s;
}

}  // namespace poolguard::controller
