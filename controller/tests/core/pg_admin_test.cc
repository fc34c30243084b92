// The PostgreSQL admin port (PgAdmin) against a real PostgreSQL (scripts/pg, started once
// for the suite), and the collector's TCP probe against its port.

#include "core/pg_admin.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/io/pg.h"
#include "net.h"  // tests/support
#include "remediation/probes.h"
#include "scratch_pg.h"  // tests/support

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

// ---- helpers ------------------------------------------------------------------------

PgPtr Connect(const DbTarget& db, const std::string& application_name) {
  const std::string port = std::to_string(db.endpoint.port);
  const char* keys[] = {"host", "port", "user", "password", "dbname", "application_name", nullptr};
  const char* values[] = {db.endpoint.host.c_str(),
                          port.c_str(),
                          db.user.c_str(),
                          db.password.c_str(),
                          db.database.c_str(),
                          application_name.c_str(),
                          nullptr};
  PgPtr conn(PQconnectdbParams(keys, values, 0));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("connect failed: " + std::string(PQerrorMessage(conn.get())));
  }
  return conn;
}

std::string Query(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  std::string value;
  if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) value = PQgetvalue(r, 0, 0);
  const std::string error = PQresultErrorMessage(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + error);
  }
  return value;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

// Waits for the results of a query sent with PQsendQuery; true when it succeeded.
bool FinishQuery(PGconn* conn, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (PQisBusy(conn)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(conn), POLLIN, 0};
    poll(&p, 1, static_cast<int>(left.count()));
    if (PQconsumeInput(conn) == 0) return false;
  }
  bool ok = true;
  while (PGresult* r = PQgetResult(conn)) {
    ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  return ok;
}

// A port nothing listens on (bound, then released).
int ClosedPort() { return ::poolguard::testing::FreePort(); }

// One PostgreSQL for the PgAdmin suite, torn down at exit. A small max_connections
// so that the slots can be filled; `app` is an ordinary role with a password.
class Pg {
 public:
  static constexpr int kMaxConnections = 15;
  static Pg& Shared() {
    static Pg pg;
    return pg;
  }
  int port() const { return server_.port(); }
  DbTarget Superuser(const std::string& database = "postgres") const {
    return DbTarget{Endpoint{server_.host(), port()}, "postgres", "postgres", database};
  }
  DbTarget App() const { return DbTarget{Endpoint{server_.host(), port()}, "app", "app-secret"}; }

 private:
  Pg() : server_("poolguard-pg-admin", kMaxConnections) {
    PgPtr admin = Connect(Superuser(), "setup");
    Query(admin.get(), "CREATE ROLE app LOGIN PASSWORD 'app-secret'");
    Query(admin.get(), "CREATE TABLE t (id int)");
    Query(admin.get(), "INSERT INTO t VALUES (1)");
    Query(admin.get(), "GRANT SELECT, UPDATE ON t TO app");  // UPDATE: LOCK TABLE as app
    Query(admin.get(), "CREATE DATABASE other");
  }
  ::poolguard::testing::ScratchPg server_;
};

const SessionRow* FindPid(const std::vector<SessionRow>& rows, int pid) {
  for (const auto& row : rows) {
    if (row.pid == pid) return &row;
  }
  return nullptr;
}

int CountDiagnostics(PGconn* admin) {
  return std::stoi(Query(admin,
                         "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                         "'poolguard-controller-diagnostics'"));
}

// A chaos lock holder on t, connected with the target's role as the demo's experiments
// are, and two target sessions ("api", role app) waiting for it.
struct LockScene {
  PgPtr holder;
  std::vector<PgPtr> waiters;
  int holder_pid = 0;
  std::vector<int> waiter_pids;

  explicit LockScene(const Pg& pg) {
    holder = Connect(pg.App(), "poolguard-chaos/x");
    Query(holder.get(), "BEGIN");
    Query(holder.get(), "LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    holder_pid = PQbackendPID(holder.get());
    for (int i = 0; i < 2; ++i) {
      waiters.push_back(Connect(pg.App(), "api"));
      if (PQsendQuery(waiters.back().get(), "SELECT * FROM t") != 1) {
        throw std::runtime_error("PQsendQuery failed");
      }
      waiter_pids.push_back(PQbackendPID(waiters.back().get()));
    }
    std::sort(waiter_pids.begin(), waiter_pids.end());
    PgPtr admin = Connect(pg.Superuser(), "test-admin");
    const bool waiting = WaitUntil([&] {
      return Query(admin.get(),
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                   "'api' AND wait_event_type = 'Lock'") == "2";
    });
    if (!waiting) throw std::runtime_error("the target sessions never waited on the lock");
  }
};

// ---- PgAdmin ---------------------------------------------------------------------

SessionFilter ByRole(const std::string& role, const std::string& application_name = "") {
  SessionFilter filter;
  filter.role = role;
  filter.application_name = application_name;
  return filter;
}

TEST(PgAdmin, SessionsShowTheHolderAndTheWaiters) {
  Pg& pg = Pg::Shared();
  LockScene scene(pg);
  auto db = NewPgAdmin();
  const std::vector<SessionRow> rows = db->Sessions(pg.Superuser(), ByRole("app"));

  const SessionRow* holder = FindPid(rows, scene.holder_pid);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->application_name, "poolguard-chaos/x");
  EXPECT_EQ(holder->state, "idle in transaction");
  EXPECT_EQ(holder->lock_mode, "AccessExclusiveLock");
  EXPECT_EQ(holder->lock_relation, "t");
  EXPECT_TRUE(holder->blocked_by.empty());
  EXPECT_EQ(holder->role, "app");
  EXPECT_FALSE(holder->is_target) << "an experiment's session is never the target's";
  EXPECT_GE(holder->state_seconds, 0);

  for (const int pid : scene.waiter_pids) {
    const SessionRow* waiter = FindPid(rows, pid);
    ASSERT_NE(waiter, nullptr) << pid;
    EXPECT_EQ(waiter->application_name, "api");
    EXPECT_EQ(waiter->role, "app");
    EXPECT_EQ(waiter->client_address, "127.0.0.1");
    EXPECT_EQ(waiter->state, "active");
    EXPECT_EQ(waiter->blocked_by, std::vector<int>{scene.holder_pid});
    EXPECT_TRUE(waiter->is_target);
  }
  for (const auto& row : rows) {
    EXPECT_NE(row.application_name, "poolguard-controller-diagnostics") << row.pid;
  }
}

TEST(PgAdmin, SessionsMarkTheTargetByItsAddresses) {
  Pg& pg = Pg::Shared();
  PgPtr other = Connect(pg.App(), "someone-else");
  auto db = NewPgAdmin();

  SessionFilter by_address;
  by_address.addresses = {"10.1.2.3", "127.0.0.1"};
  auto rows = db->Sessions(pg.Superuser(), by_address);
  const SessionRow* row = FindPid(rows, PQbackendPID(other.get()));
  ASSERT_NE(row, nullptr);
  EXPECT_TRUE(row->is_target);
  EXPECT_EQ(row->state, "idle");

  by_address.addresses = {"10.1.2.3"};
  rows = db->Sessions(pg.Superuser(), by_address);
  row = FindPid(rows, PQbackendPID(other.get()));
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->is_target);
}

TEST(PgAdmin, SessionsMarkTheTargetByRoleAndApplicationName) {
  Pg& pg = Pg::Shared();
  PgPtr api = Connect(pg.App(), "api");
  PgPtr cron = Connect(pg.App(), "");
  PgPtr psql = Connect(pg.Superuser(), "psql");
  auto db = NewPgAdmin();
  auto is_target = [&](const SessionFilter& filter, const PgPtr& session) {
    const auto rows = db->Sessions(pg.Superuser(), filter);
    const SessionRow* row = FindPid(rows, PQbackendPID(session.get()));
    if (row == nullptr) throw std::runtime_error("session not listed");
    return row->is_target;
  };
  EXPECT_TRUE(is_target(ByRole("app"), api));
  EXPECT_TRUE(is_target(ByRole("app"), cron));
  EXPECT_FALSE(is_target(ByRole("app"), psql));
  // A role other clients share, narrowed by the name the app sets.
  EXPECT_TRUE(is_target(ByRole("app", "api"), api));
  EXPECT_FALSE(is_target(ByRole("app", "api"), cron));
  EXPECT_FALSE(is_target(SessionFilter{}, api));
}

TEST(PgAdmin, CapacityMatchesTheServer) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  auto db = NewPgAdmin();
  // Both counts include the admin session and the kept diagnostic one. They are read one
  // after the other, and a backend of an earlier test may still be exiting (its client
  // has gone): read both again until no such exit falls between them.
  DbCapacity capacity;
  int counted = -1;
  EXPECT_TRUE(WaitUntil(
      [&] {
        capacity = db->Capacity(pg.Superuser(), PgConnection::kKept);
        counted = std::stoi(Query(admin.get(),
                                  "SELECT count(*) FROM pg_stat_activity "
                                  "WHERE backend_type = 'client backend'"));
        return capacity.in_use == counted;
      },
      10s))
      << "Capacity says " << capacity.in_use << " in use, pg_stat_activity " << counted;
  EXPECT_EQ(capacity.max_connections, std::stoi(Query(admin.get(), "SHOW max_connections")));
  EXPECT_EQ(capacity.max_connections, Pg::kMaxConnections);
  EXPECT_EQ(capacity.reserved,
            std::stoi(Query(admin.get(), "SHOW superuser_reserved_connections")));
  EXPECT_GE(capacity.in_use, 2);
}

TEST(PgAdmin, LoginClassifiesWhatTheTargetWouldSee) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();

  LoginAttempt ok = db->Login(pg.App());
  EXPECT_EQ(ok.result, LoginResult::kOk) << ok.detail;

  DbTarget wrong = pg.App();
  wrong.password = "not-the-password-42";
  LoginAttempt rejected = db->Login(wrong);
  EXPECT_EQ(rejected.result, LoginResult::kAuthRejected) << rejected.detail;
  EXPECT_NE(rejected.detail.find("password authentication failed"), std::string::npos)
      << rejected.detail;
  EXPECT_EQ(rejected.detail.find("not-the-password-42"), std::string::npos);
  EXPECT_EQ(rejected.detail.find('\n'), std::string::npos);

  DbTarget no_role = pg.App();
  no_role.user = "nobody";
  EXPECT_EQ(db->Login(no_role).result, LoginResult::kAuthRejected);

  DbTarget closed = pg.App();
  closed.endpoint.port = ClosedPort();
  LoginAttempt refused = db->Login(closed);
  EXPECT_EQ(refused.result, LoginResult::kRefused) << refused.detail;
  EXPECT_FALSE(refused.detail.empty());

  DbTarget no_database = pg.App();
  no_database.database = "no_such_database";
  LoginAttempt other = db->Login(no_database);
  EXPECT_EQ(other.result, LoginResult::kOtherError) << other.detail;
  EXPECT_NE(other.detail.find("no_such_database"), std::string::npos) << other.detail;
}

// A hung server (the DatabaseDown Hung fault: a superuser holds pg_authid locked): the
// port accepts the connection, the login gets no answer. Told apart from a refusal.
TEST(PgAdmin, ALoginAHungServerDoesNotAnswerTimesOut) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();
  PgPtr holder = Connect(pg.Superuser(), "test-hang");
  Query(holder.get(), "BEGIN");
  Query(holder.get(), "LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE");
  const auto start = std::chrono::steady_clock::now();
  LoginAttempt hung = db->Login(pg.App());
  const auto took = std::chrono::steady_clock::now() - start;
  Query(holder.get(), "ROLLBACK");
  EXPECT_EQ(hung.result, LoginResult::kTimedOut) << hung.detail;
  EXPECT_NE(hung.detail.find("timeout expired"), std::string::npos) << hung.detail;
  EXPECT_LT(took, std::chrono::seconds(10));  // bounded by connect_timeout, not by the lock
  EXPECT_EQ(db->Login(pg.App()).result, LoginResult::kOk);  // the lock gone, logins again
}

TEST(PgAdmin, KeptConnectionStillAnswersWhenTheSlotsRunOut) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();
  db->Sessions(pg.Superuser(), SessionFilter{});  // the kept connection is in first
  // Backends of earlier tests may still be exiting: one that left after the slots below
  // were filled would free a slot for the login that must be refused.
  ASSERT_TRUE(WaitUntil([&] {
    return db->Capacity(pg.Superuser(), PgConnection::kKept).in_use == 1;
  })) << db->Capacity(pg.Superuser(), PgConnection::kKept).in_use
      << " client backends: only the kept one should be left";

  // Every slot an ordinary role may use, taken.
  std::vector<PgPtr> fillers;
  for (int i = 0; i < Pg::kMaxConnections; ++i) {
    const DbTarget app = pg.App();
    const std::string port = std::to_string(app.endpoint.port);
    const char* keys[] = {"host", "port", "user", "password", "dbname", nullptr};
    const char* values[] = {"127.0.0.1", port.c_str(), "app", "app-secret", "postgres", nullptr};
    PgPtr c(PQconnectdbParams(keys, values, 0));
    if (PQstatus(c.get()) != CONNECTION_OK) break;
    fillers.push_back(std::move(c));
  }
  ASSERT_FALSE(fillers.empty());

  const LoginAttempt login = db->Login(pg.App());
  EXPECT_EQ(login.result, LoginResult::kTooManyClients) << login.detail;

  // And the reserved ones too, so that not even a superuser could log in afresh: only the
  // connection kept from before answers.
  for (int i = 0; i < Pg::kMaxConnections; ++i) {
    const DbTarget su = pg.Superuser();
    const std::string port = std::to_string(su.endpoint.port);
    const char* keys[] = {"host", "port", "user", "password", "dbname", nullptr};
    const char* values[] = {"127.0.0.1", port.c_str(), "postgres", "postgres", "postgres", nullptr};
    PgPtr c(PQconnectdbParams(keys, values, 0));
    if (PQstatus(c.get()) != CONNECTION_OK) break;
    fillers.push_back(std::move(c));
  }
  EXPECT_EQ(db->Login(pg.Superuser()).result, LoginResult::kTooManyClients);

  const auto rows = db->Sessions(pg.Superuser(), SessionFilter{});
  for (const auto& filler : fillers) {
    EXPECT_NE(FindPid(rows, PQbackendPID(filler.get())), nullptr);
  }
  const DbCapacity capacity = db->Capacity(pg.Superuser(), PgConnection::kKept);
  EXPECT_EQ(capacity.in_use, capacity.max_connections);

  // The slots back for the next tests (backends exit after their client has gone).
  fillers.clear();
  EXPECT_TRUE(
      WaitUntil([&] { return db->Capacity(pg.Superuser(), PgConnection::kKept).in_use <= 2; }));
}

TEST(PgAdmin, TerminateEndsTheHolderAndSparesTheTarget) {
  Pg& pg = Pg::Shared();
  LockScene scene(pg);
  auto db = NewPgAdmin();

  std::vector<int> asked = scene.waiter_pids;
  asked.push_back(scene.holder_pid);
  asked.push_back(999999);  // gone already
  TerminateScope scope;
  scope.role = "app";  // the holder shares the target's role: in scope, yet not the target's
  const std::vector<int> terminated =
      db->TerminateBlockers(pg.Superuser(), asked, ByRole("app"), scope);
  EXPECT_EQ(terminated, std::vector<int>{scene.holder_pid});

  // The lock is released: the target's queries complete.
  for (auto& waiter : scene.waiters) EXPECT_TRUE(FinishQuery(waiter.get(), 30s));
  EXPECT_TRUE(WaitUntil([&] {
    const auto rows = db->Sessions(pg.Superuser(), SessionFilter{});
    return FindPid(rows, scene.holder_pid) == nullptr;
  }));
  const auto rows = db->Sessions(pg.Superuser(), SessionFilter{});
  for (const int pid : scene.waiter_pids) EXPECT_NE(FindPid(rows, pid), nullptr);
  EXPECT_TRUE(db->TerminateBlockers(pg.Superuser(), {}, SessionFilter{}, TerminateScope{}).empty());
}

TEST(PgAdmin, TerminateSparesTheTargetsAddresses) {
  Pg& pg = Pg::Shared();
  PgPtr session = Connect(pg.App(), "anything");
  const int pid = PQbackendPID(session.get());
  auto db = NewPgAdmin();
  SessionFilter filter;
  filter.addresses = {"127.0.0.1", "with \"quote\\", ""};
  EXPECT_TRUE(db->TerminateBlockers(pg.Superuser(), {pid}, filter, TerminateScope{}).empty());
  EXPECT_EQ(Query(session.get(), "SELECT 1"), "1");
}

// TerminateBlockers' SQL spares exactly the sessions IsTargetSession calls the target's.
TEST(PgAdmin, TerminateSparesWhatIsTargetSessionMatches) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();
  SessionFilter by_address;
  by_address.addresses = {"127.0.0.1"};
  for (const SessionFilter& filter :
       {SessionFilter{}, ByRole("app"), ByRole("app", "api"), ByRole("postgres"), by_address}) {
    struct Client {
      DbTarget as;
      std::string name;
      PgPtr conn;
    };
    std::vector<Client> clients;
    for (const auto& [as, name] :
         std::vector<std::pair<DbTarget, std::string>>{{pg.App(), "api"},
                                                       {pg.App(), "cron"},
                                                       {pg.Superuser(), "psql"},
                                                       {pg.App(), "poolguard-chaos/ns/x"}}) {
      clients.push_back({as, name, Connect(as, name)});
    }
    std::vector<int> pids, expected;
    for (const auto& c : clients) {
      const int pid = PQbackendPID(c.conn.get());
      pids.push_back(pid);
      if (!IsTargetSession(filter, c.name, c.as.user, "127.0.0.1")) expected.push_back(pid);
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(db->TerminateBlockers(pg.Superuser(), pids, filter, TerminateScope{}), expected)
        << filter.Describe();
  }
}

TEST(PgAdmin, BrokenKeptConnectionIsReopenedOnce) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  // An earlier test's kept connection may still be exiting.
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
  auto db = NewPgAdmin();
  db->Capacity(pg.Superuser(), PgConnection::kKept);
  ASSERT_EQ(CountDiagnostics(admin.get()), 1);
  Query(admin.get(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'poolguard-controller-diagnostics'");
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));

  EXPECT_NO_THROW(db->Sessions(pg.Superuser(), SessionFilter{}));
  EXPECT_EQ(CountDiagnostics(admin.get()), 1);
}

TEST(PgAdmin, ConnectionsAreKeptPerDatabaseUntilRetainDropsThem) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  // An earlier test's kept connection may still be exiting.
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
  auto db = NewPgAdmin();
  db->Capacity(pg.Superuser(), PgConnection::kKept);
  db->Capacity(pg.Superuser(), PgConnection::kKept);
  db->Sessions(pg.Superuser(), SessionFilter{});
  EXPECT_EQ(CountDiagnostics(admin.get()), 1);
  db->Capacity(pg.Superuser("other"), PgConnection::kKept);
  EXPECT_EQ(CountDiagnostics(admin.get()), 2);

  db->Retain({pg.Superuser()});
  EXPECT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 1; }));
  db->Retain({});
  EXPECT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
}

TEST(PgAdmin, ErrorsNameTheEndpointButNotThePassword) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();
  DbTarget closed = pg.Superuser();
  closed.password = "very-secret-password";
  closed.endpoint.port = ClosedPort();
  try {
    db->Sessions(closed, SessionFilter{});
    FAIL() << "no error";
  } catch (const DbError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("PostgreSQL at " + closed.endpoint.ToString() + ": ", 0), 0u)
        << message;
    EXPECT_EQ(message.find("very-secret-password"), std::string::npos) << message;
  }

  DbTarget wrong = pg.Superuser();
  wrong.password = "very-secret-password";
  try {
    db->Capacity(wrong, PgConnection::kKept);
    FAIL() << "no error";
  } catch (const DbError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
    EXPECT_EQ(message.find("very-secret-password"), std::string::npos) << message;
  }
}

TEST(PgAdmin, SessionsAskTheServerForKeepalives) {
  Pg& pg = Pg::Shared();
  PgOpenOptions options;
  options.application_name = "keepalive-check";
  options.session_timeout = std::chrono::minutes(5);
  PgPtr conn = PgOpen(pg.Superuser(), options);
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  // Over TCP the server probes a silent peer and ends the session with the connection.
  EXPECT_EQ(Query(conn.get(), "SHOW tcp_keepalives_idle"), "10");
  EXPECT_EQ(Query(conn.get(), "SHOW tcp_keepalives_count"), "3");
  EXPECT_EQ(Query(conn.get(), "SHOW idle_session_timeout"), "5min");
}

TEST(PgAdmin, TerminateStaysInItsScope) {
  Pg& pg = Pg::Shared();
  // A lock holder of another role, and one in another database.
  PgPtr other_role = Connect(pg.Superuser(), "someone");
  PgPtr other_database = Connect(pg.Superuser("other"), "someone");
  const int role_pid = PQbackendPID(other_role.get());
  const int database_pid = PQbackendPID(other_database.get());
  auto db = NewPgAdmin();
  SessionFilter spare;
  // Scoped to app's sessions in postgres: neither may be ended.
  EXPECT_TRUE(db->TerminateBlockers(pg.Superuser(), {role_pid, database_pid}, spare,
                                    TerminateScope{"postgres", "app"})
                  .empty());
  EXPECT_EQ(Query(other_role.get(), "SELECT 1"), "1");
  // Any role in postgres: the other database's session is still spared.
  EXPECT_EQ(db->TerminateBlockers(pg.Superuser(), {role_pid, database_pid}, spare,
                                  TerminateScope{"postgres", ""}),
            std::vector<int>{role_pid});
  EXPECT_EQ(Query(other_database.get(), "SELECT 1"), "1");
  // The whole server.
  EXPECT_EQ(db->TerminateBlockers(pg.Superuser(), {database_pid}, spare, TerminateScope{}),
            std::vector<int>{database_pid});
}

// Issue 15's CredentialRotation: an ordinary role changes its own password (sent as a
// SCRAM verifier), its sessions end except the controller's and experiments', the old
// password is refused and the new one works; and back.
TEST(PgAdmin, SetOwnPasswordRotatesAndEndsTheRolesSessionsOnly) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  Query(admin.get(), "DROP ROLE IF EXISTS rotor");
  Query(admin.get(), "CREATE ROLE rotor LOGIN PASSWORD 'before'");
  const DbTarget before{Endpoint{pg.Superuser().endpoint}, "rotor", "before", "postgres"};
  DbTarget after = before;
  after.password = "after";
  PgPtr app = Connect(before, "api");
  PgPtr diagnostics = Connect(before, "poolguard-controller-diagnostics");
  PgPtr chaos = Connect(before, "poolguard-chaos/ns/x");
  PgPtr other = Connect(pg.App(), "api");  // another role: not rotor's to end
  auto db = NewPgAdmin();

  EXPECT_EQ(db->SetOwnPassword(before, "after", true), 1);
  EXPECT_EQ(db->Login(before).result, LoginResult::kAuthRejected);
  EXPECT_EQ(db->Login(after).result, LoginResult::kOk);
  EXPECT_TRUE(WaitUntil([&] {
    PgResultPtr r(PQexec(app.get(), "SELECT 1"));
    return PQresultStatus(r.get()) != PGRES_TUPLES_OK;
  })) << "rotor's api session was not ended";
  EXPECT_EQ(Query(diagnostics.get(), "SELECT 1"), "1");
  EXPECT_EQ(Query(chaos.get(), "SELECT 1"), "1");
  EXPECT_EQ(Query(other.get(), "SELECT 1"), "1");
  EXPECT_EQ(
      Query(admin.get(), "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'rotor'"),
      "SCRAM-SHA-256$");

  // Back, without ending anything; a wrong current password changes nothing.
  EXPECT_THROW(db->SetOwnPassword(before, "x", false), DbError);
  EXPECT_EQ(db->SetOwnPassword(after, "before", false), 0);
  EXPECT_EQ(db->Login(before).result, LoginResult::kOk);
  EXPECT_EQ(db->Login(after).result, LoginResult::kAuthRejected);
  EXPECT_EQ(Query(diagnostics.get(), "SELECT 1"), "1");
}

TEST(PgAdmin, KeptConnectionsAreKeyedByTheirPassword) {
  Pg& pg = Pg::Shared();
  auto db = NewPgAdmin();
  ASSERT_NO_THROW(db->Sessions(pg.Superuser(), SessionFilter{}));
  // Same server, role and database, wrong password: no reading through the session that
  // the right password opened.
  DbTarget wrong = pg.Superuser();
  wrong.password = "wrong-password";
  EXPECT_THROW(db->Sessions(wrong, SessionFilter{}), DbError);
  EXPECT_THROW(db->TerminateBlockers(wrong, {1}, SessionFilter{}, TerminateScope{}), DbError);
}

TEST(PgAdmin, FreshCapacityCountsItselfAndLeavesNoSession) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  auto db = NewPgAdmin();
  auto admins = [&] {
    return std::stoi(Query(admin.get(),
                           "SELECT count(*) FROM pg_stat_activity "
                           "WHERE application_name = 'poolguard-controller'"));
  };
  ASSERT_TRUE(WaitUntil([&] { return admins() == 0; }));
  DbCapacity capacity;
  int counted = -1;
  // An earlier test's backends may still be exiting between the two reads: read again.
  EXPECT_TRUE(WaitUntil(
      [&] {
        counted = std::stoi(Query(admin.get(),
                                  "SELECT count(*) FROM pg_stat_activity "
                                  "WHERE backend_type = 'client backend'"));
        capacity = db->Capacity(pg.Superuser(), PgConnection::kFresh);
        return capacity.in_use == counted + 1;  // the fresh connection itself
      },
      10s))
      << capacity.in_use << " in use, " << counted << " before the call";
  EXPECT_EQ(capacity.max_connections, Pg::kMaxConnections);
  EXPECT_TRUE(WaitUntil([&] { return admins() == 0; }));
  EXPECT_EQ(CountDiagnostics(admin.get()), 0);  // nothing kept either
}

TEST(PgAdmin, CountsAndTerminatesAnApplicationsSessionsButTheKeptOnes) {
  Pg& pg = Pg::Shared();
  std::vector<PgPtr> leak;
  for (int i = 0; i < 3; ++i) leak.push_back(Connect(pg.App(), "poolguard-chaos/ns/x"));
  PgPtr bystander = Connect(pg.App(), "poolguard-chaos/ns/y");
  auto db = NewPgAdmin();
  EXPECT_EQ(db->CountSessions(pg.Superuser(), "poolguard-chaos/ns/x"), 3);

  const int kept = PQbackendPID(leak.front().get());
  EXPECT_EQ(db->TerminateApplication(pg.Superuser(), "poolguard-chaos/ns/x", {kept}), 2);
  EXPECT_TRUE(
      WaitUntil([&] { return db->CountSessions(pg.Superuser(), "poolguard-chaos/ns/x") == 1; }));
  EXPECT_EQ(Query(leak.front().get(), "SELECT 1"), "1");
  EXPECT_EQ(db->CountSessions(pg.Superuser(), "poolguard-chaos/ns/y"), 1);
  EXPECT_EQ(db->TerminateApplication(pg.Superuser(), "poolguard-chaos/ns/none", {}), 0);
}

// A held leak's sessions are counted every few seconds: on one kept connection, not a login
// each time, closed once no held fault's database is retained.
TEST(PgAdmin, CountsSessionsOnTheKeptConnection) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
  PgPtr leaked = Connect(pg.App(), "poolguard-chaos/ns/kept");
  auto db = NewPgAdmin();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(db->CountSessions(pg.Superuser(), "poolguard-chaos/ns/kept"), 1);
  }
  EXPECT_EQ(CountDiagnostics(admin.get()), 1);
  const std::string pid = Query(admin.get(),
                                "SELECT pid FROM pg_stat_activity "
                                "WHERE application_name = 'poolguard-controller-diagnostics'");
  EXPECT_EQ(db->CountSessions(pg.Superuser(), "poolguard-chaos/ns/kept"), 1);
  EXPECT_EQ(Query(admin.get(),
                  "SELECT pid FROM pg_stat_activity "
                  "WHERE application_name = 'poolguard-controller-diagnostics'"),
            pid);  // the same session, no new login
  db->Retain({});
  EXPECT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
}

TEST(PgAdmin, TcpConnectToThePostgresPort) {
  Pg& pg = Pg::Shared();
  const ProbeResult open = NewProbes()->TcpConnect(Endpoint{"127.0.0.1", pg.port()}, 5s);
  EXPECT_EQ(open.outcome, Outcome::kPass) << open.detail;
  EXPECT_NE(open.detail.find("connected to 127.0.0.1:" + std::to_string(pg.port())),
            std::string::npos)
      << open.detail;
}

}  // namespace
}  // namespace poolguard::controller
