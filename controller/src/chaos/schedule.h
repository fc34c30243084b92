#pragma once

// ChaosSchedule: a ChaosExperiment template run on a cron schedule in a time zone, like a
// CronJob runs a Job template. The decision is a pure function of the schedule, its runs
// (the experiments it created, found by label) and the time; the reconciler only applies it.
//
// Guarantees: it never fires at creation, nor when its spec is edited or it is resumed,
// unless the cron says so for a time after that moment (the time counted from is
// status.scheduleSince); a run more than startingDeadlineSeconds late is not started but
// reported as missed; run names are derived from the scheduled time, so a controller that
// dies between creating a run and recording it creates it once.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "chaos/types.h"
#include "core/condition.h"
#include "core/cron.h"
#include "core/json.h"
#include "core/reconcile.h"
#include "core/time_zone.h"

namespace poolguard::controller {

/// On a run: the schedule that made it (label) and the time it was due (annotation).
inline constexpr char kScheduleLabel[] = "poolguard.dev/schedule";
inline constexpr char kScheduledAtAnnotation[] = "poolguard.dev/scheduled-at";

enum class ConcurrencyPolicy { kForbid, kAllow, kReplace };

struct ScheduleSpec {
  std::string schedule;
  std::string time_zone;  // "" = UTC
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kForbid;
  bool suspend = false;
  std::chrono::seconds starting_deadline{60};
  int successful_history = 3;
  int failed_history = 1;
  Json template_labels = Json::object();
  Json template_annotations = Json::object();
  Json template_spec = Json::object();  // a ChaosExperiment spec, validated as one
};

struct ScheduleSpecParse {
  std::optional<ScheduleSpec> spec;
  std::optional<CronSchedule> cron;
  std::string error;  // names the field ("spec.schedule: ...")
};
ScheduleSpecParse ParseScheduleSpec(const Json& object);

struct ScheduleStatus {
  int64_t observed_generation = 0;
  std::optional<WallTime> schedule_since;  // runs are due only after this (creation, edit)
  std::optional<WallTime> last_schedule_time;
  std::optional<WallTime> last_successful_time;
  std::optional<WallTime> last_missed_time;
  std::optional<WallTime> next_schedule_time;
  std::vector<std::string> active;
  std::vector<Condition> conditions;  // Ready
  bool operator==(const ScheduleStatus&) const = default;
};
ScheduleStatus ParseScheduleStatus(const Json& object);
Json ToJson(const ScheduleStatus& status);

/// One experiment the schedule created.
struct ScheduledRun {
  std::string name;
  WallTime scheduled_at;
  Phase phase = Phase::kNone;
  bool deleting = false;
  bool aborting = false;  // spec.abort set (by a Replace, or a person)
};

struct ScheduleObserved {
  std::string ns, name, uid;
  int64_t generation = 0;
  WallTime created;
  ScheduleSpecParse spec;
  /// The zone spec.timeZone names, or why it cannot be used (zone_error).
  std::optional<TimeZone> zone;
  std::string zone_error;
  ScheduleStatus status;
  std::vector<ScheduledRun> runs;
  WallTime now;
  std::string kill_switch;  // "" while off
};

struct ScheduleDecision {
  ScheduleStatus status;
  /// Create this experiment (the whole object), unless a run of that name exists.
  std::optional<Json> create;
  std::vector<std::string> abort;   // Replace: runs to end (spec.abort)
  std::vector<std::string> remove;  // past the history limits
  std::vector<EventNote> events;
  std::optional<std::chrono::milliseconds> requeue_after;
};

ScheduleDecision DecideSchedule(const ScheduleObserved& o);

/// The run's name for the time it is due: "<schedule>-<unix minutes>" (seconds for @every).
std::string RunName(const std::string& schedule, const CronSchedule& cron, WallTime due);

}  // namespace poolguard::controller
