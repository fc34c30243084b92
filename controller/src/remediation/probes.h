#pragma once

// The Remediation collector's network probes, behind a small interface: HTTP GETs to the
// target's pods and to Prometheus, and a TCP connect to the database. PostgreSQL goes
// through core/pg_admin.h, Kubernetes through remediation/cluster.h.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/database.h"
#include "poolguard/common/http_client.h"
#include "remediation/observations.h"

namespace poolguard::controller {

/// What the collector reads at most of each answer: a pod's /health (only its status and
/// a small body matter), its /metrics, a Prometheus query's answer.
inline constexpr std::size_t kMaxHealthBytes = 64 << 10;
inline constexpr std::size_t kMaxMetricsBytes = 8 << 20;
inline constexpr std::size_t kMaxPrometheusBytes = 4 << 20;

/// One HTTP GET's answer: status 0 means none (`error` says why, `timed_out` if the
/// deadline passed).
using HttpResult = http::ClientResponse;

/// Thread-safe. Neither call throws on network errors: they are the answer.
class Probes {
 public:
  virtual ~Probes() = default;
  /// A GET of `url` (http://host[:port]/path?query) within `timeout`; a body larger than
  /// `max_bytes` is an error, not read further.
  virtual HttpResult Get(const std::string& url, std::chrono::milliseconds timeout,
                         std::size_t max_bytes) = 0;
  /// A TCP connect within `timeout`: Pass, Fail (refused, unreachable, timed out), Error
  /// (not an address).
  virtual ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout) = 0;
};

/// The probes on the shared deadline-bounded HTTP client (common/http_client.h).
std::unique_ptr<Probes> NewProbes();

}  // namespace poolguard::controller
