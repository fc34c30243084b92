// poolguard-console: main() reads its flags, finds the API server, and serves the page and
// the control API until SIGTERM/SIGINT.
#include <poolguard/common/http_server.h>
#include <poolguard/common/logging.h>
#include <poolguard/kube/config.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "console_api.h"
#include "user_clients.h"

namespace {

constexpr char kUsage[] = R"(poolguard-console: the PoolGuard web console and control API

Usage: poolguard-console [flags]

  --address ADDR      (or --address=ADDR, as every flag) listen address (default 0.0.0.0; env POOLGUARD_CONSOLE_ADDRESS)
  --port N            listen port (default 8080; env POOLGUARD_CONSOLE_PORT)
  --api-server URL    the Kubernetes API server (default: in-cluster, from
                      KUBERNETES_SERVICE_HOST/PORT; else the kubeconfig's server)
  --ca-file PATH      CA bundle of the API server (default: the in-cluster
                      /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)
  --kubeconfig PATH   take the server and CA from a kubeconfig (env KUBECONFIG); its
                      credentials are never used
  --max-users N       signed-in users whose API server clients are kept (about 1 MB each;
                      the least recently used goes first; default 32; env
                      POOLGUARD_CONSOLE_MAX_USERS)
  --log-level LEVEL   trace|debug|info|warn|error (default info; env POOLGUARD_LOG_LEVEL)
  --log-format FMT    text|json (default text; env POOLGUARD_LOG_FORMAT)

Every request that touches the cluster is made with the caller's bearer token
(Authorization: Bearer <token>), so Kubernetes RBAC decides what they see and may do.
)";

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace poolguard;
  std::string address = Env("POOLGUARD_CONSOLE_ADDRESS", "0.0.0.0");
  std::string port = Env("POOLGUARD_CONSOLE_PORT", "8080");
  std::string api_server, ca_file, kubeconfig = Env("KUBECONFIG", "");
  std::string level = Env("POOLGUARD_LOG_LEVEL", "info");
  std::string max_users = Env("POOLGUARD_CONSOLE_MAX_USERS", "32");
  std::string format = Env("POOLGUARD_LOG_FORMAT", "text");
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;  // --flag=value
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string* into = flag == "--address"      ? &address
                        : flag == "--port"       ? &port
                        : flag == "--api-server" ? &api_server
                        : flag == "--ca-file"    ? &ca_file
                        : flag == "--kubeconfig" ? &kubeconfig
                        : flag == "--log-level"  ? &level
                        : flag == "--log-format" ? &format
                        : flag == "--max-users"  ? &max_users
                                                 : nullptr;
    if (into == nullptr || (!inline_value && i + 1 >= argc)) {
      std::cerr << "poolguard-console: " << (into ? "missing value for " : "unknown flag ") << flag
                << "\n(--help lists the flags)\n";
      return 2;
    }
    *into = inline_value ? *inline_value : argv[++i];
  }
  const auto lvl = logging::ParseLevel(level);
  const auto fmt = logging::ParseFormat(format);
  // Whole numbers only ("80x" is refused, not read as 80); -1 when not one.
  auto number = [](const std::string& text) {
    try {
      std::size_t used = 0;
      const int n = std::stoi(text, &used);
      return used == text.size() ? n : -1;
    } catch (const std::exception&) {
      return -1;
    }
  };
  const int port_number = number(port);
  const int max_users_number = number(max_users);
  std::string invalid;
  if (!lvl) invalid = "--log-level " + level;
  if (!fmt) invalid = "--log-format " + format;
  if (port_number < 0 || port_number > 65535) invalid = "--port " + port;
  if (max_users_number < 1 || max_users_number > 10000) {
    invalid = "--max-users " + max_users + " (1 to 10000)";
  }
  if (!invalid.empty()) {
    std::cerr << "poolguard-console: invalid " << invalid << "\n";
    return 2;
  }
  logging::Setup("poolguard-console", *lvl, *fmt);

  console::ApiServer api;
  try {
    const std::string host = Env("KUBERNETES_SERVICE_HOST", "");
    if (api_server.empty() && !host.empty() && kubeconfig.empty()) {
      const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
      api_server = "https://" + bracketed + ":" + Env("KUBERNETES_SERVICE_PORT", "443");
      if (ca_file.empty()) ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
    }
    if (api_server.empty() || (ca_file.empty() && !kubeconfig.empty())) {
      if (kubeconfig.empty()) {
        throw std::runtime_error(
            "no API server: not in a cluster; pass --api-server or --kubeconfig");
      }
      const kube::Config from = kube::LoadKubeconfigFile(kubeconfig);
      if (api_server.empty()) api_server = from.server;
      api.ca_pem = from.ca_pem;
      api.insecure_skip_tls_verify = from.insecure_skip_tls_verify;
      api.tls_server_name = from.tls_server_name;
    }
    api.server = api_server;
    if (!ca_file.empty()) api.ca_pem = ReadFile(ca_file);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  prometheus::Registry registry;
  console::ConsoleApi console_api(
      std::make_shared<console::UserClients>(api, static_cast<std::size_t>(max_users_number)));
  http::Router router = console_api.MakeRouter();
  router.Add(
      "GET", "/metrics",
      [&registry](const http::Request&) { return http::MetricsResponse(registry); },
      http::Dispatch::kInline);
  http::ServerOptions options;
  options.address = address;
  options.port = static_cast<std::uint16_t>(port_number);
  options.max_body_bytes = 64 * 1024;
  options.workers = 32;
  http::Server server(options, std::move(router), &registry);
  try {
    server.Start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", address, port_number, e.what());
    return 1;
  }
  spdlog::info("console on http://{}:{} (API server {}); every call is made as the caller", address,
               server.port(), api.server);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received {}; stopping", strsignal(signal_number));
  server.Shutdown(std::chrono::seconds(5));
  return 0;
}
