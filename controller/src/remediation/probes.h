#pragma once

// The Remediation collector's network probes, behind a small interface: HTTP GETs to the
// target's pods and to Prometheus, and a TCP connect to the database. PostgreSQL goes
// through core/pg_admin.h, Kubernetes through remediation/cluster.h.

#include <chrono>
#include <memory>
#include <string>

#include "core/database.h"
#include "poolguard/common/http_client.h"
#include "remediation/diagnose.h"

namespace poolguard::controller {

/// One HTTP GET's answer: status 0 means none (`error` says why, `timed_out` if the
/// deadline passed).
using HttpResult = http::ClientResponse;

/// Plain-HTTP GETs with a deadline (the target's pods, Prometheus). Thread-safe.
class HttpGetter {
 public:
  virtual ~HttpGetter() = default;
  /// `url` is http://host[:port]/path?query. Never throws on transport errors.
  virtual HttpResult Get(const std::string& url, std::chrono::milliseconds timeout) = 0;
};
std::unique_ptr<HttpGetter> NewHttpGetter();

/// TCP connect within `timeout`: Pass, Fail (refused, unreachable, timed out), Error (not
/// an address).
ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout);

}  // namespace poolguard::controller
