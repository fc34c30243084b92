#pragma once

// The controller's one port to PostgreSQL as an administrator sees it: the server's slots,
// its sessions (pg_stat_activity with pg_blocking_pids and pg_locks), a login as the target,
// and the two ways of ending sessions (an experiment's own, a diagnosis's lock holders).
// Leak sessions themselves are the fault engine's (chaos/fault_engine.h).

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/database.h"

namespace poolguard::controller {

/// A query that could not run: the message names the database endpoint ("PostgreSQL at
/// host:port: ...") and never contains the password.
class DbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How to tell the target's own sessions from the rest, with what any application has and
/// without its cooperation: a session is the target's when it comes from one of the target
/// pods' addresses, or when it is connected as `role` (and carries `application_name`,
/// when one is given: the narrowing for a role other clients share). The controller's own
/// sessions (IsControllerSession) are never the target's, whatever their role or address.
struct SessionFilter {
  std::string role;                    // usename; "" matches no session by role
  std::string application_name;        // "" : any; else required beside the role
  std::vector<std::string> addresses;  // the target pods' IPs (client_addr)

  /// For people: `role "app"`, `role "app" with application_name "api"`, each followed
  /// by ` or a client address of 2 pods` when there are addresses; `nothing` if empty.
  std::string Describe() const;
};

/// The sessions this controller opens: its diagnostic and login connections
/// ("poolguard-controller...") and an experiment's ("poolguard-chaos/<ns>/<name>").
bool IsControllerSession(std::string_view application_name);

/// Whether a session with these pg_stat_activity values is the target's under `filter`.
/// TerminateBlockers' SQL applies the same rule (pg_admin_test checks they agree).
bool IsTargetSession(const SessionFilter& filter, std::string_view application_name,
                     std::string_view role, std::string_view client_address);

/// Which sessions TerminateBlockers may end at all: those connected to `database` (empty:
/// any) as `role` (empty: any). A Remediation scopes it to its target's database and role
/// unless its spec widens it: on a shared server, other applications' sessions are not its
/// to end.
struct TerminateScope {
  std::string database;
  std::string role;
};

/// One pg_stat_activity row, joined with pg_blocking_pids(pid) and the strongest
/// granted relation lock from pg_locks. The controller's own diagnostic session is left
/// out.
struct SessionRow {
  int pid = 0;
  std::string application_name;
  std::string state;         // active | idle | idle in transaction | ...
  double state_seconds = 0;  // now - state_change
  std::vector<int> blocked_by;
  std::string lock_mode;       // e.g. AccessExclusiveLock (granted, strongest)
  std::string lock_relation;   // e.g. items
  bool is_target = false;      // the target's own session (SessionFilter)
  std::string role;            // usename
  std::string client_address;  // host(client_addr); "" for a Unix socket
};

/// A login to the database with the target's credentials.
enum class LoginResult {
  kNotTried,
  kOk,
  kAuthRejected,    // password authentication failed / role does not exist
  kTooManyClients,  // SQLSTATE 53300: the server has no slot for the target's role
  kRefused,         // nothing listens / unreachable
  kTimedOut,        // no answer within connect_timeout (with TCP up: the server is hung)
  kOtherError,
};

/// The result of a fresh login with the target's credentials.
struct LoginAttempt {
  LoginResult result = LoginResult::kNotTried;
  std::string detail;  // the server's message (no password)
};

/// Which connection a call runs on.
enum class PgConnection {
  /// One kept open per database and credentials across calls, so that it is already in
  /// when the server's slots run out; a broken one is reopened once.
  kKept,
  /// Opened for the call and closed at once: it holds no slot afterwards.
  kFresh,
};

/// Thread-safe. Every method but Login and Retain throws DbError.
class PgAdmin {
 public:
  virtual ~PgAdmin() = default;
  /// max_connections, superuser_reserved_connections and client backends in use.
  virtual DbCapacity Capacity(const DbTarget& db, PgConnection connection) = 0;
  /// Sessions carrying `application_name` (kept connection: counted every few seconds while
  /// a fault is held, without a login each time; already in when the fault fills the slots).
  virtual int CountSessions(const DbTarget& db, const std::string& application_name) = 0;
  /// pg_terminate_backend on the sessions carrying `application_name` whose pid is not in
  /// `keep` (fresh connection); returns how many.
  virtual int TerminateApplication(const DbTarget& db, const std::string& application_name,
                                   const std::vector<int>& keep) = 0;
  /// pg_stat_activity (client backends of every database; this connection left out) joined
  /// with pg_blocking_pids(pid) and the strongest granted relation lock of each session
  /// (kept connection).
  virtual std::vector<SessionRow> Sessions(const DbTarget& db, const SessionFilter& filter) = 0;
  /// pg_terminate_backend for each of `pids` that is still a client backend within `scope`
  /// and not one of the target's own sessions (kept connection); returns the pids actually
  /// terminated.
  virtual std::vector<int> TerminateBlockers(const DbTarget& db, const std::vector<int>& pids,
                                             const SessionFilter& spare,
                                             const TerminateScope& scope) = 0;
  /// A fresh connection with the credentials, closed at once: Ok, AuthRejected (28P01,
  /// 28000), TooManyClients (53300), Refused (nothing listens / unreachable), OtherError.
  virtual LoginAttempt Login(const DbTarget& db) = 0;
  /// Logs in as `db` (fresh connection) and sets the role's own password to `new_password`
  /// (sent hashed, as the server's password_encryption says, so it appears in no log). With
  /// `end_sessions`, then ends the role's other sessions in the database except the
  /// controller's and experiments' own (IsControllerSession), so that clients must log in
  /// again; returns how many it ended. A role may change its own password and end its own
  /// sessions without further privileges.
  virtual int SetOwnPassword(const DbTarget& db, const std::string& new_password,
                             bool end_sessions) = 0;
  /// Logs in as `db` (fresh connection) and ends the role's other sessions in the database
  /// except the controller's and experiments' own, as SetOwnPassword's `end_sessions` does;
  /// returns how many it ended.
  virtual int EndOwnSessions(const DbTarget& db) = 0;
  /// Closes kept connections to databases not in `keep` (objects deleted or retargeted).
  virtual void Retain(const std::vector<DbTarget>& keep) = 0;
};

}  // namespace poolguard::controller
