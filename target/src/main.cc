// poolguard-target: the victim service. main() only composes: configuration, logging,
// migrations, the pool and the HTTP server, then waits for SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <pqxx/connection>
#include <thread>

#include "app.h"
#include "config.h"
#include "migrations.h"
#include "pg_connection.h"
#include "poolguard/common/http_server.h"
#include "poolguard/common/logging.h"

namespace {

using namespace poolguard;
using namespace poolguard::target;

constexpr const char* kUsage = R"(usage: poolguard-target [serve|migrate|--help]

  serve     apply pending migrations, then serve HTTP (the default)
  migrate   apply pending migrations and exit

Configuration comes from the environment and from a .env file in the working directory
(path overridable with ENV_FILE); the environment wins.
  DATABASE_URL            postgresql://user:password@host:5432/db   (required)
  BIND_ADDRESS            address to listen on                      (0.0.0.0)
  PORT                    port to listen on                         (8000)
  DB_POOL_SIZE            connections the pool keeps                (5)
  DB_MAX_OVERFLOW         extra connections under load              (0)
  DB_POOL_TIMEOUT         seconds a request waits for a connection  (3)
  DB_POOL_PRE_PING        check a connection before lending it      (true)
  DB_STARTUP_TIMEOUT      seconds start-up waits for the database   (60)
  SHUTDOWN_GRACE_SECONDS  how long SIGTERM waits for requests       (10)
  LOG_LEVEL               trace|debug|info|warning|error|critical   (info)
  LOG_FORMAT              json|text                                 (text)

Endpoints: GET /health, GET /livez, GET /items?limit=&offset=, GET /items/{id},
POST /items, GET /metrics.
)";

// Start-up may find the database not yet up (both start together in a cluster).
std::unique_ptr<pqxx::connection> ConnectForMigrations(const Config& config) {
  PgConnectionFactory factory(config.database_url, "poolguard-target-migrate", 5);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(config.startup_timeout_seconds);
  auto delay = std::chrono::milliseconds(200);
  for (;;) {
    try {
      return std::make_unique<pqxx::connection>(factory.conninfo());
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() + delay > deadline) {
        throw std::runtime_error(std::string("cannot reach the database at ") +
                                 RedactUrl(config.database_url) + ": " + e.what());
      }
      spdlog::warn("waiting for the database at {}: {}", RedactUrl(config.database_url), e.what());
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
  }
}

void Migrate(const Config& config) {
  auto connection = ConnectForMigrations(config);
  const MigrationReport report = ApplyMigrations(*connection, EmbeddedMigrations());
  for (const auto& name : report.applied) spdlog::info("applied migration {}", name);
  spdlog::info("schema up to date: {} applied now, {} already applied", report.applied.size(),
               report.already_applied);
}

int Serve(const Config& config, const sigset_t& signals) {
  Migrate(config);
  auto factory = std::make_shared<PgConnectionFactory>(
      config.database_url, "poolguard-target",
      std::max(1, static_cast<int>(config.pool_timeout_seconds + 0.999)));
  App app(config, factory);
  http::ServerOptions options;
  options.address = config.bind_address;
  options.port = config.port;
  http::Server server(options, app.MakeRouter(), &app.registry());
  server.Start();
  spdlog::info("listening on {}:{} (pool size {}, overflow {}, timeout {:.2f}s, pre-ping {})",
               config.bind_address, config.port, config.pool_size, config.max_overflow,
               config.pool_timeout_seconds, config.pool_pre_ping);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received {}; finishing in-flight requests (up to {:.0f}s)",
               strsignal(signal_number), config.shutdown_grace_seconds);
  server.Shutdown(
      std::chrono::milliseconds(static_cast<long long>(config.shutdown_grace_seconds * 1000)));
  app.pool().Close();
  if (server.in_flight() != 0) {
    spdlog::warn("{} requests still waiting on the database after the grace period; exiting",
                 server.in_flight());
    spdlog::shutdown();
    std::fflush(nullptr);
    _exit(0);
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command != "serve" && command != "migrate") {
    std::cerr << "poolguard-target: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  }
  // Block the stop signals before any thread starts, so only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Config config;
  try {
    const char* env_file = std::getenv("ENV_FILE");
    config = LoadConfig(EnvironmentWithDotenv(env_file != nullptr ? env_file : ".env"));
  } catch (const std::exception& e) {
    std::cerr << "poolguard-target: configuration error: " << e.what() << "\n";
    return 2;
  }
  logging::Setup("target", config.log_level, config.log_format);
  try {
    if (command == "migrate") {
      Migrate(config);
      return 0;
    }
    return Serve(config, signals);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
