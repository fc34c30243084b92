// The pool and PgConnection against a real PostgreSQL.
#include <gtest/gtest.h>

#include <memory>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <vector>

#include "db_error.h"
#include "pg_connection.h"
#include "pg_fixture.h"
#include "pool.h"

namespace poolguard::target {
namespace {

using poolguard::testing::PgServer;

int BackendPid(Pool::Lease& lease) {
  auto& pg = static_cast<PgConnection&>(*lease);
  return pqxx::nontransaction(pg.raw()).exec("SELECT pg_backend_pid()")[0][0].as<int>();
}

void Terminate(int pid) {
  pqxx::connection admin(PgServer::Shared().SuperuserUrl());
  pqxx::nontransaction(admin).exec("SELECT pg_terminate_backend(" + std::to_string(pid) +
                                   ", 5000)");
}

std::unique_ptr<Pool> MakePool(bool pre_ping) {
  PoolOptions o;
  o.size = 2;
  o.timeout = std::chrono::duration<double>(1.0);
  o.pre_ping = pre_ping;
  auto factory = std::make_shared<PgConnectionFactory>(
      PgServer::Shared().Url("app", "app", "postgres"), "pool-test", 3);
  return std::make_unique<Pool>(o, factory);
}

TEST(PoolOnPostgres, PrePingReplacesATerminatedSession) {
  auto pool = MakePool(true);
  int first = 0;
  {
    auto lease = pool->Checkout();
    first = BackendPid(lease);
  }
  Terminate(first);
  auto lease = pool->Checkout();
  const int second = BackendPid(lease);
  EXPECT_NE(second, first);
  EXPECT_EQ(pool->Stats().replaced_by_ping, 1u);
}

TEST(PoolOnPostgres, WithoutPrePingTheBreakSurfacesAsConnectionLost) {
  auto pool = MakePool(false);
  {
    auto lease = pool->Checkout();
    Terminate(BackendPid(lease));
  }
  auto lease = pool->Checkout();
  auto& pg = static_cast<PgConnection&>(*lease);
  try {
    pqxx::nontransaction(pg.raw()).exec("SELECT 1");
    FAIL() << "a terminated session answered";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(ClassifyStatementError(e.sqlstate(), e.what()), DbErrorKind::kConnectionLost)
        << e.sqlstate() << " " << e.what();
  } catch (const pqxx::broken_connection&) {
    // The type says it: App::WithConnection maps broken_connection to connection_lost.
  }
  lease.Invalidate();
}

TEST(PgConnection, ClassifiesConnectFailures) {
  auto& pg = PgServer::Shared();
  try {
    PgConnection bad(pg.Url("app", "wrong", "postgres"));
    FAIL();
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kAuthentication) << e.what();
  }
  try {
    PgConnection refused("postgresql://app:app@127.0.0.1:" +
                         std::to_string(poolguard::testing::FreePort()) + "/postgres");
    FAIL();
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kConnectionRefused) << e.what();
  }
}

TEST(PgConnection, ServerSlotsExhaustedIsTooManyClients) {
  auto& pg = PgServer::Shared();
  std::vector<std::unique_ptr<pqxx::connection>> hogs;
  try {
    for (int i = 0; i < pg.max_connections(); ++i) {
      hogs.push_back(std::make_unique<pqxx::connection>(pg.Url("app", "app", "postgres")));
    }
    FAIL() << "the server accepted more connections than max_connections";
  } catch (const pqxx::broken_connection&) {
  }
  ASSERT_GT(hogs.size(), 10u);
  try {
    PgConnection one_more(pg.Url("app", "app", "postgres"));
    FAIL();
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kTooManyClients) << e.what();
  }
}

}  // namespace
}  // namespace poolguard::target
