#include "chaos/schedule_reconciler.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "poolguard/kube/client.h"
#include "poolguard/kube/errors.h"
#include "poolguard/kube/object.h"

namespace poolguard::controller {

ScheduleReconciler::ScheduleReconciler(ObjectStore* schedules, ScheduleRuns* runs, Events* events,
                                       std::shared_ptr<kube::Clock> clock,
                                       ScheduleReconcilerOptions options)
    : schedules_(schedules),
      runs_(runs),
      events_(events),
      clock_(std::move(clock)),
      options_(std::move(options)) {}

std::optional<TimeZone> ScheduleReconciler::Zone(const std::string& name, std::string* error) {
  std::lock_guard lock(zones_mutex_);
  if (auto it = zones_.find(name); it != zones_.end()) return it->second;
  try {
    TimeZone zone = options_.load_zone(name);
    if (zones_.size() < 512) zones_.emplace(name, zone);
    return zone;
  } catch (const std::invalid_argument& e) {
    *error = e.what();
    return std::nullopt;
  }
}

ReconcileResult ScheduleReconciler::Reconcile(const std::string& key) {
  const auto object = schedules_->Get(key);
  if (!object) return {};
  const Json& md = object->at("metadata");
  // Deleted: the garbage collector removes its runs (owner references), whose finalizers
  // roll back whatever they hold.
  if (json::Field(md, "deletionTimestamp") != nullptr) return {};

  ScheduleObserved o;
  o.ns = StringField(md, "namespace");
  o.name = StringField(md, "name");
  o.uid = StringField(md, "uid");
  o.generation = IntField(md, "generation").value_or(0);
  o.created = TimeField(md, "creationTimestamp").value_or(clock_->WallNow());
  o.spec = ParseScheduleSpec(*object);
  if (o.spec.spec) o.zone = Zone(o.spec.spec->time_zone, &o.zone_error);
  o.status = ParseScheduleStatus(*object);
  for (const Json& run : runs_->List(o.ns, o.name)) {
    const Json& rmd = run.at("metadata");
    ScheduledRun r;
    r.name = StringField(rmd, "name");
    const Json* annotations = json::Field(rmd, "annotations");
    std::optional<WallTime> due;
    if (annotations != nullptr) due = TimeField(*annotations, kScheduledAtAnnotation);
    r.scheduled_at = due.value_or(TimeField(rmd, "creationTimestamp").value_or(WallTime{}));
    r.phase = ParseChaosStatus(run).phase;
    r.deleting = json::Field(rmd, "deletionTimestamp") != nullptr;
    const Json* run_spec = json::Field(run, "spec");
    r.aborting = run_spec != nullptr && BoolField(*run_spec, "abort");
    o.runs.push_back(std::move(r));
  }
  o.now = clock_->WallNow();
  o.kill_switch = options_.kill_switch();

  const ScheduleDecision d = DecideSchedule(o);
  for (const auto& name : d.abort) {
    runs_->Abort(o.ns, name, "ChaosSchedule " + o.name + " (concurrencyPolicy Replace)");
  }
  if (d.create) {
    const std::string name = StringField(d.create->at("metadata"), "name");
    try {
      if (!runs_->Create(*d.create)) {
        spdlog::info("{}: run {} exists already (created before a restart)", key, name);
      }
    } catch (const std::exception& e) {
      // Refused (quota, validation, rights): said on the schedule, retried while due.
      events_->Record(*object, "Warning", "CreateFailed",
                      "cannot create run " + name + ": " + std::string(e.what()).substr(0, 400));
      throw;
    }
  }
  for (const auto& e : d.events) events_->Record(*object, e.type, e.reason, e.message);
  if (ParseScheduleStatus(*object) != d.status || json::Field(*object, "status") == nullptr) {
    Json updated = *object;
    updated["status"] = ToJson(d.status);
    schedules_->UpdateStatus(updated);
  }
  // Last: a run is pruned only once the run due after it is recorded (a status write that
  // failed would otherwise let the next look create a pruned run's name again).
  for (const auto& name : d.remove) runs_->Delete(o.ns, name);
  return {d.requeue_after};
}

namespace {

const kube::GroupVersionResource kExperiments{"poolguard.dev", "v1alpha1", "chaosexperiments"};

class KubeScheduleRuns final : public ScheduleRuns {
 public:
  KubeScheduleRuns(std::shared_ptr<kube::Client> client, ObjectStore* experiments)
      : client_(std::move(client)), experiments_(experiments) {}

  std::vector<Json> List(const std::string& ns, const std::string& schedule) override {
    return experiments_->ByIndex(kScheduleIndex, ns + "/" + schedule);
  }
  bool Create(const Json& experiment) override {
    try {
      Client(StringField(experiment.at("metadata"), "namespace")).Create(experiment);
      return true;
    } catch (const kube::ApiError& e) {
      if (kube::IsAlreadyExists(e)) return false;
      throw;
    }
  }
  void Delete(const std::string& ns, const std::string& name) override {
    try {
      Client(ns).Delete(name);
    } catch (const kube::ApiError& e) {
      if (!kube::IsNotFound(e)) throw;
    }
  }
  void Abort(const std::string& ns, const std::string& name, const std::string& by) override {
    Json patch = Json::object();
    patch["metadata"]["annotations"][kAbortedByAnnotation] = Json::string(by);
    patch["spec"]["abort"] = Json::boolean(true);
    try {
      Client(ns).Patch(name, kube::PatchType::kMerge, patch);
    } catch (const kube::ApiError& e) {
      if (!kube::IsNotFound(e)) throw;
    }
  }

 private:
  kube::ResourceClient Client(const std::string& ns) const {
    return kube::ResourceClient(client_, kExperiments, ns);
  }
  std::shared_ptr<kube::Client> client_;
  ObjectStore* experiments_;
};

}  // namespace

std::unique_ptr<ScheduleRuns> NewScheduleRuns(std::shared_ptr<kube::Client> client,
                                              ObjectStore* experiments) {
  return std::make_unique<KubeScheduleRuns>(std::move(client), experiments);
}

}  // namespace poolguard::controller
