#include "requests.h"

#include <poolguard/common/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <system_error>

namespace poolguard::console {
namespace {

using Fields = std::set<std::string>;

// The body as a JSON object, or why not.
std::variant<Json, Invalid> ParseObject(std::string_view body, const Fields& allowed) {
  if (body.empty()) return Invalid{"body", "a JSON object is required"};
  std::error_code ec;
  Json v = Json::parse(std::string(body), ec);
  if (ec) return Invalid{"body", "not valid JSON: " + ec.message()};
  if (!v.is_object()) return Invalid{"body", "must be a JSON object"};
  for (const auto& [key, value] : v.as_object()) {
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& f : allowed) known += (known.empty() ? "" : ", ") + f;
      // Named as sent, but never empty (an empty field would name nothing) nor unbounded.
      return Invalid{key.empty() ? "\"\"" : key.substr(0, 64),
                     "unknown field (known: " + known + ")"};
    }
  }
  return v;
}

// A string field: "" when absent; Invalid when present but not a string.
std::optional<Invalid> String(const Json& o, const char* field, std::string* out) {
  if (!o.has_field(field) || o.at(field).is_null()) return std::nullopt;
  if (!o.at(field).is_string()) return Invalid{field, "must be a string"};
  *out = o.at(field).as_string();
  return std::nullopt;
}

std::optional<Invalid> Name(const Json& o, const char* field, bool required, bool label,
                            std::string* out) {
  if (auto bad = String(o, field, out)) return bad;
  if (out->empty()) {
    if (required) return Invalid{field, "is required"};
    return std::nullopt;
  }
  if (label ? !IsDnsLabel(*out) : !IsDnsSubdomain(*out)) {
    return Invalid{field, "\"" + out->substr(0, 64) + "\" is not a valid name (" +
                              (label ? "DNS-1123 label: lower-case letters, digits and '-', at "
                                       "most 63"
                                     : "DNS-1123 subdomain: lower-case letters, digits, '-' and "
                                       "'.', at most 253") +
                              ")"};
  }
  return std::nullopt;
}

}  // namespace

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    if (!IsDnsLabel(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsExperimentDuration(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  double seconds = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return false;
    double value = 0;
    try {
      value = std::stod(std::string(s.substr(i, j - i)));
    } catch (const std::exception&) {
      return false;
    }
    double unit = 0;
    if (s.substr(j, 2) == "ms") {
      unit = 0.001;
      j += 2;
    } else if (j < s.size() && s[j] == 's') {
      unit = 1;
      ++j;
    } else if (j < s.size() && s[j] == 'm') {
      unit = 60;
      ++j;
    } else if (j < s.size() && s[j] == 'h') {
      unit = 3600;
      ++j;
    } else {
      return false;
    }
    seconds += value * unit;
    i = j;
  }
  return std::isfinite(seconds) && seconds >= 1 && seconds <= 24 * 3600;
}

std::variant<BreakDbPool, Invalid> ParseBreakDbPool(std::string_view body) {
  auto parsed = ParseObject(body, {"namespace", "remediation", "target", "connections", "mode",
                                   "table", "duration", "name"});
  if (auto* bad = std::get_if<Invalid>(&parsed)) return *bad;
  const Json& o = std::get<Json>(parsed);
  BreakDbPool r;
  if (auto bad = Name(o, "namespace", true, true, &r.ns)) return *bad;
  if (auto bad = Name(o, "remediation", false, false, &r.remediation)) return *bad;
  if (auto bad = Name(o, "target", false, false, &r.target)) return *bad;
  if (auto bad = Name(o, "name", false, false, &r.name)) return *bad;
  if (o.has_field("connections")) {
    const Json& c = o.at("connections");
    if (!c.is_integer()) return Invalid{"connections", "must be an integer"};
    const auto n = c.as_number().to_int64();
    if (n < 1 || n > 10000) return Invalid{"connections", "must be between 1 and 10000"};
    r.connections = static_cast<int>(n);
  }
  if (auto bad = String(o, "mode", &r.mode)) return *bad;
  if (r.mode.empty()) r.mode = "Idle";
  if (r.mode != "Idle" && r.mode != "IdleInTransaction" && r.mode != "LockTable") {
    return Invalid{"mode", "must be Idle, IdleInTransaction or LockTable"};
  }
  if (auto bad = String(o, "table", &r.table)) return *bad;
  if (r.mode == "LockTable" && r.table.empty()) {
    return Invalid{"table", "is required when mode is LockTable"};
  }
  if (r.mode != "LockTable" && !r.table.empty()) {
    return Invalid{"table", "is only used when mode is LockTable"};
  }
  if (r.table.size() > 127) return Invalid{"table", "is longer than 127 characters"};
  if (auto bad = String(o, "duration", &r.duration)) return *bad;
  if (r.duration.empty()) r.duration = "2m";
  if (!IsExperimentDuration(r.duration)) {
    return Invalid{"duration", "must be a duration such as 90s, 2m or 1h30m, from 1s to 24h"};
  }
  return r;
}

std::variant<Json, Invalid> PickRemediation(const std::vector<Json>& items, const std::string& name,
                                            const std::string& target) {
  std::vector<const Json*> match;
  std::string names;
  for (const auto& item : items) {
    const std::string n = json::StringAt(item, {"metadata", "name"});
    names += (names.empty() ? "" : ", ") + n;
    if (!name.empty() && n != name) continue;
    if (!target.empty() && json::StringAt(item, {"spec", "target", "deployment"}) != target)
      continue;
    match.push_back(&item);
  }
  if (match.size() == 1) return *match.front();
  if (!name.empty()) {
    return Invalid{"remediation", match.empty()
                                      ? "no Remediation " + name +
                                            (target.empty() ? "" : " watching " + target) +
                                            " in the namespace"
                                      : "ambiguous"};
  }
  if (match.empty()) {
    return Invalid{target.empty() ? "namespace" : "target",
                   target.empty() ? "no Remediation in the namespace names a target and database"
                                  : "no Remediation in the namespace watches Deployment " + target +
                                        (names.empty() ? "" : " (Remediations: " + names + ")")};
  }
  return Invalid{"remediation", "the namespace has " + std::to_string(match.size()) +
                                    " Remediations (" + names + "): name one, or the target"};
}

Json ChaosExperimentFor(const BreakDbPool& r, const Json& remediation, const std::string& user) {
  Json metadata = Json::object();
  if (r.name.empty()) {
    metadata["generateName"] = Json::string("db-pool-");
  } else {
    metadata["name"] = Json::string(r.name);
  }
  metadata["namespace"] = Json::string(r.ns);
  metadata["labels"][kStartedByLabel] = Json::string("console");
  metadata["annotations"][kRequestedByAnnotation] = Json::string(user);

  Json target = Json::object();
  target["deployment"] =
      Json::string(json::StringAt(remediation, {"spec", "target", "deployment"}));
  Json database = Json::object();
  const Json* db = json::Find(remediation, {"spec", "database"});
  for (const char* f : {"service", "port", "credentialsSecret"}) {
    if (db != nullptr && db->is_object() && db->has_field(f)) database[f] = db->at(f);
  }
  Json leak = Json::object();
  leak["connections"] = Json::number(r.connections);
  leak["mode"] = Json::string(r.mode);
  if (!r.table.empty()) leak["table"] = Json::string(r.table);
  Json fault = Json::object();
  fault["type"] = Json::string("ConnectionLeak");
  fault["connectionLeak"] = leak;
  Json spec = Json::object();
  spec["target"] = target;
  spec["database"] = database;
  spec["fault"] = fault;
  spec["duration"] = Json::string(r.duration);

  Json object = Json::object();
  object["apiVersion"] = Json::string("poolguard.dev/v1alpha1");
  object["kind"] = Json::string("ChaosExperiment");
  object["metadata"] = metadata;
  object["spec"] = spec;
  return object;
}

std::variant<ExperimentRef, Invalid> ParseExperimentRef(std::string_view body) {
  auto parsed = ParseObject(body, {"namespace", "name"});
  if (auto* bad = std::get_if<Invalid>(&parsed)) return *bad;
  const Json& o = std::get<Json>(parsed);
  ExperimentRef r;
  if (auto bad = Name(o, "namespace", true, true, &r.ns)) return *bad;
  if (auto bad = Name(o, "name", true, false, &r.name)) return *bad;
  return r;
}

std::variant<RemediationRef, Invalid> ParseRemediationRef(std::string_view body) {
  auto parsed = ParseObject(body, {"namespace", "remediation", "incident"});
  if (auto* bad = std::get_if<Invalid>(&parsed)) return *bad;
  const Json& o = std::get<Json>(parsed);
  RemediationRef r;
  if (auto bad = Name(o, "namespace", true, true, &r.ns)) return *bad;
  if (auto bad = Name(o, "remediation", true, false, &r.remediation)) return *bad;
  if (auto bad = String(o, "incident", &r.incident)) return *bad;
  if (r.incident.size() > 64) return Invalid{"incident", "is longer than 64 characters"};
  return r;
}

std::variant<Json, Invalid> DecisionPatch(const Json& remediation, const RemediationRef& ref,
                                          Decision decision, const std::string& user) {
  const std::string phase = json::StringAt(remediation, {"status", "phase"});
  const std::string open = json::StringAt(remediation, {"status", "incident", "id"});
  if (phase != "AwaitingApproval" || open.empty()) {
    return Invalid{"remediation", "Remediation " + ref.remediation + " is " +
                                      (phase.empty() ? std::string("not yet reconciled") : phase) +
                                      ", not AwaitingApproval: nothing to " +
                                      (decision == Decision::kApprove ? "approve" : "reject")};
  }
  if (!ref.incident.empty() && ref.incident != open) {
    return Invalid{"incident", "incident " + ref.incident + " is not the open one (" + open + ")"};
  }
  Json annotations = Json::object();
  annotations[decision == Decision::kApprove ? kApproveAnnotation : kRejectAnnotation] =
      Json::string(open);
  annotations[kDecidedByAnnotation] = Json::string(open + "/" + user);
  Json patch = Json::object();
  patch["metadata"]["annotations"] = annotations;
  return patch;
}

std::string ActionForRoute(std::string_view route) {
  if (route == "restart-api") return "RestartDeployment";
  if (route == "restart-db") return "RestartDatabase";
  if (route == "increase-pool") return "IncreasePoolSize";
  if (route == "terminate-blockers") return "TerminateBlockingSessions";
  return "";
}

Json ManualActionPatch(const std::string& request_id, const std::string& action,
                       const std::string& user) {
  Json patch = Json::object();
  patch["metadata"]["annotations"][kRequestActionAnnotation] =
      Json::string(request_id + "/" + action + "/" + user);
  return patch;
}

Json AbortPatch(const std::string& user) {
  Json patch = Json::object();
  patch["metadata"]["annotations"][kAbortedByAnnotation] = Json::string(user);
  patch["spec"]["abort"] = Json::boolean(true);
  return patch;
}

std::string UserFromReview(const Json& review) {
  return json::StringAt(review, {"status", "userInfo", "username"});
}

}  // namespace poolguard::console
