// The effects a ChaosExperiment promises, felt for real: a hung (SIGSTOPped) controller's
// sessions end by themselves through the server-side timeouts; a leak at the guardrail's
// limit exhausts the slots ordinary roles may use; a TrafficSurge exhausts a real
// poolguard-target's pool while the database stays healthy.
#include <libpq-fe.h>
#include <signal.h>

#include <ctime>
#include <iomanip>
#include <sstream>
#include <thread>

#include "harness.h"

namespace poolguard::controller::testing {
namespace {

using namespace std::chrono_literals;

// A libpq session as the ordinary role `app`; error() says why it failed.
class AppSession {
 public:
  explicit AppSession(const Postgres& pg) {
    const std::string conninfo = "host=" + pg.host_ip() + " port=" + std::to_string(pg.port()) +
                                 " user=app password=app dbname=app connect_timeout=5"
                                 " application_name=poolguard-test-app";
    conn_ = PQconnectdb(conninfo.c_str());
  }
  ~AppSession() { PQfinish(conn_); }
  AppSession(const AppSession&) = delete;
  AppSession& operator=(const AppSession&) = delete;
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }
  /// The first column of the first row, or "" on failure.
  std::string Scalar(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
  }

 private:
  PGconn* conn_ = nullptr;
};

// The sum of every sample of `name` whose labels contain `label` (e.g. route="/items").
double MetricSum(const std::string& text, const std::string& name, const std::string& label = "") {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;  // another metric with this prefix
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class ChaosEffectsTest : public ChaosClusterTest {
 protected:
  std::string App(const std::string& name) { return "poolguard-chaos/" + ns_ + "/" + name; }
  int Sessions(const std::string& name) { return Postgres::Shared().Sessions(App(name)); }
  Json Status(const std::string& name) { return Get(name)->at("status"); }
  void Patch(const std::string& name, const std::string& patch) {
    client_->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns_)
        .Patch(name, kube::PatchType::kMerge, J(patch));
  }
  /// Client backends in pg_stat_activity, not counting the query's own session.
  int ClientBackends() {
    return std::stoi(Postgres::Shared().Query(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"));
  }
  std::string Metrics(int port) {
    return HttpGet("http://127.0.0.1:" + std::to_string(port), "/metrics").second;
  }
  /// A poolguard-target on `address`, migrated, its pool still empty (only /livez asked);
  /// with `netns`, on the PostgreSQL test host (ip netns exec keeps the pid).
  std::unique_ptr<Process> StartTarget(const std::string& address, int port,
                                       const std::string& netns = "") {
    const std::map<std::string, std::string> env = {{"DATABASE_URL", Postgres::Shared().Url("app")},
                                                    {"BIND_ADDRESS", address},
                                                    {"PORT", std::to_string(port)},
                                                    {"DB_POOL_SIZE", "5"},
                                                    {"DB_POOL_TIMEOUT", "1"},
                                                    {"ENV_FILE", "/nonexistent/.env"}};
    auto target =
        netns.empty()
            ? std::make_unique<Process>(POOLGUARD_TARGET_BINARY, std::vector<std::string>{}, env)
            : std::make_unique<Process>(
                  "/usr/sbin/ip",
                  std::vector<std::string>{"netns", "exec", netns, POOLGUARD_TARGET_BINARY}, env);
    const std::string base = "http://" + address + ":" + std::to_string(port);
    EXPECT_TRUE(Eventually([&] { return HttpGet(base, "/livez").first == 200; }, 30s))
        << target->Log();
    return target;
  }
};

// idle_session_timeout = remaining duration + --session-grace is set on every leak
// session, so a controller that hangs (SIGSTOP: its sockets stay open, nothing closes
// them) still cannot make the fault outlive the experiment by more than the grace.
TEST_F(ChaosEffectsTest, StoppedControllersSessionsEndByServerTimeout) {
  Process* ctl = StartController({"--session-grace=2s"});
  ASSERT_TRUE(WaitReady(health_port_));
  // 5 s: long enough that a loaded machine still stops the controller before endsAt.
  Create(
      Experiment("hung", R"({"type":"ConnectionLeak","connectionLeak":{"connections":5}})", "5s"));
  ASSERT_TRUE(WaitPhase("hung", "Active", 20s));
  ctl->Signal(SIGSTOP);
  const auto stopped = std::chrono::system_clock::now();
  EXPECT_EQ(Sessions("hung"), 5);
  // endsAt passes with nobody to roll back: the sessions are still there just after it.
  const std::string ends_at = Status("hung").at("endsAt").as_string();
  std::tm tm{};
  std::istringstream(ends_at) >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  const auto ends = std::chrono::system_clock::from_time_t(timegm(&tm));
  std::this_thread::sleep_until(ends + 500ms);
  EXPECT_EQ(Sessions("hung"), 5) << "sessions should outlive endsAt while the controller hangs";
  // ... and PostgreSQL ends them itself about a grace (2 s) after endsAt; allow 5 s more.
  EXPECT_TRUE(Eventually([&] { return Sessions("hung") == 0; }, 7s))
      << Sessions("hung") << " sessions left; endsAt " << ends_at;
  EXPECT_LT(std::chrono::system_clock::now() - stopped, 15s);
  EXPECT_NE(Postgres::Shared().LogTail().find("idle-session timeout"), std::string::npos)
      << Postgres::Shared().LogTail();
  // Woken up, the controller finds nothing left to close and finishes the experiment.
  ctl->Signal(SIGCONT);
  ASSERT_TRUE(WaitPhase("hung", "Completed", 20s));
  EXPECT_EQ(Status("hung").at("leakedConnections").as_integer(), 0);
  ctl->Signal(SIGTERM);
  EXPECT_EQ(ctl->Wait(20s), 0) << ctl->Log();
}

// A leak at the guardrail's limit (--db-capacity-margin=0) takes the slots ordinary roles
// may use: new `app` connections fail with SQLSTATE 53300 and a fresh poolguard-target
// answers 503 too_many_clients; abort gives the slots back.
TEST_F(ChaosEffectsTest, LeakAtTheCapacityLimitExhaustsServerSlots) {
  auto& pg = Postgres::Shared();
  const int port = FreePort();
  auto target = StartTarget("127.0.0.1", port);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  // Nothing else connected (the target's migration session has gone), so the numbers
  // below are the leak's alone.
  ASSERT_TRUE(Eventually([&] { return ClientBackends() == 0; }, 10s)) << ClientBackends();
  Process* ctl = StartController({"--db-capacity-margin=0"});
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  const int reserved = std::stoi(pg.Query("SHOW superuser_reserved_connections"));
  const int for_roles = pg.max_connections() - reserved;  // slots an ordinary role may use
  // One over the limit is Rejected and the message shows the limit.
  Create(Experiment("over",
                    R"({"type":"ConnectionLeak","connectionLeak":{"connections":)" +
                        std::to_string(for_roles) + "}}",
                    "2m"));
  ASSERT_TRUE(WaitPhase("over", "Rejected", 20s));
  const std::string message = Status("over").at("message").as_string();
  EXPECT_EQ(Status("over").at("reason").as_string(), "DatabaseCapacity");
  const int limit = std::stoi(message.substr(message.rfind("= ") + 2));
  // The probe counts its own session as in use: max - reserved - 1 - margin 0.
  EXPECT_EQ(limit, for_roles - 1) << message;
  EXPECT_NE(message.find("max_connections " + std::to_string(pg.max_connections()) +
                         " - superuser_reserved_connections " + std::to_string(reserved) +
                         " - in use 1 - margin 0 = " + std::to_string(limit)),
            std::string::npos)
      << message;

  // Exactly the limit is admitted and held.
  Create(Experiment(
      "fill",
      R"({"type":"ConnectionLeak","connectionLeak":{"connections":)" + std::to_string(limit) + "}}",
      "2m"));
  ASSERT_TRUE(WaitPhase("fill", "Active", 30s));
  // Phase and the held count may land in two status writes a few milliseconds apart.
  EXPECT_TRUE(Eventually(
      [&] {
        const Json st = Status("fill");
        return st.has_field("leakedConnections") &&
               st.at("leakedConnections").as_integer() == limit;
      },
      5s))
      << Status("fill").serialize();
  EXPECT_EQ(Sessions("fill"), limit);
  // The probe's session is the controller's kept one: it stays while the fault is held,
  // in the slot the guardrail counted as "in use 1". Leak and kept session together take
  // every slot an ordinary role may use ...
  ASSERT_TRUE(Eventually([&] { return ClientBackends() == limit + 1; }, 10s)) << ClientBackends();
  const int left = for_roles - ClientBackends();
  EXPECT_EQ(left, 0);
  std::vector<std::unique_ptr<AppSession>> held;
  for (int i = 0; i < left; ++i) {
    held.push_back(std::make_unique<AppSession>(pg));
    ASSERT_TRUE(held.back()->ok()) << held.back()->error();
  }
  // ... so every new connection by `app` is refused.
  AppSession refused(pg);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(refused.error().find("remaining connection slots are reserved") !=
                  std::string::npos ||
              refused.error().find("too many clients") != std::string::npos)
      << refused.error();
  // The target never opened a connection, so its first database request needs a new one.
  const auto r = HttpGet(base, "/items/1");
  EXPECT_EQ(r.first, 503) << r.second;
  EXPECT_NE(r.second.find("\"kind\":\"too_many_clients\""), std::string::npos) << r.second;
  EXPECT_NE(target->Log().find("DB_ERROR: too_many_clients"), std::string::npos) << target->Log();
  EXPECT_GE(
      MetricSum(HttpGet(base, "/metrics").second, "db_errors_total", "kind=\"too_many_clients\""),
      1);
  // The superuser's reserved slots are still there (the harness's queries use them).
  EXPECT_EQ(pg.Query("SELECT 1"), "1");

  held.clear();
  Patch("fill", R"({"spec":{"abort":true}})");
  ASSERT_TRUE(WaitPhase("fill", "Aborted", 20s));
  EXPECT_EQ(Sessions("fill"), 0);
  EXPECT_TRUE(Eventually([&] { return HttpGet(base, "/items/1").first == 200; }, 10s));
  AppSession again(pg);
  EXPECT_TRUE(again.ok()) << again.error();
  target->Signal(SIGTERM);
  target->Wait(15s);
}

// TrafficSurge: more clients than the pool can serve make a real poolguard-target's pool
// time out while the database itself answers at once; everything stops at the end.
//
// The path is a deliberately heavy page (OFFSET over 300,000 seeded rows, ~50-150 ms a
// query): on /items/1 the target serves ~4,000 req/s even with 1,000 clients (measured
// with wrk -c1000: max wait 0.7 s, no timeouts at DB_POOL_TIMEOUT=1), and the CRD caps
// concurrency at 1,000, so a cheap path cannot reliably exhaust a 1 s pool timeout.
TEST_F(ChaosEffectsTest, TrafficSurgeTimesOutTheTargetsPoolWhileTheDatabaseIsHealthy) {
  auto& pg = Postgres::Shared();
  // The target must be reachable at an address an EndpointSlice accepts (not loopback):
  // it runs on the PostgreSQL test host, in its network namespace.
  const std::string address = pg.host_ip();
  const int port = FreePort();
  auto target = StartTarget(address, port, pg.Netns());
  const std::string base = "http://" + address + ":" + std::to_string(port);
  pg.Query(
      "INSERT INTO items (name, quantity) SELECT 'bulk-' || g, g % 100 "
      "FROM generate_series(1, 300000) g",
      "app");
  pg.Query("ANALYZE items", "app");
  const std::string path = "/items?limit=1&offset=299000";
  ASSERT_EQ(HttpGet(base, path, 10s).first, 200);
  const double timeouts_before =
      MetricSum(HttpGet(base, "/metrics").second, "db_pool_timeouts_total");
  EXPECT_EQ(timeouts_before, 0);

  const std::string sport = std::to_string(port);
  client_->Resource({"", "v1", "services"}, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"api"},
        "spec":{"ports":[{"name":"http","port":8000,"targetPort":)" +
                sport + "}]}}"));
  client_->Resource({"discovery.k8s.io", "v1", "endpointslices"}, ns_)
      .Create(J(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
        "metadata":{"name":"api-local","labels":{"kubernetes.io/service-name":"api",
          "endpointslice.kubernetes.io/managed-by":"poolguard-test"}},
        "addressType":"IPv4","ports":[{"name":"http","port":)" +
                sport + R"(,"protocol":"TCP"}],
        "endpoints":[{"addresses":[")" +
                address + R"("],"conditions":{"ready":true}}]})"));
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Json surge = Experiment(
      "surge",
      R"({"type":"TrafficSurge","trafficSurge":{"concurrency":60,"path":")" + path + R"("}})",
      "15s");  // the checks below run while it lasts, some of them up to 8 s on a loaded machine
  surge["spec"]["target"]["service"] = Json::string("api");
  Create(surge);
  ASSERT_TRUE(WaitPhase("surge", "Active", 20s));
  EXPECT_TRUE(Eventually(
      [&] {
        const Json st = Status("surge");
        return st.has_field("surgeClients") && st.at("surgeClients").as_integer() == 60;
      },
      5s))
      << Status("surge").serialize();
  EXPECT_EQ(MetricSum(Metrics(metrics_port_), "poolguard_chaos_surge_clients"), 60);
  // The pool times out ...
  EXPECT_TRUE(Eventually(
      [&] {
        return MetricSum(HttpGet(base, "/metrics").second, "db_pool_timeouts_total") >
               timeouts_before;
      },
      8s))
      << HttpGet(base, "/metrics").second;
  EXPECT_NE(target->Log().find("DB_ERROR: pool_timeout"), std::string::npos);
  // ... while the database answers a new connection at once.
  {
    const auto t = std::chrono::steady_clock::now();
    AppSession direct(pg);
    ASSERT_TRUE(direct.ok()) << direct.error();
    EXPECT_EQ(direct.Scalar("SELECT 1"), "1");
    EXPECT_LT(std::chrono::steady_clock::now() - t, 2s);
  }
  EXPECT_EQ(Phase("surge"), "Active");

  // At the end every client stops: the target's traffic and pool go quiet.
  ASSERT_TRUE(WaitPhase("surge", "Completed", 30s));
  EXPECT_EQ(Status("surge").at("reason").as_string(), "Expired");
  EXPECT_EQ(Status("surge").at("surgeClients").as_integer(), 0);
  EXPECT_EQ(MetricSum(Metrics(metrics_port_), "poolguard_chaos_surge_clients"), 0);
  // Requests already inside the target finish within the pool timeout plus one query
  // (a query can take longer on a loaded machine: wait for the pool to drain, bounded).
  std::this_thread::sleep_for(2500ms);
  std::string quiet;
  EXPECT_TRUE(Eventually(
      [&] {
        quiet = HttpGet(base, "/metrics").second;
        return MetricSum(quiet, "db_pool_waiters") == 0 &&
               MetricSum(quiet, "db_pool_checked_out") == 0;
      },
      10s))
      << quiet;
  const double requests = MetricSum(quiet, "http_requests_total", "route=\"/items\"");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(MetricSum(HttpGet(base, "/metrics").second, "http_requests_total", "route=\"/items\""),
            requests);
  EXPECT_EQ(HttpGet(base, "/items/1").first, 200);
  target->Signal(SIGTERM);
  target->Wait(15s);
}

}  // namespace
}  // namespace poolguard::controller::testing
