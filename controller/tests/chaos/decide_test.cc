#include "chaos/decide.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

ChaosSpec LeakSpec(int n = 5) {
  ChaosSpec s;
  s.target_deployment = "api";
  s.db_service = "db";
  s.credentials_secret = "creds";
  s.type = FaultType::kConnectionLeak;
  s.connections = n;
  s.duration = 60s;
  return s;
}

ChaosSpec SurgeSpec(int concurrency) {
  ChaosSpec s = LeakSpec();
  s.type = FaultType::kTrafficSurge;
  s.target_service = "api";
  s.concurrency = concurrency;
  return s;
}

ChaosObserved Obs(Phase phase, ChaosSpec spec = LeakSpec()) {
  ChaosObserved o;
  o.ns = "chaos";
  o.name = "leak";
  o.generation = 2;
  o.has_finalizer = true;
  o.status.phase = phase;
  o.spec.spec = spec;
  o.now = kNow;
  o.namespace_opted_in = true;
  o.capacity = DbCapacity{100, 3, 10};
  if (phase != Phase::kNone && phase != Phase::kPending) {
    o.status.started_at = kNow - 10s;
    o.status.ends_at = kNow + 50s;
  }
  return o;
}

struct Case {
  std::string name;
  ChaosObserved observed;
  Phase phase;
  ChaosEffect effect;
  std::string reason;
  std::string message_contains = "";
  bool add_finalizer = false;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class DecideTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTable, Decides) {
  const Case& c = GetParam();
  const ChaosDecision d = DecideChaos(c.observed);
  EXPECT_EQ(PhaseName(d.status.phase), PhaseName(c.phase));
  EXPECT_EQ(static_cast<int>(d.effect), static_cast<int>(c.effect));
  EXPECT_EQ(d.status.reason, c.reason);
  EXPECT_NE(d.status.message.find(c.message_contains), std::string::npos) << d.status.message;
  EXPECT_EQ(d.add_finalizer, c.add_finalizer);
  EXPECT_EQ(d.status.observed_generation, 2);
}

ChaosObserved With(ChaosObserved o, const std::function<void(ChaosObserved&)>& f) {
  f(o);
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Lifecycle, DecideTable,
    ::testing::Values(
        Case{"AcceptedAddsFinalizerAndInjects",
             With(Obs(Phase::kNone), [](auto& o) { o.has_finalizer = false; }), Phase::kInjecting,
             ChaosEffect::kInject, reasons::kInjecting, "5 connections idle", true},
        Case{"TargetDeploymentMissing",
             With(Obs(Phase::kNone), [](auto& o) { o.target_exists = false; }), Phase::kRejected,
             ChaosEffect::kNone, reasons::kTargetNotFound, "Deployment chaos/api not found"},
        Case{"SurgeOverTheGlobalCap",
             With(Obs(Phase::kNone, SurgeSpec(600)),
                  [](auto& o) {
                    o.surge_clients_in_use = 1500;
                    o.max_surge_clients = 2000;
                  }),
             Phase::kRejected, ChaosEffect::kNone, reasons::kSurgeCapExceeded,
             "concurrency 600 with the 1500 surge clients already running exceeds the "
             "controller's cap of 2000"},
        Case{"SurgeUnderTheGlobalCap",
             With(Obs(Phase::kNone, SurgeSpec(500)),
                  [](auto& o) {
                    o.surge_clients_in_use = 1500;
                    o.max_surge_clients = 2000;
                  }),
             Phase::kInjecting, ChaosEffect::kInject, reasons::kInjecting, "500 clients"},
        Case{"NamespaceNotOptedIn",
             With(Obs(Phase::kNone), [](auto& o) { o.namespace_opted_in = false; }),
             Phase::kRejected, ChaosEffect::kNone, reasons::kNamespaceNotOptedIn,
             "namespace chaos does not carry the label poolguard.dev/chaos=enabled"},
        Case{"OverCap", With(Obs(Phase::kNone, LeakSpec(300)), [](auto&) {}), Phase::kRejected,
             ChaosEffect::kNone, reasons::kConnectionCapExceeded,
             "connections 300 exceeds the controller's cap of 200"},
        Case{"TargetBusy",
             With(Obs(Phase::kPending), [](auto& o) { o.active_on_same_target = {"chaos/other"}; }),
             Phase::kRejected, ChaosEffect::kNone, reasons::kTargetBusy,
             "experiment chaos/other is already active on deployment api"},
        Case{"DatabaseCapacity", Obs(Phase::kNone, LeakSpec(90)), Phase::kRejected,
             ChaosEffect::kNone, reasons::kDatabaseCapacity,
             "max_connections 100 - superuser_reserved_connections 3 - in use 10 - margin 5 = 82"},
        Case{"ExactlySpareIsAccepted", Obs(Phase::kNone, LeakSpec(82)), Phase::kInjecting,
             ChaosEffect::kInject, reasons::kInjecting},
        Case{"UnresolvedDatabaseFails",
             With(Obs(Phase::kNone),
                  [](auto& o) { o.resolve_error = "Service chaos/db not found"; }),
             Phase::kFailed, ChaosEffect::kNone, reasons::kResolutionFailed,
             "Service chaos/db not found"},
        Case{"InvalidSpecFails",
             With(Obs(Phase::kNone),
                  [](auto& o) {
                    o.spec.spec.reset();
                    o.spec.error = "spec.fault.connectionLeak.table: Required value";
                  }),
             Phase::kFailed, ChaosEffect::kNone, reasons::kInvalidSpec, "table"},
        Case{"InjectingStillMissing", Obs(Phase::kInjecting), Phase::kInjecting,
             ChaosEffect::kInject, ""},
        Case{"InjectingAllHeldBecomesActive",
             With(Obs(Phase::kInjecting),
                  [](auto& o) {
                    o.held = 5;
                    o.db_sessions = 5;
                  }),
             Phase::kActive, ChaosEffect::kNone, reasons::kInjected, "holding 5 connections"},
        Case{"InjectionFailedRollsBack",
             With(Obs(Phase::kInjecting),
                  [](auto& o) {
                    o.held = 2;
                    o.inject_error = "cannot connect";
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kInjectionFailed},
        Case{"InjectionFailedNothingHeldFails",
             With(Obs(Phase::kInjecting), [](auto& o) { o.inject_error = "cannot connect"; }),
             Phase::kFailed, ChaosEffect::kNone, reasons::kInjectionFailed, "cannot connect"},
        Case{"ActiveSteady",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.held = 5;
                    o.db_sessions = 5;
                  }),
             Phase::kActive, ChaosEffect::kNone, reasons::kInjected},
        Case{"ActiveExpired",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.held = 5;
                    o.now = *o.status.ends_at;
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kExpired, "duration 1m elapsed"},
        Case{"ActiveAborted",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.held = 5;
                    o.spec.spec->abort = true;
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kAborted},
        // Issue 14: the console names who aborted.
        Case{"ActiveAbortedByAUser",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.held = 5;
                    o.spec.spec->abort = true;
                    o.spec.spec->aborted_by = "system:serviceaccount:shop:alice";
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kAborted,
             "aborted (spec.abort by system:serviceaccount:shop:alice)"},
        Case{"RollingBackDoneAborted",
             With(Obs(Phase::kRollingBack),
                  [](auto& o) {
                    o.status.reason = reasons::kAborted;
                    o.db_sessions = 0;
                  }),
             Phase::kAborted, ChaosEffect::kNone, reasons::kAborted},
        Case{"RollingBackDoneExpired",
             With(Obs(Phase::kRollingBack), [](auto& o) { o.status.reason = reasons::kExpired; }),
             Phase::kCompleted, ChaosEffect::kNone, reasons::kExpired},
        Case{"RollingBackWaitsForSessions",
             With(Obs(Phase::kRollingBack),
                  [](auto& o) {
                    o.status.reason = reasons::kExpired;
                    o.db_sessions = 2;
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kExpired},
        Case{"SeveredNeverCompletes",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.held = 3;
                    o.db_sessions = 3;
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kSevered,
             "2 of 5 sessions severed"},
        Case{"SeveredAfterRestartNeverCompletes",
             With(Obs(Phase::kActive), [](auto& o) { o.db_sessions = 0; }), Phase::kCompleted,
             ChaosEffect::kNone, reasons::kSevered, "5 of 5 sessions severed"},
        Case{"SeveredOnSeverReinjects",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.spec.spec->reinject = Reinject::kOnSever;
                    o.db_sessions = 0;
                  }),
             Phase::kInjecting, ChaosEffect::kInject, reasons::kReinjecting},
        Case{"DeletingRollsBackFirst",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.deleting = true;
                    o.held = 5;
                  }),
             Phase::kRollingBack, ChaosEffect::kRollback, reasons::kDeleted},
        Case{"DeletingThenRemovesFinalizer",
             With(Obs(Phase::kRollingBack),
                  [](auto& o) {
                    o.deleting = true;
                    o.status.reason = reasons::kDeleted;
                    o.db_sessions = 0;
                  }),
             Phase::kRollingBack, ChaosEffect::kRemoveFinalizer, reasons::kDeleted},
        Case{"TerminalDropsFinalizer",
             With(Obs(Phase::kCompleted), [](auto& o) { o.status.reason = "Expired"; }),
             Phase::kCompleted, ChaosEffect::kRemoveFinalizer, "Expired"},
        Case{"AbortBeforeStart",
             With(Obs(Phase::kNone), [](auto& o) { o.spec.spec->abort = true; }), Phase::kAborted,
             ChaosEffect::kNone, reasons::kAborted},
        Case{"ShutdownRollsBack",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.shutting_down = true;
                    o.held = 5;
                  }),
             Phase::kActive, ChaosEffect::kRollback, ""},
        Case{"ShutdownRecordsNever",
             With(Obs(Phase::kActive), [](auto& o) { o.shutting_down = true; }), Phase::kCompleted,
             ChaosEffect::kNone, reasons::kControllerShutdown},
        Case{"ShutdownRecordsOnSever",
             With(Obs(Phase::kActive),
                  [](auto& o) {
                    o.shutting_down = true;
                    o.spec.spec->reinject = Reinject::kOnSever;
                  }),
             Phase::kActive, ChaosEffect::kNone, reasons::kControllerShutdown, "reinjects"}),
    [](const auto& tc) { return tc.param.name; });

TEST(Decide, InjectingSetsEndsAtAndApplicationName) {
  const ChaosDecision d = DecideChaos(Obs(Phase::kNone));
  ASSERT_TRUE(d.status.ends_at);
  EXPECT_EQ(*d.status.ends_at - *d.status.started_at, std::chrono::seconds(60));
  EXPECT_EQ(d.status.application_name, "poolguard-chaos/chaos/leak");
  const Condition* accepted = FindCondition(d.status.conditions, reasons::kAccepted);
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->status, "True");
  EXPECT_EQ(accepted->observed_generation, 2);
}

TEST(Decide, EndsAtKeepsAFractionalDuration) {
  auto o = Obs(Phase::kNone);
  o.spec.spec->duration = std::chrono::milliseconds(90'500);  // "90.5s"
  const ChaosDecision d = DecideChaos(o);
  ASSERT_TRUE(d.status.ends_at);
  EXPECT_EQ(*d.status.ends_at - *d.status.started_at, std::chrono::milliseconds(90'500));
}

TEST(Decide, ActiveRequeuesAtEndsAt) {
  auto o = Obs(Phase::kActive);
  o.held = 5;
  const ChaosDecision d = DecideChaos(o);
  ASSERT_TRUE(d.requeue_after);
  EXPECT_GE(*d.requeue_after, 50s);
  EXPECT_LE(*d.requeue_after, 51s);
  EXPECT_EQ(d.status.leaked_connections, 5);
}

TEST(Decide, ReportsWhatPostgresSees) {
  auto o = Obs(Phase::kActive);
  o.held = 5;
  o.db_sessions = 4;  // one died, the monitor has not noticed yet
  EXPECT_EQ(DecideChaos(o).status.leaked_connections, 4);
}

TEST(Decide, LevelBasedSteadyStateChangesNothing) {
  auto o = Obs(Phase::kNone);
  ChaosDecision d = DecideChaos(o);
  o.status = d.status;
  o.held = 5;
  o.db_sessions = 5;
  d = DecideChaos(o);  // → Active
  o.status = d.status;
  const ChaosDecision again = DecideChaos(o);
  EXPECT_TRUE(again.status == o.status);
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(again.effect, ChaosEffect::kNone);
}

TEST(Decide, TransitionTimeChangesOnlyOnFlip) {
  auto o = Obs(Phase::kInjecting);
  o.held = 5;
  SetCondition(&o.status.conditions, {reasons::kFaultActive, "False", "Injecting", "x", {}, 1},
               kNow - 100s);
  ChaosDecision d = DecideChaos(o);
  const auto* c = FindCondition(d.status.conditions, reasons::kFaultActive);
  EXPECT_EQ(*c->last_transition_time, kNow);
  o.status = d.status;
  o.now = kNow + 5s;
  d = DecideChaos(o);
  c = FindCondition(d.status.conditions, reasons::kFaultActive);
  EXPECT_EQ(*c->last_transition_time, kNow);
}

TEST(Decide, EventsOnRejection) {
  auto o = Obs(Phase::kNone);
  o.namespace_opted_in = false;
  const auto d = DecideChaos(o);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].reason, reasons::kNamespaceNotOptedIn);
}

TEST(Decide, SurgeIgnoresDatabaseCapacity) {
  ChaosSpec s = LeakSpec();
  s.type = FaultType::kTrafficSurge;
  s.concurrency = 500;
  s.target_service = "api";
  auto o = Obs(Phase::kNone, s);
  o.capacity = DbCapacity{10, 3, 9};
  EXPECT_EQ(DecideChaos(o).status.phase, Phase::kInjecting);
  o = Obs(Phase::kInjecting, s);
  o.held = 500;
  const auto d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kActive);
  EXPECT_EQ(d.status.surge_clients, 500);
}

// Issue 15: the cluster-wide kill switch refuses new experiments and ends running ones
// (rolled back first, Aborted with reason KillSwitch), whatever their fault.
TEST(Decide, TheKillSwitchRefusesNewExperimentsAndEndsRunningOnes) {
  const std::string where =
      R"(namespace poolguard-system carries poolguard.dev/chaos-kill-switch="game day over")";
  ChaosObserved o = Obs(Phase::kPending);
  o.kill_switch = where;
  ChaosDecision d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kRejected);
  EXPECT_EQ(d.status.reason, reasons::kKillSwitch);
  EXPECT_NE(d.status.message.find("game day over"), std::string::npos) << d.status.message;
  EXPECT_EQ(d.effect, ChaosEffect::kNone);

  o = Obs(Phase::kActive);
  o.held = 5;
  o.db_sessions = 5;
  o.kill_switch = where;
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kRollingBack);
  EXPECT_EQ(d.status.reason, reasons::kKillSwitch);
  EXPECT_EQ(d.effect, ChaosEffect::kRollback);
  o.status = d.status;
  o.held = 0;
  o.db_sessions = 0;
  o.kill_switch.clear();  // turned off meanwhile: the experiment still ends as it began to
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kAborted);
  EXPECT_EQ(d.status.reason, reasons::kKillSwitch);
}

// Issue 15: stop conditions end an experiment early, as Aborted (StopCondition): a
// Remediation that needs a person at once; a PromQL value above its bound only after `for`,
// counted from when it was first seen above (kept in status, so a restart keeps counting);
// no answer neither stops nor resets it.
TEST(Decide, StopConditionsEndTheExperimentEarly) {
  ChaosSpec spec = LeakSpec();
  spec.stop_on_needs_human = true;
  spec.stop_prometheus_url = "http://prometheus:9090";
  spec.stop_query = "error_ratio";
  spec.stop_above = 0.5;
  spec.stop_for = 10s;
  ChaosObserved o = Obs(Phase::kActive, spec);
  o.held = 5;
  o.db_sessions = 5;

  // Nothing holds: Active, and looked at again within 2 s (not only at endsAt).
  o.stop_value = 0.1;
  ChaosDecision d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kActive);
  ASSERT_TRUE(d.requeue_after);
  EXPECT_LE(*d.requeue_after, 2s);

  // Above the bound: noted, not yet stopped; looked at again when `for` is over.
  o.stop_value = 0.9;
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kActive);
  ASSERT_TRUE(d.status.stop_condition_since);
  EXPECT_EQ(*d.status.stop_condition_since, kNow);
  o.status = d.status;
  o.now = kNow + 4s;
  o.stop_value.reset();  // Prometheus did not answer: no change either way
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kActive);
  EXPECT_EQ(d.status.stop_condition_since, kNow);
  o.now = kNow + 10s;
  o.stop_value = 0.7;
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kRollingBack);
  EXPECT_EQ(d.status.reason, reasons::kStopCondition);
  EXPECT_NE(d.status.message.find("error_ratio = 0.700 > 0.500 for 10s"), std::string::npos)
      << d.status.message;

  // Back below before `for`: the count starts again.
  o.now = kNow + 5s;
  o.stop_value = 0.2;
  d = DecideChaos(o);
  EXPECT_FALSE(d.status.stop_condition_since);

  // A Remediation that gave up stops it at once.
  o = Obs(Phase::kActive, spec);
  o.held = 5;
  o.db_sessions = 5;
  o.needs_human = "Remediation chaos/api needs a person (NoApplicableAction: ...)";
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kRollingBack);
  EXPECT_EQ(d.status.reason, reasons::kStopCondition);
  o.status = d.status;
  o.held = 0;
  o.db_sessions = 0;
  d = DecideChaos(o);
  EXPECT_EQ(d.status.phase, Phase::kAborted);
  EXPECT_NE(d.status.message.find("needs a person"), std::string::npos);
}

}  // namespace
}  // namespace poolguard::controller
