#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace poolguard::target {

/// Why a database operation failed, as the target reports it in `DB_ERROR:` lines and
/// in db_errors_total{kind}.
enum class DbErrorKind {
  kPoolTimeout,        // no pooled connection within DB_POOL_TIMEOUT
  kTooManyClients,     // the server has no connection slots left (SQLSTATE 53300)
  kAuthentication,     // the server rejected the credentials
  kConnectionRefused,  // nothing listens at the database's address, or it is unreachable
  kConnectionLost,     // an open connection broke (server restart, terminated backend)
  kQuery,              // the server rejected a statement
};

/// The label value used in metrics and logs: pool_timeout, too_many_clients, ...
std::string_view KindName(DbErrorKind kind);

/// A sentence for clients: what failed, without the server's own text (which names its
/// host, port and role).
std::string_view KindDescription(DbErrorKind kind);

/// Whether a SQLSTATE is the request's fault, not the database's: class 22 (data
/// exception: invalid UTF-8, value out of range) and 23 (integrity constraint violation).
bool IsInputError(std::string_view sqlstate);

/// Classifies a failure to connect. libpq reports connect-time failures without a
/// SQLSTATE, so this reads the message.
DbErrorKind ClassifyConnectError(std::string_view message);

/// Classifies a failed statement by its SQLSTATE (falling back to the message).
DbErrorKind ClassifyStatementError(std::string_view sqlstate, std::string_view message);

class DbError : public std::runtime_error {
 public:
  DbError(DbErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  DbErrorKind kind() const { return kind_; }

 private:
  DbErrorKind kind_;
};

}  // namespace poolguard::target
