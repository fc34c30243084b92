// The ChaosExperiment reconciler with recording fakes of its ports (sample-controller's way):
// each test sets up the cluster and the database as fixtures, calls Reconcile, and
// compares the list of effects it produced, in order.

#include "chaos/reconciler.h"

#include <gtest/gtest.h>

#include "fakes/fakes.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using fakes::ActionLog;
using Lines = std::vector<std::string>;

std::string DescribeChaos(const Json& object) {
  const ChaosStatus s = ParseChaosStatus(object);
  std::string out = "phase=" + std::string(PhaseName(s.phase)) + " reason=" + s.reason;
  if (s.leaked_connections) out += " held=" + std::to_string(*s.leaked_connections);
  if (s.password_rotated) out += std::string(" rotated=") + (*s.password_rotated ? "yes" : "no");
  if (s.database_stopped) out += std::string(" stopped=") + (*s.database_stopped ? "yes" : "no");
  if (s.service_partitioned) {
    out += std::string(" partitioned=") + (*s.service_partitioned ? "yes" : "no");
  }
  return out;
}

class ChaosReconcilerTest : public ::testing::Test {
 protected:
  ChaosReconcilerTest()
      : store_(&log_, DescribeChaos),
        engine_(&log_, [this](const std::string& app, int n) { admin_.Sessions(app, n); }),
        admin_(&log_),
        events_(&log_),
        clock_(std::make_shared<fakes::JumpClock>()),
        reconciler_(&store_, &reader_, &engine_, &admin_, &events_, nullptr, clock_, {}) {
    reader_.opted_in = {"demo"};
    reader_.services["demo/db:5432"] = {Endpoint{"10.0.0.5", 5432}};
    reader_.services["demo/api:8000"] = {Endpoint{"10.0.0.7", 8000}};
    reader_.secrets["demo/db-credentials"] = DbTarget{{}, "app", "secret", "app"};
    reader_.statefulsets["demo/db"] = 1;
    reader_.selectors["demo/db"] = {{"app.kubernetes.io/name", "db"}};
    reader_.log = &log_;
  }

  // A LockTable experiment of `connections` sessions on demo/api for 2 minutes.
  Json Experiment(const std::string& name, int connections = 3,
                  const std::string& reinject = "Never") {
    return Json::parse(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"ChaosExperiment",
      "metadata":{"name":")" +
                       name + R"(","namespace":"demo","generation":1,"uid":"u-)" + name + R"("},
      "spec":{"target":{"deployment":"api"},
              "database":{"service":"db","port":5432,"credentialsSecret":"db-credentials"},
              "fault":{"type":"ConnectionLeak","connectionLeak":{"connections":)" +
                       std::to_string(connections) + R"(,"mode":"Idle"}},
              "duration":"2m","reinject":")" +
                       reinject + R"("}})");
  }

  // A CredentialRotation experiment on demo/api's role (Secret db-credentials) for 2 minutes.
  Json Rotation(const std::string& name, bool terminate = true) {
    return Json::parse(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"ChaosExperiment",
      "metadata":{"name":")" +
                       name + R"(","namespace":"demo","generation":1,"uid":"u-)" + name + R"("},
      "spec":{"target":{"deployment":"api"},
              "database":{"service":"db","port":5432,"credentialsSecret":"db-credentials"},
              "fault":{"type":"CredentialRotation",
                       "credentialRotation":{"terminateSessions":)" +
                       (terminate ? "true" : "false") + R"(}},
              "duration":"2m"}})");
  }

  // A DatabaseDown experiment on demo/db for 2 minutes (Stopped, or `mode`).
  Json Down(const std::string& name, const std::string& mode = "Stopped") {
    return Json::parse(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"ChaosExperiment",
      "metadata":{"name":")" +
                       name + R"(","namespace":"demo","generation":1,"uid":"u-)" + name + R"("},
      "spec":{"target":{"deployment":"api"},
              "database":{"service":"db","port":5432,"credentialsSecret":"db-credentials"},
              "fault":{"type":"DatabaseDown","databaseDown":{"mode":")" +
                       mode + R"("}},
              "duration":"2m"}})");
  }

  // A NetworkPartition experiment on demo/db's Service for 2 minutes.
  Json Partition(const std::string& name, bool terminate = true) {
    return Json::parse(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"ChaosExperiment",
      "metadata":{"name":")" +
                       name + R"(","namespace":"demo","generation":1,"uid":"u-)" + name + R"("},
      "spec":{"target":{"deployment":"api"},
              "database":{"service":"db","port":5432,"credentialsSecret":"db-credentials"},
              "fault":{"type":"NetworkPartition",
                       "networkPartition":{"terminateSessions":)" +
                       (terminate ? "true" : "false") + R"(}},
              "duration":"2m"}})");
  }

  static void SettleWith(ChaosReconciler& reconciler, const std::string& key) {
    for (int i = 0; i < 10; ++i) {
      const ReconcileResult r = reconciler.Reconcile(key);
      if (!r.requeue_after || *r.requeue_after > 1s) break;
    }
  }

  // Reconciles `key` until it asks for no immediate look (a requeue of more than a second,
  // or none); returns the last result.
  ReconcileResult Settle(const std::string& key) {
    ReconcileResult r;
    for (int i = 0; i < 10; ++i) {
      r = reconciler_.Reconcile(key);
      if (!r.requeue_after || *r.requeue_after > 1s) break;
    }
    return r;
  }

  ActionLog log_;
  fakes::FakeStore store_;
  fakes::FakeClusterReader reader_;
  fakes::FakeFaultEngine engine_;
  fakes::FakePgAdmin admin_;
  fakes::FakeEvents events_;
  std::shared_ptr<fakes::JumpClock> clock_;
  ChaosReconciler reconciler_;
};

TEST_F(ChaosReconcilerTest, TheFinalizerAndTheIntentAreWrittenBeforeTheFirstSession) {
  store_.Put(Experiment("leak"));
  const ReconcileResult r = reconciler_.Reconcile("demo/leak");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update demo/leak finalizers=[poolguard.dev/chaos-rollback]",
                             "update-status demo/leak phase=Injecting reason=Injecting",
                             "inject demo/leak 3 as poolguard-chaos/demo/leak",
                             "update-status demo/leak phase=Active reason=Injected held=3",
                             "event demo/leak Normal Injected",
                         }));
  // Active until endsAt: the next look is at the end (with a little margin), not a poll.
  ASSERT_TRUE(r.requeue_after);
  EXPECT_GT(*r.requeue_after, 119s);
  EXPECT_LE(*r.requeue_after, 121s);
}

TEST_F(ChaosReconcilerTest, ALevelBasedSecondLookChangesNothing) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  reconciler_.Reconcile("demo/leak");
  reconciler_.Reconcile("demo/leak");
  EXPECT_EQ(log_.Take(), Lines{});
}

TEST_F(ChaosReconcilerTest, ANamespaceWithoutTheOptInLabelIsRejectedWithoutASession) {
  reader_.opted_in.clear();
  store_.Put(Experiment("leak"));
  Settle("demo/leak");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/leak phase=Rejected reason=NamespaceNotOptedIn",
                             "event demo/leak Warning NamespaceNotOptedIn",
                         }));
}

TEST_F(ChaosReconcilerTest, AFailedInjectionIsRecordedWithTheCauseAndNotRetried) {
  store_.Put(Experiment("leak"));
  engine_.fail_next_inject = "cannot connect to 10.0.0.5:5432: connection refused";
  Settle("demo/leak");
  const Lines lines = log_.Take();
  EXPECT_EQ(
      std::count(lines.begin(), lines.end(), "inject demo/leak 3 as poolguard-chaos/demo/leak"), 1)
      << ::testing::PrintToString(lines);
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/leak"));
  EXPECT_EQ(s.phase, Phase::kFailed) << ::testing::PrintToString(lines);
  EXPECT_EQ(s.reason, reasons::kInjectionFailed);
  EXPECT_NE(s.message.find("connection refused"), std::string::npos) << s.message;
  EXPECT_EQ(engine_.Held("demo/leak"), 0);
  Settle("demo/leak");  // a failed experiment stays failed
  for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("inject", 0), std::string::npos);
}

TEST_F(ChaosReconcilerTest, AtEndsAtTheRollbackIsRecordedFirstThenDone) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  clock_->Advance(121s);
  Settle("demo/leak");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/leak phase=RollingBack reason=Expired held=3",
                             "rollback demo/leak",
                             "update-status demo/leak phase=Completed reason=Expired held=0",
                             "event demo/leak Normal RolledBack",
                         }));
  EXPECT_EQ(admin_.CountSessions({}, "poolguard-chaos/demo/leak"), 0);
}

// The guardrail's capacity check opens the kept connection the run's sessions are then
// counted on (no login every few seconds); it is given up once no held fault uses its
// database, and a run the guardrail refuses gives it up at once.
TEST_F(ChaosReconcilerTest, TheKeptConnectionLastsAsLongAsAFaultIsHeldOnItsDatabase) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  EXPECT_EQ(admin_.capacity_on, std::vector<PgConnection>{PgConnection::kKept});
  for (const auto& keep : admin_.retained) {
    EXPECT_EQ(keep, std::vector<std::string>{"10.0.0.5:5432/app"});  // never dropped while held
  }
  clock_->Advance(121s);
  Settle("demo/leak");
  ASSERT_FALSE(admin_.retained.empty());
  EXPECT_EQ(admin_.retained.back(), std::vector<std::string>{});
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/leak")).phase, Phase::kCompleted);

  admin_.retained.clear();
  store_.Put(Experiment("big", 200));  // more than the fake database's 100 - 3 - 10 can spare
  Settle("demo/big");
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/big")).phase, Phase::kRejected);
  ASSERT_FALSE(admin_.retained.empty());
  EXPECT_EQ(admin_.retained.back(), std::vector<std::string>{});
}

// The kill switch at scale: a thousand rollbacks recorded one by one take seconds, so the
// switch closes every session this process holds first, then each run is recorded.
TEST_F(ChaosReconcilerTest, TheKillSwitchClosesSessionsBeforeAnyStatusAndTheRunEndsByIt) {
  store_.Put(Experiment("leak", 3, "OnSever"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  reconciler_.ReleaseHeld(R"(namespace ops carries poolguard.dev/chaos-kill-switch="stop")");
  EXPECT_EQ(log_.Take(), Lines{"rollback demo/leak"});  // nothing written before
  EXPECT_EQ(admin_.CountSessions({}, "poolguard-chaos/demo/leak"), 0);
  // The switch is off again (this reconciler reads none) before the run is looked at: a
  // severed OnSever run would be injected again, a released one ends as stopped by it.
  Settle("demo/leak");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/leak phase=Aborted reason=KillSwitch held=0",
                             "event demo/leak Normal KillSwitch",
                         }));
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/leak"));
  EXPECT_NE(s.message.find("chaos-kill-switch=\"stop\""), std::string::npos) << s.message;
  reconciler_.Reconcile("demo/leak");
  EXPECT_EQ(log_.Take(), Lines{"update demo/leak finalizers=[]"});  // done: never injected again
}

TEST_F(ChaosReconcilerTest, SessionsThatLingerAfterTheRollbackAreTerminated) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  clock_->Advance(121s);
  // Orphans of an earlier controller stay in pg_stat_activity after our own are closed.
  admin_.Sessions("poolguard-chaos/demo/leak", 2);
  Settle("demo/leak");
  const Lines lines = log_.Take();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "terminate-application poolguard-chaos/demo/leak keeping 0"),
            lines.end());
  EXPECT_EQ(admin_.CountSessions({}, "poolguard-chaos/demo/leak"), 0);
}

TEST_F(ChaosReconcilerTest, OrphansOfAPreviousControllerAreEndedBeforeReinjecting) {
  store_.Put(Experiment("leak", 3, "OnSever"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  // A new process: it holds nothing, while the server still shows the old (hung) one's
  // sessions. Re-injecting on top of them would double the fault.
  fakes::FakeFaultEngine fresh(&log_,
                               [this](const std::string& app, int n) { admin_.Sessions(app, n); });
  ChaosReconciler restarted(&store_, &reader_, &fresh, &admin_, &events_, nullptr, clock_, {});
  SettleWith(restarted, "demo/leak");
  const Lines lines = log_.Take();
  const auto terminate = std::find(lines.begin(), lines.end(),
                                   "terminate-application poolguard-chaos/demo/leak keeping 0");
  const auto inject =
      std::find(lines.begin(), lines.end(), "inject demo/leak 3 as poolguard-chaos/demo/leak");
  ASSERT_NE(terminate, lines.end()) << ::testing::PrintToString(lines);
  ASSERT_NE(inject, lines.end()) << ::testing::PrintToString(lines);
  EXPECT_LT(terminate, inject);
}

TEST_F(ChaosReconcilerTest, DeletingAnActiveExperimentRollsBackBeforeTheFinalizerGoes) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  Json deleting = *store_.Get("demo/leak");
  deleting["metadata"]["deletionTimestamp"] = Json::string("2027-01-15T08:00:00Z");
  store_.Remove("demo/leak");
  store_.Put(deleting);
  Settle("demo/leak");
  const Lines lines = log_.Take();
  const auto rollback = std::find(lines.begin(), lines.end(), "rollback demo/leak");
  const auto finalizer = std::find(lines.begin(), lines.end(), "update demo/leak finalizers=[]");
  ASSERT_NE(rollback, lines.end()) << ::testing::PrintToString(lines);
  ASSERT_NE(finalizer, lines.end()) << ::testing::PrintToString(lines);
  EXPECT_LT(rollback, finalizer);
  EXPECT_FALSE(store_.Get("demo/leak"));  // gone with its last finalizer
}

TEST_F(ChaosReconcilerTest, AGoneObjectLeavesNothingHeld) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  store_.Remove("demo/leak");  // deleted without our finalizer (forced)
  EXPECT_FALSE(reconciler_.Reconcile("demo/leak").requeue_after);
  EXPECT_EQ(log_.Take(), Lines{"rollback demo/leak"});
}

TEST_F(ChaosReconcilerTest, AStatusWriteThatConflictsThrowsAndNothingIsInjected) {
  store_.Put(Experiment("leak"));
  store_.FailNextStatusWrite();
  EXPECT_THROW(reconciler_.Reconcile("demo/leak"), kube::ApiError);
  const Lines lines = log_.Take();
  for (const auto& line : lines) EXPECT_EQ(line.rfind("inject", 0), std::string::npos) << line;
  // The retry (the queue's) reads again and goes on.
  Settle("demo/leak");
  EXPECT_EQ(engine_.Held("demo/leak"), 3);
}

TEST_F(ChaosReconcilerTest, OneExperimentPerTarget) {
  store_.Put(Experiment("first"));
  reconciler_.Reconcile("demo/first");
  store_.Put(Experiment("second"));
  log_.Take();
  Settle("demo/second");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/second phase=Rejected reason=TargetBusy",
                             "event demo/second Warning TargetBusy",
                         }));
}

TEST_F(ChaosReconcilerTest, ShutdownRollsBackAndRecordsWhy) {
  store_.Put(Experiment("leak"));
  reconciler_.Reconcile("demo/leak");
  log_.Take();
  reconciler_.Shutdown("demo/leak");
  const Lines lines = log_.Take();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "rollback demo/leak"), lines.end());
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/leak"));
  EXPECT_EQ(s.reason, reasons::kControllerShutdown);
}

// ---- CredentialRotation: the fault is a password the database holds, not a session
// this process holds, so every step is read back from PostgreSQL (a login with either
// password) and a restarted controller sets it back as surely as this one.

TEST_F(ChaosReconcilerTest, RotationRecordsTheRoleThenChangesThePasswordThenReportsIt) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot"));
  const std::string rotated = RotatedPassword("secret", "u-rot");
  ASSERT_NE(rotated, "secret");
  Settle("demo/rot");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update demo/rot finalizers=[poolguard.dev/chaos-rollback]",
                             "update-status demo/rot phase=Injecting reason=Injecting rotated=no",
                             "set-password app secret -> " + rotated + " ending sessions",
                             "update-status demo/rot phase=Active reason=Injected rotated=yes",
                             "event demo/rot Normal Injected",
                         }));
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/rot"));
  EXPECT_EQ(s.rotated_role, "app");
  EXPECT_EQ(reconciler_.Holding(), Lines{"demo/rot"});
}

TEST_F(ChaosReconcilerTest, RotationIsSetBackAtEndsAtAndTheExperimentCompletes) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot", false));
  Settle("demo/rot");
  log_.Take();
  clock_->Advance(121s);
  Settle("demo/rot");
  EXPECT_EQ(log_.Take(),
            (Lines{
                "update-status demo/rot phase=RollingBack reason=Expired rotated=yes",
                "set-password app " + RotatedPassword("secret", "u-rot") + " -> secret",
                "update-status demo/rot phase=Completed reason=Expired rotated=no",
                "event demo/rot Normal RolledBack",
            }));
  EXPECT_EQ(*admin_.role_password, "secret");
  EXPECT_TRUE(reconciler_.Holding().empty());
}

TEST_F(ChaosReconcilerTest, ANewControllerFindsTheRotatedPasswordAndSetsItBackOnTime) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot"));
  Settle("demo/rot");  // this controller dies here (kill -9): nothing is set back
  log_.Take();
  ChaosReconciler next(&store_, &reader_, &engine_, &admin_, &events_, nullptr, clock_, {});
  SettleWith(next, "demo/rot");
  EXPECT_EQ(log_.Take(), Lines{});  // still Active: not rotated twice, not set back early
  EXPECT_EQ(next.Holding(), Lines{"demo/rot"});
  clock_->Advance(121s);
  SettleWith(next, "demo/rot");
  EXPECT_EQ(*admin_.role_password, "secret");
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/rot")).phase, Phase::kCompleted);
}

TEST_F(ChaosReconcilerTest, ACrashBetweenIntentAndChangeRotatesOnceOnResume) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot"));
  admin_.set_password_error = "PostgreSQL at 10.0.0.5:5432: server closed the connection";
  Settle("demo/rot");
  log_.Take();
  // The first attempt failed as a crash would leave it: intent written, password unchanged.
  Json injecting = *store_.Get("demo/rot");
  ChaosStatus intent = ParseChaosStatus(injecting);
  ASSERT_EQ(intent.phase, Phase::kFailed);  // this one saw the error and said so
  EXPECT_NE(intent.message.find("server closed the connection"), std::string::npos);
  EXPECT_EQ(*admin_.role_password, "secret");  // nothing to set back
  intent.phase = Phase::kInjecting;
  intent.reason = reasons::kInjecting;
  injecting["status"] = ToJson(intent);
  store_.Remove("demo/rot");
  store_.Put(injecting);
  admin_.set_password_error.reset();
  ChaosReconciler next(&store_, &reader_, &engine_, &admin_, &events_, nullptr, clock_, {});
  SettleWith(next, "demo/rot");
  const Lines lines = log_.Take();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.rfind("set-password", 0) == 0; }),
            1)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/rot")).phase, Phase::kActive);
}

TEST_F(ChaosReconcilerTest, APasswordSetBackBySomeoneElseEndsTheExperimentAsSevered) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot"));
  Settle("demo/rot");
  log_.Take();
  admin_.role_password = "secret";  // a person ran ALTER ROLE
  Settle("demo/rot");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/rot"));
  EXPECT_EQ(s.phase, Phase::kCompleted);
  EXPECT_EQ(s.reason, reasons::kSevered);
  EXPECT_EQ(s.password_rotated, false);
  for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("set-password", 0), std::string::npos);
}

TEST_F(ChaosReconcilerTest, ARotationWhoseSecretDoesNotLogInIsRefusedUntouched) {
  admin_.role_password = "something-else";  // the Secret is stale already
  store_.Put(Rotation("rot"));
  Settle("demo/rot");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/rot"));
  EXPECT_EQ(s.phase, Phase::kFailed);
  EXPECT_EQ(s.reason, reasons::kResolutionFailed);
  EXPECT_NE(s.message.find("does not log in as role app"), std::string::npos) << s.message;
  EXPECT_EQ(*admin_.role_password, "something-else");
}

TEST_F(ChaosReconcilerTest, ShutdownSetsARotatedPasswordBack) {
  admin_.role_password = "secret";
  store_.Put(Rotation("rot"));
  Settle("demo/rot");
  log_.Take();
  for (const auto& key : reconciler_.Holding()) reconciler_.Shutdown(key);
  EXPECT_EQ(*admin_.role_password, "secret");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/rot"));
  EXPECT_EQ(s.reason, reasons::kControllerShutdown);
  EXPECT_EQ(s.password_rotated, false);
}

TEST(RotatedPassword, DependsOnTheSecretAndTheExperimentAndIsStable) {
  EXPECT_EQ(RotatedPassword("a", "u1"), RotatedPassword("a", "u1"));
  EXPECT_NE(RotatedPassword("a", "u1"), RotatedPassword("b", "u1"));
  EXPECT_NE(RotatedPassword("a", "u1"), RotatedPassword("a", "u2"));
  EXPECT_EQ(RotatedPassword("a", "u1").size(), 16u + 64u);  // prefix + SHA-256 in hex
}

// ---- DatabaseDown (Stopped): the fault is the StatefulSet's replicas, read back from it.

TEST_F(ChaosReconcilerTest, DatabaseDownRecordsTheReplicasThenScalesToZero) {
  reader_.statefulsets["demo/db"] = 2;
  store_.Put(Down("down"));
  Settle("demo/down");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update demo/down finalizers=[poolguard.dev/chaos-rollback]",
                             "update-status demo/down phase=Injecting reason=Injecting stopped=no",
                             "scale statefulset demo/db to 0",
                             "update-status demo/down phase=Active reason=Injected stopped=yes",
                             "event demo/down Normal Injected",
                         }));
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/down")).restore_replicas, 2);
  EXPECT_EQ(reconciler_.Holding(), Lines{"demo/down"});
}

TEST_F(ChaosReconcilerTest, DatabaseDownIsScaledBackAtEndsAtEvenByANewController) {
  reader_.statefulsets["demo/db"] = 2;
  store_.Put(Down("down"));
  Settle("demo/down");  // this controller dies here
  log_.Take();
  ChaosReconciler next(&store_, &reader_, &engine_, &admin_, &events_, nullptr, clock_, {});
  SettleWith(next, "demo/down");
  EXPECT_EQ(log_.Take(), Lines{});  // found stopped: not scaled again, not restored early
  clock_->Advance(121s);
  SettleWith(next, "demo/down");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/down phase=RollingBack reason=Expired stopped=yes",
                             "scale statefulset demo/db to 2",
                             "update-status demo/down phase=Completed reason=Expired stopped=no",
                             "event demo/down Normal RolledBack",
                         }));
  EXPECT_TRUE(next.Holding().empty());
}

// ---- DatabaseDown (Hung): one engine session holding pg_authid, no StatefulSet touched.

TEST_F(ChaosReconcilerTest, AHungDatabaseIsOneLockSessionThatEndsAtEndsAt) {
  reader_.statefulsets["demo/db"] = 1;
  store_.Put(Down("hang", "Hung"));
  Settle("demo/hang");
  EXPECT_EQ(log_.Take(),
            (Lines{
                "update demo/hang finalizers=[poolguard.dev/chaos-rollback]",
                "update-status demo/hang phase=Injecting reason=Injecting",
                "inject demo/hang 1 as poolguard-chaos/demo/hang (lock pg_catalog.pg_authid, end "
                "the role's sessions)",
                "update-status demo/hang phase=Active reason=Injected held=1",
                "event demo/hang Normal Injected",
            }));
  clock_->Advance(121s);
  Settle("demo/hang");
  EXPECT_EQ(log_.Take(), (Lines{
                             "update-status demo/hang phase=RollingBack reason=Expired held=1",
                             "rollback demo/hang",
                             "update-status demo/hang phase=Completed reason=Expired held=0",
                             "event demo/hang Normal RolledBack",
                         }));
  EXPECT_EQ(reader_.statefulsets["demo/db"], 1);
  EXPECT_TRUE(reconciler_.Holding().empty());
}

TEST_F(ChaosReconcilerTest, ADatabaseScaledUpBySomeoneElseIsSeveredAndLeftAlone) {
  store_.Put(Down("down"));
  Settle("demo/down");
  log_.Take();
  reader_.statefulsets["demo/db"] = 3;  // a person scaled it up
  Settle("demo/down");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/down"));
  EXPECT_EQ(s.phase, Phase::kCompleted);
  EXPECT_EQ(s.reason, reasons::kSevered);
  for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("scale", 0), std::string::npos);
  EXPECT_EQ(reader_.statefulsets["demo/db"], 3);
}

TEST_F(ChaosReconcilerTest, ADatabaseAlreadyAtZeroOrMissingIsNotTouched) {
  reader_.statefulsets["demo/db"] = 0;
  store_.Put(Down("down"));
  Settle("demo/down");
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/down")).reason, reasons::kDatabaseNotRunning);
  reader_.statefulsets.clear();
  store_.Put(Down("gone"));
  Settle("demo/gone");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/gone"));
  EXPECT_EQ(s.reason, reasons::kResolutionFailed);
  EXPECT_NE(s.message.find("StatefulSet demo/db not found"), std::string::npos) << s.message;
  for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("scale", 0), std::string::npos);
}

TEST_F(ChaosReconcilerTest, ShutdownScalesAStoppedDatabaseBack) {
  store_.Put(Down("down"));
  Settle("demo/down");
  for (const auto& key : reconciler_.Holding()) reconciler_.Shutdown(key);
  EXPECT_EQ(reader_.statefulsets["demo/db"], 1);
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/down")).reason, reasons::kControllerShutdown);
}

// ---- NetworkPartition: the fault is one key in the Service's selector, read back from it.

TEST_F(ChaosReconcilerTest, APartitionNamesTheServiceThenChangesItsSelectorThenEndsSessions) {
  store_.Put(Partition("cut"));
  Settle("demo/cut");
  EXPECT_EQ(log_.Take(),
            (Lines{
                "update demo/cut finalizers=[poolguard.dev/chaos-rollback]",
                "update-status demo/cut phase=Injecting reason=Injecting partitioned=no",
                "selector demo/db poolguard.dev/partitioned-by=u-cut",
                // At the address resolved before the Service lost it.
                "end-sessions app at 10.0.0.5:5432",
                "update-status demo/cut phase=Active reason=Injected partitioned=yes",
                "event demo/cut Normal Injected",
            }));
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/cut")).partitioned_service, "db");
  EXPECT_EQ(reader_.selectors["demo/db"].at("app.kubernetes.io/name"), "db");  // kept
  EXPECT_EQ(reconciler_.Holding(), Lines{"demo/cut"});
}

TEST_F(ChaosReconcilerTest, APartitionIsHealedAtEndsAtEvenByANewController) {
  store_.Put(Partition("cut", false));
  Settle("demo/cut");                 // this controller dies here
  EXPECT_EQ(log_.Take().size(), 5u);  // no session ended: terminateSessions false
  // The Service has no endpoints now: the new controller must not need them.
  reader_.services.erase("demo/db:5432");
  ChaosReconciler next(&store_, &reader_, &engine_, &admin_, &events_, nullptr, clock_, {});
  SettleWith(next, "demo/cut");
  EXPECT_EQ(log_.Take(), Lines{});  // found partitioned: not patched again, not healed early
  clock_->Advance(121s);
  SettleWith(next, "demo/cut");
  EXPECT_EQ(log_.Take(),
            (Lines{
                "update-status demo/cut phase=RollingBack reason=Expired partitioned=yes",
                "selector demo/db poolguard.dev/partitioned-by removed",
                "update-status demo/cut phase=Completed reason=Expired partitioned=no",
                "event demo/cut Normal RolledBack",
            }));
  EXPECT_EQ(reader_.selectors["demo/db"],
            (std::map<std::string, std::string>{{"app.kubernetes.io/name", "db"}}));
  EXPECT_TRUE(next.Holding().empty());
}

TEST_F(ChaosReconcilerTest, ASelectorSetBackBySomeoneElseIsSeveredAndLeftAlone) {
  store_.Put(Partition("cut"));
  Settle("demo/cut");
  log_.Take();
  reader_.selectors["demo/db"][kPartitionSelectorKey] = "someone-else";
  Settle("demo/cut");
  const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/cut"));
  EXPECT_EQ(s.phase, Phase::kCompleted);
  EXPECT_EQ(s.reason, reasons::kSevered);
  for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("selector", 0), std::string::npos);
  EXPECT_EQ(reader_.selectors["demo/db"][kPartitionSelectorKey], "someone-else");
}

TEST_F(ChaosReconcilerTest, AServiceMissingWithoutSelectorOrPartitionedIsNotTouched) {
  auto refused = [&](const std::string& name, const std::string& why) {
    store_.Put(Partition(name));
    Settle("demo/" + name);
    const ChaosStatus s = ParseChaosStatus(*store_.Get("demo/" + name));
    EXPECT_EQ(s.reason, reasons::kResolutionFailed) << name;
    EXPECT_NE(s.message.find(why), std::string::npos) << s.message;
    for (const auto& line : log_.Take()) EXPECT_EQ(line.rfind("selector", 0), std::string::npos);
  };
  reader_.selectors["demo/db"][kPartitionSelectorKey] = "u-other";
  refused("twice",
          "Service demo/db is partitioned already (selector "
          "poolguard.dev/partitioned-by=u-other)");
  reader_.selectors["demo/db"].clear();
  refused("manual", "Service demo/db has no selector");
  reader_.selectors.clear();
  refused("gone", "Service demo/db not found (spec.fault.networkPartition.service");
}

TEST_F(ChaosReconcilerTest, ShutdownAndDeletionHealAPartition) {
  store_.Put(Partition("cut"));
  Settle("demo/cut");
  for (const auto& key : reconciler_.Holding()) reconciler_.Shutdown(key);
  EXPECT_EQ(reader_.selectors["demo/db"].count(kPartitionSelectorKey), 0u);
  EXPECT_EQ(ParseChaosStatus(*store_.Get("demo/cut")).reason, reasons::kControllerShutdown);

  store_.Put(Partition("cut2"));
  Settle("demo/cut2");
  ASSERT_EQ(reader_.selectors["demo/db"].count(kPartitionSelectorKey), 1u);
  log_.Take();
  Json deleting = *store_.Get("demo/cut2");
  deleting["metadata"]["deletionTimestamp"] = Json::string("2027-01-15T08:00:00Z");
  store_.Remove("demo/cut2");
  store_.Put(deleting);
  Settle("demo/cut2");
  const Lines lines = log_.Take();
  const auto healed = std::find(lines.begin(), lines.end(),
                                "selector demo/db poolguard.dev/partitioned-by removed");
  const auto finalizer = std::find(lines.begin(), lines.end(), "update demo/cut2 finalizers=[]");
  ASSERT_NE(healed, lines.end()) << ::testing::PrintToString(lines);
  ASSERT_NE(finalizer, lines.end()) << ::testing::PrintToString(lines);
  EXPECT_LT(healed, finalizer);
  EXPECT_FALSE(store_.Get("demo/cut2"));
}

}  // namespace
}  // namespace poolguard::controller
