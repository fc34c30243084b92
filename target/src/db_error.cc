#include "db_error.h"

namespace poolguard::target {
namespace {

bool Contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

}  // namespace

std::string_view KindName(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::kPoolTimeout:
      return "pool_timeout";
    case DbErrorKind::kTooManyClients:
      return "too_many_clients";
    case DbErrorKind::kAuthentication:
      return "authentication";
    case DbErrorKind::kConnectionRefused:
      return "connection_refused";
    case DbErrorKind::kConnectionLost:
      return "connection_lost";
    case DbErrorKind::kQuery:
      return "query";
  }
  return "query";
}

DbErrorKind ClassifyConnectError(std::string_view message) {
  if (Contains(message, "too many clients already") ||
      Contains(message, "remaining connection slots are reserved") ||
      Contains(message, "connection slots are reserved")) {
    return DbErrorKind::kTooManyClients;
  }
  if (Contains(message, "password authentication failed") ||
      Contains(message, "authentication failed") || Contains(message, "no pg_hba.conf entry") ||
      Contains(message, "no password supplied") ||
      (Contains(message, "role \"") && Contains(message, "does not exist"))) {
    return DbErrorKind::kAuthentication;
  }
  if (Contains(message, "the database system is starting up") ||
      Contains(message, "the database system is shutting down") ||
      Contains(message, "server closed the connection unexpectedly") ||
      Contains(message, "terminating connection")) {
    return DbErrorKind::kConnectionLost;
  }
  return DbErrorKind::kConnectionRefused;
}

DbErrorKind ClassifyStatementError(std::string_view sqlstate, std::string_view message) {
  if (sqlstate == "53300") return DbErrorKind::kTooManyClients;
  if (sqlstate == "28P01" || sqlstate == "28000") return DbErrorKind::kAuthentication;
  if (sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03") {
    return DbErrorKind::kConnectionLost;
  }
  if (sqlstate.empty() &&
      (Contains(message, "server closed the connection") ||
       Contains(message, "terminating connection") || Contains(message, "connection to server") ||
       Contains(message, "Lost connection"))) {
    return DbErrorKind::kConnectionLost;
  }
  return DbErrorKind::kQuery;
}

}  // namespace poolguard::target
