#include "poolguard/kube/errors.h"

#include <cpprest/json.h>

#include <cstdlib>

#include "poolguard/common/json_util.h"

namespace poolguard::kube {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest:
      return "BadRequest";
    case ErrorKind::kUnauthorized:
      return "Unauthorized";
    case ErrorKind::kForbidden:
      return "Forbidden";
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kMethodNotAllowed:
      return "MethodNotAllowed";
    case ErrorKind::kAlreadyExists:
      return "AlreadyExists";
    case ErrorKind::kConflict:
      return "Conflict";
    case ErrorKind::kGone:
      return "Gone";
    case ErrorKind::kInvalid:
      return "Invalid";
    case ErrorKind::kTooManyRequests:
      return "TooManyRequests";
    case ErrorKind::kInternalError:
      return "InternalError";
    case ErrorKind::kServiceUnavailable:
      return "ServiceUnavailable";
    case ErrorKind::kTimeout:
      return "Timeout";
    case ErrorKind::kTransport:
      return "Transport";
    case ErrorKind::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

ApiError::ApiError(ErrorKind kind, int http_status, std::string reason, std::string message,
                   std::vector<StatusCause> causes, std::optional<std::chrono::seconds> retry_after)
    : std::runtime_error(std::string(ErrorKindName(kind)) + ": " + message),
      kind_(kind),
      http_status_(http_status),
      reason_(std::move(reason)),
      message_(std::move(message)),
      causes_(std::move(causes)),
      retry_after_(retry_after) {}

namespace {

ErrorKind KindFor(int code, const std::string& reason) {
  // The reason is more specific than the code (409 is AlreadyExists or Conflict; 504 and
  // 500 may carry Timeout), so it is consulted first.
  if (reason == "NotFound") return ErrorKind::kNotFound;
  if (reason == "AlreadyExists") return ErrorKind::kAlreadyExists;
  if (reason == "Conflict") return ErrorKind::kConflict;
  if (reason == "Gone" || reason == "Expired") return ErrorKind::kGone;
  if (reason == "Invalid") return ErrorKind::kInvalid;
  if (reason == "Forbidden") return ErrorKind::kForbidden;
  if (reason == "Unauthorized") return ErrorKind::kUnauthorized;
  if (reason == "TooManyRequests") return ErrorKind::kTooManyRequests;
  if (reason == "Timeout" || reason == "ServerTimeout") return ErrorKind::kTimeout;
  if (reason == "MethodNotAllowed") return ErrorKind::kMethodNotAllowed;
  if (reason == "ServiceUnavailable") return ErrorKind::kServiceUnavailable;
  switch (code) {
    case 400:
      return ErrorKind::kBadRequest;
    case 401:
      return ErrorKind::kUnauthorized;
    case 403:
      return ErrorKind::kForbidden;
    case 404:
      return ErrorKind::kNotFound;
    case 405:
      return ErrorKind::kMethodNotAllowed;
    case 409:
      return ErrorKind::kConflict;
    case 410:
      return ErrorKind::kGone;
    case 422:
      return ErrorKind::kInvalid;
    case 429:
      return ErrorKind::kTooManyRequests;
    case 500:
      return ErrorKind::kInternalError;
    case 503:
      return ErrorKind::kServiceUnavailable;
    case 504:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kUnknown;
  }
}

}  // namespace

ApiError ErrorFromResponse(int http_status, const std::string& body,
                           const std::string& retry_after_header) {
  std::string reason;
  std::string message;
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retry_after;
  int code = http_status;

  web::json::value status;
  bool parsed = false;
  try {
    if (!body.empty()) {
      status = web::json::value::parse(body);
      parsed = status.is_object() && json::StringField(status, "kind") == "Status";
    }
  } catch (const std::exception&) {
    parsed = false;
  }
  if (parsed) {
    reason = json::StringField(status, "reason");
    message = json::StringField(status, "message");
    if (code == 0) code = json::IntOr(status, "code", 0);
    if (status.has_field("details") && status.at("details").is_object()) {
      const auto& details = status.at("details");
      if (details.has_field("causes") && details.at("causes").is_array()) {
        for (const auto& c : details.at("causes").as_array()) {
          causes.push_back(StatusCause{json::StringField(c, "reason"),
                                       json::StringField(c, "message"),
                                       json::StringField(c, "field")});
        }
      }
      const int retry = json::IntOr(details, "retryAfterSeconds", -1);  // -1: absent or unreadable
      if (retry >= 0) retry_after = std::chrono::seconds(retry);
    }
  } else {
    // Not a Status (a proxy's HTML page, plain text): keep the body as the message.
    message = body.size() > 1024 ? body.substr(0, 1024) + "..." : body;
  }
  if (!retry_after_header.empty()) {
    char* end = nullptr;
    long secs = std::strtol(retry_after_header.c_str(), &end, 10);
    if (end != retry_after_header.c_str() && *end == '\0' && secs >= 0) {
      retry_after = std::chrono::seconds(secs);
    }
  }
  if (message.empty()) message = "the server answered HTTP " + std::to_string(http_status);
  return ApiError(KindFor(code, reason), code, reason, message, std::move(causes), retry_after);
}

}  // namespace poolguard::kube
