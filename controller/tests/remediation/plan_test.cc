#include "remediation/plan.h"

#include <gtest/gtest.h>

#include <functional>

#include "remediation/ownership.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using A = RemediationAction;

const WallTime kT0 = std::chrono::system_clock::from_time_t(1'800'000'000);

RemediationSpec Spec(Strategy strategy = Strategy::kLadder) {
  RemediationSpec s;
  s.target_deployment = "api";
  s.target_service = "api";
  s.db_service = "db";
  s.db_statefulset = "db";
  s.credentials_secret = "creds";
  s.strategy = strategy;
  s.actions = {A::kRestartDeployment, A::kRestartDatabase, A::kIncreasePoolSize,
               A::kTerminateBlockingSessions};
  s.safety.cooldown = 5s;
  return s;
}

Signal Health(const std::string& pod, Outcome o, WallTime at) {
  return {"health/" + pod, o, std::nullopt, at, ""};
}

RolloutObservation Rollout(const std::string& restarted_at, int updated, int available) {
  RolloutObservation r;
  r.generation = 3;
  r.observed_generation = 3;
  r.replicas = 2;
  r.status_replicas = 2;
  r.updated_replicas = updated;
  r.available_replicas = available;
  r.restarted_at = restarted_at;
  return r;
}

DbErrorCounts Logs(std::map<std::string, int> m) {
  DbErrorCounts c;
  c.by_kind = std::move(m);
  return c;
}

// What the collectors report while a LockTable experiment holds `items`.
Observations LockedObs(WallTime now) {
  Observations o;
  o.generation = 2;
  o.detection = {Health::kDegraded,
                 kT0 - 3s,
                 std::nullopt,
                 {"health/api-1", "health/api-2"},
                 "failing for at least 3s: health/api-1, health/api-2"};
  o.signals = {Health("api-1", Outcome::kFail, now),
               Health("api-2", Outcome::kFail, now),
               {"poolSaturation/api-1", Outcome::kFail, 12, now, "5 of 5 checked out, 12 waiting"}};
  o.db_pods = std::vector<PodState>{{"db-0", true, ""}};
  o.tcp = {Outcome::kPass, "ok"};
  o.login = LoginResult::kOk;
  o.logs = Logs({{"pool_timeout", 20}});
  o.pool_timeouts = 20;
  o.auth_errors = 0;
  o.capacity = DbCapacity{100, 3, 30};
  SessionRow holder;
  holder.pid = 4242;
  holder.application_name = "poolguard-chaos/ns/lock";
  holder.state = "idle in transaction";
  holder.state_seconds = 10;
  holder.lock_mode = "AccessExclusiveLock";
  holder.lock_relation = "items";
  SessionRow waiter;
  waiter.pid = 101;
  waiter.state = "active";
  waiter.blocked_by = {4242};
  waiter.is_target = true;
  o.sessions = std::vector<SessionRow>{holder, waiter};
  o.pool_size = 5;
  o.target_replicas = 2;
  o.deployment = Rollout("", 2, 2);
  o.database = Rollout("", 1, 1);
  o.database->replicas = o.database->status_replicas = 1;
  o.baseline = {0.0, 0.01, 20};
  o.error_ratio = 0.9;
  o.p99_latency_seconds = 3.0;
  o.chaos_experiment = "ns/lock";
  o.chaos_started_at = kT0 - 5s + 500ms;
  return o;
}

// The same target once healthy again.
Observations HealthyObs(WallTime now) {
  Observations o = LockedObs(now);
  o.detection = {Health::kHealthy, std::nullopt, kT0, {}, "signals passing"};
  o.signals = {Health("api-1", Outcome::kPass, now),
               Health("api-2", Outcome::kPass, now),
               {"poolSaturation/api-1", Outcome::kPass, 0, now, "1 of 5 checked out, 0 waiting"}};
  o.logs = Logs({});
  o.pool_timeouts = 0;
  o.sessions = std::vector<SessionRow>{};
  o.error_ratio = 0.0;
  o.p99_latency_seconds = 0.012;
  o.test_request = {Outcome::kPass, "GET /items 200"};
  return o;
}

Incident Opened(const std::string& id, WallTime detected) {
  Incident in;
  in.id = id;
  in.detected_at = detected;
  return in;
}

// Runs Next and then round-trips the status through JSON, as the API server would.
Step Tick(const RemediationSpec& spec, const RemediationStatus& st, const Observations& o,
          WallTime now) {
  Step step = Next(spec, st, o, now);
  Json object = Json::object();
  object["status"] = ToJson(step.status);
  step.status = ParseRemediationStatus(Json::parse(object.serialize()));
  return step;
}

const ActionRecord& Last(const Step& s) { return s.status.incident->actions.back(); }

bool HasEvent(const Step& s, const std::string& reason) {
  return std::any_of(s.events.begin(), s.events.end(),
                     [&](const EventNote& e) { return e.reason == reason; });
}

TEST(Plan, FirstTickWatchesAndSetsConditions) {
  const Step s = Tick(Spec(), {}, HealthyObs(kT0), kT0);
  EXPECT_EQ(s.kind, StepKind::kObserve);
  EXPECT_EQ(s.status.phase, RemediationPhase::kWatching);
  EXPECT_EQ(s.status.observed_generation, 2);
  EXPECT_EQ(FindCondition(s.status.conditions, rem::kHealthy)->status, "True");
  EXPECT_EQ(FindCondition(s.status.conditions, rem::kNeedsHuman)->status, "False");
  EXPECT_EQ(s.requeue_after, 1s);
  // Level-based: the same inputs again change nothing.
  EXPECT_EQ(Tick(Spec(), s.status, HealthyObs(kT0), kT0).status, s.status);
}

// status.sessions says what matched; its counts follow the database at most once a minute
// (a busy server changes them every tick, each change a status write), at once when the
// match changes or the target's sessions appear or vanish.
TEST(Plan, SessionCountsAreKeptForAMinuteUnlessTheMatchChanges) {
  auto seen = [](int target, int others, const std::string& matched_by = R"(role "app")") {
    Observations o = HealthyObs(kT0);
    o.sessions_matched_by = matched_by;
    o.sessions = std::vector<SessionRow>{};
    for (int i = 0; i < target + others; ++i) {
      SessionRow r;
      r.pid = 100 + i;
      r.state = "idle";
      r.is_target = i < target;
      o.sessions->push_back(r);
    }
    return o;
  };
  const Step first = Tick(Spec(), {}, seen(4, 2), kT0);
  ASSERT_TRUE(first.status.sessions);
  EXPECT_EQ(*first.status.sessions, (SessionsStatus{R"(role "app")", 4, 2, kT0}));
  EXPECT_EQ(Tick(Spec(), first.status, seen(5, 3), kT0 + 30s).status.sessions,
            first.status.sessions);
  EXPECT_EQ(Tick(Spec(), first.status, seen(5, 3), kT0 + 61s).status.sessions,
            (SessionsStatus{R"(role "app")", 5, 3, kT0 + 61s}));
  EXPECT_EQ(Tick(Spec(), first.status, seen(0, 3), kT0 + 1s).status.sessions->target, 0);
  EXPECT_EQ(Tick(Spec(), first.status, seen(4, 2, R"(role "shop")"), kT0 + 1s)
                .status.sessions->matched_by,
            R"(role "shop")");
}

// After a restart, new pods answer /health until their first requests queue behind the
// same lock: while the database still shows the target's sessions waiting (dbSessions
// Fail), the rung is not verified, whatever /health says.
TEST(Plan, VerificationWaitsWhileTheDatabaseShowsTheTargetStillWaiting) {
  RemediationSpec spec = Spec();
  spec.actions = {A::kRestartDeployment};
  WallTime now = kT0;
  Step s = Tick(spec, {}, HealthyObs(now), now);
  s = Tick(spec, s.status, LockedObs(now), now);  // intent
  now += 100ms;
  s = Tick(spec, s.status, LockedObs(now), now);  // apply
  const std::string key = Last(s).key;
  now += 1s;
  Observations o = HealthyObs(now);
  o.deployment = Rollout(key, 2, 2);
  o.signals.push_back({signal::kDbSessions, Outcome::kFail, 2.5, now,
                       "2 target sessions (2 active, 0 idle in transaction): 2 wait on a lock"});
  s = Tick(spec, s.status, o, now);
  ASSERT_EQ(s.status.phase, RemediationPhase::kVerifying);
  for (int i = 0; i < 12; ++i) {
    now += 1s;
    o.signals.back().observed_at = now;
    s = Tick(spec, s.status, o, now);
    if (s.status.phase != RemediationPhase::kVerifying) break;
  }
  ASSERT_NE(s.status.phase, RemediationPhase::kResolved) << s.status.message;
  ASSERT_EQ(s.status.incident->actions[0].result, ActionResult::kVerificationFailed)
      << s.status.message;
  EXPECT_NE(s.status.incident->actions[0].verification.find(
                "the database shows the target still waiting"),
            std::string::npos)
      << s.status.incident->actions[0].verification;
}

// Issue 7, test 1: LockTable + Ladder. Restarting the api does not heal it (the lock holder
// remains), restarting the database does; the timeline says so.
TEST(Plan, LadderUnderALockHolderHealsAtTheDatabaseRung) {
  const RemediationSpec spec = Spec();
  WallTime now = kT0;
  Step s = Tick(spec, {}, HealthyObs(now), now);

  // One tick: detected, diagnosed from the same observations (the database was read once
  // the bad run began), and rung 1's intent recorded — nothing done yet.
  s = Tick(spec, s.status, LockedObs(now), now);
  ASSERT_EQ(s.status.phase, RemediationPhase::kRemediating);
  ASSERT_TRUE(s.status.incident);
  const Incident& in = *s.status.incident;
  EXPECT_EQ(in.id, "20270115T080000Z");
  EXPECT_EQ(in.chaos_experiment, "ns/lock");
  EXPECT_DOUBLE_EQ(*in.detection_seconds, 4.5);  // from the experiment's start
  EXPECT_EQ(in.signals.health, "degraded: 2/2 pods failing /health");
  EXPECT_TRUE(in.signals.pool_saturated);
  EXPECT_TRUE(HasEvent(s, rem::kDegraded));
  EXPECT_TRUE(HasEvent(s, rem::kDiagnosed));
  EXPECT_EQ(in.detected_at, now);
  EXPECT_EQ(in.diagnosis->conclusion, Conclusion::kLockContention);
  EXPECT_EQ(in.diagnosed_at, now);
  ASSERT_EQ(s.kind, StepKind::kRecordIntent);
  EXPECT_EQ(s.effect.kind, EffectKind::kNone);
  EXPECT_EQ(s.requeue_after, 0ms);
  EXPECT_EQ(Last(s).action, A::kRestartDeployment);
  EXPECT_EQ(Last(s).result, ActionResult::kInProgress);
  EXPECT_EQ(Last(s).rung, 1);
  const std::string key = Last(s).key;
  EXPECT_EQ(key, FormatTimeMs(now));

  now += 100ms;
  s = Tick(spec, s.status, LockedObs(now), now);  // apply, keyed by the intent
  ASSERT_EQ(s.kind, StepKind::kApply);
  EXPECT_EQ(s.effect, (Effect{EffectKind::kRestartDeployment, key, {}, "", "", {}}));

  now += 1s;
  Observations o = LockedObs(now);
  o.deployment = Rollout(key, 2, 2);
  s = Tick(spec, s.status, o, now);  // rollout done → verifying
  ASSERT_EQ(s.status.phase, RemediationPhase::kVerifying);
  EXPECT_EQ(Last(s).applied_at, now);
  const WallTime applied = now;

  for (int i = 0; i < 3; ++i) {  // still failing: the lock holder remains
    now += 1s;
    s = Tick(spec, s.status, o, now);
    EXPECT_EQ(s.status.phase, RemediationPhase::kVerifying) << i;
  }
  now = applied + 10s;
  s = Tick(spec, s.status, o, now);
  ASSERT_EQ(s.status.phase, RemediationPhase::kDiagnosing);
  EXPECT_EQ(s.status.incident->actions[0].result, ActionResult::kVerificationFailed);
  EXPECT_NE(s.status.incident->actions[0].verification.find("/health failed 4 checks in a row"),
            std::string::npos)
      << s.status.incident->actions[0].verification;
  EXPECT_TRUE(HasEvent(s, rem::kVerificationFailed));

  now += 100ms;
  s = Tick(spec, s.status, o, now);  // rung 2 → RestartDatabase
  ASSERT_EQ(s.kind, StepKind::kRecordIntent);
  EXPECT_EQ(Last(s).action, A::kRestartDatabase);
  EXPECT_EQ(Last(s).rung, 2);
  const std::string db_key = Last(s).key;

  now += 2s;
  Observations healed = HealthyObs(now);
  healed.deployment = Rollout(key, 2, 2);
  healed.database = Rollout(db_key, 1, 1);
  healed.database->replicas = healed.database->status_replicas = 1;
  s = Tick(spec, s.status, healed, now);
  ASSERT_EQ(s.status.phase, RemediationPhase::kVerifying);
  const WallTime db_applied = now;
  for (int i = 1; i <= 10; ++i) {
    now = db_applied + i * 1s;
    healed.signals = HealthyObs(now).signals;
    s = Tick(spec, s.status, healed, now);
    if (s.status.phase == RemediationPhase::kResolved) break;
  }
  ASSERT_EQ(s.status.phase, RemediationPhase::kResolved) << s.status.message;
  EXPECT_EQ(now, db_applied + 10s);  // the window, not just three good checks
  const Incident& done = *s.status.incident;
  EXPECT_EQ(done.outcome, rem::kResolved);
  EXPECT_EQ(done.actions[1].result, ActionResult::kVerified);
  EXPECT_NE(done.actions[1].verification.find("health ok 3/3; test request ok; error ratio 0.000 "
                                              "<= 0.010; p99 0.012s <= 0.050s"),
            std::string::npos)
      << done.actions[1].verification;
  EXPECT_DOUBLE_EQ(*done.recovery_seconds, 23.2);
  EXPECT_EQ(done.verdict, "detected in 4.5 s, healed at rung 2 (RestartDatabase) in 23.2 s");
  EXPECT_EQ(FindCondition(s.status.conditions, rem::kNeedsHuman)->status, "False");
}

// Issue 7, test 2: LockTable + DiagnosisDriven: terminate the blocker, no restart at all.
TEST(Plan, DiagnosisDrivenTerminatesTheBlocker) {
  const RemediationSpec spec = Spec(Strategy::kDiagnosisDriven);
  RemediationStatus st;
  st.phase = RemediationPhase::kDiagnosing;
  st.incident = Opened("i", kT0);
  Step s = Tick(spec, st, LockedObs(kT0), kT0);
  ASSERT_EQ(s.kind, StepKind::kRecordIntent);
  EXPECT_EQ(Last(s).action, A::kTerminateBlockingSessions);
  EXPECT_EQ(Last(s).pids, std::vector<int>{4242});
  EXPECT_EQ(Last(s).detail, "pg_terminate_backend on pid 4242");

  s = Tick(spec, s.status, LockedObs(kT0 + 50ms), kT0 + 50ms);
  ASSERT_EQ(s.kind, StepKind::kApply);
  EXPECT_EQ(s.effect.kind, EffectKind::kTerminateSessions);
  EXPECT_EQ(s.effect.pids, std::vector<int>{4242});

  s = Tick(spec, s.status, HealthyObs(kT0 + 100ms), kT0 + 100ms);  // the blocker is gone
  EXPECT_EQ(s.status.phase, RemediationPhase::kVerifying);
}

struct ChooseCase {
  std::string name;
  std::function<void(RemediationSpec&)> spec;
  std::function<void(RemediationStatus&)> status;
  std::function<void(Observations&)> observed;
  RemediationPhase phase;
  StepKind kind;
  std::optional<A> recorded;  // the action of the record added, if any
  std::string message;        // in status.message
};
void PrintTo(const ChooseCase& c, std::ostream* os) { *os << c.name; }
class ChooseTable : public ::testing::TestWithParam<ChooseCase> {};

RemediationStatus Diagnosing() {
  RemediationStatus st;
  st.phase = RemediationPhase::kDiagnosing;
  st.observed_generation = 2;
  st.incident = Opened("20270115T075955Z", kT0 - 5s);
  return st;
}

ActionRecord Record(A a, WallTime started, ActionResult result, int rung = 1) {
  ActionRecord r;
  r.action = a;
  r.rung = rung;
  r.started_at = started;
  r.finished_at = started + 10s;
  r.result = result;
  return r;
}

Incident Fixed(WallTime detected, WallTime resolved) {
  Incident in;
  in.id = IncidentId(detected);
  in.detected_at = detected;
  in.resolved_at = resolved;
  in.closed_at = resolved;
  in.outcome = rem::kResolved;
  in.actions = {Record(A::kRestartDeployment, detected + 1s, ActionResult::kVerified)};
  return in;
}

TEST_P(ChooseTable, AppliesStrategyAndSafety) {
  const auto& c = GetParam();
  RemediationSpec spec = Spec();
  if (c.spec) c.spec(spec);
  RemediationStatus st = Diagnosing();
  if (c.status) c.status(st);
  Observations o = LockedObs(kT0);
  if (c.observed) c.observed(o);
  const size_t before = st.incident ? st.incident->actions.size() : 0;
  const Step s = Tick(spec, st, o, kT0);
  EXPECT_EQ(RemediationPhaseName(s.status.phase), RemediationPhaseName(c.phase))
      << s.status.message;
  EXPECT_EQ(StepKindName(s.kind), StepKindName(c.kind));
  EXPECT_EQ(s.effect.kind, EffectKind::kNone);  // choosing never acts
  if (c.recorded) {
    ASSERT_EQ(s.status.incident->actions.size(), before + 1);
    EXPECT_EQ(ActionName(Last(s).action), ActionName(*c.recorded));
  } else if (s.status.incident && c.phase != RemediationPhase::kDiagnosing) {
    EXPECT_EQ(s.status.incident->actions.size(), before);
  }
  EXPECT_NE(s.status.message.find(c.message), std::string::npos) << s.status.message;
}

// Issue 14: a person's manual action (the console's /action/restart-api and friends).
RemediationStatus WatchingHealthy() {
  RemediationStatus st;
  st.phase = RemediationPhase::kWatching;
  st.observed_generation = 2;
  return st;
}

TEST(Manual, ARequestOnAHealthyTargetOpensAnIncidentAndRecordsTheRungOnce) {
  const RemediationSpec spec = Spec();
  Observations o = HealthyObs(kT0);
  o.action_request = "r1/RestartDeployment/alice";
  const Step s = Tick(spec, WatchingHealthy(), o, kT0);
  EXPECT_EQ(RemediationPhaseName(s.status.phase), "Remediating") << s.status.message;
  EXPECT_EQ(StepKindName(s.kind), "RecordIntent");
  ASSERT_TRUE(s.status.incident);
  ASSERT_EQ(s.status.incident->actions.size(), 1u);
  EXPECT_EQ(ActionName(Last(s).action), "RestartDeployment");
  EXPECT_EQ(Last(s).requested_by, "alice");
  EXPECT_NE(s.status.message.find("manual request r1 by alice"), std::string::npos);
  ASSERT_TRUE(s.status.manual_request);
  EXPECT_EQ(s.status.manual_request->state, "Accepted");
  EXPECT_EQ(s.status.manual_request->id, "r1");
  // The annotation stays; the request is never taken again.
  RemediationStatus after = s.status;
  after.phase = RemediationPhase::kResolved;
  after.incident->closed_at = kT0 + 10s;
  after.incident->actions[0].result = ActionResult::kVerified;
  const Step again = Tick(spec, after, o, kT0 + 20min);
  EXPECT_EQ(again.status.incident->id, s.status.incident->id);
  EXPECT_EQ(again.status.incident->actions.size(), 1u);
}

// An incident that ended without closing (Exhausted, then the target healthy again:
// Watching) keeps its outcome: the manual rung goes to a new incident.
TEST(Manual, AnEndedIncidentIsNotReopened) {
  RemediationStatus st = WatchingHealthy();
  st.incident = Opened("20270115T075955Z", kT0 - 5min);
  st.incident->outcome = "Rejected";
  Observations o = HealthyObs(kT0);
  o.action_request = "r1/RestartDeployment/alice";
  const Step s = Tick(Spec(), st, o, kT0);
  ASSERT_TRUE(s.status.incident);
  EXPECT_NE(s.status.incident->id, "20270115T075955Z");
  ASSERT_FALSE(s.status.history.empty());
  EXPECT_EQ(s.status.history.front().id, "20270115T075955Z");
  EXPECT_EQ(s.status.history.front().outcome, "Rejected");
  EXPECT_TRUE(s.status.history.front().actions.empty());
}

TEST(Manual, RefusedUnderTheSafetyRulesWithTheReasonAndNoAction) {
  struct Case {
    const char* name;
    std::function<void(RemediationSpec&, RemediationStatus&, Observations&)> set;
    const char* why;
  };
  const Case cases[] = {
      {"NotInActions", [](auto& sp, auto&, auto&) { sp.actions = {A::kTerminateBlockingSessions}; },
       "RestartDeployment is not in spec.actions"},
      {"DryRun", [](auto& sp, auto&, auto&) { sp.safety.dry_run = true; }, "dryRun"},
      {"Budget",
       [](auto&, auto& st, auto&) {
         st.history = {Fixed(kT0 - 50min, kT0 - 49min), Fixed(kT0 - 40min, kT0 - 39min),
                       Fixed(kT0 - 30min, kT0 - 29min)};
       },
       "3 actions in the last hour (maxActionsPerHour 3)"},
      {"Cooldown", [](auto&, auto& st, auto&) { st.history = {Fixed(kT0 - 3s, kT0 - 1s)}; },
       "cooldown: the next action may start in"},
      {"RungInProgress",
       [](auto&, auto& st, auto&) {
         st = Diagnosing();
         st.phase = RemediationPhase::kVerifying;
         st.incident->actions = {Record(A::kRestartDatabase, kT0 - 5s, ActionResult::kVerifying)};
       },
       "a rung is in progress"},
      {"Malformed", [](auto&, auto&, auto& o) { o.action_request = "no-slashes"; },
       "must read <request id>/<action>/<user>"},
      {"UnknownAction", [](auto&, auto&, auto& o) { o.action_request = "r1/Reboot/alice"; },
       "unknown action \"Reboot\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RemediationSpec spec = Spec();
    RemediationStatus st = WatchingHealthy();
    Observations o = HealthyObs(kT0);
    o.action_request = "r1/RestartDeployment/alice";
    c.set(spec, st, o);
    const size_t before = st.incident ? st.incident->actions.size() : 0;
    const Step s = Tick(spec, st, o, kT0);
    ASSERT_TRUE(s.status.manual_request);
    EXPECT_EQ(s.status.manual_request->state, "Refused");
    EXPECT_NE(s.status.manual_request->message.find(c.why), std::string::npos)
        << s.status.manual_request->message;
    EXPECT_EQ(s.status.incident ? s.status.incident->actions.size() : 0, before);
    EXPECT_EQ(s.effect.kind, EffectKind::kNone);
    const bool said = std::any_of(s.events.begin(), s.events.end(),
                                  [](const auto& e) { return e.reason == "ManualActionRefused"; });
    EXPECT_TRUE(said);
  }
}

TEST(Manual, AwaitingApprovalTakesThePersonsChoiceAsTheNextRung) {
  RemediationSpec spec = Spec();
  spec.safety.require_approval = {A::kRestartDeployment};
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kAwaitingApproval;
  Observations o = LockedObs(kT0);
  o.action_request = "r2/TerminateBlockingSessions/bob";
  const Step s = Tick(spec, st, o, kT0);
  EXPECT_EQ(s.status.incident->id, st.incident->id);  // the open incident, not a new one
  ASSERT_EQ(s.status.incident->actions.size(), 1u);
  EXPECT_EQ(ActionName(Last(s).action), "TerminateBlockingSessions");
  EXPECT_EQ(Last(s).pids, std::vector<int>{4242});
  EXPECT_EQ(s.status.manual_request->state, "Accepted");
}

// Issue 14: who approved is kept in the action's record and said in the Approved Event.
TEST(Choose, TheApproverIsRecordedInStatusAndTheEvent) {
  RemediationSpec spec = Spec();
  spec.safety.require_approval = {A::kRestartDeployment};
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kAwaitingApproval;
  Observations o = LockedObs(kT0);
  o.approval = st.incident->id;
  o.decided_by = st.incident->id + "/alice";
  const Step s = Tick(spec, st, o, kT0);
  ASSERT_FALSE(s.status.incident->actions.empty());
  EXPECT_EQ(Last(s).approved_by, "alice");
  const bool said = std::any_of(s.events.begin(), s.events.end(), [](const auto& e) {
    return e.reason == "Approved" && e.message == "RestartDeployment approved by alice";
  });
  EXPECT_TRUE(said);
  // A rung that needs no approval has no approver.
  spec.safety.require_approval = {};
  EXPECT_EQ(Last(Tick(spec, st, o, kT0)).approved_by, "");
}

// The database's pod crash-looping: nothing listens, the login is refused.
void DatabaseIsDown(Observations& o) {
  o.db_pods = std::vector<PodState>{{"db-0", false, "CrashLoopBackOff"}};
  o.tcp = {Outcome::kFail, "connection refused"};
  o.login = LoginResult::kRefused;
  o.sessions.reset();
}

// The role's password changed under the target (a CredentialRotation experiment): the
// target's logins and the controller's are refused; no lock, slots to spare.
void CredentialsAreRejected(Observations& o) {
  o.login = LoginResult::kAuthRejected;
  o.login_detail = "password authentication failed for user \"app\"";
  o.logs = Logs({{"authentication", 12}});
  o.pool_timeouts = 0;
  o.sessions = std::vector<SessionRow>{};
}

// The database's Service has no endpoints (a NetworkPartition experiment): its pods run
// Ready, nothing reaches them.
void DatabaseIsUnreachable(Observations& o) {
  o.db_pods = std::vector<PodState>{{"db-0", true, ""}};
  o.tcp = {Outcome::kFail, "Service demo/db port 5432 has no ready endpoints"};
  o.login = LoginResult::kNotTried;
  o.logs = Logs({{"connection_refused", 9}});
  o.sessions.reset();
}

// Every slot taken: the diagnostic login gets 53300, so no session can be read.
void SlotsAreGone(Observations& o) {
  o.sessions.reset();
  o.login = LoginResult::kTooManyClients;
  o.capacity = DbCapacity{100, 3, 97};
}

INSTANTIATE_TEST_SUITE_P(
    Table, ChooseTable,
    ::testing::
        Values(
            ChooseCase{"LadderStartsAtTheFirstRung", nullptr, nullptr, nullptr,
                       RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDeployment, "rung 1: RestartDeployment (ladder rung 1)"},
            ChooseCase{"LadderSkipsTriedRungs", nullptr,
                       [](RemediationStatus& st) {
                         st.incident->actions = {Record(A::kRestartDeployment, kT0 - 60s,
                                                        ActionResult::kVerificationFailed)};
                       },
                       nullptr, RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDatabase, "rung 2: RestartDatabase"},
            // Issue 12: the ladder reads the diagnosis too, and never restarts the api into a
            // database that is down or out of slots.
            ChooseCase{"LadderSkipsTheApiRestartWhenTheDatabaseIsDown", nullptr, nullptr,
                       DatabaseIsDown, RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDatabase,
                       "rung 1: RestartDatabase (ladder rung 1; skipped RestartDeployment: not "
                       "restarting the target into a database that is down)"},
            ChooseCase{"LadderSkipsTheApiRestartWhenSlotsAreGone", nullptr, nullptr, SlotsAreGone,
                       RemediationPhase::kRemediating, StepKind::kRecordIntent, A::kRestartDatabase,
                       "skipped RestartDeployment: not restarting the target while the server has "
                       "no free slot"},
            ChooseCase{"LadderWithOnlyTheApiRestartWhenSlotsAreGoneNeedsAPerson",
                       [](RemediationSpec& s) { s.actions = {A::kRestartDeployment}; }, nullptr,
                       SlotsAreGone, RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                       "no applicable action (RestartDeployment: not restarting the target while"},
            // Issue 15: a StatefulSet scaled to 0 was stopped on purpose: no rung starts it,
            // and no rung rolls the target out into it (IncreasePoolSize is a rollout too).
            ChooseCase{"LadderTakesNoRungWhenTheDatabaseIsScaledToZero", nullptr, nullptr,
                       [](Observations& o) {
                         DatabaseIsDown(o);
                         o.db_pods = std::vector<PodState>{};
                         o.database->replicas = 0;
                       },
                       RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                       "RestartDatabase: StatefulSet db has 0 replicas: it was stopped, and a "
                       "restart starts nothing (scale it up); IncreasePoolSize: not resizing the "
                       "pool (a rollout of the target) while the database is down"},
            // Issue 15: no action changes a password; a person is asked, nothing restarted.
            ChooseCase{"LadderTakesNoRungWhenCredentialsAreRejected", nullptr, nullptr,
                       CredentialsAreRejected, RemediationPhase::kExhausted, StepKind::kStop,
                       std::nullopt,
                       "the database rejects the target's credentials and no action changes "
                       "them: set the role's password or Secret creds right, then restart the "
                       "target (kubectl rollout restart deployment/api, or the console's "
                       "restart-api)"},
            ChooseCase{"DiagnosisDrivenTakesNoActionWhenCredentialsAreRejected",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       CredentialsAreRejected, RemediationPhase::kExhausted, StepKind::kStop,
                       std::nullopt,
                       "the database rejects the target's credentials and no action changes"},
            // Issue 15: no action changes the network; no rung restarts into it.
            ChooseCase{"LadderTakesNoRungWhenTheDatabaseIsUnreachable", nullptr, nullptr,
                       DatabaseIsUnreachable, RemediationPhase::kExhausted, StepKind::kStop,
                       std::nullopt,
                       "the database cannot be reached and no action changes the network: "
                       "check Service db's selector and EndpointSlices"},
            ChooseCase{"DiagnosisDrivenTakesNoActionWhenTheDatabaseIsUnreachable",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       DatabaseIsUnreachable, RemediationPhase::kExhausted, StepKind::kStop,
                       std::nullopt, "the database cannot be reached"},
            ChooseCase{"CooldownWaits", nullptr,
                       [](RemediationStatus& st) {
                         st.incident->actions = {Record(A::kRestartDeployment, kT0 - 3s,
                                                        ActionResult::kVerificationFailed)};
                       },
                       nullptr, RemediationPhase::kDiagnosing, StepKind::kObserve, std::nullopt,
                       "cooldown: RestartDatabase in 2s"},
            ChooseCase{"CooldownCountsTheLastIncidentToo", nullptr,
                       [](RemediationStatus& st) { st.history = {Fixed(kT0 - 5s, kT0 - 2s)}; },
                       [](Observations&) {}, RemediationPhase::kDiagnosing, StepKind::kObserve,
                       std::nullopt, "cooldown: RestartDeployment in 1s"},
            ChooseCase{"MaxActionsPerHour", nullptr,
                       [](RemediationStatus& st) {
                         st.history = {Fixed(kT0 - 50min, kT0 - 49min),
                                       Fixed(kT0 - 40min, kT0 - 39min),
                                       Fixed(kT0 - 30min, kT0 - 29min)};
                       },
                       nullptr, RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                       "3 actions in the last hour (maxActionsPerHour 3); next would be "
                       "RestartDeployment"},
            ChooseCase{"OldActionsDoNotCount", nullptr,
                       [](RemediationStatus& st) {
                         st.history = {Fixed(kT0 - 90min, kT0 - 89min),
                                       Fixed(kT0 - 80min, kT0 - 79min),
                                       Fixed(kT0 - 70min, kT0 - 69min)};
                       },
                       nullptr, RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDeployment, "rung 1"},
            ChooseCase{"RungsExhausted",
                       [](RemediationSpec& s) { s.actions = {A::kRestartDeployment}; },
                       [](RemediationStatus& st) {
                         st.incident->actions = {Record(A::kRestartDeployment, kT0 - 60s,
                                                        ActionResult::kVerificationFailed)};
                       },
                       nullptr, RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                       "every rung tried"},
            ChooseCase{
                "RequireApprovalWaits",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                nullptr, nullptr, RemediationPhase::kAwaitingApproval, StepKind::kAwaitApproval,
                std::nullopt,
                "RestartDeployment needs approval: set the annotation "
                "poolguard.dev/approve=20270115T075955Z"},
            ChooseCase{
                "ApprovalForAnotherIncidentWaits",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) { o.approval = "20270101T000000Z"; },
                RemediationPhase::kAwaitingApproval, StepKind::kAwaitApproval, std::nullopt,
                "needs approval"},
            ChooseCase{
                "ApprovedActs",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) { o.approval = "20270115T075955Z"; },
                RemediationPhase::kRemediating, StepKind::kRecordIntent, A::kRestartDeployment,
                "rung 1"},
            // Issue 14: the console records who decided, as "<incident>/<user>".
            ChooseCase{
                "ApprovedByANamedUser",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) {
                  o.approval = "20270115T075955Z";
                  o.decided_by = "20270115T075955Z/system:serviceaccount:shop:alice";
                },
                RemediationPhase::kRemediating, StepKind::kRecordIntent, A::kRestartDeployment,
                "(ladder rung 1; approved by system:serviceaccount:shop:alice)"},
            ChooseCase{
                "ADeciderOfAnotherIncidentIsNotCredited",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) {
                  o.approval = "20270115T075955Z";
                  o.decided_by = "20260101T000000Z/alice";
                },
                RemediationPhase::kRemediating, StepKind::kRecordIntent, A::kRestartDeployment,
                "approved by an unnamed user (poolguard.dev/decided-by not set)"},
            ChooseCase{
                "RejectedGoesToAHuman",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) {
                  o.rejection = "20270115T075955Z";
                  o.decided_by = "20270115T075955Z/bob";
                },
                RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                "RestartDeployment rejected by bob; over to a human"},
            ChooseCase{
                "ARejectionOfAnotherIncidentWaits",
                [](RemediationSpec& s) { s.safety.require_approval = {A::kRestartDeployment}; },
                [](RemediationStatus& st) { st.phase = RemediationPhase::kAwaitingApproval; },
                [](Observations& o) { o.rejection = "20260101T000000Z"; },
                RemediationPhase::kAwaitingApproval, StepKind::kAwaitApproval, std::nullopt,
                "needs approval"},
            ChooseCase{"DryRunWritesThePlanOnly",
                       [](RemediationSpec& s) { s.safety.dry_run = true; }, nullptr, nullptr,
                       RemediationPhase::kDiagnosing, StepKind::kObserve, std::nullopt,
                       "dry run: plan RestartDeployment → RestartDatabase → IncreasePoolSize → "
                       "TerminateBlockingSessions; nothing done"},
            ChooseCase{"DiagnosisDrivenNeverRestartsTheApiWhenSlotsAreGone",
                       [](RemediationSpec& s) {
                         s.strategy = Strategy::kDiagnosisDriven;
                         s.actions = {A::kRestartDeployment, A::kIncreasePoolSize};
                       },
                       nullptr, SlotsAreGone, RemediationPhase::kExhausted, StepKind::kStop,
                       std::nullopt, "no applicable action"},
            ChooseCase{"DiagnosisDrivenRestartsTheDatabaseWhenSlotsAreGone",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       SlotsAreGone, RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDatabase, "the fix for ServerSlotsExhausted"},
            ChooseCase{"DiagnosisDrivenDatabaseDown",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       DatabaseIsDown, RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDatabase, "the fix for DatabaseDown"},
            ChooseCase{
                "DiagnosisDrivenRaisesThePoolUnderLoad",
                [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                [](Observations& o) {
                  o.sessions = std::vector<SessionRow>{};
                  o.request_rate = 200;  // baseline 20
                },
                RemediationPhase::kRemediating, StepKind::kRecordIntent, A::kIncreasePoolSize,
                "IncreasePoolSize (the fix for ConnectionPoolExhausted): DB_POOL_SIZE 5 → 10"},
            // A surge of slow requests raises concurrency, not the rate: the database's view
            // (every session the pools hold running a query) says load.
            ChooseCase{"DiagnosisDrivenRaisesThePoolWhenTheDatabaseIsAllAtWork",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       [](Observations& o) {
                         o.sessions = std::vector<SessionRow>{};
                         o.request_rate = 20;  // the baseline's
                         o.db_pool = DbPoolView{};
                         o.db_pool->starved = o.db_pool->all_active = true;
                       },
                       RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kIncreasePoolSize,
                       "IncreasePoolSize (the fix for ConnectionPoolExhausted)"},
            ChooseCase{"DiagnosisDrivenRestartsALeakyTargetWithoutLoad",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       [](Observations& o) {
                         o.sessions = std::vector<SessionRow>{};
                         o.request_rate = 20;
                       },
                       RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDeployment, "the fix for ConnectionPoolExhausted"},
            // Issue 15: the pools full of sessions held idle is a leak, whatever the rate
            // says (no baseline yet, or a busy hour): the restart comes first.
            ChooseCase{"DiagnosisDrivenRestartsWhatTheDatabaseShowsHeldIdle",
                       [](RemediationSpec& s) { s.strategy = Strategy::kDiagnosisDriven; }, nullptr,
                       [](Observations& o) {
                         o.sessions = std::vector<SessionRow>{};
                         o.request_rate.reset();  // no rate, no baseline: "under load" by default
                         o.baseline = {};
                         o.db_pool = DbPoolView{};
                         o.db_pool->held_idle = true;
                         o.db_pool->detail = "all 10 target sessions idle (10 in a transaction)";
                       },
                       RemediationPhase::kRemediating, StepKind::kRecordIntent,
                       A::kRestartDeployment, "the fix for ConnectionPoolExhausted"},
            ChooseCase{"PoolIncreaseMustFitTheServer",
                       [](RemediationSpec& s) {
                         s.strategy = Strategy::kDiagnosisDriven;
                         s.actions = {A::kIncreasePoolSize};
                       },
                       nullptr,
                       [](Observations& o) {
                         o.sessions = std::vector<SessionRow>{};
                         o.capacity = DbCapacity{40, 3, 30};
                       },
                       RemediationPhase::kExhausted, StepKind::kStop, std::nullopt,
                       "IncreasePoolSize: the server has 7 free slots, the increase needs 10"},
            ChooseCase{"PoolAlreadyAtMax",
                       [](RemediationSpec& s) { s.actions = {A::kIncreasePoolSize}; }, nullptr,
                       [](Observations& o) { o.pool_size = 20; }, RemediationPhase::kExhausted,
                       StepKind::kStop, std::nullopt, "DB_POOL_SIZE is already 20 (max 20)"},
            ChooseCase{"RecoveredBeforeActing", nullptr, nullptr,
                       [](Observations& o) { o = HealthyObs(kT0); }, RemediationPhase::kResolved,
                       StepKind::kObserve, std::nullopt, "recovered without action in 5.0 s"}));

TEST(Plan, DryRunIsStableAndTouchesNothing) {
  RemediationSpec spec = Spec();
  spec.safety.dry_run = true;
  spec.safety.require_approval = {A::kRestartDatabase};
  const Step first = Tick(spec, Diagnosing(), LockedObs(kT0), kT0);
  ASSERT_EQ(first.status.incident->actions.size(), 4u);
  EXPECT_EQ(first.status.incident->actions[0].result, ActionResult::kPlanned);
  EXPECT_EQ(first.status.incident->actions[1].detail,
            "dry run: would RestartDatabase (after approval)");
  EXPECT_EQ(FindCondition(first.status.conditions, rem::kDryRun)->status, "True");
  EXPECT_TRUE(HasEvent(first, rem::kPlanOnly));
  const Step again = Tick(spec, first.status, LockedObs(kT0 + 1s), kT0 + 1s);
  EXPECT_EQ(again.status, first.status);
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(again.effect.kind, EffectKind::kNone);
  EXPECT_EQ(ActionsInLastHour(again.status, kT0), 0);  // plans are not actions
}

// Issue 7, test 6: the controller is killed with SIGKILL during a rollout wait. The next
// one reads the intent from status and finishes that rung; it never starts it again.
struct ResumeCase {
  std::string name;
  std::string template_restarted_at;  // what the Deployment's pod template carries
  int updated, available;
  StepKind kind;
  RemediationPhase phase;
};
void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }
class ResumeTable : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTable, ContinuesNeverRestarts) {
  const auto& c = GetParam();
  const WallTime started = kT0 - 4s;
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kRemediating;
  ActionRecord r;
  r.action = A::kRestartDeployment;
  r.rung = 1;
  r.started_at = started;
  r.key = FormatTimeMs(started);
  st.incident->actions = {r};
  // What a new controller reads back from the API server.
  Json object = Json::object();
  object["status"] = ToJson(st);
  const RemediationStatus read = ParseRemediationStatus(Json::parse(object.serialize()));

  Observations o = LockedObs(kT0);
  o.deployment = Rollout(c.template_restarted_at == "key" ? r.key : c.template_restarted_at,
                         c.updated, c.available);
  const Step s = Tick(Spec(), read, o, kT0);
  EXPECT_EQ(StepKindName(s.kind), StepKindName(c.kind));
  EXPECT_EQ(RemediationPhaseName(s.status.phase), RemediationPhaseName(c.phase));
  ASSERT_EQ(s.status.incident->actions.size(), 1u) << "a second action record";
  EXPECT_EQ(s.status.incident->actions[0].started_at, started);
  EXPECT_EQ(s.status.incident->actions[0].key, r.key);
  if (s.kind == StepKind::kApply) {
    // Killed between writing the intent and patching: the patch carries the intent's key,
    // so applying it after a patch that did land is a no-op, not a second restart.
    EXPECT_EQ(s.effect.kind, EffectKind::kRestartDeployment);
    EXPECT_EQ(s.effect.key, r.key);
  } else {
    EXPECT_EQ(s.effect.kind, EffectKind::kNone);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResumeTable,
    ::testing::Values(ResumeCase{"KilledMidRolloutWaits", "key", 1, 1, StepKind::kWait,
                                 RemediationPhase::kRemediating},
                      ResumeCase{"KilledBeforeThePatchAppliesTheSameKey",
                                 "2027-01-15T07:00:00.000Z", 2, 2, StepKind::kApply,
                                 RemediationPhase::kRemediating},
                      ResumeCase{"KilledAfterTheRolloutVerifies", "key", 2, 2, StepKind::kVerify,
                                 RemediationPhase::kVerifying}));

TEST(Plan, ResumedVerificationKeepsItsStreak) {
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kVerifying;
  ActionRecord r = Record(A::kRestartDatabase, kT0 - 12s, ActionResult::kVerifying);
  r.finished_at.reset();
  r.applied_at = kT0 - 10s;
  r.healthy_streak = 2;
  st.incident->actions = {r};
  st.incident->baseline = {0.0, 0.01, 20};
  const Step s = Tick(Spec(), st, HealthyObs(kT0), kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kResolved) << s.status.message;
}

// With the streak already made, only the window is left: the next look is when it ends,
// not a whole interval later (a verified fix was resolved up to an interval late).
TEST(Plan, VerificationLooksAgainWhenTheWindowEnds) {
  RemediationSpec spec = Spec();
  spec.detection.interval = 500ms;
  spec.verification.window = 1s;
  spec.verification.consecutive_healthy = 1;
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kVerifying;
  ActionRecord r = Record(A::kRestartDatabase, kT0 - 2s, ActionResult::kVerifying);
  r.finished_at.reset();
  r.applied_at = kT0 - 800ms;
  st.incident->actions = {r};
  st.incident->baseline = {0.0, 0.01, 20};
  Step s = Tick(spec, st, HealthyObs(kT0), kT0);
  ASSERT_EQ(s.status.phase, RemediationPhase::kVerifying) << s.status.message;
  EXPECT_EQ(s.requeue_after, 200ms);
  // Still waiting for health too: a whole interval.
  spec.verification.consecutive_healthy = 3;
  s = Tick(spec, st, HealthyObs(kT0), kT0);
  EXPECT_EQ(s.requeue_after, 500ms);
  spec.verification.consecutive_healthy = 1;
  s = Tick(spec, s.status, HealthyObs(kT0 + 200ms), kT0 + 200ms);
  EXPECT_EQ(s.status.phase, RemediationPhase::kResolved) << s.status.message;
}

// A surge's marks (pools full of running queries, then pool timeouts) can trail the first
// failed probe by a tick: DiagnosisDriven looks again for 3 ticks while no check explains
// the outage, takes the conclusion as soon as one does, and only then falls back on the
// ladder's order.
TEST(Plan, DiagnosisDrivenLooksAgainBeforeActingOnUnknown) {
  RemediationSpec spec = Spec();
  spec.strategy = Strategy::kDiagnosisDriven;
  spec.detection.interval = 500ms;
  auto unexplained = [](WallTime now) {
    Observations o = LockedObs(now);
    o.sessions = std::vector<SessionRow>{};  // no lock, no pool timeouts, no saturation yet
    o.logs = Logs({});
    o.pool_timeouts = 0;
    o.signals = {Health("api-1", Outcome::kFail, now), Health("api-2", Outcome::kFail, now)};
    return o;
  };
  WallTime now = kT0;
  Step s = Tick(spec, {}, HealthyObs(now), now);
  s = Tick(spec, s.status, unexplained(now), now);
  EXPECT_EQ(s.status.phase, RemediationPhase::kDetected) << s.status.message;
  EXPECT_FALSE(s.status.incident->diagnosis);
  EXPECT_TRUE(s.status.incident->actions.empty());
  // The next tick shows the cause: it is the diagnosis, and its fix the first rung.
  now += 500ms;
  Observations saturated = unexplained(now);
  saturated.pool_timeouts = 30;
  saturated.logs = Logs({{"pool_timeout", 30}});
  Step next = Tick(spec, s.status, saturated, now);
  ASSERT_TRUE(next.status.incident->diagnosis);
  EXPECT_EQ(next.status.incident->diagnosis->conclusion, Conclusion::kConnectionPoolExhausted);
  // Still nothing after 3 ticks: Unknown, and the ladder's order.
  for (int i = 0; i < 3; ++i) {
    now += 500ms;
    s = Tick(spec, s.status, unexplained(now), now);
  }
  ASSERT_TRUE(s.status.incident->diagnosis) << s.status.message;
  EXPECT_EQ(s.status.incident->diagnosis->conclusion, Conclusion::kUnknown);
  EXPECT_EQ(s.status.phase, RemediationPhase::kRemediating) << s.status.message;
}

TEST(Plan, RolloutTimeoutFailsTheRung) {
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kRemediating;
  ActionRecord r = Record(A::kRestartDeployment, kT0 - 61s, ActionResult::kInProgress);
  r.finished_at.reset();
  r.key = "k";
  st.incident->actions = {r};
  Observations o = LockedObs(kT0);
  o.deployment = Rollout("k", 1, 1);
  const Step s = Tick(Spec(), st, o, kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kDiagnosing);
  EXPECT_EQ(Last(s).result, ActionResult::kFailed);
  EXPECT_EQ(Last(s).verification, "not finished within 1m: 1/2 updated, 1/2 available");
  EXPECT_TRUE(HasEvent(s, rem::kActionFailed));
}

// A target that degrades again right after a verified fix, repeatedly, is a loop.
TEST(Plan, LoopBreakerStopsRepeatedFixes) {
  RemediationStatus st;
  st.phase = RemediationPhase::kResolved;
  st.history = {Fixed(kT0 - 100s, kT0 - 60s)};
  st.incident = Fixed(kT0 - 50s, kT0 - 20s);  // degraded 40 s after the first fix
  const Step s = Tick(Spec(), st, LockedObs(kT0), kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kExhausted);
  EXPECT_EQ(s.status.incident->outcome, rem::kRemediationLoop);
  const Condition* needs_human = FindCondition(s.status.conditions, rem::kNeedsHuman);
  ASSERT_NE(needs_human, nullptr);
  EXPECT_EQ(needs_human->status, "True");
  EXPECT_EQ(needs_human->reason, rem::kRemediationLoop);
  EXPECT_NE(needs_human->message.find("2 times in a row"), std::string::npos);
  EXPECT_EQ(s.status.history.size(), 2u);

  // One relapse is still remediated.
  RemediationStatus once;
  once.phase = RemediationPhase::kResolved;
  once.history = {Fixed(kT0 - 1h, kT0 - 59min)};
  once.incident = Fixed(kT0 - 50s, kT0 - 20s);
  EXPECT_EQ(Tick(Spec(), once, LockedObs(kT0), kT0).status.phase, RemediationPhase::kRemediating);

  // Exhausted holds while degraded and hands back once healthy; NeedsHuman stays.
  const Step held = Tick(Spec(), s.status, LockedObs(kT0 + 5s), kT0 + 5s);
  EXPECT_EQ(held.kind, StepKind::kStop);
  const Step over = Tick(Spec(), s.status, HealthyObs(kT0 + 9s), kT0 + 9s);
  EXPECT_EQ(over.status.phase, RemediationPhase::kWatching);
  EXPECT_EQ(FindCondition(over.status.conditions, rem::kNeedsHuman)->status, "True");
  // ...and a quick relapse after it trips the breaker again.
  const Step again = Tick(Spec(), over.status, LockedObs(kT0 + 30s), kT0 + 30s);
  EXPECT_EQ(again.status.phase, RemediationPhase::kExhausted);
}

// An incident whose IncreasePoolSize from -> to has passed verification but for the
// last tick: the next healthy tick resolves it.
RemediationStatus VerifyingPoolRaise(int from, int to) {
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kVerifying;
  ActionRecord r;
  r.action = A::kIncreasePoolSize;
  r.rung = 1;
  r.started_at = kT0 - 15s;
  r.applied_at = kT0 - 12s;
  r.result = ActionResult::kVerifying;
  r.from_pool_size = from;
  r.to_pool_size = to;
  r.healthy_streak = 5;
  st.incident->actions = {r};
  return st;
}

// Issue 7, test 3: the raised pool size goes back once the surge is over.
TEST(Plan, PoolIncreaseIsRevertedOnceTheCauseIsGone) {
  RemediationSpec spec = Spec(Strategy::kDiagnosisDriven);
  RemediationStatus st = VerifyingPoolRaise(5, 10);
  st.incident->chaos_experiment = "ns/surge";
  Observations o = HealthyObs(kT0);
  o.pool_size = 10;
  Step s = Tick(spec, st, o, kT0);
  ASSERT_EQ(s.status.phase, RemediationPhase::kResolved);
  ASSERT_TRUE(s.status.incident->pool_revert);
  EXPECT_EQ(s.status.incident->pool_revert->from, 5);
  EXPECT_NE(s.status.incident->verdict.find("healed at rung 1 (IncreasePoolSize)"),
            std::string::npos);

  WallTime now = kT0 + 20s;
  o.chaos_experiment = "ns/surge";  // still surging
  s = Tick(spec, s.status, o, now);
  EXPECT_EQ(s.kind, StepKind::kObserve);
  EXPECT_NE(s.status.message.find("waits: experiment ns/surge is active"), std::string::npos);

  o.chaos_experiment = "";
  s = Tick(spec, s.status, o, now);
  ASSERT_EQ(s.kind, StepKind::kRecordIntent);
  EXPECT_EQ(s.status.incident->pool_revert->started_at, now);

  s = Tick(spec, s.status, o, now + 100ms);
  ASSERT_EQ(s.kind, StepKind::kApply);
  EXPECT_EQ(s.effect.kind, EffectKind::kSetPoolSize);
  EXPECT_EQ(s.effect.pool_size, 5);
  EXPECT_EQ(s.effect.env, "DB_POOL_SIZE");

  o.pool_size = 5;
  o.deployment = Rollout("", 1, 2);
  s = Tick(spec, s.status, o, now + 1s);
  EXPECT_EQ(s.kind, StepKind::kWait);
  o.deployment = Rollout("", 2, 2);
  s = Tick(spec, s.status, o, now + 3s);
  EXPECT_EQ(s.status.incident->pool_revert->result, rem::kPoolSizeReverted);
  EXPECT_TRUE(HasEvent(s, rem::kPoolSizeReverted));
  EXPECT_EQ(s.status.phase, RemediationPhase::kResolved);
}

// A surge outlasting the first raise: 5 -> 10, then, in the next incident, 10 -> 15 before
// 10 -> 5 was put back. Once the cause is gone the pool goes back to 5, not to 10.
TEST(Plan, ASecondRaiseIsRevertedToTheSizeBeforeTheFirst) {
  RemediationSpec spec = Spec(Strategy::kDiagnosisDriven);
  RemediationStatus st = VerifyingPoolRaise(10, 15);
  PoolSizeRevert carried;
  carried.env = "DB_POOL_SIZE";
  carried.from = 5;
  carried.to = 10;
  st.incident->pool_revert = carried;
  Observations o = HealthyObs(kT0);
  o.pool_size = 15;
  Step s = Tick(spec, st, o, kT0);
  ASSERT_EQ(s.status.phase, RemediationPhase::kResolved);
  ASSERT_TRUE(s.status.incident->pool_revert);
  EXPECT_EQ(s.status.incident->pool_revert->from, 5);
  EXPECT_EQ(s.status.incident->pool_revert->to, 15);
  o.chaos_experiment = "";  // the surge is over
  s = Tick(spec, s.status, o, kT0 + 20s);
  ASSERT_EQ(s.kind, StepKind::kRecordIntent) << s.status.message;
  EXPECT_NE(s.status.message.find("15 → 5"), std::string::npos) << s.status.message;
  s = Tick(spec, s.status, o, kT0 + 20s + 100ms);
  ASSERT_EQ(s.kind, StepKind::kApply);
  EXPECT_EQ(s.effect.kind, EffectKind::kSetPoolSize);
  EXPECT_EQ(s.effect.pool_size, 5);
}

// An outage during the revert's own rollout opens a new incident; the revert goes on in it
// and is seen through once that one is over.
TEST(Plan, ARevertUnderWayGoesOnInTheNextIncident) {
  RemediationSpec spec = Spec(Strategy::kDiagnosisDriven);
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kResolved;
  st.incident->resolved_at = kT0 - 30s;
  st.incident->outcome = "Resolved";
  PoolSizeRevert rev;
  rev.env = "DB_POOL_SIZE";
  rev.from = 5;
  rev.to = 10;
  rev.started_at = kT0 - 2s;
  st.incident->pool_revert = rev;
  const std::string first = st.incident->id;
  Step s = Tick(spec, st, LockedObs(kT0), kT0);
  ASSERT_NE(s.status.incident->id, first);
  ASSERT_TRUE(s.status.incident->pool_revert);
  EXPECT_EQ(s.status.incident->pool_revert->started_at, kT0 - 2s);
  ASSERT_FALSE(s.status.history.empty());
  EXPECT_FALSE(s.status.history.front().pool_revert);
}

TEST(Plan, HealthyProbesAreNotRecoveryWhileTheLockHolderRemains) {
  // After a failed api restart the new pods answer /health until traffic reaches them;
  // the lock holder is still in pg_stat_activity, so the ladder goes on.
  const RemediationSpec spec = Spec();
  Step s = Tick(spec, Step{}.status, LockedObs(kT0), kT0);  // rung 1 intent
  ASSERT_EQ(Last(s).action, A::kRestartDeployment);
  s.status.incident->actions.back().result = ActionResult::kVerificationFailed;
  s.status.incident->actions.back().finished_at = kT0 + 20s;
  s.status.phase = RemediationPhase::kDiagnosing;
  Observations o = HealthyObs(kT0 + 21s);
  o.sessions = LockedObs(kT0 + 21s).sessions;  // the holder, and no target session waiting yet
  for (auto& row : *o.sessions) {
    if (row.is_target) row.blocked_by.clear();
  }
  const Step next = Tick(spec, s.status, o, kT0 + 21s);
  EXPECT_EQ(next.status.phase, RemediationPhase::kRemediating);
  EXPECT_EQ(Last(next).action, A::kRestartDatabase);
  // With the holder gone, healthy probes do close it.
  const Step over = Tick(spec, s.status, HealthyObs(kT0 + 22s), kT0 + 22s);
  EXPECT_EQ(over.status.incident->outcome, rem::kRecovered);
}

TEST(Plan, AVerifiedFixIsHealthyEvenWhileDetectionLags) {
  // Verification passed while detection was still Degraded (its good run shorter than
  // `for`): the fix marks the target Healthy, and the next passing tick opens nothing.
  RemediationStatus st = Step{}.status;
  Step s = Tick(Spec(), st, LockedObs(kT0), kT0);
  ASSERT_EQ(Last(s).action, A::kRestartDeployment);
  s.status.incident->actions.back().result = ActionResult::kVerifying;
  s.status.incident->actions.back().applied_at = kT0 + 2s;
  s.status.incident->actions.back().healthy_streak = 2;
  s.status.phase = RemediationPhase::kVerifying;
  Observations o = HealthyObs(kT0 + 20s);
  o.detection = {Health::kDegraded, std::nullopt, kT0 + 19800ms, {}, "passing, within the window"};
  const Step fixed = Tick(Spec(), s.status, o, kT0 + 20s);
  ASSERT_EQ(fixed.status.phase, RemediationPhase::kResolved);
  EXPECT_EQ(fixed.status.detection.health, Health::kHealthy);
  Observations later = HealthyObs(kT0 + 21s);
  later.detection = Detect(Spec().detection, fixed.status.detection, later.signals, kT0 + 21s);
  const Step next = Tick(Spec(), fixed.status, later, kT0 + 21s);
  EXPECT_EQ(next.status.phase, RemediationPhase::kResolved);
  EXPECT_EQ(next.status.incident->id, fixed.status.incident->id);
}

TEST(Plan, ABadRunIsLookedAtAgainWhenItsWindowEnds) {
  // failing for 300 ms of a 1 s window, interval 1 s: the next tick in 700 ms, not 1 s.
  RemediationSpec spec = Spec();
  spec.detection.for_window = 1s;
  Observations o = HealthyObs(kT0);
  o.detection = {Health::kHealthy, kT0 - 300ms, std::nullopt, {"health/api-1"}, "failing"};
  EXPECT_EQ(Tick(spec, Step{}.status, o, kT0).requeue_after, 700ms);
  // Already past it (Degraded next tick anyway): at once, never negative.
  o.detection.failing_since = kT0 - 3s;
  EXPECT_EQ(Tick(spec, Step{}.status, o, kT0).requeue_after, 0ms);
}

TEST(Plan, DetectionWithoutDatabaseReadsDiagnosesOnTheNextTick) {
  Observations o = LockedObs(kT0);
  o.sessions.reset();  // the collector had not read the database yet
  o.db_pods.reset();
  const Step s = Tick(Spec(), Step{}.status, o, kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kDetected);
  EXPECT_FALSE(s.status.incident->diagnosis);
  EXPECT_EQ(s.requeue_after, 0ms);
  const Step next = Tick(Spec(), s.status, LockedObs(kT0 + 300ms), kT0 + 300ms);
  EXPECT_EQ(next.status.phase, RemediationPhase::kRemediating);
  EXPECT_EQ(next.status.incident->diagnosis->conclusion, Conclusion::kLockContention);
}

TEST(Plan, ANewIncidentMovesTheLastToHistory) {
  RemediationStatus st;
  st.phase = RemediationPhase::kResolved;
  st.incident = Fixed(kT0 - 2h, kT0 - 2h + 30s);
  const Step s = Tick(Spec(), st, LockedObs(kT0), kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kRemediating);
  ASSERT_EQ(s.status.history.size(), 1u);
  EXPECT_EQ(s.status.history[0].id, st.incident->id);
  EXPECT_NE(s.status.incident->id, st.incident->id);
}

TEST(Plan, InvalidSpecDoesNothing) {
  RemediationStatus st = Diagnosing();
  st.message = "cooldown: RestartDatabase in 3s";
  const std::string error = "spec.detection.for: Invalid value \"3\"";
  const Step s = InvalidSpec(st, error, 7, kT0);
  EXPECT_EQ(s.kind, StepKind::kStop);
  EXPECT_EQ(s.effect.kind, EffectKind::kNone);
  EXPECT_FALSE(s.requeue_after);
  EXPECT_EQ(s.status.observed_generation, 7);
  EXPECT_EQ(s.status.phase, RemediationPhase::kInvalid);
  EXPECT_EQ(s.status.message, "invalid spec, nothing is done until it is fixed: " + error);
  EXPECT_EQ(s.status.incident, st.incident) << "the incident is kept for when it is fixed";
  const Condition* c = FindCondition(s.status.conditions, rem::kSpecValid);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, rem::kInvalidSpec);
  EXPECT_EQ(c->message, error);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].type, "Warning");
  // Level-based: the same invalid spec again changes nothing and says nothing.
  const Step again = InvalidSpec(s.status, error, 7, kT0 + 1s);
  EXPECT_EQ(again.status, s.status);
  EXPECT_TRUE(again.events.empty());
  // Another mistake is a new message and a new event.
  const Step other = InvalidSpec(s.status, "spec.strategy: Unsupported value", 8, kT0 + 2s);
  EXPECT_EQ(other.status.phase, RemediationPhase::kInvalid);
  EXPECT_EQ(other.events.size(), 1u);
  // A first status (phase none) is Invalid as well.
  EXPECT_EQ(InvalidSpec(RemediationStatus{}, error, 1, kT0).status.phase,
            RemediationPhase::kInvalid);
}

TEST(Plan, OneRemediationOfATargetActsTheIncumbentFirst) {
  // New objects (none active): the oldest, then the key.
  const TargetClaim a{"ns/a", "2026-11-27T10:00:00Z"};
  const TargetClaim b{"ns/b", "2026-11-27T10:00:05Z"};
  const TargetClaim c{"ns/c", "2026-11-27T10:00:05Z"};  // same second as b: the key decides
  EXPECT_FALSE(ClaimedBy(a, {b, c}));
  EXPECT_FALSE(ClaimedBy(a, {}));
  EXPECT_FALSE(ClaimedBy(a, {a})) << "itself in the list";
  ASSERT_TRUE(ClaimedBy(b, {a, c}));
  EXPECT_EQ(ClaimedBy(b, {a, c})->key, "ns/a");
  EXPECT_FALSE(ClaimedBy(b, {c}));
  ASSERT_TRUE(ClaimedBy(c, {b}));
  EXPECT_EQ(ClaimedBy(c, {b})->key, "ns/b");

  // The one acting keeps the target: an older object that was Invalid (fixed) or is new
  // (retargeted here) does not take it over.
  TargetClaim acting = b;
  acting.active = true;
  EXPECT_FALSE(ClaimedBy(acting, {a}));
  ASSERT_TRUE(ClaimedBy(a, {acting}));
  EXPECT_EQ(ClaimedBy(a, {acting})->key, "ns/b");
  // Two active (they started before seeing each other): one in an incident keeps it...
  TargetClaim watching = a;
  watching.active = true;
  TargetClaim healing = c;
  healing.active = true;
  healing.in_incident = true;
  EXPECT_FALSE(ClaimedBy(healing, {watching}));
  EXPECT_EQ(ClaimedBy(watching, {healing})->key, "ns/c");
  // ...else the oldest.
  EXPECT_FALSE(ClaimedBy(watching, {acting}));
  EXPECT_EQ(ClaimedBy(acting, {watching})->key, "ns/a");
}

// A Remediation object as the cache holds it.
Json RemObject(const std::string& ns, const std::string& name, const std::string& created,
               const std::string& deployment, const std::string& extra_spec = "",
               const std::string& status = "", const std::string& extra_meta = "") {
  return Json::parse(R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name +
                     R"(","creationTimestamp":")" + created + "\"" + extra_meta +
                     R"(},"spec":{"target":{"deployment":")" + deployment +
                     R"("},"database":{"service":"db","credentialsSecret":"s"})" + extra_spec +
                     "}" + (status.empty() ? "" : R"(,"status":)" + status) + "}");
}

TEST(Plan, TargetOwnerLooksAtTheSameDeploymentInTheSameNamespaceOnly) {
  const Json self = RemObject("ns", "young", "2026-11-27T10:00:09Z", "api");
  const RemediationSpec spec = *ParseRemediationSpec(self).spec;
  const auto owner = [&](const std::vector<Json>& others) {
    std::vector<Json> all = others;
    all.push_back(self);
    const auto o = TargetOwner("ns/young", self, spec, all);
    return o ? o->key : std::string("(none)");
  };
  const std::string older = "2026-11-27T10:00:00Z";
  EXPECT_EQ(owner({RemObject("ns", "old", older, "api")}), "ns/old");
  EXPECT_EQ(owner({}), "(none)");
  EXPECT_EQ(owner({RemObject("other", "old", older, "api")}), "(none)") << "another namespace";
  EXPECT_EQ(owner({RemObject("ns", "old", older, "web")}), "(none)") << "another Deployment";
  EXPECT_EQ(owner({RemObject("ns", "old", older, "api", "", "",
                             R"(,"deletionTimestamp":"2026-11-27T10:01:00Z")")}),
            "(none)")
      << "being deleted";
  EXPECT_EQ(owner({RemObject("ns", "old", older, "api", R"(,"strategy":"Random")")}), "(none)")
      << "an invalid spec owns nothing";
  EXPECT_EQ(owner({RemObject("ns", "old", older, "api", R"(,"safety":{"dryRun":true})")}), "(none)")
      << "a dry run owns nothing";
  // A dry run itself is never claimed: it plans beside the real one.
  const Json dry =
      RemObject("ns", "dry", "2026-11-27T10:00:09Z", "api", R"(,"safety":{"dryRun":true})");
  EXPECT_FALSE(TargetOwner("ns/dry", dry, *ParseRemediationSpec(dry).spec,
                           {RemObject("ns", "old", older, "api"), dry}));
  // The incumbent: an active younger one keeps the target from an older one just fixed.
  const Json active_young =
      RemObject("ns", "young", "2026-11-27T10:00:09Z", "api", "", R"({"phase":"Watching"})");
  const Json fixed_old = RemObject("ns", "old", older, "api", "", R"({"phase":"Invalid"})");
  EXPECT_FALSE(TargetOwner("ns/young", active_young, spec, {fixed_old, active_young}));
  const auto o = TargetOwner("ns/old", fixed_old, *ParseRemediationSpec(fixed_old).spec,
                             {fixed_old, active_young});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->key, "ns/young");
}

TEST(Plan, AClaimedTargetIsInvalidNamingTheOwnerAndWaitsForIt) {
  const RemediationStatus st = Diagnosing();  // an incident open
  const Step s = TargetClaimed(st, "ns/a", "api", 3, kT0);
  EXPECT_EQ(s.kind, StepKind::kStop);
  EXPECT_EQ(s.effect.kind, EffectKind::kNone);
  ASSERT_TRUE(s.requeue_after) << "it takes over once the owner goes";
  EXPECT_EQ(s.status.phase, RemediationPhase::kInvalid);
  // The open incident is closed: the owner handles the target, nothing of it is resumed.
  EXPECT_FALSE(s.status.incident);
  ASSERT_EQ(s.status.history.size(), st.history.size() + 1);
  EXPECT_EQ(s.status.history.front().id, st.incident->id);
  EXPECT_EQ(s.status.history.front().outcome, rem::kSuperseded);
  EXPECT_EQ(s.status.history.front().closed_at, kT0);
  const Condition* c = FindCondition(s.status.conditions, rem::kSpecValid);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, rem::kTargetClaimed);
  EXPECT_NE(c->message.find("Deployment api is remediated by Remediation ns/a"), std::string::npos)
      << c->message;
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].reason, rem::kTargetClaimed);
  // The same owner again: nothing changes, no new event; an invalid spec is a new one.
  const Step again = TargetClaimed(s.status, "ns/a", "api", 3, kT0 + 1s);
  EXPECT_EQ(again.status, s.status);
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(InvalidSpec(s.status, c->message, 3, kT0 + 2s).events.size(), 1u);
  // Once the owner is gone: Watching.
  EXPECT_EQ(PhaseOnceValid(s.status), RemediationPhase::kWatching);
}

struct OnceValidCase {
  std::string name;
  std::function<void(RemediationStatus&)> setup;  // on an Invalid status with an open incident
  RemediationPhase phase;
};
void PrintTo(const OnceValidCase& c, std::ostream* os) { *os << c.name; }
class OnceValidTable : public ::testing::TestWithParam<OnceValidCase> {};

TEST_P(OnceValidTable, ContinuesWhereTheRecordsSay) {
  const auto& c = GetParam();
  RemediationStatus st = Diagnosing();
  st.incident->diagnosis.reset();
  c.setup(st);
  st.phase = RemediationPhase::kInvalid;
  EXPECT_EQ(RemediationPhaseName(PhaseOnceValid(st)), RemediationPhaseName(c.phase));
}

INSTANTIATE_TEST_SUITE_P(
    Table, OnceValidTable,
    ::testing::Values(
        OnceValidCase{"NoIncident", [](RemediationStatus& st) { st.incident.reset(); },
                      RemediationPhase::kWatching},
        OnceValidCase{"ClosedIncident",
                      [](RemediationStatus& st) { st.incident = Fixed(kT0 - 1h, kT0 - 50min); },
                      RemediationPhase::kWatching},
        OnceValidCase{"DetectedNotDiagnosed", [](RemediationStatus&) {},
                      RemediationPhase::kDetected},
        OnceValidCase{"Diagnosed",
                      [](RemediationStatus& st) { st.incident->diagnosis = Diagnosis{}; },
                      RemediationPhase::kDiagnosing},
        OnceValidCase{"ARungFailed",
                      [](RemediationStatus& st) {
                        st.incident->diagnosis = Diagnosis{};
                        st.incident->actions = {
                            Record(A::kRestartDeployment, kT0 - 30s, ActionResult::kFailed)};
                      },
                      RemediationPhase::kDiagnosing},
        OnceValidCase{"ActionInProgress",
                      [](RemediationStatus& st) {
                        st.incident->diagnosis = Diagnosis{};
                        st.incident->actions = {
                            Record(A::kRestartDeployment, kT0 - 30s, ActionResult::kFailed),
                            Record(A::kRestartDatabase, kT0 - 5s, ActionResult::kInProgress, 2)};
                      },
                      RemediationPhase::kRemediating},
        OnceValidCase{"ActionVerifying",
                      [](RemediationStatus& st) {
                        st.incident->diagnosis = Diagnosis{};
                        st.incident->actions = {
                            Record(A::kRestartDatabase, kT0 - 5s, ActionResult::kVerifying)};
                      },
                      RemediationPhase::kVerifying},
        OnceValidCase{"Exhausted",
                      [](RemediationStatus& st) {
                        st.incident->diagnosis = Diagnosis{};
                        st.incident->outcome = rem::kRungsExhausted;
                      },
                      RemediationPhase::kExhausted}));

TEST(Plan, OtherPhasesAreTheirOwnOnceValid) {
  RemediationStatus st = Diagnosing();
  EXPECT_EQ(PhaseOnceValid(st), RemediationPhase::kDiagnosing);
  st.phase = RemediationPhase::kResolved;
  EXPECT_EQ(PhaseOnceValid(st), RemediationPhase::kResolved);
}

TEST(Plan, AFixedSpecReturnsToWatching) {
  RemediationStatus st;
  st.phase = RemediationPhase::kWatching;
  st.incident = Fixed(kT0 - 1h, kT0 - 50min);
  const Step invalid = InvalidSpec(st, "spec.detection.interval: Invalid value", 3, kT0);
  Observations o = HealthyObs(kT0 + 5s);
  o.generation = 4;  // the fix
  const Step s = Tick(Spec(), invalid.status, o, kT0 + 5s);
  EXPECT_EQ(s.status.phase, RemediationPhase::kWatching);
  EXPECT_EQ(s.status.message, "watching: healthy");
  EXPECT_EQ(s.status.observed_generation, 4);
  EXPECT_EQ(s.effect.kind, EffectKind::kNone);
  const Condition* c = FindCondition(s.status.conditions, rem::kSpecValid);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "True");
  EXPECT_EQ(c->observed_generation, 4);
  EXPECT_TRUE(HasEvent(s, rem::kSpecAccepted));
  // The next tick is plain watching: no second event.
  EXPECT_FALSE(HasEvent(Tick(Spec(), s.status, o, kT0 + 6s), rem::kSpecAccepted));
}

TEST(Plan, AFixedSpecResumesTheActionInProgressWithItsKey) {
  // Invalid while a restart's rollout was under way: once fixed, the same record is
  // waited for (or applied with the same key), never started again.
  RemediationStatus st = Diagnosing();
  st.phase = RemediationPhase::kRemediating;
  ActionRecord r = Record(A::kRestartDeployment, kT0 - 4s, ActionResult::kInProgress);
  r.finished_at.reset();
  r.key = FormatTimeMs(kT0 - 4s);
  st.incident->actions = {r};
  const Step invalid = InvalidSpec(st, "spec.detection.interval: Invalid value", 3, kT0 - 2s);
  ASSERT_EQ(invalid.status.phase, RemediationPhase::kInvalid);

  Observations o = LockedObs(kT0);
  o.deployment = Rollout(r.key, 1, 1);
  const Step s = Tick(Spec(), invalid.status, o, kT0);
  EXPECT_EQ(s.status.phase, RemediationPhase::kRemediating);
  EXPECT_EQ(s.kind, StepKind::kWait);
  ASSERT_EQ(s.status.incident->actions.size(), 1u) << "a second action record";
  EXPECT_EQ(s.status.incident->actions[0].key, r.key);

  o.deployment = Rollout("2027-01-15T07:00:00.000Z", 2, 2);  // the patch never landed
  const Step apply = Tick(Spec(), invalid.status, o, kT0);
  EXPECT_EQ(apply.kind, StepKind::kApply);
  EXPECT_EQ(apply.effect.key, r.key);
}

struct RolloutCase {
  std::string name;
  std::optional<RolloutObservation> rollout;
  bool applied;
  Progress state;
  std::string detail;
};
void PrintTo(const RolloutCase& c, std::ostream* os) { *os << c.name; }
class RolloutTable : public ::testing::TestWithParam<RolloutCase> {};
TEST_P(RolloutTable, Reads) {
  const auto& c = GetParam();
  const auto p = RolloutProgress(c.rollout, c.applied);
  EXPECT_EQ(static_cast<int>(p.state), static_cast<int>(c.state)) << p.detail;
  EXPECT_NE(p.detail.find(c.detail), std::string::npos) << p.detail;
}
RolloutObservation With(RolloutObservation r, const std::function<void(RolloutObservation&)>& f) {
  f(r);
  return r;
}
INSTANTIATE_TEST_SUITE_P(
    Table, RolloutTable,
    ::testing::Values(
        RolloutCase{"NotRead", std::nullopt, true, Progress::kUnknown, "not read"},
        RolloutCase{"NotApplied", Rollout("", 2, 2), false, Progress::kNotApplied, "template"},
        RolloutCase{"GenerationNotObserved",
                    With(Rollout("k", 2, 2), [](auto& r) { r.observed_generation = 2; }), true,
                    Progress::kRunning, "generation 3 not observed yet"},
        RolloutCase{"Updating", Rollout("k", 1, 2), true, Progress::kRunning, "1/2 updated"},
        RolloutCase{"OldReplicasRemain",
                    With(Rollout("k", 2, 2), [](auto& r) { r.status_replicas = 3; }), true,
                    Progress::kRunning, "old replicas remain"},
        RolloutCase{"Done", Rollout("k", 2, 2), true, Progress::kDone, "2/2 updated and available"},
        RolloutCase{"DeadlineExceeded",
                    With(Rollout("k", 1, 1), [](auto& r) { r.progress_deadline_exceeded = true; }),
                    true, Progress::kFailed, "progress deadline exceeded"}));

TEST(Verdict, Texts) {
  Incident in;
  in.detection_seconds = 1.96;
  in.recovery_seconds = 8.44;
  EXPECT_EQ(Verdict(in), "");
  in.outcome = rem::kResolved;
  in.actions = {Record(A::kRestartDeployment, kT0, ActionResult::kVerificationFailed, 1),
                Record(A::kRestartDatabase, kT0, ActionResult::kVerified, 2)};
  EXPECT_EQ(Verdict(in), "detected in 2.0 s, healed at rung 2 (RestartDatabase) in 8.4 s");
  in.outcome = rem::kRungsExhausted;
  EXPECT_EQ(Verdict(in), "detected in 2.0 s, not healed: RungsExhausted");
  in.outcome = rem::kRecoveredWithoutAction;
  in.actions.clear();
  EXPECT_EQ(Verdict(in), "detected in 2.0 s, recovered without action in 8.4 s");
}

}  // namespace
}  // namespace poolguard::controller
