#include "remediation/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "remediation/notify.h"
#include "remediation/ownership.h"
#include "remediation/signals.h"

namespace poolguard::controller {
namespace {

using std::chrono::milliseconds;

// After an effect ran, look again soon: a rollout's first progress, or the end of a
// terminated lock holder, shows within a fraction of a second.
constexpr milliseconds kAfterEffect{250};

std::string Annotation(const Json& object, const std::string& name) {
  const Json* meta = Field(object, "metadata");
  const Json* annotations = meta != nullptr ? Field(*meta, "annotations") : nullptr;
  return annotations != nullptr ? StringField(*annotations, name) : "";
}

bool IncidentOpenPhase(RemediationPhase p) {
  return p != RemediationPhase::kNone && p != RemediationPhase::kWatching &&
         p != RemediationPhase::kResolved;
}

const ActionRecord* FindRecord(const Incident& in, const ActionRecord& r) {
  for (const auto& a : in.actions) {
    if (a.key == r.key && a.action == r.action) return &a;
  }
  return nullptr;
}

}  // namespace

RemediationReconciler::RemediationReconciler(ObjectStore* store, Collector* collector,
                                             RemediationCluster* cluster, ClusterReader* reader,
                                             PgAdmin* db, Events* events,
                                             RemediationMetrics* metrics,
                                             std::shared_ptr<kube::Clock> clock)
    : store_(store),
      collector_(collector),
      cluster_(cluster),
      reader_(reader),
      db_(db),
      events_(events),
      metrics_(metrics),
      clock_(std::move(clock)) {}

kube::Json RemediationReconciler::Latest(const std::string& key, kube::Json cached) {
  std::lock_guard lock(written_mutex_);
  auto it = written_.find(key);
  if (it == written_.end()) return cached;
  if (kube::ResourceVersionOf(cached) == it->second.replaced) return it->second.object;
  written_.erase(it);  // the cache has caught up, or someone else wrote since: it is newer
  return cached;
}

void RemediationReconciler::Wrote(const std::string& key, const std::string& replaced,
                                  const kube::Json& object) {
  std::lock_guard lock(written_mutex_);
  written_[key] = Written{replaced, object};
}

ReconcileResult RemediationReconciler::Reconcile(const std::string& key) {
  auto cached = store_->Get(key);
  if (!cached) {
    {
      std::lock_guard lock(written_mutex_);
      written_.erase(key);
    }
    collector_->Forget(key);  // deleted: nothing to roll back, nothing to keep
    return {};
  }
  Json object = Latest(key, *cached);
  if (Field(object["metadata"], "deletionTimestamp") != nullptr) {
    collector_->Forget(key);
    return {};
  }
  const std::string ns = kube::NamespaceOf(object);
  const WallTime now = TruncateToMillis(clock_->WallNow());
  const RemediationStatus current = ParseRemediationStatus(object);
  const int64_t generation = IntField(object["metadata"], "generation").value_or(0);

  // Writes the step's status when it differs from the stored one; true if it wrote.
  const auto write_status = [&](const Step& s) {
    if (ToJson(s.status).serialize() == ToJson(current).serialize()) return false;
    Json updated = object;
    updated["status"] = ToJson(s.status);
    const std::string replaced = kube::ResourceVersionOf(object);
    object = store_->UpdateStatus(updated);
    Wrote(key, replaced, object);
    return true;
  };

  Step step;
  const RemediationSpecParse parsed = ParseRemediationSpec(object);
  const std::optional<TargetClaim> owner =
      parsed.spec && !parsed.spec->safety.dry_run
          ? TargetOwner(key, object, *parsed.spec,
                        store_->ByIndex(kTargetIndex, kube::NamespaceOf(object) + "/" +
                                                          parsed.spec->target_deployment))
          : std::nullopt;
  if (owner) {
    collector_->Forget(key);  // baselines and counters would be stale when it takes over
    step = TargetClaimed(current, owner->key, parsed.spec->target_deployment, generation, now);
    if (write_status(step)) spdlog::warn("{}: {}", key, step.status.message);
  } else if (!parsed.spec) {
    step = InvalidSpec(current, parsed.error, generation, now);
    step.requeue_after.reset();  // nothing to do until the spec changes
    if (write_status(step)) spdlog::warn("{}: invalid spec: {}", key, parsed.error);
  } else {
    const RemediationSpec& spec = *parsed.spec;
    CollectInput in;
    in.key = key;
    in.ns = ns;
    in.generation = generation;
    in.approval = Annotation(object, kApproveAnnotation);
    in.rejection = Annotation(object, kRejectAnnotation);
    in.decided_by = Annotation(object, kDecidedByAnnotation);
    in.action_request = Annotation(object, kRequestActionAnnotation);
    // Just fixed after phase Invalid: gather for the phase the loop continues in.
    const RemediationPhase phase = PhaseOnceValid(current);
    in.deep = IncidentOpenPhase(phase) || current.detection.health != Health::kHealthy ||
              !current.detection.failing.empty();
    in.verifying = phase == RemediationPhase::kVerifying;
    auto latest_applied = [&](const Incident& incident) {
      for (const auto& a : incident.actions) {
        if (a.applied_at && (!in.fresh_since || *a.applied_at > *in.fresh_since)) {
          in.fresh_since = a.applied_at;
        }
      }
    };
    if (current.incident) latest_applied(*current.incident);
    if (!current.history.empty()) latest_applied(current.history.front());
    if (in.verifying && current.incident) {
      for (const auto& a : current.incident->actions) {
        // The rates over the last `window`, and never from before the action: requests
        // that queued behind the fault complete just after the fix, with the outage's
        // latency and errors; a window from the action alone would carry them for as
        // long as the pods' counters are kept.
        if (a.result == ActionResult::kVerifying && a.applied_at) {
          in.since = std::max(*a.applied_at, now - spec.verification.window);
        }
      }
    }
    const auto t0 = clock_->Now();
    Observations o = collector_->Collect(in, spec, now);
    spdlog::debug("{}: collected in {} ms", key,
                  std::chrono::duration_cast<milliseconds>(clock_->Now() - t0).count());
    o.detection = Detect(spec.detection, current.detection, o.signals, now);
    if (o.detection.health == Health::kHealthy && !IncidentOpenPhase(phase) &&
        o.detection.failing.empty()) {
      collector_->KeepBaseline(key, o, now);
    }
    step = Next(spec, current, o, now);

    // Write the status first: an action's intent is on the server before its effect runs.
    if (write_status(step)) {
      if (step.status.phase != current.phase) {
        spdlog::info("{}: {} -> {}: {}", key, RemediationPhaseName(current.phase),
                     RemediationPhaseName(step.status.phase), step.status.message);
      }
      Account(current, step.status);
      if (notifier_ != nullptr) {
        if (auto n = RemediationNotification(ns, kube::NameOf(object), spec.target_deployment,
                                             current, step.status, now)) {
          notifier_->Notify(*n, spec.webhook);
        }
      }
    }
    if (step.effect.kind != EffectKind::kNone) {
      try {
        RunEffect(ns, spec, step.effect);
        step.requeue_after = std::min(step.requeue_after.value_or(kAfterEffect), kAfterEffect);
      } catch (const std::exception& e) {
        // The record stays InProgress: the next tick applies it again with the same key,
        // and the rung fails at verification.timeout if it never lands.
        spdlog::warn("{}: {} failed: {}", key, EffectKindName(step.effect.kind), e.what());
        if (events_ != nullptr) {
          events_->Record(object, "Warning", "ActionError",
                          std::string(EffectKindName(step.effect.kind)) + ": " + e.what());
        }
        step.requeue_after = spec.detection.interval;
      }
    }
  }
  if (events_ != nullptr) {
    for (const auto& e : step.events) events_->Record(object, e.type, e.reason, e.message);
  }
  spdlog::debug("{}: tick {} ({}) in {} ms, requeue {} ms", key,
                RemediationPhaseName(step.status.phase), StepKindName(step.kind),
                std::chrono::duration_cast<milliseconds>(clock_->WallNow() - now).count(),
                step.requeue_after ? step.requeue_after->count() : -1);
  return {step.requeue_after};
}

void RemediationReconciler::RunEffect(const std::string& ns, const RemediationSpec& spec,
                                      const Effect& effect) {
  switch (effect.kind) {
    case EffectKind::kNone:
      return;
    case EffectKind::kRestartDeployment:
      cluster_->Restart(ns, "Deployment", spec.target_deployment, effect.key);
      return;
    case EffectKind::kRestartDatabase:
      cluster_->Restart(ns, "StatefulSet", spec.db_statefulset, effect.key);
      return;
    case EffectKind::kSetPoolSize:
      if (!effect.pool_size) throw std::runtime_error("no pool size to set");
      cluster_->SetEnv(ns, spec.target_deployment, effect.container, effect.env, *effect.pool_size);
      return;
    case EffectKind::kTerminateSessions: {
      if (effect.pids.empty()) return;
      DbTarget db = reader_->ReadCredentials(ns, spec.credentials_secret);
      db.endpoint = reader_->ResolveService(ns, spec.db_service, spec.db_port).front();
      // Never the target's own sessions (by role and name, or by its pods' addresses) ...
      const SessionFilter filter = TargetSessions(
          spec, db.user, cluster_->TargetEndpoints(ns, spec.target_service, spec.target_port));
      // ... and only within the scope the spec allows.
      TerminateScope scope;
      if (spec.terminate_scope != BlockerScope::kServer) scope.database = db.database;
      if (spec.terminate_scope == BlockerScope::kRole) scope.role = db.user;
      const auto done = db_->TerminateBlockers(db, effect.pids, filter, scope);
      spdlog::info("{}/{}: terminated {} of {} blocking sessions", ns, spec.target_deployment,
                   done.size(), effect.pids.size());
      return;
    }
  }
}

void RemediationReconciler::Account(const RemediationStatus& before,
                                    const RemediationStatus& after) {
  if (metrics_ == nullptr || !after.incident) return;
  const Incident& in = *after.incident;
  const bool new_incident = !before.incident || before.incident->id != in.id;
  if (new_incident && in.detection_seconds) metrics_->IncidentOpened(*in.detection_seconds);
  const bool had_recovery =
      !new_incident && before.incident && before.incident->recovery_seconds.has_value();
  if (in.recovery_seconds && !had_recovery) metrics_->IncidentResolved(*in.recovery_seconds);
  for (const auto& r : in.actions) {
    const bool final = r.result == ActionResult::kVerified ||
                       r.result == ActionResult::kVerificationFailed ||
                       r.result == ActionResult::kFailed;
    if (!final) continue;
    const ActionRecord* prev = new_incident ? nullptr : FindRecord(*before.incident, r);
    if (prev != nullptr && prev->result == r.result) continue;
    metrics_->ActionFinished(std::string(ActionName(r.action)),
                             std::string(ActionResultName(r.result)));
  }
}

}  // namespace poolguard::controller
