#include "remediation/status.h"

#include <algorithm>
#include <limits>

#include "chaos/types.h"
#include "core/enum_names.h"
#include "core/text.h"
#include "poolguard/common/json_util.h"

namespace poolguard::controller {

namespace {

constexpr EnumName<Outcome> kOutcomeNames[] = {
    {Outcome::kPass, "Pass"},
    {Outcome::kFail, "Fail"},
    {Outcome::kError, "Error"},
    {Outcome::kInconclusive, "Inconclusive"},
};

constexpr EnumName<Health> kHealthNames[] = {
    {Health::kUnknown, "Unknown"},
    {Health::kHealthy, "Healthy"},
    {Health::kDegraded, "Degraded"},
};

constexpr EnumName<Conclusion> kConclusionNames[] = {
    {Conclusion::kUnknown, "Unknown"},
    {Conclusion::kConnectionPoolExhausted, "ConnectionPoolExhausted"},
    {Conclusion::kLockContention, "LockContention"},
    {Conclusion::kServerSlotsExhausted, "ServerSlotsExhausted"},
    {Conclusion::kDatabaseDown, "DatabaseDown"},
    {Conclusion::kCredentialsRejected, "CredentialsRejected"},
    {Conclusion::kNetworkUnreachable, "NetworkUnreachable"},
};

constexpr EnumName<Confidence> kConfidenceNames[] = {
    {Confidence::kLow, "Low"},
    {Confidence::kMedium, "Medium"},
    {Confidence::kHigh, "High"},
};

constexpr EnumName<ActionResult> kActionResultNames[] = {
    {ActionResult::kInProgress, "InProgress"},
    {ActionResult::kVerifying, "Verifying"},
    {ActionResult::kVerified, "Verified"},
    {ActionResult::kVerificationFailed, "VerificationFailed"},
    {ActionResult::kFailed, "Failed"},
    {ActionResult::kPlanned, "Planned"},
};

constexpr EnumName<RemediationPhase> kPhaseNames[] = {
    {RemediationPhase::kNone, ""},
    {RemediationPhase::kWatching, "Watching"},
    {RemediationPhase::kDetected, "Detected"},
    {RemediationPhase::kDiagnosing, "Diagnosing"},
    {RemediationPhase::kRemediating, "Remediating"},
    {RemediationPhase::kVerifying, "Verifying"},
    {RemediationPhase::kResolved, "Resolved"},
    {RemediationPhase::kExhausted, "Exhausted"},
    {RemediationPhase::kAwaitingApproval, "AwaitingApproval"},
    {RemediationPhase::kInvalid, "Invalid"},
};

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  return NameOf(kOutcomeNames, outcome, "Inconclusive");
}
// Unknown names read as Inconclusive: not evidence either way.
Outcome ParseOutcome(std::string_view name) {
  return ValueOf(kOutcomeNames, name).value_or(Outcome::kInconclusive);
}

std::string_view HealthName(Health health) { return NameOf(kHealthNames, health, "Unknown"); }
Health ParseHealth(std::string_view name) {
  return ValueOf(kHealthNames, name).value_or(Health::kUnknown);
}

std::string_view ConclusionName(Conclusion conclusion) {
  return NameOf(kConclusionNames, conclusion, "Unknown");
}
Conclusion ParseConclusion(std::string_view name) {
  return ValueOf(kConclusionNames, name).value_or(Conclusion::kUnknown);
}

std::string_view ConfidenceName(Confidence confidence) {
  return NameOf(kConfidenceNames, confidence, "Low");
}
Confidence ParseConfidence(std::string_view name) {
  return ValueOf(kConfidenceNames, name).value_or(Confidence::kLow);
}

std::string_view ActionResultName(ActionResult result) {
  return NameOf(kActionResultNames, result, "InProgress");
}
// Anything unreadable is treated as still in progress: the planner then continues it
// (idempotently) rather than starting another action.
ActionResult ParseActionResult(std::string_view name) {
  return ValueOf(kActionResultNames, name).value_or(ActionResult::kInProgress);
}

std::string_view RemediationPhaseName(RemediationPhase phase) { return NameOf(kPhaseNames, phase); }
RemediationPhase ParseRemediationPhase(std::string_view name) {
  return ValueOf(kPhaseNames, name).value_or(RemediationPhase::kNone);
}

namespace {

void Bound(std::string& text, size_t max = kMaxStatusText) { text = Truncated(text, max); }
template <typename T>
void BoundList(std::vector<T>& list) {
  if (list.size() > kMaxStatusList) list.resize(kMaxStatusList);
}

void Bound(Incident& in) {
  Bound(in.chaos_experiment, 256);
  Bound(in.chaos_report, kMaxReportLength);
  Bound(in.signals.health);
  Bound(in.signals.log_sample, kMaxLogSample);
  BoundList(in.signals.failing);
  for (auto& name : in.signals.failing) Bound(name, 256);
  if (in.diagnosis) {
    for (auto& c : in.diagnosis->checks) Bound(c.evidence);
    Bound(in.diagnosis->summary);
    BoundList(in.diagnosis->blocking_pids);
  }
  for (auto& a : in.actions) {
    Bound(a.detail);
    Bound(a.verification);
    BoundList(a.pids);
  }
  Bound(in.outcome);
  Bound(in.verdict);
}

}  // namespace

void BoundTexts(RemediationStatus* status) {
  Bound(status->message);
  Bound(status->detection.reason);
  if (status->sessions) Bound(status->sessions->matched_by, 256);
  BoundList(status->detection.failing);
  for (auto& name : status->detection.failing) Bound(name, 256);
  if (status->incident) Bound(*status->incident);
  if (status->history.size() > kMaxHistory) status->history.resize(kMaxHistory);
  for (auto& in : status->history) Bound(in);
  for (auto& c : status->conditions) Bound(c.message);
  if (status->manual_request) {
    Bound(status->manual_request->id, 64);
    Bound(status->manual_request->by, 256);
    Bound(status->manual_request->message);
  }
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
    const auto n = json::AsInt64(v);
    if (n && *n >= std::numeric_limits<int>::min() && *n <= std::numeric_limits<int>::max()) {
      out.push_back(static_cast<int>(*n));
    }
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
  PutStr(&j, "approvedBy", a.approved_by);
  PutStr(&j, "requestedBy", a.requested_by);
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
  a.approved_by = StringField(j, "approvedBy");
  a.requested_by = StringField(j, "requestedBy");
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
  PutStr(&j, "chaosReport", in.chaos_report);

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
  in.chaos_report = StringField(j, "chaosReport");
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
  if (const Json* m = Field(*s, "sessions"); m != nullptr && m->is_object()) {
    SessionsStatus sessions;
    sessions.matched_by = StringField(*m, "matchedBy");
    sessions.target = IntOr(*m, "target", 0);
    sessions.others = IntOr(*m, "others", 0);
    sessions.observed_at = TimeMsField(*m, "observedAt");
    status.sessions = sessions;
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
  if (const Json* m = Field(*s, "manualRequest"); m != nullptr && m->is_object()) {
    ManualRequest r;
    r.id = StringField(*m, "id");
    r.action = StringField(*m, "action");
    r.by = StringField(*m, "by");
    r.state = StringField(*m, "state");
    r.message = StringField(*m, "message");
    r.at = TimeMsField(*m, "at");
    status.manual_request = r;
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
  if (status.sessions) {
    Json m = Json::object();
    m["matchedBy"] = Json::string(status.sessions->matched_by);
    m["target"] = Json::number(status.sessions->target);
    m["others"] = Json::number(status.sessions->others);
    PutTime(&m, "observedAt", status.sessions->observed_at);
    s["sessions"] = m;
  }
  if (status.incident) s["incident"] = ToJson(*status.incident);
  Json history = Json::array();
  for (size_t i = 0; i < status.history.size() && i < kMaxHistory; ++i) {
    history[i] = ToJson(status.history[i]);
  }
  s["history"] = history;
  if (status.manual_request) {
    const ManualRequest& r = *status.manual_request;
    Json m = Json::object();
    PutStr(&m, "id", r.id);
    PutStr(&m, "action", r.action);
    PutStr(&m, "by", r.by);
    PutStr(&m, "state", r.state);
    PutStr(&m, "message", r.message);
    PutTime(&m, "at", r.at);
    s["manualRequest"] = m;
  }
  s["conditions"] = ConditionsToJson(status.conditions);  // metav1.Time: whole seconds
  return s;
}

}  // namespace poolguard::controller
