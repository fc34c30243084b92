#include "chaos/schedule.h"

#include <algorithm>

#include "chaos/types.h"
#include "core/duration.h"
#include "core/names.h"

namespace poolguard::controller {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kApiVersion[] = "poolguard.dev/v1alpha1";
constexpr milliseconds kActivePoll{5000};  // how often active runs are looked at
constexpr milliseconds kMaxRequeue{3600 * 1000};

int64_t Unix(WallTime t) { return duration_cast<seconds>(t.time_since_epoch()).count(); }
WallTime FromUnix(int64_t s) { return WallTime(seconds(s)); }

std::string Describe(WallTime t, const ScheduleSpec& spec, const TimeZone& zone) {
  const int64_t utc = Unix(t);
  std::string s = FormatTime(t);
  if (!spec.time_zone.empty() && spec.time_zone != "UTC") {
    s += " (" + FormatUtc(FromUnix(utc + zone.OffsetAt(utc)), "%Y-%m-%d %H:%M") + " " +
         spec.time_zone + ")";
  }
  return s;
}

// The first run due after `t`: @every counts in steps from `anchor` (the last run, or the
// moment the spec took effect).
std::optional<int64_t> NextAfter(const CronSchedule& cron, const TimeZone& zone, int64_t anchor,
                                 int64_t t) {
  if (cron.every() == 0) return cron.Next(t, zone);
  if (t < anchor) return anchor + cron.every();
  return anchor + ((t - anchor) / cron.every() + 1) * cron.every();
}

}  // namespace

std::string RunName(const std::string& schedule, const CronSchedule& cron, WallTime due) {
  const int64_t t = Unix(due);
  return schedule + "-" + std::to_string(cron.every() > 0 ? t : t / 60);
}

ScheduleSpecParse ParseScheduleSpec(const Json& object) {
  ScheduleSpecParse r;
  auto fail = [&](std::string message) {
    r.error = std::move(message);
    r.spec.reset();
    r.cron.reset();
    return r;
  };
  const Json* s = Field(object, "spec");
  if (s == nullptr || !s->is_object()) return fail("spec: Required value");
  ScheduleSpec spec;
  spec.schedule = StringField(*s, "schedule");
  if (spec.schedule.empty()) return fail("spec.schedule: Required value");
  std::string why;
  r.cron = CronSchedule::Parse(spec.schedule, &why);
  if (!r.cron)
    return fail("spec.schedule: Invalid value \"" + spec.schedule.substr(0, 64) + "\": " + why);
  spec.time_zone = StringField(*s, "timeZone");
  if (!spec.time_zone.empty() && !TimeZone::ValidName(spec.time_zone))
    return fail("spec.timeZone: Invalid value \"" + spec.time_zone.substr(0, 64) +
                "\": not an IANA time zone name (such as \"Europe/Berlin\" or \"UTC\")");
  const std::string policy = StringField(*s, "concurrencyPolicy");
  if (policy.empty() || policy == "Forbid") {
    spec.concurrency = ConcurrencyPolicy::kForbid;
  } else if (policy == "Allow") {
    spec.concurrency = ConcurrencyPolicy::kAllow;
  } else if (policy == "Replace") {
    spec.concurrency = ConcurrencyPolicy::kReplace;
  } else {
    return fail("spec.concurrencyPolicy: Unsupported value \"" + policy.substr(0, 32) +
                "\": supported values: \"Forbid\", \"Allow\", \"Replace\"");
  }
  if (const Json* v = Field(*s, "suspend"); v != nullptr && v->is_boolean())
    spec.suspend = v->as_bool();
  const auto deadline = IntField(*s, "startingDeadlineSeconds").value_or(60);
  if (deadline < 1 || deadline > 86400)
    return fail("spec.startingDeadlineSeconds: must be 1-86400, got " + std::to_string(deadline));
  spec.starting_deadline = seconds(deadline);
  const auto ok = IntField(*s, "successfulHistoryLimit").value_or(3);
  const auto failed = IntField(*s, "failedHistoryLimit").value_or(1);
  if (ok < 0 || ok > 100)
    return fail("spec.successfulHistoryLimit: must be 0-100, got " + std::to_string(ok));
  if (failed < 0 || failed > 100)
    return fail("spec.failedHistoryLimit: must be 0-100, got " + std::to_string(failed));
  spec.successful_history = static_cast<int>(ok);
  spec.failed_history = static_cast<int>(failed);

  const Json* tmpl = Field(*s, "experimentTemplate");
  if (tmpl == nullptr || !tmpl->is_object()) return fail("spec.experimentTemplate: Required value");
  if (const Json* md = Field(*tmpl, "metadata"); md != nullptr && md->is_object()) {
    for (const char* which : {"labels", "annotations"}) {
      const Json* m = Field(*md, which);
      if (m == nullptr) continue;
      if (!m->is_object())
        return fail(std::string("spec.experimentTemplate.metadata.") + which +
                    ": must be a map of strings");
      for (const auto& [k, v] : m->as_object()) {
        if (!v.is_string())
          return fail(std::string("spec.experimentTemplate.metadata.") + which + "." + k +
                      ": must be a string");
      }
      (std::string(which) == "labels" ? spec.template_labels : spec.template_annotations) = *m;
    }
  }
  const Json* tspec = Field(*tmpl, "spec");
  if (tspec == nullptr || !tspec->is_object())
    return fail("spec.experimentTemplate.spec: Required value");
  // The template is validated as the experiment it becomes: an error here, not at each run.
  Json probe = Json::object();
  probe["spec"] = *tspec;
  const SpecParse experiment = ParseChaosSpec(probe);
  if (!experiment.spec) return fail("spec.experimentTemplate." + experiment.error);
  if (experiment.spec->abort)
    return fail("spec.experimentTemplate.spec.abort: a template cannot start aborted");
  spec.template_spec = *tspec;
  r.spec = std::move(spec);
  return r;
}

ScheduleStatus ParseScheduleStatus(const Json& object) {
  ScheduleStatus st;
  const Json* s = Field(object, "status");
  if (s == nullptr || !s->is_object()) return st;
  st.observed_generation = IntField(*s, "observedGeneration").value_or(0);
  st.schedule_since = TimeField(*s, "scheduleSince");
  st.last_schedule_time = TimeField(*s, "lastScheduleTime");
  st.last_successful_time = TimeField(*s, "lastSuccessfulTime");
  st.last_missed_time = TimeField(*s, "lastMissedTime");
  st.next_schedule_time = TimeField(*s, "nextScheduleTime");
  if (const Json* a = Field(*s, "active"); a != nullptr && a->is_array()) {
    for (const auto& ref : a->as_array()) {
      const std::string name = StringField(ref, "name");
      if (!name.empty()) st.active.push_back(name);
    }
  }
  st.conditions = ParseConditions(*s, TimeField, IntField);
  return st;
}

Json ToJson(const ScheduleStatus& st) {
  Json s = Json::object();
  s["observedGeneration"] = Json::number(st.observed_generation);
  auto put = [&](const char* name, const std::optional<WallTime>& t) {
    if (t) s[name] = Json::string(FormatTime(*t));
  };
  put("scheduleSince", st.schedule_since);
  put("lastScheduleTime", st.last_schedule_time);
  put("lastSuccessfulTime", st.last_successful_time);
  put("lastMissedTime", st.last_missed_time);
  put("nextScheduleTime", st.next_schedule_time);
  Json active = Json::array();
  size_t i = 0;
  for (const auto& name : st.active) {
    Json ref = Json::object();
    ref["name"] = Json::string(name);
    active[i++] = ref;
  }
  s["active"] = active;
  s["conditions"] = ConditionsToJson(st.conditions);
  return s;
}

ScheduleDecision DecideSchedule(const ScheduleObserved& o) {
  ScheduleDecision d;
  ScheduleStatus& st = d.status;
  st = o.status;
  const WallTime now = TruncateToSeconds(o.now);
  const Condition* before = FindCondition(o.status.conditions, "Ready");
  auto ready = [&](const char* status, const char* reason, const std::string& message) {
    SetCondition(&st.conditions, {"Ready", status, reason, message, std::nullopt, o.generation},
                 now);
  };
  auto event_once = [&](const char* type, const char* reason, const std::string& message) {
    if (before == nullptr || before->reason != reason || before->message != message)
      d.events.push_back({type, reason, message});
  };

  // An edit (or the first look) starts the count again: nothing due before it fires.
  if (st.observed_generation != o.generation || !st.schedule_since) {
    st.schedule_since = !st.schedule_since ? TruncateToSeconds(o.created) : now;
    st.observed_generation = o.generation;
  }

  // What the runs say, whatever the spec: active ones, the last success, the history.
  st.active.clear();
  std::vector<const ScheduledRun*> succeeded, failed;
  for (const auto& run : o.runs) {
    if (run.deleting) continue;
    if (!IsTerminal(run.phase)) {
      st.active.push_back(run.name);
    } else if (run.phase == Phase::kCompleted) {
      succeeded.push_back(&run);
      if (!st.last_successful_time || run.scheduled_at > *st.last_successful_time)
        st.last_successful_time = TruncateToSeconds(run.scheduled_at);
    } else {
      failed.push_back(&run);
    }
  }
  std::sort(st.active.begin(), st.active.end());
  auto prune = [&](std::vector<const ScheduledRun*>& runs, int keep) {
    std::sort(runs.begin(), runs.end(), [](const ScheduledRun* a, const ScheduledRun* b) {
      return a->scheduled_at != b->scheduled_at ? a->scheduled_at > b->scheduled_at
                                                : a->name > b->name;
    });
    for (size_t i = static_cast<size_t>(keep); i < runs.size(); ++i)
      d.remove.push_back(runs[i]->name);
  };

  if (!o.spec.spec || !o.zone) {
    const std::string why = !o.spec.spec ? o.spec.error : "spec.timeZone: " + o.zone_error;
    ready("False", "InvalidSpec", why);
    event_once("Warning", "InvalidSpec", why);
    st.next_schedule_time.reset();
    return d;  // no runs, no pruning: the history limits are part of what is invalid
  }
  const ScheduleSpec& spec = *o.spec.spec;
  const CronSchedule& cron = *o.spec.cron;
  const TimeZone& zone = *o.zone;
  prune(succeeded, spec.successful_history);
  prune(failed, spec.failed_history);

  // The runs due since the last one (or since the spec took effect), within the deadline.
  WallTime earliest = *st.schedule_since;
  for (const auto& t : {st.last_schedule_time, st.last_missed_time})
    if (t && *t > earliest) earliest = *t;
  std::optional<WallTime> due, missed;
  if (!spec.suspend) {
    const int64_t from = Unix(earliest);
    const int64_t window_start = std::max(from, Unix(now) - spec.starting_deadline.count());
    // Missed: due after `earliest` but before the window. Only the latest is recorded
    // (looked for in the week before the window: nothing older is worth naming).
    if (auto first = cron.Next(from, zone); first && *first < window_start) {
      int64_t t = std::max(from, window_start - 7 * 86400);
      if (cron.every() > 0) {
        missed = FromUnix(from + (window_start - 1 - from) / cron.every() * cron.every());
      } else {
        std::optional<int64_t> last;
        for (auto n = cron.Next(t, zone); n && *n < window_start; n = cron.Next(*n, zone)) last = n;
        // None in that week: name the first one missed, a time the cron did name.
        missed = FromUnix(last.value_or(*first));
      }
    }
    int64_t scan = window_start;
    if (cron.every() > 0 && window_start > from) {
      // @every counts from its anchor: the last run due at or before the window opens.
      scan = from + (window_start - from) / cron.every() * cron.every();
      if (scan == window_start) scan -= cron.every();
      scan = std::max(scan, from);
    } else if (window_start > from) {
      scan = window_start - 1;
    }
    for (auto n = cron.Next(scan, zone); n && *n <= Unix(now); n = cron.Next(*n, zone))
      due = FromUnix(*n);
  }
  if (missed) {
    st.last_missed_time = missed;
    d.events.push_back({"Warning", "MissedSchedule",
                        "the run due at " + Describe(*missed, spec, zone) +
                            " was not started: more than startingDeadlineSeconds (" +
                            std::to_string(spec.starting_deadline.count()) + "s) late"});
  }

  bool replacing = false;  // Replace: the earlier runs are ending; the new one waits
  if (due) {
    st.last_schedule_time = due;
    const std::string name = RunName(o.name, cron, *due);
    const bool exists = std::any_of(o.runs.begin(), o.runs.end(),
                                    [&](const ScheduledRun& r) { return r.name == name; });
    std::vector<std::string> others;
    for (const auto& a : st.active)
      if (a != name) others.push_back(a);
    std::string others_text;
    for (const auto& a : others) others_text += (others_text.empty() ? "" : ", ") + a;
    if (exists) {
      // Created before a restart; recorded now.
    } else if (!o.kill_switch.empty()) {
      d.events.push_back({"Warning", "SkippedKillSwitch",
                          "the run due at " + Describe(*due, spec, zone) +
                              " was not started: the chaos kill switch is on (" + o.kill_switch +
                              ")"});
    } else if (!others.empty() && spec.concurrency == ConcurrencyPolicy::kForbid) {
      d.events.push_back({"Normal", "SkippedConcurrent",
                          "the run due at " + Describe(*due, spec, zone) + " was not started: " +
                              others_text + " still running (concurrencyPolicy Forbid)"});
    } else if (!others.empty() && spec.concurrency == ConcurrencyPolicy::kReplace) {
      // The new run starts once the earlier ones have rolled back: until then they still
      // hold the target, and the new one would be rejected (one experiment per target).
      // The due time stays due (not recorded) while within startingDeadlineSeconds.
      replacing = true;
      st.last_schedule_time = o.status.last_schedule_time;
      for (const auto& run : o.runs) {
        if (!run.aborting && std::find(others.begin(), others.end(), run.name) != others.end())
          d.abort.push_back(run.name);
      }
      if (!d.abort.empty()) {
        d.events.push_back({"Normal", "Replacing",
                            "the run due at " + Describe(*due, spec, zone) + " waits: aborting " +
                                others_text + " first (concurrencyPolicy Replace)"});
      }
    } else {
      Json run = Json::object();
      run["apiVersion"] = Json::string(kApiVersion);
      run["kind"] = Json::string("ChaosExperiment");
      Json md = Json::object();
      md["name"] = Json::string(name);
      md["namespace"] = Json::string(o.ns);
      Json labels = spec.template_labels;
      labels[kScheduleLabel] = Json::string(o.name);
      md["labels"] = labels;
      Json annotations = spec.template_annotations;
      annotations[kScheduledAtAnnotation] = Json::string(FormatTime(*due));
      md["annotations"] = annotations;
      Json owner = Json::object();
      owner["apiVersion"] = Json::string(kApiVersion);
      owner["kind"] = Json::string("ChaosSchedule");
      owner["name"] = Json::string(o.name);
      owner["uid"] = Json::string(o.uid);
      owner["controller"] = Json::boolean(true);
      owner["blockOwnerDeletion"] = Json::boolean(true);
      md["ownerReferences"] = Json::array();
      md["ownerReferences"][0] = owner;
      run["metadata"] = md;
      run["spec"] = spec.template_spec;
      d.create = run;
      st.active.push_back(name);
      std::sort(st.active.begin(), st.active.end());
      d.events.push_back({"Normal", "Scheduled",
                          "created " + name + " for the run due at " + Describe(*due, spec, zone)});
    }
  }

  // When to look again: the next run, or sooner while runs are active.
  st.next_schedule_time.reset();
  if (spec.suspend) {
    ready("True", "Suspended", "suspended: no run starts until spec.suspend is false");
  } else if (auto next = NextAfter(cron, zone, Unix(due.value_or(earliest)), Unix(now))) {
    st.next_schedule_time = FromUnix(*next);
    ready("True", "Scheduled", "next run at " + Describe(*st.next_schedule_time, spec, zone));
    auto wait = duration_cast<milliseconds>(*st.next_schedule_time - o.now);
    d.requeue_after = std::clamp(wait + milliseconds(50), milliseconds(50), kMaxRequeue);
  } else {
    ready("True", "Scheduled", "no run due within five years");
  }
  if (!st.active.empty() || !d.remove.empty())
    d.requeue_after = d.requeue_after ? std::min(*d.requeue_after, kActivePoll) : kActivePoll;
  if (replacing) d.requeue_after = milliseconds(1000);  // to start the new run promptly
  return d;
}

}  // namespace poolguard::controller
