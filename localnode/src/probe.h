#pragma once

#include <cpprest/json.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace poolguard::localnode {

using Json = web::json::value;

/// A container probe (startupProbe / readinessProbe / livenessProbe), defaults as in the API.
struct ProbeSpec {
  enum class Kind { kHttpGet, kTcpSocket, kExec, kGrpc };
  Kind kind = Kind::kTcpSocket;
  std::string host;  // "" = the pod IP
  int port = 0;
  std::string path = "/";
  std::string scheme = "HTTP";
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> command;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

/// Parses a probe; named ports are looked up in the container's ports. nullopt when the
/// JSON is not a probe object; throws std::invalid_argument for an unknown named port.
std::optional<ProbeSpec> ParseProbe(const Json& probe, const Json& container);

/// The prober's bookkeeping for one probe of one container run, without I/O or clocks: the
/// caller asks Due() with the time since the container started and feeds Record().
class ProbeState {
 public:
  /// `initial`: the result before the first probe (readiness/startup: false, liveness: true).
  ProbeState(ProbeSpec spec, bool initial);

  /// Whether a probe should run now: not before initialDelaySeconds, then every periodSeconds
  /// after the previous one.
  bool Due(std::chrono::milliseconds since_start) const;
  /// Records one result at `since_start`: the result flips to failure after
  /// failureThreshold consecutive failures and to success after successThreshold
  /// consecutive successes.
  void Record(bool success, std::chrono::milliseconds since_start);

  bool result() const { return result_; }
  int consecutive_failures() const { return failures_; }
  const ProbeSpec& spec() const { return spec_; }

 private:
  ProbeSpec spec_;
  bool result_;
  int successes_ = 0;
  int failures_ = 0;
  std::optional<std::chrono::milliseconds> last_;
};

/// Runs a probe once. `pod_ip` is the default host (HTTP and TCP probes connect from the
/// agent, through the pod network's veth); exec probes run `argv` with `env` in the mount
/// and network namespaces of `container_pid` (if > 0). Returns success and a short message.
struct ProbeOutcome {
  bool success = false;
  std::string message;
};
ProbeOutcome RunProbe(const ProbeSpec& spec, const std::string& pod_ip, int container_pid,
                      const std::vector<std::string>& env);

/// HTTP status → probe success (200-399).
inline bool HttpProbeSuccess(int status) { return status >= 200 && status < 400; }

}  // namespace poolguard::localnode
