#include "harness.h"

#include <cpprest/http_client.h>
#include <libpq-fe.h>

#include <random>
#include <thread>

#include "poolguard/kube/config.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller::testing {

namespace {
const std::string kSource = POOLGUARD_SOURCE_DIR;
}  // namespace

Json J(const std::string& text) { return Json::parse(text); }

Postgres& Postgres::Shared() {
  static Postgres pg;
  return pg;
}

// A test host of its own (a network namespace): the EndpointSlice needs an address that is
// not loopback, and tests send traffic only to loopback or to such hosts.
Postgres::Postgres()
    : server_("poolguard-ctlpg", max_connections(), ::poolguard::testing::ScratchPg::Host::kNetns) {
  Query("CREATE ROLE app LOGIN PASSWORD 'app'");
  Query("CREATE DATABASE app OWNER app");
}

std::string Postgres::Url(const std::string& db) const { return server_.Url("app", "app", db); }

std::string Postgres::Query(const std::string& sql, const std::string& db) {
  const std::string conninfo = "host=" + host_ip() + " port=" + std::to_string(port()) +
                               " user=postgres password=postgres dbname=" + db +
                               " application_name=poolguard-test";
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("test connection failed: " + e);
  }
  PGresult* r = PQexec(c, sql.c_str());
  std::string out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string e = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("query failed: " + sql + ": " + e);
  return out;
}

int Postgres::Sessions(const std::string& application_name) {
  return std::stoi(Query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                         application_name + "'"));
}

std::pair<int, std::string> HttpGet(const std::string& base, const std::string& path,
                                    std::chrono::seconds timeout) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    web::http::client::http_client client(base, config);
    auto response = client.request(web::http::methods::GET, path).get();
    return {response.status_code(), response.extract_utf8string(true).get()};
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

bool ChaosClusterTest::Eventually(const std::function<bool()>& cond,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::string ChaosClusterTest::UniqueName(const std::string& prefix) {
  static std::mt19937 rng(std::random_device{}());
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s = prefix + "-";
  for (int i = 0; i < 6; ++i) s += kChars[rng() % 36];
  return s;
}

void ChaosClusterTest::SetUp() {
  const char* kc = std::getenv("POOLGUARD_TEST_KUBECONFIG");
  if (kc == nullptr || *kc == '\0') {
    FAIL() << "POOLGUARD_TEST_KUBECONFIG is not set: these tests need a running cluster "
              "(scripts/test sets it; or eval \"$(localcluster/up)\" and export "
              "POOLGUARD_TEST_KUBECONFIG=$KUBECONFIG)";
  }
  kubeconfig_ = kc;
  client_ = kube::Client::Create(kube::LoadKubeconfigFile(kubeconfig_));
  static bool crds_installed = false;
  if (!crds_installed) {
    // kubectl from the cluster's state dir (localcluster links it there), else PATH.
    const std::string dir = kubeconfig_.substr(0, kubeconfig_.rfind('/'));
    const std::string kubectl =
        access((dir + "/bin/kubectl").c_str(), X_OK) == 0 ? dir + "/bin/kubectl" : "kubectl";
    poolguard::controller::testing::Run(kubectl + " --kubeconfig '" + kubeconfig_ +
                                        "' apply --server-side --force-conflicts -f " + kSource +
                                        "/crds/");
    poolguard::controller::testing::Run(
        kubectl + " --kubeconfig '" + kubeconfig_ +
        "' wait --for=condition=Established --timeout=30s crd/chaosexperiments.poolguard.dev");
    crds_installed = true;
  }
  Postgres::Shared();
  ns_ = MakeNamespace(true);
}

void ChaosClusterTest::TearDown() {
  if (HasFailure() && controller_ != nullptr) {
    std::cerr << "---- controller log ----\n" << controller_->Log() << "\n";
    std::cerr << "---- postgres log ----\n" << Postgres::Shared().LogTail() << "\n";
  }
  processes_.clear();  // SIGKILL: PostgreSQL drops whatever they still held
  for (const auto& ns : namespaces_) {
    try {
      // Drop finalizers the controller may not have had time to remove, then the namespace.
      auto chaos = client_->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns);
      for (const auto& o : chaos.List().items) {
        try {
          chaos.Patch(kube::NameOf(o), kube::PatchType::kMerge,
                      J(R"({"metadata":{"finalizers":null}})"));
        } catch (...) {
        }
      }
      client_->Resource({"", "v1", "namespaces", false}).Delete(ns);
    } catch (...) {
    }
  }
}

std::string ChaosClusterTest::MakeNamespace(bool opted_in) {
  const std::string ns = UniqueName("chaostest");
  Json obj = J(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"labels":{}}})");
  obj["metadata"]["name"] = Json::string(ns);
  if (opted_in) obj["metadata"]["labels"]["poolguard.dev/chaos"] = Json::string("enabled");
  client_->Resource({"", "v1", "namespaces", false}).Create(obj);
  namespaces_.push_back(ns);
  auto& pg = Postgres::Shared();
  const std::string port = std::to_string(pg.port());
  client_->Resource({"", "v1", "services"}, ns)
      .Create(J(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"db"},
        "spec":{"ports":[{"name":"postgres","port":5432,"targetPort":)" +
                port + "}]}}"));
  client_->Resource({"discovery.k8s.io", "v1", "endpointslices"}, ns)
      .Create(J(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
        "metadata":{"name":"db-local","labels":{"kubernetes.io/service-name":"db",
          "endpointslice.kubernetes.io/managed-by":"poolguard-test"}},
        "addressType":"IPv4","ports":[{"name":"postgres","port":)" +
                port + R"(,"protocol":"TCP"}],
        "endpoints":[{"addresses":[")" +
                pg.host_ip() + R"("],"conditions":{"ready":true}}]})"));
  client_->Resource({"", "v1", "secrets"}, ns)
      .Create(J(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db-credentials"},
        "stringData":{"username":"app","password":"app","database":"app"}})"));
  // The targets the tests' experiments name: they must exist (a guardrail); no pods.
  for (const std::string name : {"api", "other"}) {
    client_->Resource({"apps", "v1", "deployments"}, ns)
        .Create(J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
                  R"("},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"x"}},
          "template":{"metadata":{"labels":{"app":"x"}},
                      "spec":{"containers":[{"name":"x","image":"poolguard/target:dev"}]}}}})"));
  }
  return ns;
}

Process* ChaosClusterTest::StartController(const std::vector<std::string>& extra) {
  health_port_ = FreePort();
  metrics_port_ = FreePort();
  std::string nss;
  for (const auto& ns : namespaces_) nss += (nss.empty() ? "" : ",") + ns;
  std::vector<std::string> args = {"--kubeconfig",
                                   kubeconfig_,
                                   "--namespaces",
                                   nss,
                                   "--health-probe-bind-address",
                                   "127.0.0.1:" + std::to_string(health_port_),
                                   "--metrics-bind-address",
                                   "127.0.0.1:" + std::to_string(metrics_port_),
                                   "--log-level",
                                   "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  processes_.push_back(std::make_unique<Process>(POOLGUARD_CONTROLLER_BINARY, args));
  controller_ = processes_.back().get();
  return controller_;
}

bool ChaosClusterTest::WaitReady(int health_port) {
  return Eventually(
      [&] {
        return HttpGet("http://127.0.0.1:" + std::to_string(health_port), "/readyz").first == 200;
      },
      std::chrono::seconds(20));
}

Json ChaosClusterTest::Experiment(const std::string& name, const std::string& fault_json,
                                  const std::string& duration,
                                  const std::string& extra_spec) const {
  return J(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"ChaosExperiment",
    "metadata":{"name":")" +
           name + R"("},
    "spec":{"target":{"deployment":"api"},
      "database":{"service":"db","credentialsSecret":"db-credentials"},
      "fault":)" +
           fault_json + R"(,"duration":")" + duration + "\"" + extra_spec + "}}");
}

Json ChaosClusterTest::Create(const Json& experiment, const std::string& ns) {
  return client_->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns.empty() ? ns_ : ns)
      .Create(experiment);
}

std::optional<Json> ChaosClusterTest::Get(const std::string& name, const std::string& ns) {
  try {
    return client_
        ->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns.empty() ? ns_ : ns)
        .Get(name);
  } catch (const kube::ApiError& e) {
    if (kube::IsNotFound(e)) return std::nullopt;
    throw;
  }
}

std::string ChaosClusterTest::Phase(const std::string& name, const std::string& ns) {
  auto o = Get(name, ns);
  if (!o || !o->has_field("status") || !o->at("status").has_field("phase")) return "";
  return o->at("status").at("phase").as_string();
}

bool ChaosClusterTest::WaitPhase(const std::string& name, const std::string& phase,
                                 std::chrono::seconds timeout, const std::string& ns) {
  if (Eventually([&] { return Phase(name, ns) == phase; }, timeout)) return true;
  auto o = Get(name, ns);
  ADD_FAILURE() << name << " did not reach " << phase
                << "; object: " << (o ? o->serialize() : std::string("<gone>"));
  return false;
}

}  // namespace poolguard::controller::testing
