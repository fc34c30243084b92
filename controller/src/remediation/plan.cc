#include "remediation/plan.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/duration.h"
#include "core/text.h"

namespace poolguard::controller {
namespace {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr milliseconds kNow{0};
// Ticks DiagnosisDriven waits for a conclusion before acting on Unknown.
constexpr int kSettleTicks = 3;
// p99 within latencyFactor x baseline, but never tighter than this: a 3 ms baseline would
// otherwise make a histogram bucket's rounding fail verification.
constexpr double kLatencyFloorSeconds = 0.05;
// Under load: requests per second at least this factor above the baseline.
constexpr double kLoadFactor = 1.5;
// The cause of a pool-size increase is gone when the load is back within this factor.
constexpr double kCalmFactor = 1.2;

double Seconds(WallTime from, WallTime to) {
  return std::round(duration<double>(to - from).count() * 1000) / 1000;
}

std::string Name(RemediationAction a) { return std::string(ActionName(a)); }

bool Executed(const ActionRecord& r) { return r.result != ActionResult::kPlanned; }

int ExecutedCount(const Incident& in) {
  return static_cast<int>(std::count_if(in.actions.begin(), in.actions.end(), Executed));
}

ActionRecord* InFlight(Incident& in, ActionResult result) {
  for (auto it = in.actions.rbegin(); it != in.actions.rend(); ++it) {
    if (it->result == result) return &*it;
  }
  return nullptr;
}

std::optional<WallTime> LastActionStart(const RemediationStatus& st) {
  std::optional<WallTime> last;
  auto scan = [&](const Incident& in) {
    for (const auto& a : in.actions) {
      if (Executed(a) && a.started_at && (!last || *a.started_at > *last)) last = a.started_at;
    }
  };
  if (st.incident) scan(*st.incident);
  for (const auto& h : st.history) scan(h);
  return last;
}

bool UnderLoad(const Observations& o) {
  // The database is working on as many of the target's queries as its pools hold: load,
  // whatever the request rate says (a surge of slow requests raises concurrency, and the
  // rate may even fall). A leak shows idle or idle-in-transaction sessions instead.
  if (o.db_pool && o.db_pool->all_active) return true;
  if (o.db_pool && o.db_pool->held_idle) return false;  // a leak, whatever the rate
  if (!o.request_rate || !o.baseline.request_rate || *o.baseline.request_rate <= 0) return true;
  return *o.request_rate >= kLoadFactor * *o.baseline.request_rate;
}

bool PoolSaturatedNow(const Observations& o) {
  return std::any_of(o.signals.begin(), o.signals.end(), [](const Signal& s) {
    return s.name.rfind(signal::kPoolSaturation, 0) == 0 && s.outcome == Outcome::kFail;
  });
}

IncidentSignals Summarize(const Observations& o) {
  IncidentSignals s;
  int pods = 0, failing_pods = 0;
  for (const auto& sig : o.signals) {
    if (sig.name.rfind(std::string(signal::kHealth) + "/", 0) == 0) {
      ++pods;
      if (sig.outcome == Outcome::kFail) ++failing_pods;
    } else if (sig.name == signal::kErrorRatio) {
      s.error_ratio = sig.value;
    } else if (sig.name == signal::kP99Latency) {
      s.p99_latency_seconds = sig.value;
    } else if (sig.name == signal::kPoolTimeouts) {
      s.pool_timeouts = sig.value;
    }
  }
  if (!s.error_ratio) s.error_ratio = o.error_ratio;
  if (!s.p99_latency_seconds) s.p99_latency_seconds = o.p99_latency_seconds;
  if (!s.pool_timeouts) s.pool_timeouts = o.pool_timeouts;
  s.health = pods == 0          ? "unknown: no pod probed"
             : failing_pods > 0 ? "degraded: " + std::to_string(failing_pods) + "/" +
                                      std::to_string(pods) + " pods failing /health"
                                : "ok: " + std::to_string(pods) + " pods passing /health";
  s.pool_saturated = PoolSaturatedNow(o);
  if (o.logs) s.log_sample = o.logs->sample;
  s.failing = o.detection.failing;
  return s;
}

// Consecutive relapses ending now: incidents closed by a verified fix (or stopped by the
// loop breaker) followed by a new detection within the relapse window.
int Relapses(const RemediationStatus& st, const SafetySpec& safety, WallTime now) {
  int count = 0;
  WallTime next_detection = now;
  for (const auto& h : st.history) {
    const bool fixed = h.outcome == rem::kResolved && h.resolved_at;
    const bool looped = h.outcome == rem::kRemediationLoop && h.closed_at;
    if (!fixed && !looped) break;
    const WallTime end = fixed ? *h.resolved_at : *h.closed_at;
    if (next_detection - end > safety.relapse_window) break;
    ++count;
    if (!h.detected_at) break;
    next_detection = *h.detected_at;
  }
  return count;
}

class Planner {
 public:
  Planner(const RemediationSpec& spec, const RemediationStatus& current, const Observations& o,
          WallTime now)
      : spec_(spec), o_(o), now_(now) {
    step_.status = current;
    auto& st = step_.status;
    st.observed_generation = o.generation;
    st.detection = o.detection;
    if (o.sessions) {
      // The counts are kept for a minute unless the match or "none found" changes: they
      // say what matched, they are not a gauge (that would be a status write per tick).
      SessionsStatus now_seen = SummarizeSessions(*o.sessions, o.sessions_matched_by);
      now_seen.observed_at = now;
      const auto& was = current.sessions;
      const bool keep = was && was->observed_at && was->matched_by == now_seen.matched_by &&
                        (was->target == 0) == (now_seen.target == 0) &&
                        now - *was->observed_at < kSessionsStatusRefresh;
      if (!keep) st.sessions = now_seen;
    }
    const Condition* was = FindCondition(current.conditions, rem::kSpecValid);
    const bool was_claimed = was != nullptr && was->reason == rem::kTargetClaimed;
    Cond(rem::kSpecValid, "True", rem::kSpecAccepted, "spec accepted");
    switch (o.detection.health) {
      case Health::kHealthy:
        Cond(rem::kHealthy, "True", rem::kSignalsHealthy, o.detection.reason);
        break;
      case Health::kDegraded:
        Cond(rem::kHealthy, "False", rem::kDegraded, o.detection.reason);
        break;
      case Health::kUnknown:
        Cond(rem::kHealthy, "Unknown", rem::kNoSignals,
             o.detection.reason.empty() ? "no conclusive signal yet" : o.detection.reason);
        break;
    }
    if (!FindCondition(st.conditions, rem::kNeedsHuman)) {
      Cond(rem::kNeedsHuman, "False", rem::kNoIncident, "no incident needs a person");
    }
    if (spec.safety.dry_run) {
      Cond(rem::kDryRun, "True", rem::kPlanOnly, "dryRun: plans go to status, nothing is done");
    } else if (FindCondition(st.conditions, rem::kDryRun)) {
      Cond(rem::kDryRun, "False", rem::kPlanOnly, "dryRun off: actions are taken");
    }
    if (st.phase == RemediationPhase::kNone) st.phase = RemediationPhase::kWatching;
    if (st.phase == RemediationPhase::kInvalid) {
      st.phase = PhaseOnceValid(current);
      st.message =
          std::string(was_claimed ? "target released" : "spec valid again") + "; " +
          (st.phase == RemediationPhase::kWatching ? std::string("watching")
                                                   : "incident " + st.incident->id + " continues");
      Event("Normal", rem::kSpecAccepted, st.message);
    }
  }

  Step Run() {
    if (auto manual = Manual()) return std::move(*manual);
    switch (step_.status.phase) {
      case RemediationPhase::kNone:
      case RemediationPhase::kWatching:
      case RemediationPhase::kResolved:
      case RemediationPhase::kInvalid:  // not reached: the constructor moved on from it
        return Watch();
      case RemediationPhase::kDetected:
        return DiagnoseNow();
      case RemediationPhase::kDiagnosing:
      case RemediationPhase::kAwaitingApproval:
        return Choose();
      case RemediationPhase::kRemediating:
        return Remediate();
      case RemediationPhase::kVerifying:
        return Verify();
      case RemediationPhase::kExhausted:
        return Exhausted();
    }
    return Done(StepKind::kObserve);
  }

 private:
  RemediationStatus& St() { return step_.status; }
  const RemediationStatus& St() const { return step_.status; }
  Incident& In() { return *step_.status.incident; }
  bool Healthy() const { return o_.detection.health == Health::kHealthy; }
  bool Degraded() const { return o_.detection.health == Health::kDegraded; }

  void Cond(const char* type, const char* status, const char* reason, std::string message) {
    SetCondition(&St().conditions,
                 Condition{type, status, reason, std::move(message), std::nullopt, o_.generation},
                 now_);
  }
  void Event(const char* type, std::string reason, std::string message) {
    step_.events.push_back({type, std::move(reason), std::move(message)});
  }
  void Phase(RemediationPhase phase, std::string message) {
    St().phase = phase;
    St().message = std::move(message);
  }
  Step Done(StepKind kind, std::optional<milliseconds> requeue = std::nullopt) {
    step_.kind = kind;
    step_.requeue_after = requeue.value_or(spec_.detection.interval);
    return std::move(step_);
  }

  // ---- a person's manual action ----

  // A new request-action annotation: refused (recorded, and the tick goes on as usual) or
  // accepted as the next rung of the open incident, or of a new one when none is open.
  // The same safety rules as any rung; status.manualRequest records it once.
  std::optional<Step> Manual() {
    if (o_.action_request.empty()) return std::nullopt;
    const ActionRequest req = ParseActionRequest(o_.action_request);
    if (St().manual_request && St().manual_request->id == req.id) return std::nullopt;
    ManualRequest record{req.id, req.action, req.by, "Refused", "", now_};
    auto refuse = [&](std::string why) -> std::optional<Step> {
      record.message = std::move(why);
      Event("Warning", rem::kManualActionRefused,
            "manual " + (req.action.empty() ? std::string("action") : req.action) + " by " +
                (req.by.empty() ? std::string("an unnamed user") : req.by) +
                " refused: " + record.message);
      St().manual_request = std::move(record);
      return std::nullopt;
    };
    if (!req.error.empty()) return refuse(req.error);
    const RemediationAction a = *ParseAction(req.action);
    const RemediationPhase phase = St().phase;
    if (phase == RemediationPhase::kRemediating || phase == RemediationPhase::kVerifying) {
      return refuse("a rung is in progress (" + St().message.substr(0, 200) +
                    "); ask again once it is verified or has failed");
    }
    if (!spec_.Allows(a)) return refuse(Name(a) + " is not in spec.actions");
    if (spec_.safety.dry_run) return refuse("spec.safety.dryRun: this Remediation acts on nothing");
    if (const int spent = ActionsInLastHour(St(), now_);
        spent >= spec_.safety.max_actions_per_hour) {
      return refuse(std::to_string(spent) + " actions in the last hour (maxActionsPerHour " +
                    std::to_string(spec_.safety.max_actions_per_hour) + ")");
    }
    if (const auto last = LastActionStart(St()); last && now_ - *last < spec_.safety.cooldown) {
      return refuse(
          "cooldown: the next action may start in " +
          FormatDuration(duration_cast<milliseconds>(*last + spec_.safety.cooldown - now_)));
    }
    if (const std::string why = Inapplicable(a, Diagnose(o_)); !why.empty()) return refuse(why);

    // On the open incident (a person choosing its next rung), else on a new one: an ended
    // incident keeps its own outcome.
    const bool open =
        phase == RemediationPhase::kDetected || phase == RemediationPhase::kDiagnosing ||
        phase == RemediationPhase::kAwaitingApproval || phase == RemediationPhase::kExhausted;
    if (!St().incident || St().incident->closed_at || !open) NewIncident();
    record.state = "Accepted";
    record.message = "rung " + std::to_string(ExecutedCount(In()) + 1) + " of incident " + In().id;
    St().manual_request = record;
    Event("Normal", rem::kManualActionAccepted,
          "manual " + Name(a) + " by " + req.by + ": " + record.message);
    return RecordIntent(a, "manual request " + req.id + " by " + req.by, "", req.by);
  }

  // A new incident, the open one (if any) moved to history, superseded. A pool size revert
  // under way goes on in the new incident: left with the old one, in history, it would
  // never be seen through (and never finished).
  void NewIncident() {
    auto& st = St();
    std::optional<PoolSizeRevert> revert;
    if (st.incident && st.incident->pool_revert && !st.incident->pool_revert->finished_at) {
      revert = std::move(st.incident->pool_revert);
      st.incident->pool_revert.reset();
    }
    if (st.incident) {
      Incident prev = std::move(*st.incident);
      if (!prev.closed_at) prev.closed_at = now_;
      if (prev.outcome.empty()) prev.outcome = rem::kSuperseded;
      st.history.insert(st.history.begin(), std::move(prev));
      if (st.history.size() > kMaxHistory) st.history.resize(kMaxHistory);
    }
    Incident in;
    in.id = IncidentId(now_);
    if (!st.history.empty() && st.history.front().id.rfind(in.id, 0) == 0) {
      in.id += "-" + std::to_string(st.history.size() + 1);
    }
    in.detected_at = now_;
    in.signals = Summarize(o_);
    in.baseline = o_.baseline;
    in.pool_revert = std::move(revert);
    st.incident = std::move(in);
  }

  // ---- Watching / Resolved ----

  Step Watch() {
    if (Degraded()) return Open();
    if (St().incident && St().incident->pool_revert && !St().incident->pool_revert->finished_at) {
      return Revert();
    }
    if (St().phase == RemediationPhase::kWatching) {
      St().message = Healthy() ? "watching: healthy" : "watching: " + o_.detection.reason;
    }
    // A bad run has begun: look again exactly when its `for` window ends (not up to an
    // interval later), so detection takes `for`, not `for` + an interval.
    if (o_.detection.failing_since) {
      const auto due = *o_.detection.failing_since + spec_.detection.for_window - now_;
      if (due < spec_.detection.interval) {
        return Done(StepKind::kObserve,
                    std::max(duration_cast<milliseconds>(due), milliseconds(0)));
      }
    }
    return Done(StepKind::kObserve);
  }

  Step Open() {
    NewIncident();
    auto& st = St();
    Incident& in = *st.incident;
    in.first_bad_at = o_.detection.failing_since.value_or(now_);
    in.chaos_experiment = o_.chaos_experiment;
    in.chaos_report = o_.chaos_report;
    const bool from_chaos =
        !o_.chaos_experiment.empty() && o_.chaos_started_at && *o_.chaos_started_at <= now_;
    in.detection_seconds = Seconds(from_chaos ? *o_.chaos_started_at : *in.first_bad_at, now_);
    Event("Warning", rem::kDegraded,
          "incident " + In().id + ": " + o_.detection.reason +
              (In().chaos_experiment.empty() ? "" : " (experiment " + In().chaos_experiment + ")"));

    const int relapses = Relapses(st, spec_.safety, now_);
    if (relapses >= spec_.safety.max_relapses) {
      return Exhaust(rem::kRemediationLoop, "degraded again within " +
                                                FormatDuration(spec_.safety.relapse_window) +
                                                " of a verified fix, " + std::to_string(relapses) +
                                                " times in a row: a person should find the cause");
    }
    Phase(RemediationPhase::kDetected, "incident " + In().id + " detected: " + o_.detection.reason);
    // The tick that detected also read the database (the collector reads it once the bad
    // run has begun): diagnose and choose now instead of a tick later. Without those reads
    // the next tick gathers them.
    if (o_.sessions || o_.db_pods) return DiagnoseNow();
    return Done(StepKind::kObserve, kNow);
  }

  // Healthy probes are not recovery while the database still shows the cause: a lock
  // holder, exhausted slots, a database down. New pods with no traffic yet answer /health
  // until the first requests queue behind the same lock.
  bool CauseRemains() const {
    const Diagnosis d = Diagnose(o_);
    const bool failing = std::any_of(d.checks.begin(), d.checks.end(), [](const CheckResult& c) {
      return c.result == Outcome::kFail &&
             (c.name == check::kBlockingSessions || c.name == check::kServerSlots ||
              c.name == check::kDatabaseRunning || c.name == check::kNetworkReachable);
    });
    if (failing) return true;
    // A diagnosed lock holder still connected blocks the next request, even while no
    // target session happens to wait on it.
    const auto& in = St().incident;
    if (!in || !in->diagnosis || !o_.sessions) return false;
    return std::any_of(o_.sessions->begin(), o_.sessions->end(), [&](const SessionRow& row) {
      const auto& pids = in->diagnosis->blocking_pids;
      return std::find(pids.begin(), pids.end(), row.pid) != pids.end();
    });
  }

  // ---- Detected: diagnose ----

  Step DiagnoseNow() {
    if (Healthy() && !CauseRemains()) return CloseRecovered();
    // No check explains it yet: a fault's marks in the database and the logs can trail the
    // first failed probe by a tick (a surge's pools fill as it ramps up). DiagnosisDriven
    // looks again for a few ticks before it falls back on the ladder's order.
    if (spec_.strategy == Strategy::kDiagnosisDriven && In().detected_at &&
        now_ - *In().detected_at < kSettleTicks * spec_.detection.interval) {
      const Diagnosis early = Diagnose(o_);
      if (early.conclusion == Conclusion::kUnknown) {
        Phase(RemediationPhase::kDetected,
              "incident " + In().id + ": no check explains it yet; looking again");
        return Done(StepKind::kObserve);
      }
    }
    In().diagnosis = Diagnose(o_);
    In().diagnosed_at = now_;
    const Diagnosis& d = *In().diagnosis;
    Phase(RemediationPhase::kDiagnosing, d.summary);
    Event("Normal", rem::kDiagnosed,
          std::string(ConclusionName(d.conclusion)) + " (confidence " +
              std::string(ConfidenceName(d.confidence)) + ")");
    return Choose();  // from the same observations: the intent is recorded, not yet acted on
  }

  // ---- Diagnosing / AwaitingApproval: choose the next rung ----

  struct Pick {
    std::optional<RemediationAction> action;
    std::vector<RemediationAction> plan;  // the whole remaining order, for dry runs
    std::string why;                      // why this one, or why none
  };

  Diagnosis Fresh() const {
    Diagnosis fresh = Diagnose(o_);
    if (fresh.conclusion == Conclusion::kUnknown && St().incident && St().incident->diagnosis) {
      Diagnosis kept = *St().incident->diagnosis;
      kept.blocking_pids = fresh.blocking_pids;
      return kept;
    }
    return fresh;
  }

  std::vector<RemediationAction> Preference(const Diagnosis& d) const {
    using A = RemediationAction;
    if (spec_.strategy == Strategy::kLadder) return spec_.actions;
    switch (d.conclusion) {
      case Conclusion::kLockContention:
        return {A::kTerminateBlockingSessions, A::kRestartDatabase};
      case Conclusion::kServerSlotsExhausted:
        return {A::kTerminateBlockingSessions, A::kRestartDatabase};
      case Conclusion::kDatabaseDown:
        return {A::kRestartDatabase};
      case Conclusion::kConnectionPoolExhausted:
        return UnderLoad(o_) ? std::vector<A>{A::kIncreasePoolSize, A::kRestartDeployment}
                             : std::vector<A>{A::kRestartDeployment, A::kIncreasePoolSize};
      case Conclusion::kCredentialsRejected:
        return {};  // PickAction says why
      case Conclusion::kNetworkUnreachable:
        return {};
      case Conclusion::kUnknown:
        return spec_.actions;
    }
    return {};
  }

  // Why `a` cannot be taken now; empty when it can.
  std::string Inapplicable(RemediationAction a, const Diagnosis& d) const {
    using A = RemediationAction;
    const Conclusion c = d.conclusion;
    switch (a) {
      case A::kRestartDeployment:
        // Under either strategy: new pods cannot connect to a database that is down or
        // has no slot left, and the old pods' backends linger while they terminate.
        if (c == Conclusion::kDatabaseDown) {
          return "not restarting the target into a database that is down";
        }
        if (c == Conclusion::kServerSlotsExhausted) {
          return "not restarting the target while the server has no free slot: its new pods "
                 "could not connect";
        }
        if (spec_.strategy == Strategy::kDiagnosisDriven && c == Conclusion::kLockContention) {
          return "not restarting the target under LockContention: it would strand more server "
                 "slots";
        }
        return "";
      case A::kRestartDatabase:
        // Scaled to 0 is stopped on purpose (maintenance, an experiment): a restart starts
        // nothing, and the rollout wait would time out.
        if (o_.database && o_.database->replicas == 0) {
          return "StatefulSet " + spec_.db_statefulset +
                 " has 0 replicas: it was stopped, and a restart starts nothing (scale it up)";
        }
        return "";
      case A::kTerminateBlockingSessions:
        return d.blocking_pids.empty() ? "no blocking session to terminate" : "";
      case A::kIncreasePoolSize: {
        // A new pool size is a rollout of the target: new pods into a database that is down.
        if (c == Conclusion::kDatabaseDown) {
          return "not resizing the pool (a rollout of the target) while the database is down";
        }
        if (!o_.pool_size) return "the current pool size is not known";
        const auto& p = spec_.increase_pool_size;
        if (*o_.pool_size >= p.max) {
          return p.env + " is already " + std::to_string(*o_.pool_size) + " (max " +
                 std::to_string(p.max) + ")";
        }
        const int add = (std::min(*o_.pool_size + p.step, p.max) - *o_.pool_size) *
                        std::max(1, o_.target_replicas);
        if (o_.capacity && o_.capacity->max_connections > 0) {
          const int free =
              o_.capacity->max_connections - o_.capacity->reserved - o_.capacity->in_use;
          if (add > free) {
            return "the server has " + std::to_string(free) + " free slots, the increase needs " +
                   std::to_string(add);
          }
        }
        return "";
      }
    }
    return "";
  }

  Pick PickAction() const {
    Pick pick;
    const Diagnosis d = Fresh();
    const Incident& in = *St().incident;
    if (d.conclusion == Conclusion::kCredentialsRejected) {
      // No action here changes a password: restarting the target into a database that
      // refuses it (or the database under it) only adds an outage. A person who has set the
      // Secret or the role right restarts it (kubectl, or a manual request: not refused).
      pick.why =
          "the database rejects the target's credentials and no action changes them: set "
          "the role's password or Secret " +
          spec_.credentials_secret +
          " right, then restart the target (kubectl rollout restart deployment/" +
          spec_.target_deployment + ", or the console's restart-api)";
      return pick;
    }
    if (d.conclusion == Conclusion::kNetworkUnreachable) {
      // The database runs but cannot be reached: a restarted target (or database) would
      // come back to the same network, an outage added to the one there is.
      pick.why =
          "the database cannot be reached and no action changes the network: check Service " +
          spec_.db_service +
          "'s selector and EndpointSlices and any NetworkPolicy between the target and the "
          "database";
      return pick;
    }
    std::vector<std::string> skipped;
    std::size_t skipped_first = 0;  // how many were skipped before the one picked
    for (RemediationAction a : Preference(d)) {
      if (!spec_.Allows(a)) continue;
      const bool tried = std::any_of(in.actions.begin(), in.actions.end(),
                                     [&](const auto& r) { return Executed(r) && r.action == a; });
      if (tried) continue;
      const std::string why = Inapplicable(a, d);
      if (!why.empty()) {
        skipped.push_back(Name(a) + ": " + why);
        continue;
      }
      if (pick.plan.empty()) skipped_first = skipped.size();
      pick.plan.push_back(a);
    }
    if (!pick.plan.empty()) {
      pick.action = pick.plan.front();
      pick.why = spec_.strategy == Strategy::kLadder
                     ? "ladder rung " + std::to_string(ExecutedCount(in) + 1)
                     : "the fix for " + std::string(ConclusionName(d.conclusion));
      if (skipped_first > 0) {
        skipped.resize(skipped_first);
        pick.why += "; skipped " + Join(skipped, "; ");
      }
    } else {
      pick.why = ExecutedCount(in) > 0 ? "every rung tried" : "no applicable action";
      if (!skipped.empty()) pick.why += " (" + Join(skipped, "; ") + ")";
    }
    return pick;
  }

  Step Choose() {
    if (Healthy() && !CauseRemains()) return CloseRecovered();
    const Pick pick = PickAction();

    if (spec_.safety.dry_run) return PlanOnly(pick);
    if (!pick.action) {
      return Exhaust(ExecutedCount(In()) > 0 ? rem::kRungsExhausted : rem::kNoApplicableAction,
                     pick.why);
    }
    const RemediationAction a = *pick.action;
    const int spent = ActionsInLastHour(St(), now_);
    if (spent >= spec_.safety.max_actions_per_hour) {
      return Exhaust(rem::kActionBudgetSpent,
                     std::to_string(spent) + " actions in the last hour (maxActionsPerHour " +
                         std::to_string(spec_.safety.max_actions_per_hour) + "); next would be " +
                         Name(a));
    }
    if (spec_.NeedsApproval(a) && o_.rejection == In().id) {
      return Exhaust(rem::kRejected, Name(a) + " rejected by " + DecidedBy() + "; over to a human");
    }
    if (spec_.NeedsApproval(a) && o_.approval != In().id) {
      const std::string msg = Name(a) + " needs approval: set the annotation " +
                              std::string(kApproveAnnotation) + "=" + In().id;
      if (St().phase != RemediationPhase::kAwaitingApproval) {
        Event("Normal", rem::kApprovalRequired, msg);
      }
      Phase(RemediationPhase::kAwaitingApproval, msg);
      return Done(StepKind::kAwaitApproval);
    }
    if (const auto last = LastActionStart(St()); last && now_ - *last < spec_.safety.cooldown) {
      const auto wait = duration_cast<milliseconds>(*last + spec_.safety.cooldown - now_);
      Phase(RemediationPhase::kDiagnosing,
            "cooldown: " + Name(a) + " in " + FormatDuration(wait) + " (" + pick.why + ")");
      return Done(StepKind::kObserve, wait);
    }
    if (spec_.NeedsApproval(a)) {
      Event("Normal", rem::kApproved, Name(a) + " approved by " + DecidedBy());
      return RecordIntent(a, pick.why + "; approved by " + DecidedBy(),
                          Decider().empty() ? "unknown" : Decider());
    }
    return RecordIntent(a, pick.why);
  }

  Step PlanOnly(const Pick& pick) {
    auto& in = In();
    const bool planned = std::any_of(in.actions.begin(), in.actions.end(), [](const auto& r) {
      return r.result == ActionResult::kPlanned;
    });
    std::vector<std::string> names;
    for (auto a : pick.plan) names.push_back(Name(a));
    if (!planned) {
      int rung = 0;
      for (auto a : pick.plan) {
        ActionRecord r;
        r.action = a;
        r.rung = ++rung;
        r.result = ActionResult::kPlanned;
        r.detail = "dry run: would " + Name(a) +
                   (spec_.NeedsApproval(a) ? " (after approval)" : "") +
                   (rung == 1 ? " — " + pick.why : "");
        in.actions.push_back(std::move(r));
      }
      Event(
          "Normal", rem::kPlanOnly,
          names.empty() ? "dry run: no applicable action" : "dry run: would " + Join(names, " → "));
    }
    Phase(RemediationPhase::kDiagnosing,
          names.empty() ? "dry run: no applicable action (" + pick.why + ")"
                        : "dry run: plan " + Join(names, " → ") + "; nothing done");
    return Done(StepKind::kObserve);
  }

  // Who approved or rejected this incident's action: the decided-by annotation reads
  // "<incident id>/<user>" (the console writes it), so a name left from an earlier incident
  // is not credited with this one.
  std::string Decider() const {
    const std::string prefix = St().incident->id + "/";
    return o_.decided_by.rfind(prefix, 0) == 0 ? o_.decided_by.substr(prefix.size()) : "";
  }
  std::string DecidedBy() const {
    const std::string who = Decider();
    return who.empty() ? "an unnamed user (" + std::string(kDecidedByAnnotation) + " not set)"
                       : who;
  }

  Step RecordIntent(RemediationAction a, const std::string& why,
                    const std::string& approved_by = "", const std::string& requested_by = "") {
    ActionRecord r;
    r.action = a;
    r.approved_by = approved_by;
    r.requested_by = requested_by;
    r.rung = ExecutedCount(In()) + 1;
    r.started_at = now_;
    r.result = ActionResult::kInProgress;
    r.key = FormatTimeMs(now_);
    switch (a) {
      case RemediationAction::kRestartDeployment:
        r.detail = "rollout restart of Deployment " + spec_.target_deployment;
        break;
      case RemediationAction::kRestartDatabase:
        r.detail = "rollout restart of StatefulSet " + spec_.db_statefulset;
        break;
      case RemediationAction::kIncreasePoolSize: {
        const auto& p = spec_.increase_pool_size;
        r.from_pool_size = *o_.pool_size;
        r.to_pool_size = std::min(*o_.pool_size + p.step, p.max);
        r.detail = p.env + " " + std::to_string(*r.from_pool_size) + " → " +
                   std::to_string(*r.to_pool_size);
        break;
      }
      case RemediationAction::kTerminateBlockingSessions: {
        r.pids = Fresh().blocking_pids;
        std::vector<std::string> pids;
        for (int pid : r.pids) pids.push_back(std::to_string(pid));
        r.detail = "pg_terminate_backend on pid " + Join(pids, ", ");
        break;
      }
    }
    const std::string msg =
        "rung " + std::to_string(r.rung) + ": " + Name(a) + " (" + why + "): " + r.detail;
    In().actions.push_back(std::move(r));
    Phase(RemediationPhase::kRemediating, msg);
    Event("Normal", rem::kActionStarted, msg);
    return Done(StepKind::kRecordIntent, kNow);
  }

  // ---- Remediating: apply, wait ----

  ActionProgress ProgressOf(const ActionRecord& r) const {
    switch (r.action) {
      case RemediationAction::kRestartDeployment:
        return RolloutProgress(o_.deployment,
                               o_.deployment && o_.deployment->restarted_at == r.key);
      case RemediationAction::kRestartDatabase:
        return RolloutProgress(o_.database, o_.database && o_.database->restarted_at == r.key);
      case RemediationAction::kIncreasePoolSize:
        return RolloutProgress(o_.deployment, o_.pool_size && o_.pool_size == r.to_pool_size);
      case RemediationAction::kTerminateBlockingSessions: {
        if (!o_.sessions) return {Progress::kUnknown, "pg_stat_activity not read"};
        return StillBlocking(r).empty()
                   ? ActionProgress{Progress::kDone, "no recorded blocker remains"}
                   : ActionProgress{Progress::kNotApplied, "recorded blockers still hold locks"};
      }
    }
    return {};
  }

  // The recorded pids that still block (a pid the database has since reused for an
  // unrelated session is not one of them).
  std::vector<int> StillBlocking(const ActionRecord& r) const {
    const auto now_blocking = Diagnose(o_).blocking_pids;
    std::vector<int> out;
    for (int pid : r.pids) {
      if (std::find(now_blocking.begin(), now_blocking.end(), pid) != now_blocking.end()) {
        out.push_back(pid);
      }
    }
    return out;
  }

  Effect EffectOf(const ActionRecord& r) const {
    Effect e;
    e.key = r.key;
    switch (r.action) {
      case RemediationAction::kRestartDeployment:
        e.kind = EffectKind::kRestartDeployment;
        break;
      case RemediationAction::kRestartDatabase:
        e.kind = EffectKind::kRestartDatabase;
        break;
      case RemediationAction::kIncreasePoolSize:
        e.kind = EffectKind::kSetPoolSize;
        e.pool_size = r.to_pool_size;
        e.env = spec_.increase_pool_size.env;
        e.container = spec_.increase_pool_size.container;
        break;
      case RemediationAction::kTerminateBlockingSessions:
        e.kind = EffectKind::kTerminateSessions;
        e.pids = StillBlocking(r);
        break;
    }
    return e;
  }

  Step Remediate() {
    ActionRecord* r = InFlight(In(), ActionResult::kInProgress);
    if (r == nullptr) {  // nothing in flight (status edited by hand?): choose again
      Phase(RemediationPhase::kDiagnosing, "no action in progress");
      return Done(StepKind::kObserve, kNow);
    }
    const ActionProgress p = ProgressOf(*r);
    const WallTime started = r->started_at.value_or(now_);
    if (p.state == Progress::kDone) {
      r->applied_at = now_;
      r->result = ActionResult::kVerifying;
      const std::string msg = "rung " + std::to_string(r->rung) + ": " + Name(r->action) +
                              " applied in " + FormatFixed(Seconds(started, now_), 1) +
                              " s; verifying";
      Phase(RemediationPhase::kVerifying, msg);
      Event("Normal", rem::kActionApplied, msg);
      return Done(StepKind::kVerify, kNow);
    }
    if (p.state == Progress::kFailed || now_ - started > spec_.verification.timeout) {
      r->finished_at = now_;
      r->result = ActionResult::kFailed;
      r->verification = p.state == Progress::kFailed
                            ? p.detail
                            : "not finished within " + FormatDuration(spec_.verification.timeout) +
                                  (p.detail.empty() ? "" : ": " + p.detail);
      return Escalate(rem::kActionFailed, *r);
    }
    const std::string what = "rung " + std::to_string(r->rung) + ": " + Name(r->action);
    if (p.state == Progress::kNotApplied) {
      step_.effect = EffectOf(*r);
      Phase(RemediationPhase::kRemediating, what + ": applying (" + r->detail + ")");
      return Done(StepKind::kApply);
    }
    Phase(RemediationPhase::kRemediating,
          what + ": waiting" + (p.detail.empty() ? "" : " (" + p.detail + ")"));
    return Done(StepKind::kWait);
  }

  // ---- Verifying ----

  Step Verify() {
    ActionRecord* r = InFlight(In(), ActionResult::kVerifying);
    if (r == nullptr) {
      Phase(RemediationPhase::kDiagnosing, "no action being verified");
      return Done(StepKind::kObserve, kNow);
    }
    const auto& v = spec_.verification;
    int pods = 0, passing = 0, failing = 0;
    for (const auto& s : o_.signals) {
      if (s.name.rfind(std::string(signal::kHealth) + "/", 0) != 0) continue;
      ++pods;
      if (s.outcome == Outcome::kPass) ++passing;
      if (s.outcome == Outcome::kFail) ++failing;
    }
    const bool request_failed = o_.test_request.outcome == Outcome::kFail;
    // The database still shows the target's sessions waiting on a lock (or its pools full
    // of idle transactions): not healed, however /health answers (new pods with no traffic
    // yet answer it until their first requests queue behind the same lock).
    const bool db_failing = std::any_of(o_.signals.begin(), o_.signals.end(), [](const Signal& s) {
      return s.name == signal::kDbSessions && s.outcome == Outcome::kFail;
    });
    if (failing > 0 || request_failed || db_failing) {
      r->failed_streak += 1;
      r->healthy_streak = 0;
    } else if (pods > 0 && passing == pods) {
      r->healthy_streak += 1;
      r->failed_streak = 0;
    }  // otherwise no evidence this tick: both streaks stand

    const WallTime applied = r->applied_at.value_or(now_);
    const auto elapsed = now_ - applied;
    std::vector<std::string> pending, notes;
    notes.push_back("health ok " +
                    std::to_string(std::min(r->healthy_streak, v.consecutive_healthy)) + "/" +
                    std::to_string(v.consecutive_healthy));
    if (r->healthy_streak < v.consecutive_healthy) pending.push_back("health");
    if (o_.test_request.outcome == Outcome::kPass) notes.push_back("test request ok");
    if (db_failing) {
      notes.push_back("the database shows the target still waiting");
      pending.push_back("database");
    }
    if (o_.error_ratio) {
      const bool ok = *o_.error_ratio <= v.max_error_ratio;
      notes.push_back("error ratio " + FormatFixed(*o_.error_ratio, 3) + (ok ? " <= " : " > ") +
                      FormatFixed(v.max_error_ratio, 3));
      if (!ok) pending.push_back("error ratio");
    } else {
      notes.push_back("error ratio unavailable");
    }
    const double baseline_p99 =
        In().baseline.p99_latency_seconds.value_or(spec_.detection.p99_latency_seconds);
    const double bound = In().baseline.p99_latency_seconds
                             ? std::max(baseline_p99 * v.latency_factor, kLatencyFloorSeconds)
                             : spec_.detection.p99_latency_seconds;
    if (o_.p99_latency_seconds) {
      const bool ok = *o_.p99_latency_seconds <= bound;
      notes.push_back("p99 " + FormatFixed(*o_.p99_latency_seconds, 3) + "s" +
                      (ok ? " <= " : " > ") + FormatFixed(bound, 3) + "s" +
                      (In().baseline.p99_latency_seconds
                           ? " (" + FormatFixed(v.latency_factor, 1) + "x baseline " +
                                 FormatFixed(baseline_p99, 3) + "s)"
                           : " (no baseline: detection threshold)"));
      if (!ok) pending.push_back("p99 latency");
    } else {
      notes.push_back("p99 unavailable");
    }
    if (elapsed < v.window) pending.push_back("window");
    r->verification = Join(notes, "; ") + " over " + FormatDuration(v.window);

    if (pending.empty()) {
      r->result = ActionResult::kVerified;
      r->finished_at = now_;
      return Resolve(*r);
    }
    const bool failed_long_enough =
        r->failed_streak >= v.consecutive_healthy && elapsed >= v.window;
    if (elapsed > v.timeout || failed_long_enough) {
      r->result = ActionResult::kVerificationFailed;
      r->finished_at = now_;
      r->verification = (failed_long_enough ? "/health failed " + std::to_string(r->failed_streak) +
                                                  " checks in a row after the action; "
                                            : "not healthy within " + FormatDuration(v.timeout) +
                                                  " (" + Join(pending, ", ") + "); ") +
                        r->verification;
      return Escalate(rem::kVerificationFailed, *r);
    }
    Phase(RemediationPhase::kVerifying, "rung " + std::to_string(r->rung) + ": " + Name(r->action) +
                                            ": verifying (waiting for " + Join(pending, ", ") +
                                            ")");
    // Everything else holds and only the window is left: look again when it ends, not up
    // to an interval later.
    if (pending == std::vector<std::string>{"window"}) {
      const auto left = std::chrono::duration_cast<milliseconds>(v.window - elapsed);
      if (left < spec_.detection.interval) return Done(StepKind::kVerify, left);
    }
    return Done(StepKind::kVerify);
  }

  Step Resolve(const ActionRecord& r) {
    auto& in = In();
    in.resolved_at = now_;
    in.closed_at = now_;
    if (in.detected_at) in.recovery_seconds = Seconds(*in.detected_at, now_);
    in.outcome = rem::kResolved;
    if (r.action == RemediationAction::kIncreasePoolSize && r.from_pool_size && r.to_pool_size) {
      // A raise on top of one not yet put back (carried over from the previous incident)
      // is reverted to the size before the first raise, not to the one in between.
      const auto& pending = in.pool_revert;
      const bool stacked =
          pending && !pending->finished_at && pending->env == spec_.increase_pool_size.env;
      in.pool_revert = PoolSizeRevert{spec_.increase_pool_size.env,
                                      stacked ? pending->from : *r.from_pool_size,
                                      *r.to_pool_size,
                                      std::nullopt,
                                      std::nullopt,
                                      ""};
    }
    in.verdict = in.chaos_experiment.empty() ? "" : Verdict(in);
    // Verification is stronger evidence than detection's window: the target is Healthy
    // from here, so a detection state still inside its `for` window (or lagging behind)
    // cannot reopen an incident without a new bad tick.
    auto& det = St().detection;
    if (det.health != Health::kHealthy) {
      det.health = Health::kHealthy;
      det.failing_since.reset();
      det.failing.clear();
      if (!det.passing_since) det.passing_since = now_;
      det.reason = "verified fix";
      Cond(rem::kHealthy, "True", rem::kResolved, "verified fix");
    }
    const std::string msg = "incident " + in.id + " resolved at rung " + std::to_string(r.rung) +
                            " (" + Name(r.action) + ") in " +
                            FormatFixed(in.recovery_seconds.value_or(0), 1) + " s";
    Phase(RemediationPhase::kResolved, msg);
    Cond(rem::kNeedsHuman, "False", rem::kResolved, msg);
    Event("Normal", rem::kResolved, in.verdict.empty() ? msg : msg + "; " + in.verdict);
    return Done(StepKind::kObserve);
  }

  Step Escalate(const char* reason, const ActionRecord& r) {
    const std::string msg = "rung " + std::to_string(r.rung) + ": " + Name(r.action) + " " +
                            std::string(ActionResultName(r.result)) + ": " + r.verification;
    Event("Warning", reason, msg);
    Phase(RemediationPhase::kDiagnosing, msg);
    return Done(StepKind::kObserve, kNow);
  }

  Step Exhaust(const char* reason, const std::string& why) {
    auto& in = In();
    in.outcome = reason;
    in.verdict = in.chaos_experiment.empty() ? "" : Verdict(in);
    const std::string msg = "incident " + in.id + ": " + why;
    Phase(RemediationPhase::kExhausted, msg);
    Cond(rem::kNeedsHuman, "True", reason, msg);
    Event("Warning", reason, msg);
    return Done(StepKind::kStop);
  }

  Step CloseRecovered() {
    auto& in = In();
    in.resolved_at = now_;
    in.closed_at = now_;
    if (in.detected_at) in.recovery_seconds = Seconds(*in.detected_at, now_);
    in.outcome = ExecutedCount(in) > 0 ? rem::kRecovered : rem::kRecoveredWithoutAction;
    in.verdict = in.chaos_experiment.empty() ? "" : Verdict(in);
    const std::string msg = "incident " + in.id + " recovered" +
                            (ExecutedCount(in) > 0 ? " after a failed rung" : " without action") +
                            " in " + FormatFixed(in.recovery_seconds.value_or(0), 1) + " s";
    Phase(RemediationPhase::kResolved, msg);
    Event("Normal", in.outcome, msg);
    return Done(StepKind::kObserve);
  }

  // ---- Exhausted ----

  Step Exhausted() {
    if (Healthy() && St().incident && !St().incident->closed_at) {
      In().closed_at = now_;
      Phase(RemediationPhase::kWatching,
            "incident " + In().id + " over (" + In().outcome + "); NeedsHuman stays until a fix");
      return Done(StepKind::kObserve);
    }
    return Done(StepKind::kStop);
  }

  // ---- Resolved: put a raised pool size back once the cause is gone ----

  Step Revert() {
    auto& in = In();
    auto& rev = *in.pool_revert;
    if (!rev.started_at) {
      std::string waiting;
      if (!Healthy())
        waiting = "the target is not healthy";
      else if (!o_.chaos_experiment.empty())
        waiting = "experiment " + o_.chaos_experiment + " is active";
      else if (PoolSaturatedNow(o_))
        waiting = "the pool is saturated";
      else if (in.resolved_at && now_ - *in.resolved_at < spec_.verification.window)
        waiting = "the fix is younger than the verification window";
      else if (o_.request_rate && o_.baseline.request_rate &&
               *o_.request_rate > kCalmFactor * *o_.baseline.request_rate)
        waiting = "the load is still above its baseline";
      if (!waiting.empty()) {
        St().message = "pool size revert " + rev.env + " " + std::to_string(rev.to) + " → " +
                       std::to_string(rev.from) + " waits: " + waiting;
        return Done(StepKind::kObserve);
      }
      rev.started_at = now_;
      const std::string msg = "reverting " + rev.env + " " + std::to_string(rev.to) + " → " +
                              std::to_string(rev.from) + ": the cause is gone";
      St().message = msg;
      Event("Normal", rem::kPoolSizeRevert, msg);
      return Done(StepKind::kRecordIntent, kNow);
    }
    const ActionProgress p = RolloutProgress(o_.deployment, o_.pool_size == rev.from);
    if (p.state == Progress::kDone) {
      rev.finished_at = now_;
      rev.result = rem::kPoolSizeReverted;
      St().message = rev.env + " back to " + std::to_string(rev.from);
      Event("Normal", rem::kPoolSizeReverted, St().message);
      return Done(StepKind::kObserve);
    }
    if (p.state == Progress::kFailed || now_ - *rev.started_at > spec_.verification.timeout) {
      rev.finished_at = now_;
      rev.result = rem::kPoolSizeRevertFailed;
      St().message = "reverting " + rev.env + " failed" + (p.detail.empty() ? "" : ": " + p.detail);
      Event("Warning", rem::kPoolSizeRevertFailed, St().message);
      return Done(StepKind::kObserve);
    }
    if (p.state == Progress::kNotApplied) {
      step_.effect.kind = EffectKind::kSetPoolSize;
      step_.effect.pool_size = rev.from;
      step_.effect.env = rev.env;
      step_.effect.container = spec_.increase_pool_size.container;
      return Done(StepKind::kApply);
    }
    return Done(StepKind::kWait);
  }

  const RemediationSpec& spec_;
  const Observations& o_;
  const WallTime now_;
  Step step_;
};

}  // namespace

std::string_view StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kObserve:
      return "Observe";
    case StepKind::kRecordIntent:
      return "RecordIntent";
    case StepKind::kApply:
      return "Apply";
    case StepKind::kWait:
      return "Wait";
    case StepKind::kVerify:
      return "Verify";
    case StepKind::kAwaitApproval:
      return "AwaitApproval";
    case StepKind::kStop:
      return "Stop";
  }
  return "";
}

std::string_view EffectKindName(EffectKind kind) {
  switch (kind) {
    case EffectKind::kNone:
      return "None";
    case EffectKind::kRestartDeployment:
      return "RestartDeployment";
    case EffectKind::kRestartDatabase:
      return "RestartDatabase";
    case EffectKind::kSetPoolSize:
      return "SetPoolSize";
    case EffectKind::kTerminateSessions:
      return "TerminateSessions";
  }
  return "";
}

ActionProgress RolloutProgress(const std::optional<RolloutObservation>& rollout, bool applied) {
  if (!rollout) return {Progress::kUnknown, "rollout not read"};
  if (!applied) return {Progress::kNotApplied, "the pod template does not carry the change yet"};
  const auto& r = *rollout;
  if (r.progress_deadline_exceeded) return {Progress::kFailed, "progress deadline exceeded"};
  if (r.observed_generation < r.generation) {
    return {Progress::kRunning, "generation " + std::to_string(r.generation) + " not observed yet"};
  }
  if (r.updated_replicas < r.replicas || r.available_replicas < r.replicas ||
      r.status_replicas > r.replicas) {
    return {Progress::kRunning,
            std::to_string(r.updated_replicas) + "/" + std::to_string(r.replicas) + " updated, " +
                std::to_string(r.available_replicas) + "/" + std::to_string(r.replicas) +
                " available" + (r.status_replicas > r.replicas ? ", old replicas remain" : "")};
  }
  return {Progress::kDone,
          std::to_string(r.replicas) + "/" + std::to_string(r.replicas) + " updated and available"};
}

std::string Verdict(const Incident& in) {
  if (in.outcome.empty()) return "";
  std::string out = "detected in " + FormatFixed(in.detection_seconds.value_or(0), 1) + " s";
  const ActionRecord* healed = nullptr;
  for (const auto& a : in.actions) {
    if (a.result == ActionResult::kVerified) healed = &a;
  }
  const std::string in_time = " in " + FormatFixed(in.recovery_seconds.value_or(0), 1) + " s";
  if (in.outcome == rem::kResolved && healed != nullptr) {
    return out + ", healed at rung " + std::to_string(healed->rung) + " (" + Name(healed->action) +
           ")" + in_time;
  }
  if (in.outcome == rem::kRecoveredWithoutAction)
    return out + ", recovered without action" + in_time;
  if (in.outcome == rem::kRecovered) {
    return out + ", recovered after " + std::to_string(ExecutedCount(in)) + " failed rung(s)" +
           in_time;
  }
  return out + ", not healed: " + in.outcome;
}

int ActionsInLastHour(const RemediationStatus& status, WallTime now) {
  int n = 0;
  auto scan = [&](const Incident& in) {
    for (const auto& a : in.actions) {
      if (Executed(a) && a.started_at && now - *a.started_at < std::chrono::hours(1)) ++n;
    }
  };
  if (status.incident) scan(*status.incident);
  for (const auto& h : status.history) scan(h);
  return n;
}

Step Next(const RemediationSpec& spec, const RemediationStatus& status,
          const Observations& observations, WallTime now) {
  Step step = Planner(spec, status, observations, now).Run();
  BoundTexts(&step.status);
  return step;
}

namespace {
// Phase Invalid with SpecValid=False (reason, error), a Warning event when either is new.
Step Refuse(const RemediationStatus& status, const char* reason, const std::string& error,
            const std::string& message, int64_t generation, WallTime now) {
  Step step;
  step.status = status;
  step.status.observed_generation = generation;
  const Condition* before = FindCondition(status.conditions, rem::kSpecValid);
  if (status.phase != RemediationPhase::kInvalid || before == nullptr ||
      before->status != "False" || before->reason != reason ||
      before->message != Truncated(error, kMaxStatusText)) {
    step.events.push_back({"Warning", reason, error});
  }
  SetCondition(&step.status.conditions,
               Condition{rem::kSpecValid, "False", reason, error, std::nullopt, generation}, now);
  step.status.phase = RemediationPhase::kInvalid;
  step.status.message = message;
  step.kind = StepKind::kStop;
  BoundTexts(&step.status);
  return step;
}
}  // namespace

Step InvalidSpec(const RemediationStatus& status, const std::string& error, int64_t generation,
                 WallTime now) {
  // No requeue: a spec change triggers the next reconcile.
  return Refuse(status, rem::kInvalidSpec, error,
                "invalid spec, nothing is done until it is fixed: " + error, generation, now);
}

Step TargetClaimed(const RemediationStatus& status, const std::string& owner,
                   const std::string& deployment, int64_t generation, WallTime now) {
  const std::string error = "spec.target.deployment: Deployment " + deployment +
                            " is remediated by Remediation " + owner +
                            "; one Remediation acts per target";
  Step step = Refuse(status, rem::kTargetClaimed, error,
                     "nothing is done while another Remediation owns the target: " + error,
                     generation, now);
  auto& st = step.status;
  if (st.incident && !st.incident->closed_at) {
    Incident prev = std::move(*st.incident);
    prev.closed_at = now;
    if (prev.outcome.empty()) prev.outcome = rem::kSuperseded;
    st.incident.reset();
    st.history.insert(st.history.begin(), std::move(prev));
    if (st.history.size() > kMaxHistory) st.history.resize(kMaxHistory);
  }
  step.requeue_after = std::chrono::seconds(5);  // to take over when the owner goes
  BoundTexts(&step.status);
  return step;
}

RemediationPhase PhaseOnceValid(const RemediationStatus& status) {
  if (status.phase != RemediationPhase::kInvalid) return status.phase;
  if (!status.incident || status.incident->closed_at) return RemediationPhase::kWatching;
  const Incident& in = *status.incident;
  // The last record in flight, as Remediate and Verify look for it.
  for (auto it = in.actions.rbegin(); it != in.actions.rend(); ++it) {
    if (it->result == ActionResult::kInProgress) return RemediationPhase::kRemediating;
    if (it->result == ActionResult::kVerifying) return RemediationPhase::kVerifying;
  }
  // Exhaust writes the outcome; the incident is closed only once the target is healthy.
  if (!in.outcome.empty()) return RemediationPhase::kExhausted;
  if (in.diagnosis) return RemediationPhase::kDiagnosing;
  return RemediationPhase::kDetected;
}

}  // namespace poolguard::controller
