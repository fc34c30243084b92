#pragma once

// Applies DecideSchedule to one ChaosSchedule: reads it and its runs from the caches, then
// aborts (Replace), creates the run due, deletes runs past the history limits, records
// Events and writes status. A run's name is derived from its due time, so a create that
// was made before a crash is found (AlreadyExists) rather than repeated.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chaos/schedule.h"
#include "core/events.h"
#include "core/object_store.h"
#include "core/reconcile.h"
#include "core/time_zone.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/clock.h"

namespace poolguard::controller {

/// The experiments a schedule makes.
class ScheduleRuns {
 public:
  virtual ~ScheduleRuns() = default;
  /// ChaosExperiments in `ns` labelled poolguard.dev/schedule=`schedule` (from the cache).
  virtual std::vector<Json> List(const std::string& ns, const std::string& schedule) = 0;
  /// Creates `experiment`; false if one of that name exists already.
  virtual bool Create(const Json& experiment) = 0;
  /// Deletes it (its finalizer still rolls back anything held); gone already is fine.
  virtual void Delete(const std::string& ns, const std::string& name) = 0;
  /// Sets spec.abort, with `by` in the poolguard.dev/aborted-by annotation.
  virtual void Abort(const std::string& ns, const std::string& name, const std::string& by) = 0;
};

struct ScheduleReconcilerOptions {
  /// The chaos kill switch: "" while off.
  std::function<std::string()> kill_switch = [] { return std::string(); };
  /// Loads a zone by name (TimeZone::Load); throws std::invalid_argument for a bad one.
  std::function<TimeZone(const std::string&)> load_zone = [](const std::string& name) {
    return TimeZone::Load(name);
  };
};

class ScheduleReconciler {
 public:
  ScheduleReconciler(ObjectStore* schedules, ScheduleRuns* runs, Events* events,
                     std::shared_ptr<kube::Clock> clock, ScheduleReconcilerOptions options = {});

  ReconcileResult Reconcile(const std::string& key);

 private:
  /// The zone by name, loaded once (zone files do not change under a running process).
  std::optional<TimeZone> Zone(const std::string& name, std::string* error);

  ObjectStore* schedules_;
  ScheduleRuns* runs_;
  Events* events_;
  std::shared_ptr<kube::Clock> clock_;
  ScheduleReconcilerOptions options_;
  std::mutex zones_mutex_;
  std::map<std::string, TimeZone> zones_;
};

/// ScheduleRuns over the API server, listing from the experiments' cache.
std::unique_ptr<ScheduleRuns> NewScheduleRuns(std::shared_ptr<kube::Client> client,
                                              ObjectStore* experiments);

}  // namespace poolguard::controller
