#pragma once

// libpq, as every PostgreSQL adapter of the controller opens and reads it: the admin port
// (pg_admin.cc) and the fault engine's leak sessions (chaos/io/fault_engine.cc).

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/database.h"
#include "core/pg_admin.h"

namespace poolguard::controller {

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgPtr = std::unique_ptr<PGconn, PgDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

struct PgOpenOptions {
  std::string application_name;
  int connect_timeout_seconds = 3;
  /// idle_session_timeout and idle_in_transaction_session_timeout for the session (0: the
  /// server's): a session that outlives them is ended by the server itself.
  std::chrono::milliseconds session_timeout{0};
  /// TCP keepalives (idle 10 s, every 5 s, 3 probes) on both ends: the server's side ends a
  /// session whose controller vanished (partitioned, powered off) with its connection, not
  /// only by the idle timeouts; the client's side notices a server that vanished.
  bool keepalives = true;
};

/// Opens a connection from keyword arrays, so that no value needs quoting and the password
/// never becomes part of a string we build. Returns null only when libpq cannot allocate;
/// check PQstatus.
PgPtr PgOpen(const DbTarget& db, const PgOpenOptions& options);

/// libpq's messages span lines ("...failed: FATAL:  password...\n\tIs the server running...");
/// one line with single spaces reads better in a status field.
std::string PgOneLine(std::string_view text);

/// "PostgreSQL at host:port", the prefix of every DbError.
std::string PgWhere(const DbTarget& db);

/// The admin port on libpq.
std::unique_ptr<PgAdmin> NewPgAdmin();

/// Ends the current role's other client sessions in the current database, except the
/// controller's own and experiments' (by application_name); returns how many, as text.
/// Used when a role's password is rotated and when a database is made to hang.
inline constexpr char kEndOwnSessionsSql[] = R"sql(
SELECT count(pg_terminate_backend(pid))::text
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND usename = current_user AND datname = current_database()
  AND left(coalesce(application_name, ''), 20) <> 'poolguard-controller'
  AND left(coalesce(application_name, ''), 16) <> 'poolguard-chaos/'
)sql";

}  // namespace poolguard::controller
