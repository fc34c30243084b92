#include "remediation/diagnose.h"

#include <gtest/gtest.h>

#include <functional>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

DbErrorCounts Logs(std::map<std::string, int> m, std::string sample = "") {
  DbErrorCounts c;
  c.by_kind = std::move(m);
  c.sample = std::move(sample);
  return c;
}

SessionRow Target(int pid, std::vector<int> blocked_by = {}) {
  SessionRow r;
  r.pid = pid;
  r.application_name = "poolguard-target";
  r.state = blocked_by.empty() ? "idle" : "active";
  r.state_seconds = 5;
  r.blocked_by = std::move(blocked_by);
  r.is_target = true;
  return r;
}

SessionRow LockHolder(int pid = 4242) {
  SessionRow r;
  r.pid = pid;
  r.application_name = "poolguard-chaos/ns/x";
  r.state = "idle in transaction";
  r.state_seconds = 41.7;
  r.lock_mode = "AccessExclusiveLock";
  r.lock_relation = "items";
  return r;
}

// A healthy database, as every collector would report it; cases change what they need.
Observations Healthy() {
  Observations o;
  o.db_pods = std::vector<PodState>{{"db-0", true, ""}};
  o.tcp = {Outcome::kPass, "10.0.0.5:5432 accepts connections"};
  o.login = LoginResult::kOk;
  o.prometheus_configured = true;
  o.prometheus = {Outcome::kPass, ""};
  o.logs = Logs({});
  o.pool_timeouts = 0;
  o.auth_errors = 0;
  o.capacity = DbCapacity{100, 3, 12};
  o.sessions = std::vector<SessionRow>{Target(101), Target(102)};
  o.signals = {{"poolSaturation/api-1", Outcome::kPass, 0, kNow, "2 of 5 checked out, 0 waiting"}};
  return o;
}

Observations With(Observations o, const std::function<void(Observations&)>& f) {
  f(o);
  return o;
}

void PoolTimeouts(Observations& o) {
  o.pool_timeouts = 57;
  o.logs = Logs({{"pool_timeout", 57}});
  o.signals = {
      {"poolSaturation/api-1", Outcome::kFail, 12, kNow, "5 of 5 checked out, 12 waiting"}};
}

void LockTable(Observations& o) {
  PoolTimeouts(o);
  o.sessions =
      std::vector<SessionRow>{LockHolder(),        Target(101, {4242}), Target(102, {4242}),
                              Target(103, {4242}), Target(104, {4242}), Target(105, {4242})};
}

struct DiagnoseCase {
  std::string name;
  Observations observed;
  Conclusion conclusion;
  Confidence confidence;
  std::string check;  // a check whose evidence must contain `evidence`
  std::string evidence;
  std::string summary = "";
};
void PrintTo(const DiagnoseCase& c, std::ostream* os) { *os << c.name; }
class DiagnoseTable : public ::testing::TestWithParam<DiagnoseCase> {};

TEST_P(DiagnoseTable, Concludes) {
  const auto& c = GetParam();
  const Diagnosis d = Diagnose(c.observed);
  EXPECT_EQ(ConclusionName(d.conclusion), ConclusionName(c.conclusion)) << d.summary;
  EXPECT_EQ(ConfidenceName(d.confidence), ConfidenceName(c.confidence)) << d.summary;
  ASSERT_EQ(d.checks.size(), 6u);
  const std::vector<std::string> names = {"DatabaseRunning",      "NetworkReachable",
                                          "AuthenticationErrors", "PoolTimeouts",
                                          "BlockingSessions",     "ServerSlots"};
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(d.checks[i].name, names[i]);
  const auto it = std::find_if(d.checks.begin(), d.checks.end(),
                               [&](const auto& k) { return k.name == c.check; });
  ASSERT_NE(it, d.checks.end());
  EXPECT_NE(it->evidence.find(c.evidence), std::string::npos) << it->evidence;
  EXPECT_NE(d.summary.find(c.summary), std::string::npos) << d.summary;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DiagnoseTable,
    ::testing::Values(
        DiagnoseCase{"HealthyIsUnknownLow", Healthy(), Conclusion::kUnknown, Confidence::kLow,
                     "BlockingSessions", "no session waits on a lock (2 sessions)"},
        DiagnoseCase{"PoolExhaustedWithHealthyDatabase", With(Healthy(), PoolTimeouts),
                     Conclusion::kConnectionPoolExhausted, Confidence::kHigh, "PoolTimeouts",
                     "57 pool timeouts in metrics; 57 pool_timeout errors in logs; "
                     "saturated: poolSaturation/api-1 (5 of 5 checked out, 12 waiting)",
                     "independent signals agree"},
        // DESIGN.md: a lock holder explains the pool timeouts; restarting the pool is not the fix.
        DiagnoseCase{"LockHolderIsLockContentionNotPoolExhaustion", With(Healthy(), LockTable),
                     Conclusion::kLockContention, Confidence::kHigh, "BlockingSessions",
                     "1 session idle in transaction 41s holding AccessExclusiveLock on items "
                     "(application_name poolguard-chaos/ns/x), 5 target sessions waiting"},
        DiagnoseCase{"LockHolderWithStrandedSlotsIsStillLockContention",
                     With(Healthy(),
                          [](Observations& o) {
                            LockTable(o);
                            o.capacity = DbCapacity{100, 3, 99};
                            o.logs = Logs({{"pool_timeout", 3}, {"too_many_clients", 40}});
                          }),
                     Conclusion::kLockContention, Confidence::kHigh, "ServerSlots",
                     "99 of 97 usable slots in use (max_connections 100 - 3 reserved); 40 "
                     "too_many_clients errors in logs",
                     "waiting backends hold the server's slots"},
        DiagnoseCase{"SlotsExhaustedWithoutLocks",
                     With(Healthy(),
                          [](Observations& o) {
                            o.capacity = DbCapacity{100, 3, 97};
                            o.logs = Logs({{"too_many_clients", 12}});
                          }),
                     Conclusion::kServerSlotsExhausted, Confidence::kHigh, "ServerSlots",
                     "97 of 97 usable slots in use"},
        DiagnoseCase{"SlotsExhaustedDiagnosticLoginRefused",
                     With(Healthy(),
                          [](Observations& o) {
                            o.login = LoginResult::kTooManyClients;
                            o.login_detail = "FATAL: sorry, too many clients already";
                            o.capacity.reset();
                            o.sessions.reset();
                          }),
                     Conclusion::kServerSlotsExhausted, Confidence::kMedium, "BlockingSessions",
                     "pg_stat_activity not read: FATAL: sorry, too many clients already",
                     "inconclusive: BlockingSessions"},
        DiagnoseCase{"DatabaseDown",
                     With(Healthy(),
                          [](Observations& o) {
                            o.db_pods = std::vector<PodState>{{"db-0", false, "CrashLoopBackOff"}};
                            o.tcp = {Outcome::kFail, "connection refused"};
                            o.login = LoginResult::kRefused;
                            o.capacity.reset();
                            o.sessions.reset();
                            o.logs = Logs({{"connection_refused", 9}});
                          }),
                     // The checks that ask the database cannot run while it is down: no
                     // doubt about the conclusion (pods and refused connections agree).
                     Conclusion::kDatabaseDown, Confidence::kHigh, "DatabaseRunning",
                     "db-0 not Ready (CrashLoopBackOff)",
                     "confidence High: independent signals agree"},
        // A DatabaseDown (Stopped) experiment: no pods, no endpoint behind the Service.
        DiagnoseCase{"DatabaseStopped",
                     With(Healthy(),
                          [](Observations& o) {
                            o.db_pods = std::vector<PodState>{};
                            o.tcp = {Outcome::kFail,
                                     "Service ns/db port 5432 has no ready endpoints in its "
                                     "EndpointSlices"};
                            o.login = LoginResult::kNotTried;
                            o.capacity.reset();
                            o.sessions.reset();
                            o.logs = Logs({{"connection_refused", 3}});
                          }),
                     Conclusion::kDatabaseDown, Confidence::kHigh, "NetworkReachable",
                     "no ready endpoints", "database pods not Ready, and connections are refused"},
        // A DatabaseDown (Hung) experiment: the pod Ready, the port open, no login answered
        // (pg_authid locked), the diagnostic queries cut by their statement timeout.
        DiagnoseCase{"DatabaseHung",
                     With(Healthy(),
                          [](Observations& o) {
                            o.login = LoginResult::kTimedOut;
                            o.login_detail = "timeout expired";
                            o.capacity.reset();
                            o.sessions.reset();
                            PoolTimeouts(o);
                          }),
                     Conclusion::kDatabaseDown, Confidence::kHigh, "DatabaseRunning",
                     "TCP connect ok, but a login got no answer in time (the server is hung)",
                     "answers no login (hung)"},
        // No answer to a login, and none to TCP either: the network, not a hung server.
        DiagnoseCase{"LoginTimedOutAndTcpToo",
                     With(Healthy(),
                          [](Observations& o) {
                            o.tcp = {Outcome::kFail, "10.0.0.5:5432: connect timed out"};
                            o.login = LoginResult::kTimedOut;
                            o.capacity.reset();
                            o.sessions.reset();
                          }),
                     Conclusion::kNetworkUnreachable, Confidence::kMedium, "NetworkReachable",
                     "connect timed out"},
        DiagnoseCase{"NetworkUnreachable",
                     With(Healthy(),
                          [](Observations& o) {
                            o.tcp = {Outcome::kFail, "10.0.0.5:5432: no route to host"};
                            o.login = LoginResult::kRefused;
                            o.capacity.reset();
                            o.sessions.reset();
                          }),
                     Conclusion::kNetworkUnreachable, Confidence::kMedium, "NetworkReachable",
                     "no route to host"},
        DiagnoseCase{"CredentialsRejected",
                     With(Healthy(),
                          [](Observations& o) {
                            o.login = LoginResult::kAuthRejected;
                            o.login_detail = "password authentication failed for user \"app\"";
                            o.logs = Logs({{"authentication", 30}});
                            o.auth_errors = 30;
                          }),
                     Conclusion::kCredentialsRejected, Confidence::kHigh, "AuthenticationErrors",
                     "login with the target's credentials rejected: password authentication "
                     "failed for user \"app\"; 30 authentication errors in logs; "
                     "30 authentication errors in metrics"},
        DiagnoseCase{"PoolTimeoutsButSessionsUnknownIsNotHigh",
                     With(Healthy(),
                          [](Observations& o) {
                            PoolTimeouts(o);
                            o.sessions.reset();
                          }),
                     Conclusion::kConnectionPoolExhausted, Confidence::kMedium, "BlockingSessions",
                     "not read"},
        // Issue 7, test 7: Prometheus down; logs and the database still tell the story, but
        // the diagnosis says its confidence is lower.
        DiagnoseCase{"PrometheusDownLowersConfidence",
                     With(Healthy(),
                          [](Observations& o) {
                            LockTable(o);
                            o.prometheus = {Outcome::kError, "connection refused"};
                            o.pool_timeouts.reset();
                            o.auth_errors.reset();
                          }),
                     Conclusion::kLockContention, Confidence::kMedium, "PoolTimeouts",
                     "pool_timeout errors in logs",
                     "Prometheus unavailable (connection refused): metrics missing"},
        DiagnoseCase{"NothingGatheredIsLow",
                     With(Observations{},
                          [](Observations& o) {
                            o.logs = Logs({{"pool_timeout", 3}});
                          }),
                     Conclusion::kConnectionPoolExhausted, Confidence::kLow, "DatabaseRunning",
                     "pods not read"}));

TEST(Diagnose, TerminatesOnlyForeignRootBlockers) {
  Observations o = Healthy();
  LockTable(o);
  SessionRow chained = Target(106, {101});  // waits behind a waiting target session
  SessionRow own = Target(200);             // a target session holding a lock itself
  own.state = "idle in transaction";
  own.lock_mode = "RowExclusiveLock";
  own.lock_relation = "items";
  o.sessions->push_back(chained);
  o.sessions->push_back(own);
  o.sessions->push_back(Target(107, {200}));
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kLockContention);
  EXPECT_EQ(d.blocking_pids, std::vector<int>{4242});
  EXPECT_NE(d.checks[4].evidence.find("the target's own session: not terminated"),
            std::string::npos)
      << d.checks[4].evidence;
}

SessionRow Other(int pid, std::string application_name, std::string state, double seconds) {
  SessionRow r;
  r.pid = pid;
  r.application_name = std::move(application_name);
  r.state = std::move(state);
  r.state_seconds = seconds;
  r.role = "shop";
  return r;
}

// An Idle leak at capacity (another client's sessions, doing nothing): the lesser fix is
// ending those, longest idle first; never the target's, a session still working, one idle
// for less than idleSlotHolder, or a controller's own diagnostic session.
TEST(Diagnose, SlotsHeldByIdleSessionsOfOthersAreTheOnesToEnd) {
  Observations o = Healthy();
  o.capacity = DbCapacity{100, 3, 97};
  o.login = LoginResult::kTooManyClients;
  o.idle_slot_holder = 10s;
  o.sessions->push_back(Other(301, "poolguard-chaos/ns/leak", "idle", 25));
  o.sessions->push_back(Other(302, "poolguard-chaos/ns/leak", "idle", 40));
  o.sessions->push_back(Other(303, "report-job", "idle in transaction", 12));
  o.sessions->push_back(Other(304, "report-job", "active", 60));                // working
  o.sessions->push_back(Other(305, "psql", "idle", 9.5));                       // too recent
  o.sessions->push_back(Other(306, "poolguard-controller-diag", "idle", 600));  // a controller's
  SessionRow own = Target(103);
  own.state_seconds = 300;  // the target's own idle pool connection
  o.sessions->push_back(own);
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kServerSlotsExhausted) << d.summary;
  EXPECT_EQ(d.confidence, Confidence::kHigh) << d.summary;
  EXPECT_EQ(d.blocking_pids, (std::vector<int>{302, 301, 303}));
  EXPECT_NE(d.checks[5].evidence.find(
                "3 sessions of other clients idle 10s or longer hold slots: idle 40s "
                "(application_name poolguard-chaos/ns/leak, role shop); idle 25s"),
            std::string::npos)
      << d.checks[5].evidence;
}

TEST(Diagnose, SlotsExhaustedWithNoIdleHolderSaysSoAndEndsNothing) {
  Observations o = Healthy();
  o.capacity = DbCapacity{100, 3, 97};
  o.login = LoginResult::kTooManyClients;
  o.idle_slot_holder = 30s;
  o.sessions->push_back(Other(301, "poolguard-chaos/ns/leak", "idle", 25));
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kServerSlotsExhausted) << d.summary;
  EXPECT_TRUE(d.blocking_pids.empty());
  EXPECT_NE(d.checks[5].evidence.find("no other client's session idle 30s or longer"),
            std::string::npos)
      << d.checks[5].evidence;
}

// Idle sessions of others are no one's problem while the server has room.
TEST(Diagnose, IdleSessionsOfOthersWithRoomLeftAreNotHolders) {
  Observations o = Healthy();
  o.sessions->push_back(Other(301, "poolguard-chaos/ns/leak", "idle", 400));
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.checks[5].result, Outcome::kPass) << d.checks[5].evidence;
  EXPECT_TRUE(d.blocking_pids.empty());
}

TEST(Diagnose, OnlyOthersBlockedIsNotTheTargetsProblem) {
  Observations o = Healthy();
  SessionRow other;
  other.pid = 300;
  other.application_name = "psql";
  other.state = "active";
  other.blocked_by = {4242};
  o.sessions = std::vector<SessionRow>{LockHolder(), other};
  o.sessions_matched_by = R"(role "shop" or a client address of 2 pods)";
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.checks[4].result, Outcome::kPass) << d.checks[4].evidence;
  EXPECT_TRUE(d.blocking_pids.empty());
  // It says how the target's sessions were told apart, so a wrong match shows.
  EXPECT_NE(
      d.checks[4].evidence.find(
          R"(the target is not blocked (its sessions: role "shop" or a client address of 2 pods))"),
      std::string::npos)
      << d.checks[4].evidence;
}

// The reference design's app, seen as PoolGuard sees any app: no metrics, no pool
// timeouts in its logs yet, but the database shows every one of its sessions stuck behind
// a lock holder. The pool check reads that from the database's side: LockContention, High.
TEST(Diagnose, AnAppWithoutMetricsIsCorroboratedByItsPoolAsTheDatabaseShowsIt) {
  Observations o = Healthy();
  o.prometheus_configured = false;
  o.pool_timeouts.reset();
  o.signals.clear();  // no /metrics at all
  o.sessions = std::vector<SessionRow>{LockHolder(), Target(101, {4242}), Target(102, {4242})};
  DbSessionsInput in;
  in.sessions = o.sessions;
  o.db_pool = ViewDbPool(in);
  o.sessions_matched_by = R"(role "shop")";
  Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kLockContention) << d.summary;
  EXPECT_EQ(d.confidence, Confidence::kHigh) << d.summary;
  EXPECT_EQ(d.checks[3].result, Outcome::kFail);
  EXPECT_EQ(d.checks[3].evidence,
            "starved as the database shows: 2 of 2 target sessions wait on a lock, none idle")
      << d.checks[3].evidence;
  EXPECT_EQ(d.blocking_pids, std::vector<int>{4242});
  // One session of the target still idle: the pool has a connection left, no corroboration.
  o.sessions->push_back(Target(103));
  in.sessions = o.sessions;
  o.db_pool = ViewDbPool(in);
  d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kLockContention) << d.summary;
  EXPECT_EQ(d.confidence, Confidence::kMedium) << d.summary;
}

// A surge of slow requests on an app without metrics, before its first pool timeout: the
// database shows every session its pools hold running a query, none blocked, room on the
// server. ConnectionPoolExhausted, High (the lock and slot checks pass).
TEST(Diagnose, AnAppWithoutMetricsWhosePoolsAreAllAtWorkIsPoolExhausted) {
  Observations o = Healthy();
  o.prometheus_configured = false;
  o.pool_timeouts.reset();
  o.signals.clear();
  o.sessions = std::vector<SessionRow>{};
  for (int pid = 101; pid <= 110; ++pid) {
    SessionRow r = Target(pid);
    r.state = "active";
    r.state_seconds = 0.2;
    o.sessions->push_back(r);
  }
  DbSessionsInput in;
  in.sessions = o.sessions;
  in.pool_capacity = 10;
  o.db_pool = ViewDbPool(in);
  const Diagnosis d = Diagnose(o);
  EXPECT_EQ(d.conclusion, Conclusion::kConnectionPoolExhausted) << d.summary;
  EXPECT_EQ(d.confidence, Confidence::kHigh) << d.summary;
  EXPECT_EQ(d.checks[3].evidence,
            "starved as the database shows: all 10 target sessions running queries, none idle "
            "(pools hold 10)");
}

}  // namespace
}  // namespace poolguard::controller
