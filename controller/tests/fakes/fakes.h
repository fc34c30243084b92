#pragma once

// Recording fakes of the controller's ports, as sample-controller's fake clientsets: each
// effect a reconcile produces is appended to one shared ActionLog as a short line, so a
// test compares the whole list ("update-status ns/x phase=Injecting", then "inject ns/x
// 3 Idle", ...) and sees both what was done and in which order. Reads are served from
// fixtures the test sets and are not logged.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "chaos/fault_engine.h"
#include "core/cluster_reader.h"
#include "core/events.h"
#include "core/object_store.h"
#include "core/pg_admin.h"
#include "poolguard/kube/clock.h"
#include "poolguard/kube/errors.h"
#include "remediation/cluster.h"
#include "remediation/probes.h"

namespace poolguard::controller::fakes {

/// The effects of a test, in order. Thread-safe (the collector gathers on threads).
class ActionLog {
 public:
  void Add(std::string line) {
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mutex_);
    return std::exchange(lines_, {});
  }
  std::vector<std::string> Lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// A clock on which waiting takes no time: WaitUntil moves the time to the deadline and
/// returns. Both readings start at fixed points and move together.
class JumpClock final : public kube::Clock {
 public:
  JumpClock()
      : now_(TimePoint{} + std::chrono::hours(1)),
        wall_(std::chrono::system_clock::from_time_t(1'800'000'000)) {}
  TimePoint Now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    std::lock_guard lock(mutex_);
    return wall_;
  }
  void WaitUntil(std::unique_lock<std::mutex>&, std::condition_variable&,
                 TimePoint deadline) override {
    std::lock_guard lock(mutex_);
    if (deadline > now_) {
      wall_ += deadline - now_;
      now_ = deadline;
    }
  }
  void Advance(Duration d) {
    std::lock_guard lock(mutex_);
    now_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_;
  std::chrono::system_clock::time_point wall_;
};

/// ObjectStore over a map: writes bump resourceVersion (and fail with 409 when the copy
/// written is stale, as the API server's compare-and-swap does) and are logged by
/// `describe`, which says what a test wants to see of the object.
class FakeStore final : public ObjectStore {
 public:
  using Describe = std::function<std::string(const Json& object)>;
  FakeStore(ActionLog* log, Describe describe_status)
      : log_(log), describe_(std::move(describe_status)) {}

  void Put(Json object) {
    std::lock_guard lock(mutex_);
    if (!object["metadata"].has_field("resourceVersion")) {
      object["metadata"]["resourceVersion"] = Json::string(std::to_string(++version_));
    }
    objects_[kube::KeyOf(object)] = std::move(object);
  }
  void Remove(const std::string& key) {
    std::lock_guard lock(mutex_);
    objects_.erase(key);
  }
  /// The next UpdateStatus fails with 409 Conflict (someone else wrote first).
  void FailNextStatusWrite() {
    std::lock_guard lock(mutex_);
    fail_next_status_ = true;
  }

  /// Gets return each object as it was before its last write until Fresh(): an informer
  /// cache that has not yet seen a write.
  void Lag() {
    std::lock_guard lock(mutex_);
    lag_ = true;
  }
  void Fresh() {
    std::lock_guard lock(mutex_);
    lag_ = false;
  }

  std::optional<Json> Get(const std::string& key) override {
    std::lock_guard lock(mutex_);
    if (lag_) {
      auto before = previous_.find(key);
      if (before != previous_.end()) return before->second;
    }
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<Json> List() override {
    std::lock_guard lock(mutex_);
    std::vector<Json> out;
    for (const auto& [_, o] : objects_) out.push_back(o);
    return out;
  }
  Json Update(const Json& object) override {
    Json stored = Write(object, false);
    std::string finalizers;
    if (const Json* f = json::Field(stored["metadata"], "finalizers")) {
      for (const auto& v : f->as_array())
        finalizers += (finalizers.empty() ? "" : ",") + v.as_string();
    }
    log_->Add("update " + kube::KeyOf(object) + " finalizers=[" + finalizers + "]");
    return stored;
  }
  Json UpdateStatus(const Json& object) override {
    Json stored = Write(object, true);
    log_->Add("update-status " + kube::KeyOf(object) + " " + describe_(stored));
    return stored;
  }

 private:
  Json Write(const Json& object, bool status) {
    std::lock_guard lock(mutex_);
    const std::string key = kube::KeyOf(object);
    auto it = objects_.find(key);
    if (it == objects_.end()) {
      throw kube::ApiError(kube::ErrorKind::kNotFound, 404, "NotFound", key + " not found", {});
    }
    if (status && fail_next_status_) {
      fail_next_status_ = false;
      throw kube::ApiError(kube::ErrorKind::kConflict, 409, "Conflict", key + " was modified", {});
    }
    if (kube::ResourceVersionOf(object) != kube::ResourceVersionOf(it->second)) {
      throw kube::ApiError(kube::ErrorKind::kConflict, 409, "Conflict", key + " is stale", {});
    }
    previous_[key] = it->second;
    Json stored = it->second;
    if (status) {
      stored["status"] = object.has_field("status") ? object.at("status") : Json::object();
    } else {
      Json keep_status = stored.has_field("status") ? stored.at("status") : Json::null();
      stored = object;
      if (!keep_status.is_null()) stored["status"] = keep_status;
    }
    stored["metadata"]["resourceVersion"] = Json::string(std::to_string(++version_));
    // An object being deleted is gone once its last finalizer is.
    const Json* deleting = json::Field(stored["metadata"], "deletionTimestamp");
    const Json* finalizers = json::Field(stored["metadata"], "finalizers");
    if (deleting != nullptr && (finalizers == nullptr || finalizers->as_array().size() == 0)) {
      objects_.erase(key);
    } else {
      objects_[key] = stored;
    }
    return stored;
  }

  ActionLog* log_;
  Describe describe_;
  std::mutex mutex_;
  std::map<std::string, Json> objects_;
  std::map<std::string, Json> previous_;  // each object before its last write
  int version_ = 100;
  bool fail_next_status_ = false;
  bool lag_ = false;
};

class FakeEvents final : public Events {
 public:
  explicit FakeEvents(ActionLog* log) : log_(log) {}
  void Record(const Json& object, const std::string& type, const std::string& reason,
              const std::string&) override {
    log_->Add("event " + kube::KeyOf(object) + " " + type + " " + reason);
  }

 private:
  ActionLog* log_;
};

class FakeClusterReader final : public ClusterReader {
 public:
  std::set<std::string> opted_in;                         // namespaces
  std::set<std::string> deployments = {"demo/api"};       // "ns/name" that exist
  std::map<std::string, std::vector<Endpoint>> services;  // "ns/name:port" → ready endpoints
  std::map<std::string, DbTarget> secrets;                // "ns/name"
  std::atomic<int> credential_reads{0};                   // ReadCredentials calls

  bool NamespaceOptedIn(const std::string& ns) override { return opted_in.count(ns) > 0; }
  bool DeploymentExists(const std::string& ns, const std::string& name) override {
    return deployments.count(ns + "/" + name) > 0;
  }
  std::vector<Endpoint> ResolveService(const std::string& ns, const std::string& service,
                                       int port) override {
    auto it = services.find(ns + "/" + service + ":" + std::to_string(port));
    if (it == services.end() || it->second.empty()) {
      throw ResolveError("Service " + ns + "/" + service + " port " + std::to_string(port) +
                         " has no ready endpoints in its EndpointSlices");
    }
    return it->second;
  }
  DbTarget ReadCredentials(const std::string& ns, const std::string& secret) override {
    ++credential_reads;
    auto it = secrets.find(ns + "/" + secret);
    if (it == secrets.end()) throw ResolveError("Secret " + ns + "/" + secret + " not found");
    return it->second;
  }
  std::optional<int> StatefulSetReplicas(const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto it = statefulsets.find(ns + "/" + name);
    if (it == statefulsets.end()) return std::nullopt;
    return it->second;
  }
  void ScaleStatefulSet(const std::string& ns, const std::string& name, int replicas) override {
    std::lock_guard lock(mutex_);
    if (log != nullptr)
      log->Add("scale statefulset " + ns + "/" + name + " to " + std::to_string(replicas));
    statefulsets[ns + "/" + name] = replicas;
  }
  std::optional<std::map<std::string, std::string>> ServiceSelector(
      const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto it = selectors.find(ns + "/" + name);
    if (it == selectors.end()) return std::nullopt;
    return it->second;
  }
  void SetServiceSelectorKey(const std::string& ns, const std::string& name, const std::string& key,
                             const std::optional<std::string>& value) override {
    std::lock_guard lock(mutex_);
    if (log != nullptr) {
      log->Add("selector " + ns + "/" + name + " " + key + (value ? "=" + *value : " removed"));
    }
    auto& selector = selectors[ns + "/" + name];
    if (value) {
      selector[key] = *value;
    } else {
      selector.erase(key);
    }
  }
  std::map<std::string, int> statefulsets;  // "ns/name" → spec.replicas
  std::map<std::string, std::map<std::string, std::string>> selectors;  // Services' selectors
  ActionLog* log = nullptr;  // records ScaleStatefulSet and SetServiceSelectorKey when set

 private:
  std::mutex mutex_;
};

/// Holds faults as counts. `fail_next_inject` makes the next Inject throw InjectError.
/// `sessions`, when set, is told how many sessions each application_name gained or lost,
/// so that a FakePgAdmin shows what the engine holds, as pg_stat_activity would.
class FakeFaultEngine final : public FaultEngine {
 public:
  using SessionsChanged = std::function<void(const std::string& application_name, int delta)>;
  explicit FakeFaultEngine(ActionLog* log, SessionsChanged sessions = nullptr)
      : log_(log), sessions_(std::move(sessions)) {}
  std::string fail_next_inject;

  void Inject(const std::string& key, const FaultPlan& plan) override {
    std::lock_guard lock(mutex_);
    log_->Add(
        "inject " + key + " " + std::to_string(plan.count) + " as " + plan.application_name +
        (plan.end_role_sessions ? " (lock " + plan.table + ", end the role's sessions)" : ""));
    if (!fail_next_inject.empty()) {
      throw InjectError(std::exchange(fail_next_inject, ""));
    }
    const int added = plan.count - held_[key];
    held_[key] = plan.count;
    app_[key] = plan.application_name;
    if (sessions_ && plan.type == FaultType::kConnectionLeak)
      sessions_(plan.application_name, added);
  }
  int Held(const std::string& key) override {
    std::lock_guard lock(mutex_);
    return held_.count(key) ? held_[key] : 0;
  }
  std::vector<int> Pids(const std::string& key) override {
    std::lock_guard lock(mutex_);
    std::vector<int> pids;
    for (int i = 0; i < (held_.count(key) ? held_[key] : 0); ++i) pids.push_back(1000 + i);
    return pids;
  }
  void Rollback(const std::string& key) override {
    std::lock_guard lock(mutex_);
    auto it = held_.find(key);
    if (it == held_.end()) return;
    log_->Add("rollback " + key);
    if (sessions_) sessions_(app_[key], -it->second);
    held_.erase(it);
  }
  std::vector<std::string> Keys() override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> keys;
    for (const auto& [k, _] : held_) keys.push_back(k);
    return keys;
  }
  int TotalSessions() override { return 0; }
  int TotalClients() override { return 0; }
  void SetOnLost(std::function<void(const std::string&)>) override {}

 private:
  ActionLog* log_;
  SessionsChanged sessions_;
  std::mutex mutex_;
  std::map<std::string, int> held_;
  std::map<std::string, std::string> app_;  // key → application_name of its sessions
};

/// PostgreSQL as fixtures: sessions per application_name, the capacity, the session table.
class FakePgAdmin final : public PgAdmin {
 public:
  explicit FakePgAdmin(ActionLog* log) : log_(log) {}
  /// For FakeFaultEngine: the sessions an engine opened or closed.
  void Sessions(const std::string& application_name, int delta) {
    std::lock_guard lock(mutex_);
    by_application[application_name] += delta;
  }
  DbCapacity capacity{100, 3, 10};
  std::map<std::string, int> by_application;  // CountSessions
  std::vector<SessionRow> sessions;
  LoginAttempt login{LoginResult::kOk, "logged in"};

  DbCapacity Capacity(const DbTarget&, PgConnection connection) override {
    std::lock_guard lock(mutex_);
    capacity_on.push_back(connection);
    return capacity;
  }
  std::vector<PgConnection> capacity_on;  // each Capacity call's connection
  int CountSessions(const DbTarget&, const std::string& application_name) override {
    std::lock_guard lock(mutex_);
    return by_application[application_name];
  }
  int TerminateApplication(const DbTarget&, const std::string& application_name,
                           const std::vector<int>& keep) override {
    std::lock_guard lock(mutex_);
    log_->Add("terminate-application " + application_name + " keeping " +
              std::to_string(keep.size()));
    const int ended = std::max(0, by_application[application_name] - static_cast<int>(keep.size()));
    by_application[application_name] -= ended;
    return ended;
  }
  std::vector<SessionRow> Sessions(const DbTarget&, const SessionFilter&) override {
    std::lock_guard lock(mutex_);
    return sessions;
  }
  std::vector<int> TerminateBlockers(const DbTarget&, const std::vector<int>& pids,
                                     const SessionFilter& spare,
                                     const TerminateScope& scope) override {
    std::lock_guard lock(mutex_);
    std::string list;
    for (int p : pids) list += (list.empty() ? "" : ",") + std::to_string(p);
    std::string spared;
    for (const auto& a : spare.addresses) spared += (spared.empty() ? "" : ",") + a;
    log_->Add("terminate-sessions " + list + " in database=" + scope.database +
              " role=" + scope.role + " sparing role=" + spare.role +
              " application_name=" + spare.application_name + " addresses=" + spared);
    return pids;
  }
  /// With `role_password` set, Login succeeds for that password only (AuthRejected else)
  /// and SetOwnPassword changes it; each SetOwnPassword is recorded.
  LoginAttempt Login(const DbTarget& db) override {
    std::lock_guard lock(mutex_);
    if (!role_password) return login;
    if (db.password == *role_password) return {LoginResult::kOk, "logged in as " + db.user};
    return {LoginResult::kAuthRejected,
            "password authentication failed for user \"" + db.user + "\""};
  }
  int SetOwnPassword(const DbTarget& db, const std::string& new_password,
                     bool end_sessions) override {
    std::lock_guard lock(mutex_);
    if (role_password && db.password != *role_password) {
      throw DbError("PostgreSQL at db:5432: password authentication failed");
    }
    if (set_password_error) throw DbError(*set_password_error);
    log_->Add("set-password " + db.user + " " + db.password + " -> " + new_password +
              (end_sessions ? " ending sessions" : ""));
    role_password = new_password;
    return end_sessions ? sessions_ended : 0;
  }
  int EndOwnSessions(const DbTarget& db) override {
    std::lock_guard lock(mutex_);
    log_->Add("end-sessions " + db.user + " at " + db.endpoint.ToString());
    return sessions_ended;
  }
  std::optional<std::string> role_password;
  std::optional<std::string> set_password_error;
  int sessions_ended = 3;
  void Retain(const std::vector<DbTarget>& keep) override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> databases;
    for (const auto& db : keep) databases.push_back(db.endpoint.ToString() + "/" + db.database);
    retained.push_back(std::move(databases));
  }
  std::vector<std::vector<std::string>> retained;  // each Retain call's databases

 private:
  ActionLog* log_;
  std::mutex mutex_;
};

/// The target's cluster objects as fixtures; the two actions are logged. `fail_restarts`
/// makes Restart throw (an API error) that many times. A restart's rollout completes at
/// once (the workload controllers' part), unless `hold_rollouts`.
class FakeRemediationCluster final : public RemediationCluster {
 public:
  explicit FakeRemediationCluster(ActionLog* log) : log_(log) {}
  std::vector<PodEndpoint> endpoints;
  std::optional<DeploymentView> deployment;
  std::optional<RolloutObservation> statefulset;
  std::vector<PodState> db_pods;
  std::string logs;
  std::optional<ChaosLink> chaos;
  int fail_restarts = 0;
  bool hold_rollouts = false;

  std::vector<PodEndpoint> TargetEndpoints(const std::string&, const std::string&, int) override {
    return endpoints;
  }
  std::optional<DeploymentView> Deployment(const std::string&, const std::string&,
                                           const std::string&, const std::string&) override {
    std::lock_guard lock(mutex_);
    return deployment;
  }
  std::optional<RolloutObservation> StatefulSet(const std::string&, const std::string&) override {
    std::lock_guard lock(mutex_);
    return statefulset;
  }
  std::vector<PodState> StatefulSetPods(const std::string&, const std::string&) override {
    return db_pods;
  }
  std::string PodLogs(const std::string&, const std::string&, int since_seconds) override {
    ++log_reads;
    last_log_since = since_seconds;
    return logs;
  }
  std::atomic<int> log_reads{0};       // PodLogs calls
  std::atomic<int> last_log_since{0};  // the last PodLogs call's sinceSeconds
  std::optional<ChaosLink> ActiveChaos(const std::string&, const std::string&) override {
    return chaos;
  }
  void Restart(const std::string& ns, const std::string& kind, const std::string& name,
               const std::string& key) override {
    std::lock_guard lock(mutex_);
    log_->Add("restart " + kind + " " + ns + "/" + name + " key=" + key);
    if (fail_restarts > 0) {
      --fail_restarts;
      throw kube::ApiError(kube::ErrorKind::kServiceUnavailable, 503, "ServiceUnavailable",
                           "the API server is unavailable", {});
    }
    // The patch is in: the workload's template now carries the key (the rollout follows).
    auto& rollout = kind == "Deployment" ? deployment->rollout : *statefulset;
    rollout.restarted_at = key;
    ++rollout.generation;
    if (!hold_rollouts) rollout.observed_generation = rollout.generation;
  }
  void SetEnv(const std::string& ns, const std::string& deployment_name,
              const std::string& container, const std::string& env, int value) override {
    std::lock_guard lock(mutex_);
    log_->Add("set-env " + ns + "/" + deployment_name + " " + container + " " + env + "=" +
              std::to_string(value));
  }

 private:
  ActionLog* log_;
  std::mutex mutex_;
};

/// HTTP answers by URL (the longest matching prefix wins; unknown URLs are refused) and
/// TCP connects that pass unless `tcp` says otherwise.
class FakeProbes final : public Probes {
 public:
  ProbeResult tcp{Outcome::kPass, "connected"};
  ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    asked_.push_back("tcp " + endpoint.ToString());
    return tcp;
  }
  /// The URLs asked and TCP connects made ("tcp host:port") since the last call.
  std::vector<std::string> TakeAsked() {
    std::lock_guard lock(mutex_);
    return std::exchange(asked_, {});
  }

  void Answer(const std::string& url_prefix, int status, std::string body) {
    std::lock_guard lock(mutex_);
    HttpResult r;
    r.status = status;
    r.body = std::move(body);
    answers_[url_prefix] = r;
  }
  HttpResult Get(const std::string& url, std::chrono::milliseconds, std::size_t) override {
    std::lock_guard lock(mutex_);
    asked_.push_back(url);
    const HttpResult* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, r] : answers_) {
      if (url.rfind(prefix, 0) == 0 && prefix.size() >= best_len) {
        best = &r;
        best_len = prefix.size();
      }
    }
    if (best != nullptr) return *best;
    HttpResult refused;
    refused.error = url + ": connection refused";
    return refused;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, HttpResult> answers_;
  std::vector<std::string> asked_;
};

}  // namespace poolguard::controller::fakes
