#pragma once

// The diagnosis: the reference design's checks table plus BlockingSessions and
// ServerSlots, and the conclusion they support. A pure function of what the collectors
// gathered; what was not gathered is Inconclusive and lowers the confidence.

#include <optional>
#include <string>
#include <vector>

#include "remediation/observations.h"

namespace poolguard::controller {

namespace check {
inline constexpr char kDatabaseRunning[] = "DatabaseRunning";
inline constexpr char kNetworkReachable[] = "NetworkReachable";
inline constexpr char kAuthenticationErrors[] = "AuthenticationErrors";
inline constexpr char kPoolTimeouts[] = "PoolTimeouts";
inline constexpr char kBlockingSessions[] = "BlockingSessions";
inline constexpr char kServerSlots[] = "ServerSlots";
}  // namespace check

/// The checks table and its conclusion. Priority when several checks fail: DatabaseDown,
/// NetworkUnreachable, CredentialsRejected, LockContention (a lock holder explains both
/// pool timeouts and stranded server slots, so it outranks them), ServerSlotsExhausted,
/// ConnectionPoolExhausted (pool timeouts with the database healthy), else Unknown.
/// Confidence: High when an independent signal corroborates the conclusion; at most Medium
/// when a check is Inconclusive or Prometheus was configured but unavailable; Low when three
/// or more checks are Inconclusive, or for Unknown.
Diagnosis Diagnose(const Observations& observations);

}  // namespace poolguard::controller
