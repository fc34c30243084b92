#include "chaos/reconciler.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>

#include "chaos/notify.h"
#include "poolguard/common/json_util.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller {
namespace {

// Waits `d` on `clock` (a test's clock decides what waiting means).
void SleepFor(kube::Clock& clock, kube::Clock::Duration d) {
  std::mutex mutex;
  std::condition_variable never;
  std::unique_lock lock(mutex);
  const auto deadline = clock.Now() + d;
  while (clock.Now() < deadline) clock.WaitUntil(lock, never, deadline);
}

bool HasFinalizer(const kube::Json& o) {
  const auto& meta = o.at("metadata");
  if (!meta.has_field("finalizers")) return false;
  for (const auto& f : meta.at("finalizers").as_array()) {
    if (f.as_string() == kChaosFinalizer) return true;
  }
  return false;
}

kube::Json WithFinalizer(kube::Json o, bool present) {
  kube::Json list = kube::Json::array();
  size_t i = 0;
  auto& meta = o["metadata"];
  if (meta.has_field("finalizers")) {
    for (const auto& f : meta.at("finalizers").as_array()) {
      if (f.as_string() != kChaosFinalizer) list[i++] = f;
    }
  }
  if (present) list[i++] = kube::Json::string(kChaosFinalizer);
  meta["finalizers"] = list;
  return o;
}

std::string TargetOf(const kube::Json& o) {
  try {
    return kube::NamespaceOf(o) + "/" + o.at("spec").at("target").at("deployment").as_string();
  } catch (...) {
    return "";
  }
}

// The experiment's identity for its rotated password: the uid, else (objects without one,
// in tests) its key.
std::string UidOf(const kube::Json& o) {
  const std::string uid = json::StringAt(o, {"metadata", "uid"});
  return uid.empty() ? kube::KeyOf(o) : uid;
}

// NetworkPartition: whether the Service's selector carries the experiment's key.
bool PartitionedBy(const std::optional<std::map<std::string, std::string>>& selector,
                   const std::string& uid) {
  if (!selector) return false;
  auto it = selector->find(kPartitionSelectorKey);
  return it != selector->end() && it->second == uid;
}

}  // namespace

std::string RotatedPassword(const std::string& original, const std::string& uid) {
  const std::string message = "poolguard.dev/credential-rotation/" + uid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), original.data(), static_cast<int>(original.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "poolguard-chaos-";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

int ChaosReconciler::TrackOutside(const std::string& key, std::optional<bool> present,
                                  bool last_known) {
  const bool held = present.value_or(last_known);
  std::lock_guard lock(mutex_);
  if (held) {
    outside_.insert(key);
  } else if (present.has_value()) {
    outside_.erase(key);
  }
  return held ? 1 : 0;
}

std::vector<std::string> ChaosReconciler::Holding() {
  std::set<std::string> keys;
  for (auto& k : engine_->Keys()) keys.insert(std::move(k));
  {
    std::lock_guard lock(mutex_);
    keys.insert(outside_.begin(), outside_.end());
  }
  return {keys.begin(), keys.end()};
}

void ChaosReconciler::ReleaseHeld(const std::string& why) {
  const std::vector<std::string> keys = engine_->Keys();
  {
    std::lock_guard lock(mutex_);
    for (const auto& key : keys) released_.emplace(key, why);
  }
  for (const auto& key : keys) engine_->Rollback(key);
  if (!keys.empty())
    spdlog::warn("chaos kill switch: closed the faults of {} experiment(s)", keys.size());
}

std::optional<bool> ChaosReconciler::PasswordRotated(const std::string& key, const DbTarget& db,
                                                     const std::string& rotated) {
  const LoginAttempt original = admin_->Login(db);
  if (original.result == LoginResult::kOk) return false;
  if (original.result != LoginResult::kAuthRejected) {
    spdlog::warn("{}: cannot tell whose password role {} has: {}", key, db.user, original.detail);
    return std::nullopt;
  }
  DbTarget ours = db;
  ours.password = rotated;
  const LoginAttempt attempt = admin_->Login(ours);
  if (attempt.result == LoginResult::kOk) return true;
  if (attempt.result != LoginResult::kAuthRejected) {
    spdlog::warn("{}: cannot tell whose password role {} has: {}", key, db.user, attempt.detail);
    return std::nullopt;
  }
  spdlog::warn(
      "{}: neither the Secret's password nor the experiment's logs in as role {}: someone "
      "else set it; it is not the experiment's to set back",
      key, db.user);
  return false;
}

ChaosReconciler::ChaosReconciler(ObjectStore* store, ClusterReader* reader, FaultEngine* engine,
                                 PgAdmin* admin, Events* events, ChaosMetrics* metrics,
                                 std::shared_ptr<kube::Clock> clock, ChaosReconcilerOptions options)
    : store_(store),
      reader_(reader),
      engine_(engine),
      admin_(admin),
      events_(events),
      metrics_(metrics),
      clock_(std::move(clock)),
      options_(options) {}

std::optional<DbTarget> ChaosReconciler::Database(const std::string& key, const kube::Json& object,
                                                  const ChaosSpec& spec, std::string* error) {
  {
    std::lock_guard lock(mutex_);
    auto it = db_cache_.find(key);
    if (it != db_cache_.end()) return it->second;
  }
  const std::string ns = kube::NamespaceOf(object);
  try {
    const auto endpoints = reader_->ResolveService(ns, spec.db_service, spec.db_port);
    DbTarget db = reader_->ReadCredentials(ns, spec.credentials_secret);
    db.endpoint = endpoints.front();
    return db;
  } catch (const ResolveError& e) {
    if (error) *error = e.what();
  } catch (const kube::ApiError& e) {
    if (error) *error = std::string("cannot read the database's objects: ") + e.what();
  }
  return std::nullopt;
}

std::string ChaosReconciler::PartitionGuard(const std::string& key, const kube::Json& object,
                                            const ChaosSpec& spec, std::string* endpoint) {
  const std::string ns = kube::NamespaceOf(object);
  const std::string where = "Service " + ns + "/" + spec.partition_service;
  std::optional<std::map<std::string, std::string>> selector;
  try {
    selector = reader_->ServiceSelector(ns, spec.partition_service);
  } catch (const kube::ApiError& e) {
    return "cannot read " + where + ": " + e.what();
  }
  if (!selector) {
    return where +
           " not found (spec.fault.networkPartition.service, default spec.database.service)";
  }
  if (selector->empty()) {
    return where +
           " has no selector: its endpoints are not chosen by labels, so the partition "
           "cannot take them away";
  }
  if (auto it = selector->find(kPartitionSelectorKey); it != selector->end()) {
    return where + " is partitioned already (selector " + kPartitionSelectorKey + "=" + it->second +
           ")";
  }
  if (!spec.terminate_sessions) return "";
  std::string error;
  auto db = Database(key, object, spec, &error);
  if (!db) return error;
  *endpoint = db->endpoint.ToString();
  return "";
}

ChaosObserved ChaosReconciler::Observe(const kube::Json& object, bool shutting_down) {
  const std::string key = kube::KeyOf(object);
  ChaosObserved o;
  o.ns = kube::NamespaceOf(object);
  o.name = kube::NameOf(object);
  const auto& meta = object.at("metadata");
  o.generation = json::IntField(meta, "generation").value_or(0);
  o.deleting = meta.has_field("deletionTimestamp") && !meta.at("deletionTimestamp").is_null();
  o.has_finalizer = HasFinalizer(object);
  o.status = ParseChaosStatus(object);
  o.spec = ParseChaosSpec(object);
  o.now = clock_->WallNow();
  o.shutting_down = shutting_down;
  if (options_.kill_switch) o.kill_switch = options_.kill_switch();
  o.held = engine_->Held(key);
  {
    std::lock_guard lock(mutex_);
    auto it = inject_errors_.find(key);
    if (it != inject_errors_.end()) o.inject_error = it->second;
    // Released by the switch: stopped by it, whatever the switch says now.
    auto released = released_.find(key);
    if (o.kill_switch.empty() && released != released_.end()) o.kill_switch = released->second;
  }
  o.max_connections_per_experiment = options_.max_connections_per_experiment;
  o.capacity_margin = options_.capacity_margin;
  o.max_surge_clients = options_.max_surge_clients;
  if (!o.spec.spec) return o;
  const ChaosSpec& spec = *o.spec.spec;
  const bool leak = spec.type == FaultType::kConnectionLeak;
  const bool rotation = spec.type == FaultType::kCredentialRotation;
  const bool down = spec.StopsDatabase();
  const bool hung = spec.HangsDatabase();
  const bool partition = spec.type == FaultType::kNetworkPartition;
  const Phase phase = o.status.phase;
  const std::string app =
      o.status.application_name.empty() ? ApplicationName(o.ns, o.name) : o.status.application_name;

  if ((phase == Phase::kNone || phase == Phase::kPending) && !o.deleting && !spec.abort &&
      !shutting_down) {
    o.namespace_opted_in = reader_->NamespaceOptedIn(o.ns);
    if (!*o.namespace_opted_in) return o;
    o.target_exists = reader_->DeploymentExists(o.ns, spec.target_deployment);
    if (!*o.target_exists) return o;
    if (!leak) o.surge_clients_in_use = engine_->TotalClients();
    if (leak && spec.connections > o.max_connections_per_experiment) return o;
    const std::string target = o.ns + "/" + spec.target_deployment;
    for (const auto& other : store_->ByIndex(kTargetIndex, target)) {
      const std::string other_key = kube::KeyOf(other);
      if (other_key == key || TargetOf(other) != target) continue;
      if (HoldsTarget(ParseChaosStatus(other).phase)) o.active_on_same_target.push_back(other_key);
    }
    {
      std::lock_guard lock(mutex_);
      for (const auto& [k, t] : claims_) {
        if (k != key && t == target) o.active_on_same_target.push_back(k);
      }
    }
    if (!o.active_on_same_target.empty()) return o;
    if (leak || rotation || hung) {
      std::string error;
      auto db = Database(key, object, spec, &error);
      if (!db) {
        o.resolve_error = error;
        return o;
      }
      o.database_endpoint = db->endpoint.ToString();
      if (leak) {
        try {
          // On the kept connection, which counts itself in and stays for the run: the
          // run's sessions are counted on it while they are held (CountSessions).
          o.capacity = admin_->Capacity(*db, PgConnection::kKept);
        } catch (const DbError& e) {
          o.resolve_error = e.what();  // names the database's endpoint
        }
      } else if (rotation) {
        o.database_role = db->user;
        // The password to set back must work now: otherwise the rollback could not log in
        // with the experiment's password's key, nor leave the role as the Secret says.
        const LoginAttempt login = admin_->Login(*db);
        if (login.result != LoginResult::kOk) {
          o.resolve_error = "the password in Secret " + o.ns + "/" + spec.credentials_secret +
                            " does not log in as role " + db->user + " (" + login.detail +
                            "); the experiment rotates only a password it can set back";
        }
      }
    } else if (partition) {
      o.resolve_error = PartitionGuard(key, object, spec, &o.database_endpoint);
    } else if (down) {
      o.database_replicas = reader_->StatefulSetReplicas(o.ns, spec.db_statefulset);
      if (!o.database_replicas) {
        o.resolve_error = "StatefulSet " + o.ns + "/" + spec.db_statefulset +
                          " not found (spec.fault.databaseDown.statefulSet, default "
                          "spec.database.service)";
      }
    } else {
      try {
        const auto eps = reader_->ResolveService(o.ns, spec.target_service, spec.target_port);
        o.database_endpoint = "";
        (void)eps;
      } catch (const ResolveError& e) {
        o.resolve_error = e.what();
      }
    }
    return o;
  }

  if ((phase == Phase::kInjecting || phase == Phase::kActive) && !o.deleting &&
      spec.HasStopConditions()) {
    if (spec.stop_on_needs_human && options_.needs_human) {
      o.needs_human = options_.needs_human(o.ns, spec.target_deployment);
    }
    if (!spec.stop_query.empty() && options_.prometheus) {
      const auto answer = options_.prometheus(spec.stop_prometheus_url, spec.stop_query);
      o.stop_value = answer.value;
      // No answer never stops an experiment (and never counts as "below").
      if (!answer.error.empty()) spdlog::warn("{}: stop condition query: {}", key, answer.error);
    }
  }

  if (rotation && (HoldsTarget(phase) || o.deleting ||
                   (IsTerminal(phase) && o.status.password_rotated.value_or(false)))) {
    std::optional<bool> rotated;
    if (auto db = Database(key, object, spec, nullptr)) {
      rotated = PasswordRotated(key, *db, RotatedPassword(db->password, UidOf(object)));
    }
    // Not known (the database did not answer): as status last said.
    o.held = TrackOutside(key, rotated, o.status.password_rotated.value_or(false));
  }

  if (down && (HoldsTarget(phase) || o.deleting ||
               (IsTerminal(phase) && o.status.database_stopped.value_or(false)))) {
    std::optional<bool> stopped;
    try {
      // Gone: nothing left to restore.
      const auto replicas = reader_->StatefulSetReplicas(o.ns, spec.db_statefulset);
      stopped = replicas.has_value() && *replicas == 0 && o.status.restore_replicas.has_value();
    } catch (const kube::ApiError& e) {
      spdlog::warn("{}: cannot read StatefulSet {}: {}", key, spec.db_statefulset, e.what());
    }
    o.held = TrackOutside(key, stopped, o.status.database_stopped.value_or(false));
  }

  if (partition && (HoldsTarget(phase) || o.deleting ||
                    (IsTerminal(phase) && o.status.service_partitioned.value_or(false)))) {
    // Ours only while the selector carries our UID under our key, and status named the
    // Service first (Injecting): the rollback finds it by status, not by a spec it trusts.
    std::optional<bool> partitioned;
    const std::string& service = o.status.partitioned_service;
    if (service.empty()) {
      partitioned = false;
    } else {
      try {
        const auto selector = reader_->ServiceSelector(o.ns, service);
        partitioned = PartitionedBy(selector, UidOf(object));
      } catch (const kube::ApiError& e) {
        spdlog::warn("{}: cannot read Service {}: {}", key, service, e.what());
      }
    }
    o.held = TrackOutside(key, partitioned, o.status.service_partitioned.value_or(false));
  }

  if (leak && (HoldsTarget(phase) || o.deleting)) {
    auto db = Database(key, object, spec, nullptr);
    if (db) {
      try {
        o.db_sessions = admin_->CountSessions(*db, app);
      } catch (const DbError& e) {
        spdlog::warn("{}: cannot count sessions in pg_stat_activity: {}", key, e.what());
      }
    }
  }
  return o;
}

void ChaosReconciler::RunInject(const std::string& key, const kube::Json& object,
                                const ChaosObserved& o) {
  const ChaosSpec& spec = *o.spec.spec;
  FaultPlan plan;
  plan.type = spec.type;
  plan.mode = spec.mode;
  plan.count = spec.Want();
  plan.table = spec.table;
  plan.application_name = ApplicationName(o.ns, o.name);
  const auto remaining = o.status.ends_at ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                                *o.status.ends_at - clock_->WallNow())
                                          : spec.duration;
  plan.session_timeout = std::max(remaining, std::chrono::milliseconds(0)) + options_.session_grace;
  const auto start = clock_->Now();
  try {
    if (spec.type == FaultType::kConnectionLeak) {
      std::string error;
      auto db = Database(key, object, spec, &error);
      if (!db) throw InjectError(error);
      plan.db = *db;
      // Sessions with our name that this process does not hold belong to a previous
      // controller (hung or not yet noticed dead): end them so the fault is never doubled.
      if (o.db_sessions.value_or(0) > o.held) {
        try {
          const int n =
              admin_->TerminateApplication(plan.db, plan.application_name, engine_->Pids(key));
          spdlog::info("{}: terminated {} orphan session(s) of a previous controller", key, n);
        } catch (const DbError& e) {
          throw InjectError(e.what());
        }
      }
      {
        std::lock_guard lock(mutex_);
        db_cache_[key] = *db;
      }
      engine_->Inject(key, plan);
    } else if (spec.HangsDatabase()) {
      std::string error;
      auto db = Database(key, object, spec, &error);
      if (!db) throw InjectError(error);
      plan.db = *db;
      // One session of the engine's: LOCK pg_catalog.pg_authid (every login reads it), then
      // the role's other sessions ended, so its pools must log in again, and wait.
      plan.type = FaultType::kConnectionLeak;
      plan.mode = LeakMode::kLockTable;
      plan.table = "pg_catalog.pg_authid";
      plan.count = 1;
      plan.end_role_sessions = true;
      {
        std::lock_guard lock(mutex_);
        db_cache_[key] = *db;
      }
      engine_->Inject(key, plan);
    } else if (spec.type == FaultType::kDatabaseDown) {
      {
        std::lock_guard lock(mutex_);
        outside_.insert(key);  // before the change: a SIGTERM meanwhile still restores it
      }
      try {
        reader_->ScaleStatefulSet(o.ns, spec.db_statefulset, 0);
        spdlog::info("{}: scaled StatefulSet {} from {} to 0 replicas", key, spec.db_statefulset,
                     o.status.restore_replicas.value_or(1));
      } catch (const kube::ApiError& e) {
        throw InjectError("cannot scale StatefulSet " + o.ns + "/" + spec.db_statefulset +
                          " to 0: " + e.what());
      }
    } else if (spec.type == FaultType::kNetworkPartition) {
      // The database's address before its Service loses it: the role's sessions are ended
      // there, after the partition, so that its pools must reconnect through the Service.
      std::optional<DbTarget> db;
      if (spec.terminate_sessions) {
        std::string error;
        db = Database(key, object, spec, &error);
        if (!db) throw InjectError(error);
      }
      // As status names it now (the decision wrote it just before this effect): never a
      // Service status does not name, so the rollback always knows which to heal.
      const std::string service = ParseChaosStatus(object).partitioned_service;
      if (service.empty()) throw InjectError("status.partitionedService is not written");
      {
        std::lock_guard lock(mutex_);
        outside_.insert(key);  // before the change: a SIGTERM meanwhile still heals it
      }
      try {
        reader_->SetServiceSelectorKey(o.ns, service, kPartitionSelectorKey, UidOf(object));
        spdlog::info("{}: partitioned Service {} (selector {}={})", key, service,
                     kPartitionSelectorKey, UidOf(object));
      } catch (const kube::ApiError& e) {
        throw InjectError("cannot patch Service " + o.ns + "/" + service +
                          "'s selector: " + e.what());
      }
      if (db) {
        try {
          const int ended = admin_->EndOwnSessions(*db);
          spdlog::info("{}: ended {} session(s) of role {} at {}", key, ended, db->user,
                       db->endpoint.ToString());
        } catch (const DbError& e) {
          // The partition is in place; sessions open before it live on until they fail.
          spdlog::warn("{}: cannot end the role's sessions: {}", key, e.what());
        }
      }
    } else if (spec.type == FaultType::kCredentialRotation) {
      std::string error;
      auto db = Database(key, object, spec, &error);
      if (!db) throw InjectError(error);
      {
        // Not kept in db_cache_: the password lives on in the database, and setting it back
        // must find the database where it is then (a restarted pod has a new address).
        std::lock_guard lock(mutex_);
        outside_.insert(key);  // before the change: a SIGTERM meanwhile still sets it back
      }
      try {
        const int ended = admin_->SetOwnPassword(*db, RotatedPassword(db->password, UidOf(object)),
                                                 spec.terminate_sessions);
        spdlog::info("{}: rotated the password of role {}; ended {} of its sessions", key, db->user,
                     ended);
      } catch (const DbError& e) {
        throw InjectError(e.what());
      }
    } else {
      try {
        plan.surge_endpoints = reader_->ResolveService(o.ns, spec.target_service, spec.target_port);
      } catch (const ResolveError& e) {
        throw InjectError(e.what());
      }
      plan.surge_path = spec.path;
      plan.surge_requests = spec.requests;
      engine_->Inject(key, plan);
    }
    if (metrics_ != nullptr) {
      metrics_->Injected(std::chrono::duration<double>(clock_->Now() - start).count());
    }
  } catch (const InjectError& e) {
    spdlog::warn("{}: injection failed: {}", key, e.what());
    std::lock_guard lock(mutex_);
    inject_errors_[key] = e.what();
  }
}

void ChaosReconciler::RunRollback(const std::string& key, const kube::Json& object,
                                  const ChaosObserved& o) {
  const auto start = clock_->Now();
  spdlog::info("{}: rolling back (phase {}, held {}, in pg_stat_activity {})", key,
               PhaseName(o.status.phase), o.held, o.db_sessions.value_or(-1));
  const bool rotation = o.spec.spec && o.spec.spec->type == FaultType::kCredentialRotation;
  const bool down = o.spec.spec && o.spec.spec->StopsDatabase();
  const bool partition = o.spec.spec && o.spec.spec->type == FaultType::kNetworkPartition;
  if (!rotation && !down && !partition) engine_->Rollback(key);  // leaks, surges, the Hung lock
  if (partition && !o.status.partitioned_service.empty()) {
    const std::string& service = o.status.partitioned_service;
    try {
      // Only our key with our UID: a selector someone changed back is theirs.
      if (PartitionedBy(reader_->ServiceSelector(o.ns, service), UidOf(object))) {
        reader_->SetServiceSelectorKey(o.ns, service, kPartitionSelectorKey, std::nullopt);
        spdlog::info("{}: healed Service {} (selector {} removed)", key, service,
                     kPartitionSelectorKey);
      }
    } catch (const kube::ApiError& e) {
      spdlog::warn("{}: cannot heal Service {} yet: {}", key, service, e.what());
    }
  }
  if (down && o.status.restore_replicas) {
    const std::string& sts = o.spec.spec->db_statefulset;
    try {
      // Only from 0: a StatefulSet someone scaled meanwhile is theirs.
      if (reader_->StatefulSetReplicas(o.ns, sts) == 0) {
        reader_->ScaleStatefulSet(o.ns, sts, *o.status.restore_replicas);
        spdlog::info("{}: scaled StatefulSet {} back to {} replicas", key, sts,
                     *o.status.restore_replicas);
      }
    } catch (const kube::ApiError& e) {
      spdlog::warn("{}: cannot scale StatefulSet {} back yet: {}", key, sts, e.what());
    }
  }
  if (rotation) {
    if (auto db = Database(key, object, *o.spec.spec, nullptr)) {
      DbTarget ours = *db;
      ours.password = RotatedPassword(db->password, UidOf(object));
      try {
        admin_->SetOwnPassword(ours, db->password, false);
        spdlog::info("{}: set the password of role {} back to the Secret's", key, db->user);
      } catch (const DbError& e) {
        // The next observation tells whether it is still ours; the rollback is retried.
        spdlog::warn("{}: cannot set the password of role {} back yet: {}", key, db->user,
                     e.what());
      }
    }
  }
  if (o.spec.spec && o.spec.spec->type == FaultType::kConnectionLeak) {
    auto db = Database(key, object, *o.spec.spec, nullptr);
    const std::string app = ApplicationName(o.ns, o.name);
    if (db) {
      // Our own closed sessions leave pg_stat_activity within milliseconds; anything left
      // (orphans of a previous controller) is terminated.
      const auto deadline = clock_->Now() + std::chrono::seconds(3);
      try {
        while (admin_->CountSessions(*db, app) > 0) {
          if (clock_->Now() > deadline) {
            admin_->TerminateApplication(*db, app, {});
            break;
          }
          if (clock_->Now() > deadline - std::chrono::milliseconds(2500)) {
            admin_->TerminateApplication(*db, app, {});
          }
          SleepFor(*clock_, std::chrono::milliseconds(20));
        }
      } catch (const DbError& e) {
        spdlog::warn("{}: cannot check the rollback in pg_stat_activity: {}", key, e.what());
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    db_cache_.erase(key);
  }
  RetainHeldDatabases();
  if (metrics_ != nullptr) {
    metrics_->RolledBack(std::chrono::duration<double>(clock_->Now() - start).count());
  }
}

void ChaosReconciler::RetainHeldDatabases() {
  std::vector<DbTarget> held;
  {
    std::lock_guard lock(mutex_);
    held.reserve(db_cache_.size());
    for (const auto& [_, db] : db_cache_) held.push_back(db);
  }
  admin_->Retain(held);
}

ReconcileResult ChaosReconciler::Reconcile(const std::string& key) { return Run(key, false); }

void ChaosReconciler::Shutdown(const std::string& key) { Run(key, true); }

ReconcileResult ChaosReconciler::Run(const std::string& key, bool shutting_down) {
  auto current = store_->Get(key);
  if (!current) {
    // Gone (deleted without our finalizer, or after it): nothing may outlive it, not even
    // the engine's record of sessions that died (a new experiment of the same name starts
    // from nothing).
    engine_->Rollback(key);
    {
      std::lock_guard lock(mutex_);
      claims_.erase(key);
      outside_.erase(key);
      db_cache_.erase(key);
      inject_errors_.erase(key);
      released_.erase(key);
    }
    RetainHeldDatabases();
    return {};
  }
  kube::Json object = *current;
  for (int step = 0; step < 8; ++step) {
    const ChaosStatus before = ParseChaosStatus(object);
    const bool admitting = before.phase == Phase::kNone || before.phase == Phase::kPending;
    std::unique_lock admission(admission_mutex_, std::defer_lock);
    if (admitting) admission.lock();

    const ChaosObserved o = Observe(object, shutting_down);
    const ChaosDecision d = DecideChaos(o);

    if (d.add_finalizer) object = store_->Update(WithFinalizer(object, true));
    if (!(d.status == o.status)) {
      kube::Json updated = object;
      updated["status"] = ToJson(d.status);
      object = store_->UpdateStatus(updated);
      if (d.status.phase != o.status.phase) {
        spdlog::info("{}: {} -> {} ({}: {})", key, PhaseName(o.status.phase),
                     PhaseName(d.status.phase), d.status.reason, d.status.message);
      }
      if (notifier_ != nullptr) {
        if (auto n = ChaosNotification(o.ns, kube::NameOf(object),
                                       o.spec.spec ? o.spec.spec->target_deployment : "",
                                       o.status.phase, d.status, o.now)) {
          notifier_->Notify(*n, std::nullopt);
        }
      }
    }
    {
      std::lock_guard lock(mutex_);
      if (HoldsTarget(d.status.phase) && o.spec.spec) {
        claims_[key] = o.ns + "/" + o.spec.spec->target_deployment;
      } else if (IsTerminal(d.status.phase)) {
        claims_.erase(key);
        inject_errors_.erase(key);
        released_.erase(key);
      }
    }
    // A run refused by the capacity guardrail opened the kept connection it counted with.
    if (IsTerminal(d.status.phase) && !IsTerminal(o.status.phase)) RetainHeldDatabases();
    if (admission.owns_lock()) admission.unlock();
    if (events_ != nullptr) {
      for (const auto& e : d.events) events_->Record(object, e.type, e.reason, e.message);
    }

    switch (d.effect) {
      case ChaosEffect::kNone:
        return {d.requeue_after};
      case ChaosEffect::kInject:
        RunInject(key, object, o);
        break;
      case ChaosEffect::kRollback:
        RunRollback(key, object, o);
        break;
      case ChaosEffect::kRemoveFinalizer:
        try {
          store_->Update(WithFinalizer(object, false));
        } catch (const kube::ApiError& e) {
          if (!kube::IsNotFound(e)) throw;
        }
        {
          std::lock_guard lock(mutex_);
          claims_.erase(key);
          db_cache_.erase(key);
          inject_errors_.erase(key);
          released_.erase(key);
        }
        RetainHeldDatabases();
        return {};
    }
  }
  // Still moving after several steps (e.g. sessions slow to leave): look again shortly.
  return {std::chrono::milliseconds(500)};
}

}  // namespace poolguard::controller
