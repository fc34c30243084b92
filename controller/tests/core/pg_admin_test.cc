// DiagnosticDb against a real PostgreSQL (scripts/pg, started once for the RemediationDb
// suite), TcpConnect and HttpGetter against real sockets on loopback.

#include "remediation/io.h"

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

#include "net.h"  // tests/support
#include "poolguard/common/http_server.h"
#include "scratch_pg.h"  // tests/support

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

// ---- helpers ------------------------------------------------------------------------

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgPtr = std::unique_ptr<PGconn, PgDeleter>;

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

// One PostgreSQL for the RemediationDb suite, torn down at exit. A small max_connections
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
  Pg() : server_("poolguard-remediation-io", kMaxConnections) {
    PgPtr admin = Connect(Superuser(), "setup");
    Query(admin.get(), "CREATE ROLE app LOGIN PASSWORD 'app-secret'");
    Query(admin.get(), "CREATE TABLE t (id int)");
    Query(admin.get(), "INSERT INTO t VALUES (1)");
    Query(admin.get(), "GRANT SELECT ON t TO app");
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

// A chaos lock holder on t and two target sessions waiting for it.
struct LockScene {
  PgPtr holder;
  std::vector<PgPtr> waiters;
  int holder_pid = 0;
  std::vector<int> waiter_pids;

  explicit LockScene(const Pg& pg) {
    holder = Connect(pg.Superuser(), "poolguard-chaos/x");
    Query(holder.get(), "BEGIN");
    Query(holder.get(), "LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    holder_pid = PQbackendPID(holder.get());
    for (int i = 0; i < 2; ++i) {
      waiters.push_back(Connect(pg.App(), "poolguard-target"));
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
                   "'poolguard-target' AND wait_event_type = 'Lock'") == "2";
    });
    if (!waiting) throw std::runtime_error("the target sessions never waited on the lock");
  }
};

// ---- DiagnosticDb ---------------------------------------------------------------------

TEST(RemediationDb, SessionsShowTheHolderAndTheWaiters) {
  Pg& pg = Pg::Shared();
  LockScene scene(pg);
  auto db = NewDiagnosticDb();
  const std::vector<SessionRow> rows = db->Sessions(pg.Superuser(), SessionFilter{});

  const SessionRow* holder = FindPid(rows, scene.holder_pid);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->application_name, "poolguard-chaos/x");
  EXPECT_EQ(holder->state, "idle in transaction");
  EXPECT_EQ(holder->lock_mode, "AccessExclusiveLock");
  EXPECT_EQ(holder->lock_relation, "t");
  EXPECT_TRUE(holder->blocked_by.empty());
  EXPECT_FALSE(holder->is_target);
  EXPECT_GE(holder->state_seconds, 0);

  for (const int pid : scene.waiter_pids) {
    const SessionRow* waiter = FindPid(rows, pid);
    ASSERT_NE(waiter, nullptr) << pid;
    EXPECT_EQ(waiter->application_name, "poolguard-target");
    EXPECT_EQ(waiter->state, "active");
    EXPECT_EQ(waiter->blocked_by, std::vector<int>{scene.holder_pid});
    EXPECT_TRUE(waiter->is_target);
  }
  for (const auto& row : rows) {
    EXPECT_NE(row.application_name, "poolguard-controller-diagnostics") << row.pid;
  }
}

TEST(RemediationDb, SessionsMarkTheTargetByItsAddresses) {
  Pg& pg = Pg::Shared();
  PgPtr other = Connect(pg.App(), "someone-else");
  auto db = NewDiagnosticDb();

  SessionFilter by_address;
  by_address.target_application_name = "";
  by_address.target_addresses = {"10.1.2.3", "127.0.0.1"};
  auto rows = db->Sessions(pg.Superuser(), by_address);
  const SessionRow* row = FindPid(rows, PQbackendPID(other.get()));
  ASSERT_NE(row, nullptr);
  EXPECT_TRUE(row->is_target);
  EXPECT_EQ(row->state, "idle");

  by_address.target_addresses = {"10.1.2.3"};
  rows = db->Sessions(pg.Superuser(), by_address);
  row = FindPid(rows, PQbackendPID(other.get()));
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->is_target);
}

TEST(RemediationDb, CapacityMatchesTheServer) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  auto db = NewDiagnosticDb();
  // Both counts include the admin session and the kept diagnostic one. They are read one
  // after the other, and a backend of an earlier test may still be exiting (its client
  // has gone): read both again until no such exit falls between them.
  DbCapacity capacity;
  int counted = -1;
  EXPECT_TRUE(WaitUntil(
      [&] {
        capacity = db->Capacity(pg.Superuser());
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

TEST(RemediationDb, LoginClassifiesWhatTheTargetWouldSee) {
  Pg& pg = Pg::Shared();
  auto db = NewDiagnosticDb();

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

TEST(RemediationDb, KeptConnectionStillAnswersWhenTheSlotsRunOut) {
  Pg& pg = Pg::Shared();
  auto db = NewDiagnosticDb();
  db->Sessions(pg.Superuser(), SessionFilter{});  // the kept connection is in first
  // Backends of earlier tests may still be exiting: one that left after the slots below
  // were filled would free a slot for the login that must be refused.
  ASSERT_TRUE(WaitUntil([&] { return db->Capacity(pg.Superuser()).in_use == 1; }))
      << db->Capacity(pg.Superuser()).in_use
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
  const DbCapacity capacity = db->Capacity(pg.Superuser());
  EXPECT_EQ(capacity.in_use, capacity.max_connections);

  // The slots back for the next tests (backends exit after their client has gone).
  fillers.clear();
  EXPECT_TRUE(WaitUntil([&] { return db->Capacity(pg.Superuser()).in_use <= 2; }));
}

TEST(RemediationDb, TerminateEndsTheHolderAndSparesTheTarget) {
  Pg& pg = Pg::Shared();
  LockScene scene(pg);
  auto db = NewDiagnosticDb();

  std::vector<int> asked = scene.waiter_pids;
  asked.push_back(scene.holder_pid);
  asked.push_back(999999);  // gone already
  const std::vector<int> terminated = db->Terminate(pg.Superuser(), asked, SessionFilter{});
  EXPECT_EQ(terminated, std::vector<int>{scene.holder_pid});

  // The lock is released: the target's queries complete.
  for (auto& waiter : scene.waiters) EXPECT_TRUE(FinishQuery(waiter.get(), 30s));
  EXPECT_TRUE(WaitUntil([&] {
    const auto rows = db->Sessions(pg.Superuser(), SessionFilter{});
    return FindPid(rows, scene.holder_pid) == nullptr;
  }));
  const auto rows = db->Sessions(pg.Superuser(), SessionFilter{});
  for (const int pid : scene.waiter_pids) EXPECT_NE(FindPid(rows, pid), nullptr);
  EXPECT_TRUE(db->Terminate(pg.Superuser(), {}, SessionFilter{}).empty());
}

TEST(RemediationDb, TerminateSparesTheTargetsAddresses) {
  Pg& pg = Pg::Shared();
  PgPtr session = Connect(pg.App(), "anything");
  const int pid = PQbackendPID(session.get());
  auto db = NewDiagnosticDb();
  SessionFilter filter;
  filter.target_application_name = "";
  filter.target_addresses = {"127.0.0.1", "with \"quote\\"};
  EXPECT_TRUE(db->Terminate(pg.Superuser(), {pid}, filter).empty());
  EXPECT_EQ(Query(session.get(), "SELECT 1"), "1");
}

TEST(RemediationDb, BrokenKeptConnectionIsReopenedOnce) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  // An earlier test's kept connection may still be exiting.
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
  auto db = NewDiagnosticDb();
  db->Capacity(pg.Superuser());
  ASSERT_EQ(CountDiagnostics(admin.get()), 1);
  Query(admin.get(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'poolguard-controller-diagnostics'");
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));

  EXPECT_NO_THROW(db->Sessions(pg.Superuser(), SessionFilter{}));
  EXPECT_EQ(CountDiagnostics(admin.get()), 1);
}

TEST(RemediationDb, ConnectionsAreKeptPerDatabaseUntilRetainDropsThem) {
  Pg& pg = Pg::Shared();
  PgPtr admin = Connect(pg.Superuser(), "test-admin");
  // An earlier test's kept connection may still be exiting.
  ASSERT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
  auto db = NewDiagnosticDb();
  db->Capacity(pg.Superuser());
  db->Capacity(pg.Superuser());
  db->Sessions(pg.Superuser(), SessionFilter{});
  EXPECT_EQ(CountDiagnostics(admin.get()), 1);
  db->Capacity(pg.Superuser("other"));
  EXPECT_EQ(CountDiagnostics(admin.get()), 2);

  db->Retain({pg.Superuser()});
  EXPECT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 1; }));
  db->Retain({});
  EXPECT_TRUE(WaitUntil([&] { return CountDiagnostics(admin.get()) == 0; }));
}

TEST(RemediationDb, ErrorsNameTheEndpointButNotThePassword) {
  Pg& pg = Pg::Shared();
  auto db = NewDiagnosticDb();
  DbTarget closed = pg.Superuser();
  closed.password = "very-secret-password";
  closed.endpoint.port = ClosedPort();
  try {
    db->Sessions(closed, SessionFilter{});
    FAIL() << "no error";
  } catch (const DiagnosticError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("PostgreSQL at " + closed.endpoint.ToString() + ": ", 0), 0u)
        << message;
    EXPECT_EQ(message.find("very-secret-password"), std::string::npos) << message;
  }

  DbTarget wrong = pg.Superuser();
  wrong.password = "very-secret-password";
  try {
    db->Capacity(wrong);
    FAIL() << "no error";
  } catch (const DiagnosticError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
    EXPECT_EQ(message.find("very-secret-password"), std::string::npos) << message;
  }
}

TEST(RemediationDb, TcpConnectToThePostgresPort) {
  Pg& pg = Pg::Shared();
  const ProbeResult open = TcpConnect(Endpoint{"127.0.0.1", pg.port()}, 5s);
  EXPECT_EQ(open.outcome, Outcome::kPass) << open.detail;
  EXPECT_NE(open.detail.find("connected to 127.0.0.1:" + std::to_string(pg.port())),
            std::string::npos)
      << open.detail;
}

// ---- TcpConnect and HttpGetter ------------------------------------------------------

// A server on a loopback socket that answers one connection with raw bytes, sent in
// `pieces`, then keeps the connection open (keep_open) or closes it.
class RawServer {
 public:
  RawServer(std::vector<std::string> pieces, bool keep_open)
      : pieces_(std::move(pieces)), keep_open_(keep_open) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 4) != 0) {
      throw std::runtime_error("cannot listen");
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  std::string request() {
    std::lock_guard lock(mutex_);
    return request_;
  }

 private:
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void Serve() {
    if (!WaitReadable(listen_fd_)) return;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string got;
    char buffer[4096];
    while (got.find("\r\n\r\n") == std::string::npos && WaitReadable(fd)) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      request_ = got;
    }
    for (const auto& piece : pieces_) {
      if (send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) break;
      std::this_thread::sleep_for(5ms);  // separate segments, so the client parses partial data
    }
    if (keep_open_) {
      while (!stop_) std::this_thread::sleep_for(20ms);
    }
    close(fd);
  }

  std::vector<std::string> pieces_;
  bool keep_open_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string request_;
  std::thread thread_;
};

class RemediationHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    http::Router router;
    router.Add("GET", "/ok", [](const http::Request& request) {
      auto it = request.query.find("x");
      return http::Response::Text(200, "hello " + (it == request.query.end() ? "" : it->second));
    });
    router.Add("GET", "/down",
               [](const http::Request&) { return http::Response::Text(503, "unavailable"); });
    router.Add("GET", "/slow", [](const http::Request&) {
      std::this_thread::sleep_for(1500ms);
      return http::Response::Text(200, "late");
    });
    http::ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<http::Server>(options, std::move(router), nullptr);
    server_->Start();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Shutdown(5s); }

  std::unique_ptr<http::Server> server_;
  std::string base_;
  std::unique_ptr<HttpGetter> getter_ = NewHttpGetter();
};

TEST_F(RemediationHttp, TcpConnectPassesOnAListenerAndFailsOnAClosedPort) {
  const ProbeResult open = TcpConnect(Endpoint{"127.0.0.1", server_->port()}, 5s);
  EXPECT_EQ(open.outcome, Outcome::kPass) << open.detail;

  const auto start = std::chrono::steady_clock::now();
  const ProbeResult closed = TcpConnect(Endpoint{"127.0.0.1", ClosedPort()}, 5s);
  EXPECT_EQ(closed.outcome, Outcome::kFail);
  EXPECT_NE(closed.detail.find("connection refused"), std::string::npos) << closed.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // refused, not timed out

  EXPECT_EQ(TcpConnect(Endpoint{"", 80}, 1s).outcome, Outcome::kError);
}

TEST_F(RemediationHttp, GetReturnsStatusAndBody) {
  HttpResult ok = getter_->Get(base_ + "/ok?x=world", 10s);
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(ok.body, "hello world");
  EXPECT_FALSE(ok.timed_out);
  EXPECT_TRUE(ok.error.empty()) << ok.error;

  HttpResult down = getter_->Get(base_ + "/down", 10s);
  EXPECT_EQ(down.status, 503) << down.error;
  EXPECT_EQ(down.body, "unavailable");

  HttpResult missing = getter_->Get(base_ + "/nothing", 10s);
  EXPECT_EQ(missing.status, 404) << missing.error;

  const std::string by_name = "http://localhost:" + std::to_string(server_->port()) + "/ok";
  HttpResult named = getter_->Get(by_name, 10s);
  EXPECT_EQ(named.status, 200) << named.error;
}

TEST_F(RemediationHttp, GetTimesOutOnAStuckHandler) {
  HttpResult slow = getter_->Get(base_ + "/slow", 200ms);
  EXPECT_EQ(slow.status, 0);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_FALSE(slow.error.empty());
}

TEST_F(RemediationHttp, GetReportsARefusedConnection) {
  HttpResult refused =
      getter_->Get("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/health", 5s);
  EXPECT_EQ(refused.status, 0);
  EXPECT_FALSE(refused.timed_out);
  EXPECT_NE(refused.error.find("connection refused"), std::string::npos) << refused.error;
}

TEST_F(RemediationHttp, GetRejectsMalformedUrls) {
  for (const std::string url :
       {"", "https://127.0.0.1/", "ftp://x/", "http://", "http:///path", "http://host:0/",
        "http://host:99999/", "http://host:port/", "http://user:pw@host/", "http://[::1/",
        "http://host/a b", "http://host/a\r\nX: y"}) {
    HttpResult r = getter_->Get(url, 1s);
    EXPECT_EQ(r.status, 0) << url;
    EXPECT_FALSE(r.timed_out) << url;
    EXPECT_NE(r.error.find("malformed URL"), std::string::npos) << url << ": " << r.error;
  }
}

TEST_F(RemediationHttp, GetSendsAnHttp10RequestWithTheHost) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, false);
  const std::string host = "127.0.0.1:" + std::to_string(raw.port());
  HttpResult r = getter_->Get("http://" + host + "?a=1&b=2#fragment", 10s);
  EXPECT_EQ(r.status, 200) << r.error;
  const std::string request = raw.request();
  EXPECT_EQ(request.rfind("GET /?a=1&b=2 HTTP/1.0\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nHost: " + host + "\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nConnection: close\r\n"), std::string::npos) << request;
}

TEST_F(RemediationHttp, GetDecodesAChunkedBodyWithoutWaitingForTheClose) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n",
                 "\r\n5\r\nhel", "lo\r\n6;name=value\r\n world\r\n", "A\r\n0123456789\r\n0\r\n",
                 "X-Trailer: 1\r\n\r\n"},
                true);
  HttpResult r = getter_->Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", 30s);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "hello world0123456789");
  EXPECT_FALSE(r.timed_out);
}

TEST_F(RemediationHttp, GetUsesContentLengthWithoutWaitingForTheClose) {
  RawServer raw({"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 11\r\n\r\nnot ", "ready",
                 "!!extra bytes"},
                true);
  HttpResult r = getter_->Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", 30s);
  EXPECT_EQ(r.status, 503) << r.error;
  EXPECT_EQ(r.body, "not ready!!");
}

TEST_F(RemediationHttp, GetReadsABodyDelimitedByTheClose) {
  RawServer raw({"HTTP/1.0 200 OK\r\n\r\nall ", "of it"}, false);
  HttpResult r = getter_->Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", 30s);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "all of it");
}

TEST_F(RemediationHttp, GetTimesOutOnAnIncompleteResponse) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, true);
  HttpResult r = getter_->Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", 300ms);
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.timed_out);
}

TEST_F(RemediationHttp, GetReportsMalformedResponses) {
  for (const std::vector<std::string>& pieces : std::vector<std::vector<std::string>>{
           {"SSH-2.0-OpenSSH_9.2\r\n\r\n"},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
           {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},  // then closed
           {"HTTP/1.1 200 OK\r\n"}}) {
    RawServer raw(pieces, false);
    HttpResult r = getter_->Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", 30s);
    EXPECT_EQ(r.status, 0) << pieces.front();
    EXPECT_FALSE(r.timed_out) << pieces.front();
    EXPECT_NE(r.error.find("response"), std::string::npos) << r.error;
  }
}

}  // namespace
}  // namespace poolguard::controller
