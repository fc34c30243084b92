#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace poolguard::kube {

/// What went wrong, as the API's Status `reason` (and HTTP code) says, plus the two failures
/// that never reach the server's answer (Timeout on our side, Transport).
enum class ErrorKind {
  kBadRequest,          // 400 BadRequest
  kUnauthorized,        // 401: credentials missing, wrong or expired
  kForbidden,           // 403: RBAC (or admission) said no
  kNotFound,            // 404
  kMethodNotAllowed,    // 405
  kAlreadyExists,       // 409 reason AlreadyExists
  kConflict,            // 409 otherwise: stale resourceVersion, failed precondition
  kGone,                // 410 Gone / Expired: resourceVersion too old, relist
  kInvalid,             // 422: field validation failed; see causes()
  kTooManyRequests,     // 429: see retry_after()
  kInternalError,       // 500
  kServiceUnavailable,  // 503
  kTimeout,             // 504, Status reason Timeout/ServerTimeout, or our own deadline
  kTransport,           // no HTTP answer: connect, TLS or read failure
  kUnknown,             // any other status
};

/// Human name of a kind ("NotFound", "Conflict", ...).
const char* ErrorKindName(ErrorKind kind);

/// One entry of Status.details.causes: which field failed and why.
struct StatusCause {
  std::string type;     // e.g. "FieldValueRequired"
  std::string message;  // e.g. "Required value"
  std::string field;    // e.g. "spec.replicas"
};

/// A failed API call. what() is the server's own message (prefixed with the kind), so logs
/// read the same as kubectl's.
class ApiError : public std::runtime_error {
 public:
  ApiError(ErrorKind kind, int http_status, std::string reason, std::string message,
           std::vector<StatusCause> causes = {},
           std::optional<std::chrono::seconds> retry_after = std::nullopt);

  ErrorKind kind() const { return kind_; }
  /// HTTP status code of the answer; 0 for kTransport and client-side timeouts.
  int http_status() const { return http_status_; }
  /// Status.reason as sent ("NotFound", "AlreadyExists", ...), empty if none was sent.
  const std::string& reason() const { return reason_; }
  /// Status.message as sent, unaltered.
  const std::string& message() const { return message_; }
  const std::vector<StatusCause>& causes() const { return causes_; }
  /// From Retry-After or Status.details.retryAfterSeconds, when the server asked to wait.
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

 private:
  ErrorKind kind_;
  int http_status_;
  std::string reason_;
  std::string message_;
  std::vector<StatusCause> causes_;
  std::optional<std::chrono::seconds> retry_after_;
};

/// Maps a non-2xx answer to an ApiError. `body` is the response body (normally a Status
/// object, but anything is tolerated); `retry_after_header` is the Retry-After header value
/// or empty. Pure; exposed for tests and for callers that do raw requests.
ApiError ErrorFromResponse(int http_status, const std::string& body,
                           const std::string& retry_after_header = "");

inline bool IsNotFound(const ApiError& e) { return e.kind() == ErrorKind::kNotFound; }
inline bool IsAlreadyExists(const ApiError& e) { return e.kind() == ErrorKind::kAlreadyExists; }
inline bool IsConflict(const ApiError& e) { return e.kind() == ErrorKind::kConflict; }
inline bool IsGone(const ApiError& e) { return e.kind() == ErrorKind::kGone; }
inline bool IsForbidden(const ApiError& e) { return e.kind() == ErrorKind::kForbidden; }
inline bool IsInvalid(const ApiError& e) { return e.kind() == ErrorKind::kInvalid; }

/// A kubeconfig or in-cluster configuration that cannot be used. what() names the file and
/// the field ("/home/u/.kube/config: users[0].user.client-key: file ... not readable").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace poolguard::kube
