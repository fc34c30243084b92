#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"  // tests/support
#include "net.h"            // tests/support
#include "poolguard/kube/client.h"
#include "scratch_pg.h"  // tests/support
#include "shell.h"

namespace poolguard::controller::testing {

using kube::Json;

using ::poolguard::testing::FreePort;  // tests/support/net.h
using ::poolguard::testing::Run;       // tests/support/shell.h
Json J(const std::string& text);

/// One PostgreSQL for the whole binary (scripts/pg with POOLGUARD_PG_NETNS=1): a test host
/// in a network namespace of its own, reached at host_ip() — EndpointSlices refuse
/// loopback addresses.
class Postgres {
 public:
  static Postgres& Shared();
  int port() const { return server_.port(); }
  const std::string& host_ip() const { return server_.host(); }
  int max_connections() const { return 40; }
  /// Superuser SQL at host_ip(); returns the first column of the first row ("" if none).
  std::string Query(const std::string& sql, const std::string& db = "postgres");
  /// Rows of pg_stat_activity with this application_name.
  int Sessions(const std::string& application_name);
  std::string Url(const std::string& db) const;
  /// The tail of the server log (for failures).
  std::string LogTail() const { return server_.LogTail(); }
  /// The network namespace of the test host (scripts/pg's netns.env), to run other test
  /// processes on the same host.
  std::string Netns() const { return server_.Netns(); }

 private:
  Postgres();
  ::poolguard::testing::ScratchPg server_;
};

/// A poolguard-controller (or any) process; output captured in a file.
using Process = ::poolguard::testing::ChildProcess;  // tests/support/child_process.h

/// GET http://127.0.0.1:port/path; status 0 on transport failure.
std::pair<int, std::string> HttpGet(const std::string& base, const std::string& path,
                                    std::chrono::seconds timeout = std::chrono::seconds(5));

/// A fresh namespace per test with the database Service, its EndpointSlice and Secret; the
/// CRDs installed once.
class ChaosClusterTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Creates a namespace (labelled poolguard.dev/chaos=enabled if `opted_in`) with the
  /// db Service/EndpointSlice/Secret; returns its name.
  std::string MakeNamespace(bool opted_in);
  /// Starts a controller watching `namespaces_` with the extra flags.
  Process* StartController(const std::vector<std::string>& extra = {});
  /// Waits until the controller's /readyz answers 200.
  bool WaitReady(int health_port);

  Json Experiment(const std::string& name, const std::string& fault_json,
                  const std::string& duration, const std::string& extra_spec = "") const;
  Json Create(const Json& experiment, const std::string& ns = "");
  std::optional<Json> Get(const std::string& name, const std::string& ns = "");
  std::string Phase(const std::string& name, const std::string& ns = "");
  /// Waits for a phase; on timeout fails with the object and the controller log.
  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::seconds timeout = std::chrono::seconds(30),
                 const std::string& ns = "");
  static bool Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
  static std::string UniqueName(const std::string& prefix);

  std::shared_ptr<kube::Client> client_;
  std::string kubeconfig_;
  std::string ns_;
  std::vector<std::string> namespaces_;
  std::vector<std::unique_ptr<Process>> processes_;  // controllers started, newest last
  Process* controller_ = nullptr;                    // the last one started, for failure logs
  int health_port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace poolguard::controller::testing
