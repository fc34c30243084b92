#include "chaos/types.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <regex>

#include "core/enum_names.h"
#include "core/names.h"

namespace poolguard::controller {

SpecParse ParseChaosSpec(const Json& object) {
  SpecParse result;
  auto fail = [&](std::string message) {
    result.error = std::move(message);
    return result;
  };
  const Json* spec_json = Field(object, "spec");
  if (spec_json == nullptr || !spec_json->is_object()) return fail("spec: Required value");
  ChaosSpec spec;

  const Json* target = Field(*spec_json, "target");
  if (target == nullptr) return fail("spec.target: Required value");
  spec.target_deployment = StringField(*target, "deployment");
  if (spec.target_deployment.empty()) return fail("spec.target.deployment: Required value");
  // Names go into URL paths: each must be what Kubernetes allows, nothing more.
  auto bad_name = [&](const char* path, const std::string& name, const std::string& why) {
    return fail(std::string(path) + ": Invalid value \"" + name.substr(0, 64) + "\": " + why);
  };
  if (auto why = CheckDnsSubdomain(spec.target_deployment); !why.empty()) {
    return bad_name("spec.target.deployment", spec.target_deployment, why);
  }
  spec.target_service = StringField(*target, "service");
  if (!spec.target_service.empty()) {
    if (auto why = CheckDnsLabel(spec.target_service); !why.empty()) {
      return bad_name("spec.target.service", spec.target_service, why);
    }
  }
  spec.target_port = static_cast<int>(IntField(*target, "port").value_or(8000));
  if (spec.target_port < 1 || spec.target_port > 65535) {
    return fail("spec.target.port: must be 1-65535, got " + std::to_string(spec.target_port));
  }

  const Json* db = Field(*spec_json, "database");
  if (db == nullptr) return fail("spec.database: Required value");
  spec.db_service = StringField(*db, "service");
  if (spec.db_service.empty()) return fail("spec.database.service: Required value");
  if (auto why = CheckDnsLabel(spec.db_service); !why.empty()) {
    return bad_name("spec.database.service", spec.db_service, why);
  }
  spec.db_port = static_cast<int>(IntField(*db, "port").value_or(5432));
  if (spec.db_port < 1 || spec.db_port > 65535) {
    return fail("spec.database.port: must be 1-65535, got " + std::to_string(spec.db_port));
  }
  spec.credentials_secret = StringField(*db, "credentialsSecret");
  if (spec.credentials_secret.empty())
    return fail("spec.database.credentialsSecret: Required value");
  if (auto why = CheckDnsSubdomain(spec.credentials_secret); !why.empty()) {
    return bad_name("spec.database.credentialsSecret", spec.credentials_secret, why);
  }

  const Json* fault = Field(*spec_json, "fault");
  if (fault == nullptr) return fail("spec.fault: Required value");
  const std::string type = StringField(*fault, "type");
  if (type == "ConnectionLeak") {
    spec.type = FaultType::kConnectionLeak;
    const Json* leak = Field(*fault, "connectionLeak");
    if (leak == nullptr) {
      return fail(
          "spec.fault.connectionLeak: Required value: required when type is ConnectionLeak");
    }
    spec.connections = static_cast<int>(IntField(*leak, "connections").value_or(0));
    if (spec.connections < 1 || spec.connections > 10000) {
      return fail("spec.fault.connectionLeak.connections: must be 1-10000, got " +
                  std::to_string(spec.connections));
    }
    const std::string mode = StringField(*leak, "mode");
    if (mode.empty() || mode == "Idle") {
      spec.mode = LeakMode::kIdle;
    } else if (mode == "IdleInTransaction") {
      spec.mode = LeakMode::kIdleInTransaction;
    } else if (mode == "LockTable") {
      spec.mode = LeakMode::kLockTable;
    } else {
      return fail("spec.fault.connectionLeak.mode: Unsupported value \"" + mode +
                  "\": supported values: Idle, IdleInTransaction, LockTable");
    }
    spec.table = StringField(*leak, "table");
    static const std::regex kTable(R"(^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$)");
    if (spec.mode == LeakMode::kLockTable) {
      if (spec.table.empty()) {
        return fail(
            "spec.fault.connectionLeak.table: Required value: required when mode is LockTable");
      }
      if (!std::regex_match(spec.table, kTable)) {
        return fail("spec.fault.connectionLeak.table: Invalid value \"" + spec.table +
                    "\": expected table or schema.table");
      }
      // The system catalogs: locking one stops every session on the server, not the
      // target's (an unqualified pg_* name resolves to pg_catalog first).
      std::string lower = spec.table;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("pg_", 0) == 0 || lower.rfind("information_schema.", 0) == 0) {
        return fail("spec.fault.connectionLeak.table: Invalid value \"" + spec.table +
                    "\": a system catalog (pg_*, information_schema.*) may not be locked");
      }
    }
  } else if (type == "TrafficSurge") {
    spec.type = FaultType::kTrafficSurge;
    const Json* surge = Field(*fault, "trafficSurge");
    if (surge == nullptr) {
      return fail("spec.fault.trafficSurge: Required value: required when type is TrafficSurge");
    }
    spec.concurrency = static_cast<int>(IntField(*surge, "concurrency").value_or(0));
    if (spec.concurrency < 1 || spec.concurrency > 1000) {
      return fail("spec.fault.trafficSurge.concurrency: must be 1-1000, got " +
                  std::to_string(spec.concurrency));
    }
    spec.requests = IntField(*surge, "requests").value_or(0);
    if (spec.requests < 0 || spec.requests > 1'000'000) {
      return fail("spec.fault.trafficSurge.requests: must be 1-1000000, got " +
                  std::to_string(spec.requests));
    }
    const std::string path = StringField(*surge, "path");
    if (!path.empty()) spec.path = path;
    if (spec.path.front() != '/') return fail("spec.fault.trafficSurge.path: must start with /");
    if (spec.target_service.empty()) {
      return fail("spec.target.service: Required value: required when fault.type is TrafficSurge");
    }
  } else if (type == "CredentialRotation") {
    spec.type = FaultType::kCredentialRotation;
    const Json* rotation = Field(*fault, "credentialRotation");
    if (rotation != nullptr) {
      const Json* terminate = Field(*rotation, "terminateSessions");
      spec.terminate_sessions =
          terminate == nullptr || !terminate->is_boolean() || terminate->as_bool();
    }
  } else if (type == "DatabaseDown") {
    spec.type = FaultType::kDatabaseDown;
    const Json* down = Field(*fault, "databaseDown");
    const std::string mode = down != nullptr ? StringField(*down, "mode") : "";
    if (mode == "Hung") {
      spec.down_mode = DownMode::kHung;
    } else if (!mode.empty() && mode != "Stopped") {
      return fail("spec.fault.databaseDown.mode: Unsupported value \"" + mode.substr(0, 64) +
                  "\": supported values: \"Stopped\", \"Hung\"");
    }
    spec.db_statefulset = down != nullptr ? StringField(*down, "statefulSet") : "";
    if (spec.db_statefulset.empty()) spec.db_statefulset = spec.db_service;
    if (auto why = CheckDnsSubdomain(spec.db_statefulset); !why.empty()) {
      return bad_name("spec.fault.databaseDown.statefulSet", spec.db_statefulset, why);
    }
  } else if (type == "NetworkPartition") {
    spec.type = FaultType::kNetworkPartition;
    const Json* partition = Field(*fault, "networkPartition");
    spec.partition_service = partition != nullptr ? StringField(*partition, "service") : "";
    if (spec.partition_service.empty()) spec.partition_service = spec.db_service;
    if (auto why = CheckDnsLabel(spec.partition_service); !why.empty()) {
      return bad_name("spec.fault.networkPartition.service", spec.partition_service, why);
    }
    if (partition != nullptr) {
      const Json* terminate = Field(*partition, "terminateSessions");
      spec.terminate_sessions =
          terminate == nullptr || !terminate->is_boolean() || terminate->as_bool();
    }
  } else {
    return fail("spec.fault.type: Unsupported value \"" + type +
                "\": supported values: ConnectionLeak, TrafficSurge, CredentialRotation, "
                "DatabaseDown, NetworkPartition");
  }
  if (spec.type != FaultType::kNetworkPartition && Field(*fault, "networkPartition") != nullptr) {
    return fail(
        "spec.fault.networkPartition: Forbidden: only allowed when type is NetworkPartition");
  }
  if (spec.type != FaultType::kDatabaseDown && Field(*fault, "databaseDown") != nullptr) {
    return fail("spec.fault.databaseDown: Forbidden: only allowed when type is DatabaseDown");
  }
  if (spec.type != FaultType::kConnectionLeak && Field(*fault, "connectionLeak") != nullptr) {
    return fail("spec.fault.connectionLeak: Forbidden: only allowed when type is ConnectionLeak");
  }
  if (spec.type != FaultType::kTrafficSurge && Field(*fault, "trafficSurge") != nullptr) {
    return fail("spec.fault.trafficSurge: Forbidden: only allowed when type is TrafficSurge");
  }
  if (spec.type != FaultType::kCredentialRotation &&
      Field(*fault, "credentialRotation") != nullptr) {
    return fail(
        "spec.fault.credentialRotation: Forbidden: only allowed when type is CredentialRotation");
  }

  const std::string duration = StringField(*spec_json, "duration");
  const auto parsed = ParseDuration(duration);
  if (!parsed)
    return fail("spec.duration: Invalid value \"" + duration + "\": expected e.g. 90s, 2m");
  if (*parsed < std::chrono::seconds(1) || *parsed > std::chrono::hours(24)) {
    return fail("spec.duration: Invalid value \"" + duration + "\": must be between 1s and 24h");
  }
  spec.duration = *parsed;

  const std::string reinject = StringField(*spec_json, "reinject");
  if (reinject.empty() || reinject == "Never") {
    spec.reinject = Reinject::kNever;
  } else if (reinject == "OnSever") {
    spec.reinject = Reinject::kOnSever;
  } else {
    return fail("spec.reinject: Unsupported value \"" + reinject +
                "\": supported values: Never, OnSever");
  }
  if (const Json* stop = Field(*spec_json, "stopConditions"); stop != nullptr) {
    const Json* needs_human = Field(*stop, "remediationNeedsHuman");
    spec.stop_on_needs_human =
        needs_human != nullptr && needs_human->is_boolean() && needs_human->as_bool();
    if (const Json* prom = Field(*stop, "prometheus"); prom != nullptr) {
      spec.stop_prometheus_url = StringField(*prom, "url");
      spec.stop_query = StringField(*prom, "query");
      if (spec.stop_prometheus_url.rfind("http://", 0) != 0) {
        return fail("spec.stopConditions.prometheus.url: Invalid value \"" +
                    spec.stop_prometheus_url.substr(0, 64) +
                    "\": a plain http:// URL (the client speaks HTTP only)");
      }
      if (spec.stop_query.empty() || spec.stop_query.size() > 4096) {
        return fail("spec.stopConditions.prometheus.query: Required value: 1-4096 bytes of PromQL");
      }
      const auto above = NumberField(*prom, "above");
      if (!above) return fail("spec.stopConditions.prometheus.above: Required value");
      spec.stop_above = *above;
      const std::string for_text = StringField(*prom, "for");
      const auto for_duration = ParseDuration(for_text.empty() ? "0s" : for_text);
      if (!for_duration || *for_duration > std::chrono::hours(1)) {
        return fail("spec.stopConditions.prometheus.for: Invalid value \"" +
                    for_text.substr(0, 32) + "\": a duration up to 1h, e.g. 30s");
      }
      spec.stop_for = *for_duration;
    }
  }
  const Json* abort = Field(*spec_json, "abort");
  spec.abort = abort != nullptr && abort->is_boolean() && abort->as_bool();
  spec.aborted_by =
      json::StringAt(object, {"metadata", "annotations", kAbortedByAnnotation}).substr(0, 256);
  result.spec = spec;
  return result;
}

namespace {
constexpr EnumName<Phase> kPhaseNames[] = {
    {Phase::kNone, ""},
    {Phase::kPending, "Pending"},
    {Phase::kInjecting, "Injecting"},
    {Phase::kActive, "Active"},
    {Phase::kRollingBack, "RollingBack"},
    {Phase::kCompleted, "Completed"},
    {Phase::kAborted, "Aborted"},
    {Phase::kFailed, "Failed"},
    {Phase::kRejected, "Rejected"},
};
}  // namespace

std::string_view PhaseName(Phase phase) { return NameOf(kPhaseNames, phase); }

Phase ParsePhase(std::string_view name) {
  return ValueOf(kPhaseNames, name).value_or(Phase::kNone);
}

bool IsTerminal(Phase phase) {
  return phase == Phase::kCompleted || phase == Phase::kAborted || phase == Phase::kFailed ||
         phase == Phase::kRejected;
}

bool HoldsTarget(Phase phase) {
  return phase == Phase::kInjecting || phase == Phase::kActive || phase == Phase::kRollingBack;
}

ChaosStatus ParseChaosStatus(const Json& object) {
  ChaosStatus status;
  const Json* s = Field(object, "status");
  if (s == nullptr || !s->is_object()) return status;
  status.phase = ParsePhase(StringField(*s, "phase"));
  status.reason = StringField(*s, "reason");
  status.message = StringField(*s, "message");
  status.observed_generation = IntField(*s, "observedGeneration").value_or(0);
  status.started_at = TimeMsField(*s, "startedAt");
  status.ends_at = TimeMsField(*s, "endsAt");
  status.finished_at = TimeField(*s, "finishedAt");
  status.severed_at = TimeField(*s, "severedAt");
  status.stop_condition_since = TimeMsField(*s, "stopConditionSince");
  if (auto v = IntField(*s, "leakedConnections")) status.leaked_connections = static_cast<int>(*v);
  if (auto v = IntField(*s, "surgeClients")) status.surge_clients = static_cast<int>(*v);
  if (const Json* v = Field(*s, "passwordRotated"); v != nullptr && v->is_boolean()) {
    status.password_rotated = v->as_bool();
  }
  status.rotated_role = StringField(*s, "rotatedRole");
  if (const Json* v = Field(*s, "databaseStopped"); v != nullptr && v->is_boolean()) {
    status.database_stopped = v->as_bool();
  }
  if (auto v = IntField(*s, "restoreReplicas")) status.restore_replicas = static_cast<int>(*v);
  if (const Json* v = Field(*s, "servicePartitioned"); v != nullptr && v->is_boolean()) {
    status.service_partitioned = v->as_bool();
  }
  status.partitioned_service = StringField(*s, "partitionedService");
  status.application_name = StringField(*s, "applicationName");
  status.database_endpoint = StringField(*s, "databaseEndpoint");
  status.conditions = ParseConditions(*s, TimeField, IntField);
  return status;
}

Json ToJson(const ChaosStatus& status) {
  Json s = Json::object();
  if (status.phase != Phase::kNone) s["phase"] = Json::string(std::string(PhaseName(status.phase)));
  if (!status.reason.empty()) s["reason"] = Json::string(status.reason);
  if (!status.message.empty()) s["message"] = Json::string(status.message);
  s["observedGeneration"] = Json::number(status.observed_generation);
  auto put_time = [&](const char* name, const std::optional<WallTime>& t) {
    if (t) s[name] = Json::string(FormatTime(*t));
  };
  if (status.started_at) s["startedAt"] = Json::string(FormatTimeMs(*status.started_at));
  if (status.ends_at) s["endsAt"] = Json::string(FormatTimeMs(*status.ends_at));
  put_time("finishedAt", status.finished_at);
  put_time("severedAt", status.severed_at);
  if (status.stop_condition_since) {
    s["stopConditionSince"] = Json::string(FormatTimeMs(*status.stop_condition_since));
  }
  if (status.leaked_connections) s["leakedConnections"] = Json::number(*status.leaked_connections);
  if (status.surge_clients) s["surgeClients"] = Json::number(*status.surge_clients);
  if (status.password_rotated) s["passwordRotated"] = Json::boolean(*status.password_rotated);
  if (!status.rotated_role.empty()) s["rotatedRole"] = Json::string(status.rotated_role);
  if (status.database_stopped) s["databaseStopped"] = Json::boolean(*status.database_stopped);
  if (status.restore_replicas) s["restoreReplicas"] = Json::number(*status.restore_replicas);
  if (status.service_partitioned) {
    s["servicePartitioned"] = Json::boolean(*status.service_partitioned);
  }
  if (!status.partitioned_service.empty()) {
    s["partitionedService"] = Json::string(status.partitioned_service);
  }
  if (!status.application_name.empty())
    s["applicationName"] = Json::string(status.application_name);
  if (!status.database_endpoint.empty()) {
    s["databaseEndpoint"] = Json::string(status.database_endpoint);
  }
  s["conditions"] = ConditionsToJson(status.conditions);
  return s;
}

std::string ApplicationName(std::string_view ns, std::string_view name) {
  std::string full = "poolguard-chaos/" + std::string(ns) + "/" + std::string(name);
  if (full.size() <= 63) return full;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%08zx", std::hash<std::string>{}(full)&0xffffffffu);
  return full.substr(0, 63 - 9) + "~" + std::string(hash, 8);
}

}  // namespace poolguard::controller
