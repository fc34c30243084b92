// poolguard-target as a process against a real PostgreSQL: what its users and the
// controller rely on.
#include <cpprest/json.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <regex>
#include <thread>
#include <vector>

#include "pg_fixture.h"

namespace poolguard::testing {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> EnvFor(const std::string& database,
                                          std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env{
      {"DATABASE_URL", PgServer::Shared().Url("app", "app", database)},
      {"LOG_FORMAT", "json"},
      {"DB_POOL_TIMEOUT", "1"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class TargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = PgServer::Shared().CreateDatabase();
    target_ = std::make_unique<TargetProcess>(EnvFor(database_));
    ASSERT_TRUE(target_->WaitUntilServing()) << target_->Log();
  }
  void TearDown() override {
    if (target_) {
      EXPECT_EQ(target_->Terminate(), 0) << target_->Log();
    }
  }
  HttpResult Call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& type = "application/json") {
    return HttpCall(target_->base_url(), method, path, body, type);
  }
  std::string database_;
  std::unique_ptr<TargetProcess> target_;
};

TEST_F(TargetTest, ServesHealthItemsAndMetrics) {
  auto health = Call("GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(web::json::value::parse(health.body).serialize(),
            web::json::value::parse(R"({"status":"ok","database":"ok"})").serialize());
  EXPECT_EQ(Call("GET", "/livez").status, 200);

  auto list = Call("GET", "/items?limit=5&offset=2");
  ASSERT_EQ(list.status, 200) << list.body;
  auto doc = web::json::value::parse(list.body);
  ASSERT_EQ(doc.at("items").size(), 5u);
  EXPECT_EQ(doc.at("items")[0].at("id").as_integer(), 3);

  auto created = Call("POST", "/items", R"({"name": "gizmo", "quantity": 7})");
  ASSERT_EQ(created.status, 201) << created.body;
  const auto id = web::json::value::parse(created.body).at("id").as_number().to_int64();
  auto fetched = Call("GET", "/items/" + std::to_string(id));
  ASSERT_EQ(fetched.status, 200);
  EXPECT_EQ(web::json::value::parse(fetched.body).at("name").as_string(), "gizmo");
  EXPECT_EQ(web::json::value::parse(fetched.body).at("quantity").as_integer(), 7);

  auto metrics = Call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_size"), 5);
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_checked_out"), 0);
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_timeouts_total"), 0);
  EXPECT_NE(metrics.body.find(R"(http_requests_total{code="201",method="POST",route="/items"} 1)"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(R"(route="/items/{id}")"), std::string::npos);
  EXPECT_EQ(metrics.body.find("route=\"/items/" + std::to_string(id)), std::string::npos)
      << "raw paths must never become labels";
  EXPECT_NE(metrics.body.find("db_pool_wait_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find(R"(db_errors_total{kind="pool_timeout"} 0)"), std::string::npos);
}

struct BadRequest {
  std::string method, path, body, content_type;
  int status;
  std::string mentions;
};

TEST_F(TargetTest, AnswersBadInputWithJsonErrorsAndWritesNothing) {
  const std::vector<BadRequest> cases = {
      {"POST", "/items", "{not json", "application/json", 400, "not valid JSON"},
      {"POST", "/items", "[1]", "application/json", 400, "JSON object"},
      {"POST", "/items", R"({"name": 1, "quantity": 1})", "application/json", 400, "'name'"},
      {"POST", "/items", R"({"name": "x"})", "application/json", 400, "'quantity' is required"},
      {"POST", "/items", R"({"name": "x", "quantity": -5})", "application/json", 400, "between"},
      {"POST", "/items", R"({"name": "x", "quantity": 1})", "text/plain", 415, "application/json"},
      {"POST", "/items", std::string(2 << 20, ' '), "application/json", 413, "exceeds"},
      {"POST", "/items", std::string(50000, '['), "application/json", 400, "nests deeper"},
      {"GET", "/items/abc", "", "", 400, "positive whole number"},
      {"GET", "/items/0", "", "", 400, "positive whole number"},
      {"GET", "/items/99999999999999999999999", "", "", 400, "positive whole number"},
      {"GET", "/items/424242", "", "", 404, "no item with id 424242"},
      {"GET", "/items?limit=100000", "", "", 400, "'limit' must be between"},
      {"GET", "/items?limit=ten", "", "", 400, "'limit' must be an integer"},
      {"GET", "/items?offset=-1", "", "", 400, "'offset'"},
      {"GET", "/nowhere", "", "", 404, "no route"},
      {"DELETE", "/items", "", "", 405, "allowed: GET, POST"},
      {"PUT", "/health", "", "", 405, "allowed: GET"},
      // Bytes PostgreSQL would refuse (SQLSTATE 22021) are refused before it.
      {"POST", "/items", R"({"name": "a lone surrogate \ud800", "quantity": 1})",
       "application/json", 400, "not valid JSON"},
  };
  const auto before = Call("GET", "/items?limit=1000");
  for (const auto& c : cases) {
    auto r = Call(c.method, c.path, c.body, c.content_type);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << ": " << r.body << r.error;
    web::json::value doc;
    ASSERT_NO_THROW(doc = web::json::value::parse(r.body)) << c.path << ": " << r.body;
    ASSERT_TRUE(doc.has_field("error")) << r.body;
    EXPECT_NE(doc.at("error").at("message").as_string().find(c.mentions), std::string::npos)
        << c.method << " " << c.path << ": " << r.body;
  }
  EXPECT_EQ(Call("GET", "/items?limit=1000").body, before.body) << "a bad request wrote data";
  EXPECT_EQ(Call("GET", "/health").status, 200) << "the process survived";
}

TEST_F(TargetTest, ALockedTableExhaustsThePoolWhileMetricsAndLivezStayFast) {
  pqxx::connection holder(PgServer::Shared().SuperuserUrl(database_));
  auto lock = std::make_unique<pqxx::work>(holder);
  lock->exec("LOCK TABLE items IN ACCESS EXCLUSIVE MODE");

  std::vector<std::future<HttpResult>> requests;
  for (int i = 0; i < 12; ++i) {
    requests.push_back(std::async(std::launch::async, [this] {
      return HttpCall(target_->base_url(), "GET", "/items/1", "", "", 60s);
    }));
  }
  // Polls /metrics (every 10 ms, up to `limit`) until `done` holds for the exposition.
  const auto metrics_until = [&](const std::function<bool(const std::string&)>& done,
                                 std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    HttpResult m = Call("GET", "/metrics");
    while (!done(m.body) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      m = Call("GET", "/metrics");
    }
    return m;
  };
  // The requests' threads may start late on a loaded machine: wait for the pool to fill
  // (five checked out, more waiting) instead of a fixed 300 ms.
  auto saturated = metrics_until(
      [](const std::string& m) {
        return MetricValue(m, "db_pool_checked_out") == 5 && MetricValue(m, "db_pool_waiters") > 0;
      },
      5s);
  EXPECT_EQ(MetricValue(saturated.body, "db_pool_checked_out"), 5) << saturated.body;
  EXPECT_GT(MetricValue(saturated.body, "db_pool_waiters"), 0) << "saturation must be visible";
  // While requests pile up, the controller's signals must still answer quickly: well under
  // DB_POOL_TIMEOUT (1 s), which a handler waiting on the pool would take, but with room
  // for a loaded machine's scheduling.
  for (int i = 0; i < 5; ++i) {
    auto metrics = Call("GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_LT(metrics.elapsed, 500ms);
    EXPECT_EQ(MetricValue(metrics.body, "db_pool_checked_out"), 5);
    EXPECT_LT(Call("GET", "/livez").elapsed, 500ms);
  }

  // Past DB_POOL_TIMEOUT=1 the seven requests that found the pool full have timed out:
  // polled instead of a fixed 1.5 s (timers fire late on a loaded machine). That the 1 s
  // is the timeout used is checked below: none before 0.9 s, and the log says 1.00.
  auto metrics = metrics_until(
      [](const std::string& m) { return MetricValue(m, "db_pool_timeouts_total") >= 7; }, 5s);
  EXPECT_GE(MetricValue(metrics.body, "db_pool_timeouts_total"), 7) << metrics.body;
  auto health = Call("GET", "/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("degraded"), std::string::npos);

  lock->commit();  // release: the five stuck requests finish
  int ok = 0, unavailable = 0;
  for (auto& f : requests) {
    auto r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++unavailable;
      EXPECT_GE(r.elapsed, 900ms) << "a pool timeout came before DB_POOL_TIMEOUT";
      EXPECT_NE(r.body.find("\"kind\":\"pool_timeout\""), std::string::npos) << r.body;
      EXPECT_NE(r.body.find("QueuePool limit of size 5 overflow 0 reached"), std::string::npos);
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(unavailable, 7);
  const std::string log = target_->Log();
  EXPECT_NE(
      log.find(
          R"("msg":"DB_ERROR: pool_timeout: QueuePool limit of size 5 overflow 0 reached, connection timed out, timeout 1.00")"),
      std::string::npos)
      << log;
  EXPECT_EQ(Call("GET", "/health").status, 200);
}

TEST_F(TargetTest, ServerSlotsExhaustedGiveTooManyClients) {
  target_->Terminate();
  // Occupy every slot an ordinary role may take, then start a target with an empty pool.
  std::vector<std::unique_ptr<pqxx::connection>> hogs;
  try {
    for (int i = 0; i < PgServer::Shared().max_connections(); ++i) {
      hogs.push_back(
          std::make_unique<pqxx::connection>(PgServer::Shared().Url("app", "app", database_)));
    }
  } catch (const pqxx::broken_connection&) {
  }
  // Start-up migration needs one connection: let the target in, then take that slot.
  hogs.pop_back();
  target_ = std::make_unique<TargetProcess>(EnvFor(database_));
  ASSERT_TRUE(target_->WaitUntilServing()) << target_->Log();
  std::this_thread::sleep_for(200ms);  // the migration connection closes
  try {
    hogs.push_back(
        std::make_unique<pqxx::connection>(PgServer::Shared().Url("app", "app", database_)));
  } catch (const pqxx::broken_connection&) {
  }
  auto r = Call("GET", "/items/1");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"kind\":\"too_many_clients\""), std::string::npos) << r.body;
  // What the client learns is the kind, not libpq's text (the server's address and role).
  EXPECT_EQ(r.body.find("FATAL"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(std::to_string(PgServer::Shared().port())), std::string::npos) << r.body;
  EXPECT_NE(target_->Log().find("DB_ERROR: too_many_clients"), std::string::npos);
  auto metrics = Call("GET", "/metrics");
  EXPECT_GE(MetricValue(metrics.body, R"(db_errors_total{kind="too_many_clients"})"), 1);
  hogs.clear();
  EXPECT_EQ(Call("GET", "/items/1").status, 200);
}

TEST_F(TargetTest, HealthFollowsPostgresDownAndBackWithoutARestart) {
  ASSERT_EQ(Call("GET", "/items/1").status, 200);  // the pool holds a connection
  PgServer::Shared().Stop();
  auto down = Call("GET", "/health");
  PgServer::Shared().Start();
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(web::json::value::parse(down.body).serialize(),
            web::json::value::parse(R"({"status":"degraded","database":"unhealthy"})").serialize());
  EXPECT_NE(target_->Log().find("DB_ERROR: connection_refused"), std::string::npos)
      << target_->Log();
  EXPECT_EQ(Call("GET", "/health").status, 200) << "pre-ping must replace the dead connection";
  EXPECT_EQ(Call("GET", "/items/1").status, 200);
}

// Issue 15's in-app leak: /items/export pages through a cursor on a pooled connection held
// across requests; an export read to the end gives the connection back, an abandoned one
// keeps it idle in transaction until the process restarts (the documented bug).
TEST_F(TargetTest, ExportsPageThroughACursorAndAbandonedOnesKeepTheirConnections) {
  int read = 0;
  std::string next = "/items/export?batch=30";
  for (int pages = 0; !next.empty() && pages < 10; ++pages) {
    auto page = Call("GET", next);
    ASSERT_EQ(page.status, 200) << page.body;
    const auto doc = web::json::value::parse(page.body);
    read += static_cast<int>(doc.at("items").size());
    next = doc.has_field("next") ? doc.at("next").as_string() : "";
  }
  EXPECT_EQ(read, 100);  // the seeded items, each once
  EXPECT_TRUE(next.empty());
  auto metrics = Call("GET", "/metrics");
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_checked_out"), 0) << metrics.body;
  EXPECT_EQ(MetricValue(metrics.body, "items_exports_open"), 0);
  EXPECT_EQ(Call("GET", next.empty() ? "/items/export/0123" : next).status, 404);

  // Five clients start an export and never come back: the pool (5) is theirs.
  for (int i = 0; i < 5; ++i) {
    auto page = Call("GET", "/items/export?batch=1");
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_TRUE(web::json::value::parse(page.body).has_field("next"));
  }
  metrics = Call("GET", "/metrics");
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_checked_out"), 5);
  EXPECT_EQ(MetricValue(metrics.body, "items_exports_open"), 5);
  pqxx::connection admin(PgServer::Shared().SuperuserUrl(database_));
  EXPECT_EQ(pqxx::nontransaction(admin)
                .exec("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND "
                      "datname = current_database() AND state = 'idle in transaction'")[0][0]
                .as<int>(),
            5);
  auto health = Call("GET", "/health");
  EXPECT_EQ(health.status, 503);  // waits DB_POOL_TIMEOUT for a connection no one returns
  EXPECT_NE(target_->Log().find("DB_ERROR: pool_timeout"), std::string::npos);
}

TEST(TargetStartup, TwoTargetsStartingTogetherApplyMigrationsOnce) {
  const std::string database = PgServer::Shared().CreateDatabase();
  TargetProcess a(EnvFor(database));
  TargetProcess b(EnvFor(database));
  ASSERT_TRUE(a.WaitUntilServing()) << a.Log();
  ASSERT_TRUE(b.WaitUntilServing()) << b.Log();
  pqxx::connection c(PgServer::Shared().SuperuserUrl(database));
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<int>(), 2);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM items")[0][0].as<int>(), 100) << "seed applied twice";
  const std::string logs = a.Log() + b.Log();
  std::size_t applied = 0;
  for (auto pos = logs.find("applied migration 0002"); pos != std::string::npos;
       pos = logs.find("applied migration 0002", pos + 1)) {
    ++applied;
  }
  EXPECT_EQ(applied, 1u) << logs;
  EXPECT_EQ(a.Terminate(), 0);
  EXPECT_EQ(b.Terminate(), 0);
}

TEST(TargetStartup, AChangedAppliedMigrationStopsStartup) {
  const std::string database = PgServer::Shared().CreateDatabase();
  {
    TargetProcess first(EnvFor(database));
    ASSERT_TRUE(first.WaitUntilServing()) << first.Log();
    EXPECT_EQ(first.Terminate(), 0);
  }
  pqxx::connection c(PgServer::Shared().SuperuserUrl(database));
  pqxx::nontransaction(c).exec(
      "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
  TargetProcess second(EnvFor(database));
  EXPECT_EQ(second.WaitForExit(30s), 1);
  EXPECT_NE(second.Log().find("migration 0001_create_items.sql was changed after it was applied"),
            std::string::npos)
      << second.Log();
}

TEST(TargetStartup, ABadSettingStopsStartupNamingIt) {
  TargetProcess target(EnvFor("postgres", {{"DB_POOL_SIZE", "lots"}}));
  EXPECT_EQ(target.WaitForExit(10s), 2);
  EXPECT_NE(target.Log().find("invalid DB_POOL_SIZE=\"lots\""), std::string::npos) << target.Log();
}

TEST(TargetStartup, ReadsADotenvFileButTheEnvironmentWins) {
  const std::string database = PgServer::Shared().CreateDatabase();
  char path[] = "/tmp/poolguard-dotenv-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  {
    std::ofstream out(path);
    out << "# settings for the test\n"
        << "DATABASE_URL=\"" << PgServer::Shared().Url("app", "app", database) << "\"\n"
        << "DB_POOL_SIZE=3  # a comment\n"
        << "DB_POOL_TIMEOUT=9\n";
  }
  TargetProcess target({{"ENV_FILE", path}, {"DB_POOL_TIMEOUT", "2"}});
  ASSERT_TRUE(target.WaitUntilServing()) << target.Log();
  auto metrics = HttpCall(target.base_url(), "GET", "/metrics");
  EXPECT_EQ(MetricValue(metrics.body, "db_pool_size"), 3);
  EXPECT_NE(target.Log().find("timeout 2.00s"), std::string::npos) << target.Log();
  EXPECT_EQ(target.Terminate(), 0);
  unlink(path);
}

}  // namespace
}  // namespace poolguard::testing
