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

std::string_view KindDescription(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::kPoolTimeout:
      return "no database connection became free in time";
    case DbErrorKind::kTooManyClients:
      return "the database has no connection slot left";
    case DbErrorKind::kAuthentication:
      return "the database refused the service's credentials";
    case DbErrorKind::kConnectionRefused:
      return "the database cannot be reached";
    case DbErrorKind::kConnectionLost:
      return "the connection to the database broke";
    case DbErrorKind::kQuery:
      return "the database could not run the request";
  }
  return "the database could not run the request";
}

bool IsInputError(std::string_view sqlstate) {
  return sqlstate.size() == 5 && (sqlstate.substr(0, 2) == "22" || sqlstate.substr(0, 2) == "23");
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
