#include "chaos/decide.h"

#include <algorithm>

#include "core/text.h"

namespace poolguard::controller {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::string FaultDescription(const ChaosSpec& spec) {
  if (spec.type == FaultType::kTrafficSurge) {
    return std::to_string(spec.concurrency) + " clients on " + spec.path +
           (spec.requests > 0 ? " (" + std::to_string(spec.requests) + " requests in all)" : "");
  }
  if (spec.type == FaultType::kCredentialRotation) {
    return std::string("a rotated password for the role of ") + spec.credentials_secret +
           (spec.terminate_sessions ? " (its sessions ended)" : "");
  }
  if (spec.HangsDatabase()) {
    return "a hung database: pg_catalog.pg_authid locked (logins wait), the role's sessions "
           "ended";
  }
  if (spec.type == FaultType::kDatabaseDown) {
    return "StatefulSet " + spec.db_statefulset + " stopped (0 replicas)";
  }
  if (spec.type == FaultType::kNetworkPartition) {
    return "Service " + spec.partition_service + " partitioned (its selector matches no pod)" +
           (spec.terminate_sessions ? ", the role's sessions ended" : "");
  }
  std::string mode = spec.mode == LeakMode::kIdle                ? "idle"
                     : spec.mode == LeakMode::kIdleInTransaction ? "idle in transaction"
                                                                 : "locking " + spec.table;
  return std::to_string(spec.connections) + " connections " + mode;
}

class Builder {
 public:
  explicit Builder(const ChaosObserved& o) : o_(o) {
    d_.status = o.status;
    d_.status.observed_generation = o.generation;
  }

  // Messages are cut to kMaxStatusMessage: a database's error text is the outside's to
  // choose, the object's size is ours to bound.
  void Phase(controller::Phase p, std::string reason, const std::string& message) {
    d_.status.phase = p;
    d_.status.reason = std::move(reason);
    d_.status.message = Truncated(message, kMaxStatusMessage);
  }
  void Cond(const char* type, const char* status, std::string reason, const std::string& message) {
    SetCondition(&d_.status.conditions,
                 Condition{type, status, std::move(reason), Truncated(message, kMaxStatusMessage),
                           std::nullopt, o_.generation},
                 o_.now);
  }
  void Event(const char* type, std::string reason, std::string message) {
    d_.events.push_back({type, std::move(reason), std::move(message)});
  }
  void Held(int n) {
    if (o_.spec.spec && o_.spec.spec->type == FaultType::kTrafficSurge) {
      d_.status.surge_clients = n;
    } else if (o_.spec.spec && o_.spec.spec->type == FaultType::kCredentialRotation) {
      d_.status.password_rotated = n > 0;
    } else if (o_.spec.spec && o_.spec.spec->StopsDatabase()) {
      d_.status.database_stopped = n > 0;
    } else if (o_.spec.spec && o_.spec.spec->type == FaultType::kNetworkPartition) {
      d_.status.service_partitioned = n > 0;
    } else {
      d_.status.leaked_connections = n;
    }
  }
  ChaosDecision& d() { return d_; }

 private:
  const ChaosObserved& o_;
  ChaosDecision d_;
};

int Alive(const ChaosObserved& o) { return std::max(o.held, o.db_sessions.value_or(0)); }

// Where an experiment that is rolling back for `reason` ends.
Phase FinalPhaseFor(const std::string& reason) {
  if (reason == reasons::kAborted || reason == reasons::kKillSwitch ||
      reason == reasons::kStopCondition) {
    return Phase::kAborted;
  }
  if (reason == reasons::kInjectionFailed) return Phase::kFailed;
  return Phase::kCompleted;
}

// Start rolling back (status RollingBack first), or finish at once when nothing is held.
void Finish(const ChaosObserved& o, Builder* b, const std::string& reason,
            const std::string& message) {
  if (Alive(o) > 0) {
    b->Phase(Phase::kRollingBack, reason, message);
    b->d().effect = ChaosEffect::kRollback;
    return;
  }
  const controller::Phase final_phase = FinalPhaseFor(reason);
  b->Phase(final_phase, reason, message);
  b->d().status.finished_at = TruncateToSeconds(o.now);
  b->Held(0);
  b->Cond(reasons::kFaultActive, "False", reasons::kRolledBack, "fault rolled back: " + message);
  b->Event(final_phase == Phase::kFailed ? "Warning" : "Normal",
           final_phase == Phase::kCompleted ? reasons::kRolledBack : reason, message);
}

void Reject(Builder* b, const char* reason, const std::string& message) {
  b->Phase(Phase::kRejected, reason, message);
  b->Cond(reasons::kAccepted, "False", reason, message);
  b->Cond(reasons::kFaultActive, "False", reasons::kNotInjected, "nothing was injected");
  b->Event("Warning", reason, message);
}

std::optional<milliseconds> UntilEnd(const ChaosObserved& o) {
  if (!o.status.ends_at) return std::nullopt;
  const auto left = duration_cast<milliseconds>(*o.status.ends_at - o.now);
  return std::max(left, milliseconds(0)) + milliseconds(50);
}

std::string By(const ChaosSpec& spec) {
  return spec.aborted_by.empty() ? "" : " by " + spec.aborted_by;
}

void DecidePending(const ChaosObserved& o, Builder* b) {
  const ChaosSpec& spec = *o.spec.spec;
  if (spec.abort) {
    Finish(o, b, reasons::kAborted, "aborted before injection" + By(spec));
    return;
  }
  if (!o.kill_switch.empty()) {
    Reject(b, reasons::kKillSwitch,
           "the chaos kill switch is on (" + o.kill_switch +
               "): no experiment starts until the annotation is removed");
    return;
  }
  if (o.namespace_opted_in.has_value() && !*o.namespace_opted_in) {
    Reject(b, reasons::kNamespaceNotOptedIn,
           "namespace " + o.ns + " does not carry the label " + kChaosOptInLabel + "=" +
               kChaosOptInValue);
    return;
  }
  if (o.target_exists.has_value() && !*o.target_exists) {
    Reject(b, reasons::kTargetNotFound,
           "spec.target.deployment: Deployment " + o.ns + "/" + spec.target_deployment +
               " not found; an experiment names the target it breaks");
    return;
  }
  if (spec.type == FaultType::kTrafficSurge &&
      o.surge_clients_in_use + spec.concurrency > o.max_surge_clients) {
    Reject(b, reasons::kSurgeCapExceeded,
           "concurrency " + std::to_string(spec.concurrency) + " with the " +
               std::to_string(o.surge_clients_in_use) +
               " surge clients already running exceeds the controller's cap of " +
               std::to_string(o.max_surge_clients) + " (--max-surge-clients)");
    return;
  }
  if (spec.type == FaultType::kConnectionLeak &&
      spec.connections > o.max_connections_per_experiment) {
    Reject(b, reasons::kConnectionCapExceeded,
           "connections " + std::to_string(spec.connections) + " exceeds the controller's cap of " +
               std::to_string(o.max_connections_per_experiment) +
               " (--max-connections-per-experiment)");
    return;
  }
  if (!o.active_on_same_target.empty()) {
    Reject(b, reasons::kTargetBusy,
           "experiment " + o.active_on_same_target.front() + " is already active on deployment " +
               spec.target_deployment + "; one active experiment per target");
    return;
  }
  if (spec.StopsDatabase() && o.database_replicas.has_value() && *o.database_replicas < 1) {
    Reject(b, reasons::kDatabaseNotRunning,
           "StatefulSet " + o.ns + "/" + spec.db_statefulset +
               " has 0 replicas already: there is nothing to stop, and nothing to restore");
    return;
  }
  if (!o.resolve_error.empty()) {
    b->Phase(Phase::kFailed, reasons::kResolutionFailed, o.resolve_error);
    b->Cond(reasons::kAccepted, "False", reasons::kResolutionFailed, o.resolve_error);
    b->Cond(reasons::kFaultActive, "False", reasons::kNotInjected, "nothing was injected");
    b->Event("Warning", reasons::kResolutionFailed, o.resolve_error);
    return;
  }
  if (spec.type == FaultType::kConnectionLeak && o.capacity) {
    const DbCapacity& c = *o.capacity;
    const int spare = c.max_connections - c.reserved - c.in_use - o.capacity_margin;
    if (spec.connections > spare) {
      Reject(b, reasons::kDatabaseCapacity,
             "connections " + std::to_string(spec.connections) +
                 " exceed what the database can spare: max_connections " +
                 std::to_string(c.max_connections) + " - superuser_reserved_connections " +
                 std::to_string(c.reserved) + " - in use " + std::to_string(c.in_use) +
                 " - margin " + std::to_string(o.capacity_margin) + " = " +
                 std::to_string(std::max(spare, 0)));
      return;
    }
  }
  // Accepted: the finalizer first, then status Injecting with endsAt, then the fault.
  b->d().add_finalizer = !o.has_finalizer;
  // Milliseconds: a Remediation measures its detection time from here.
  const WallTime start = TruncateToMillis(o.now);
  b->d().status.started_at = start;
  b->d().status.ends_at = start + spec.duration;  // to the millisecond, like startedAt
  b->d().status.severed_at.reset();
  b->d().status.finished_at.reset();
  b->d().status.application_name = ApplicationName(o.ns, o.name);
  b->d().status.database_endpoint = o.database_endpoint;
  if (spec.type == FaultType::kCredentialRotation) {
    // Intent first: the role whose password is about to change, before it changes.
    b->d().status.rotated_role = o.database_role;
    b->d().status.password_rotated = false;
  }
  if (spec.StopsDatabase()) {
    // Intent first: the replicas to restore, before the StatefulSet is scaled to 0.
    b->d().status.restore_replicas = o.database_replicas.value_or(1);
    b->d().status.database_stopped = false;
  }
  if (spec.type == FaultType::kNetworkPartition) {
    // Intent first: which Service's selector is about to change (the rollback's key is
    // the experiment's UID in it).
    b->d().status.partitioned_service = spec.partition_service;
    b->d().status.service_partitioned = false;
  }
  b->Phase(Phase::kInjecting, reasons::kInjecting, "injecting " + FaultDescription(spec));
  b->Cond(reasons::kAccepted, "True", reasons::kGuardrailsPassed, "all guardrails passed");
  b->Cond(reasons::kFaultActive, "False", reasons::kInjecting,
          "injecting " + FaultDescription(spec));
  b->d().effect = ChaosEffect::kInject;
}

void DecideRunning(const ChaosObserved& o, Builder* b) {
  const ChaosSpec& spec = *o.spec.spec;
  const int want = spec.Want();
  const bool injecting = o.status.phase == Phase::kInjecting;
  if (spec.abort) {
    Finish(o, b, reasons::kAborted, "aborted (spec.abort" + By(spec) + ")");
    return;
  }
  if (!o.kill_switch.empty()) {
    Finish(o, b, reasons::kKillSwitch, "stopped by the chaos kill switch (" + o.kill_switch + ")");
    return;
  }
  if (!o.inject_error.empty()) {
    Finish(o, b, reasons::kInjectionFailed, o.inject_error);
    return;
  }
  if (o.status.ends_at && o.now >= *o.status.ends_at) {
    Finish(o, b, reasons::kExpired, "duration " + FormatDuration(spec.duration) + " elapsed");
    return;
  }
  // Stop conditions: the experiment has done harm enough, or a person is needed.
  std::optional<milliseconds> stop_check;
  if (!o.needs_human.empty()) {
    Finish(o, b, reasons::kStopCondition, "stop condition: " + o.needs_human);
    return;
  }
  if (!spec.stop_query.empty()) {
    if (o.stop_value && *o.stop_value > spec.stop_above) {
      const WallTime since = o.status.stop_condition_since.value_or(TruncateToMillis(o.now));
      if (o.now - since >= spec.stop_for) {
        Finish(o, b, reasons::kStopCondition,
               "stop condition: " + spec.stop_query + " = " + FormatFixed(*o.stop_value, 3) +
                   " > " + FormatFixed(spec.stop_above, 3) +
                   (spec.stop_for.count() > 0 ? " for " + FormatDuration(spec.stop_for) : ""));
        return;
      }
      b->d().status.stop_condition_since = since;
      stop_check = duration_cast<milliseconds>(since + spec.stop_for - o.now);
    } else if (o.stop_value) {  // below: start again; no answer: no change
      b->d().status.stop_condition_since.reset();
    }
  }
  if (o.held >= want) {
    // All in place; report what PostgreSQL sees, and wake up at endsAt.
    b->Held(spec.type == FaultType::kConnectionLeak ? o.db_sessions.value_or(o.held) : o.held);
    const std::string what = "holding " + FaultDescription(spec);
    if (injecting || o.status.phase != Phase::kActive) {
      b->Event("Normal", reasons::kInjected, what + " until " + FormatTime(*o.status.ends_at));
    }
    b->Phase(Phase::kActive, reasons::kInjected, what);
    b->Cond(reasons::kFaultActive, "True", reasons::kInjected, what);
    b->d().requeue_after = UntilEnd(o);
    if (spec.HasStopConditions()) {
      // Looked at every 2 s while they may fire (sooner when one is due).
      milliseconds next = std::min(stop_check.value_or(milliseconds(2000)), milliseconds(2000));
      next = std::max(next, milliseconds(100));
      if (!b->d().requeue_after || next < *b->d().requeue_after) b->d().requeue_after = next;
    }
    return;
  }
  if (injecting) {
    b->d().effect = ChaosEffect::kInject;  // first injection, or resuming after a restart
    return;
  }
  // Active but fewer held than wanted: something severed the fault (a terminated backend,
  // a database restart, or this controller restarted and PostgreSQL dropped the sessions).
  const int lost = want - o.held;
  b->d().status.severed_at = TruncateToSeconds(o.now);
  const std::string msg =
      spec.type == FaultType::kCredentialRotation
          ? "the role's password was set back by someone else"
      : spec.StopsDatabase()
          ? "StatefulSet " + spec.db_statefulset + " was scaled up by someone else"
      : spec.type == FaultType::kNetworkPartition
          ? "Service " + spec.partition_service + "'s selector was set back by someone else"
      : spec.HangsDatabase()
          ? "the session holding pg_authid ended (terminated, or the database restarted)"
          : std::to_string(lost) + " of " + std::to_string(want) +
                (spec.type == FaultType::kConnectionLeak ? " sessions" : " clients") + " severed";
  b->Event("Warning", reasons::kSevered, msg);
  if (spec.reinject == Reinject::kOnSever) {
    b->Phase(Phase::kInjecting, reasons::kReinjecting, msg + "; reinjecting (reinject: OnSever)");
    b->Cond(reasons::kFaultActive, "False", reasons::kSevered, msg);
    b->d().effect = ChaosEffect::kInject;
    return;
  }
  Finish(o, b, reasons::kSevered, msg + "; not reinjected (reinject: Never)");
}

}  // namespace

ChaosDecision DecideChaos(const ChaosObserved& o) {
  Builder b(o);
  const Phase phase = o.status.phase;

  if (o.deleting) {
    if (!o.has_finalizer) return b.d();
    if (Alive(o) > 0) {
      if (!IsTerminal(phase)) b.Phase(Phase::kRollingBack, reasons::kDeleted, "deleted");
      b.d().effect = ChaosEffect::kRollback;
    } else {
      b.d().effect = ChaosEffect::kRemoveFinalizer;
    }
    return b.d();
  }

  if (o.shutting_down) {
    if (!HoldsTarget(phase)) return b.d();
    if (o.held > 0) {
      b.d().effect = ChaosEffect::kRollback;
      return b.d();
    }
    const std::string msg = "the controller shut down and rolled the fault back";
    b.Held(0);
    b.Cond(reasons::kFaultActive, "False", reasons::kControllerShutdown, msg);
    if (o.spec.spec && o.spec.spec->reinject == Reinject::kOnSever &&
        phase != Phase::kRollingBack) {
      b.d().status.severed_at = TruncateToSeconds(o.now);
      b.Phase(Phase::kActive, reasons::kControllerShutdown,
              msg + "; the next controller reinjects (reinject: OnSever)");
    } else {
      b.Phase(phase == Phase::kRollingBack ? FinalPhaseFor(o.status.reason) : Phase::kCompleted,
              phase == Phase::kRollingBack ? o.status.reason : reasons::kControllerShutdown, msg);
      b.d().status.finished_at = TruncateToSeconds(o.now);
    }
    b.Event("Normal", reasons::kControllerShutdown, msg);
    return b.d();
  }

  if (IsTerminal(phase)) {
    // Nothing should be alive; if something is (a crash between writes), close it.
    if (phase != Phase::kRejected && Alive(o) > 0) {
      b.d().effect = ChaosEffect::kRollback;
    } else if (o.has_finalizer) {
      b.d().effect = ChaosEffect::kRemoveFinalizer;
    }
    return b.d();
  }

  if (!o.spec.spec) {
    if (Alive(o) > 0) {
      b.Phase(Phase::kRollingBack, reasons::kInvalidSpec, o.spec.error);
      b.d().effect = ChaosEffect::kRollback;
      return b.d();
    }
    b.Phase(Phase::kFailed, reasons::kInvalidSpec, o.spec.error);
    b.Cond(reasons::kAccepted, "False", reasons::kInvalidSpec, o.spec.error);
    b.Event("Warning", reasons::kInvalidSpec, o.spec.error);
    return b.d();
  }

  switch (phase) {
    case Phase::kNone:
    case Phase::kPending:
      DecidePending(o, &b);
      break;
    case Phase::kInjecting:
    case Phase::kActive:
      DecideRunning(o, &b);
      break;
    case Phase::kRollingBack:
      Finish(o, &b, o.status.reason, o.status.message);
      break;
    default:
      break;
  }
  return b.d();
}

}  // namespace poolguard::controller
