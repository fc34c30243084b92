// PgAdmin on libpq: one connection kept per database and credentials, so the diagnosis can
// still read pg_stat_activity once the server has no slot left for a new login; a fresh
// connection per Login, since that is what the target experiences, and for the chaos
// guardrail's checks, which must leave no slot taken.

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>

#include "core/io/pg.h"

namespace poolguard::controller {
namespace {

constexpr char kAdminApplicationName[] = "poolguard-controller";
constexpr char kDiagnosticsApplicationName[] = "poolguard-controller-diagnostics";
constexpr char kLoginApplicationName[] = "poolguard-controller-login";

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// "{1,2}" (int[] in text form) to {1, 2}; false when the text is not such an array.
bool ParseIntArray(std::string_view text, std::vector<int>& out) {
  out.clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  std::string_view rest = text.substr(1, text.size() - 2);
  if (rest.empty()) return true;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    int value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size() || item.empty()) return false;
    out.push_back(value);
    if (comma == std::string_view::npos) return true;
    rest.remove_prefix(comma + 1);
  }
}

std::string IntArrayLiteral(const std::vector<int>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

// {"a","b"} with " and \ escaped: a text[] literal whatever the strings contain.
std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::string> NonEmpty(std::vector<std::string> values) {
  values.erase(std::remove(values.begin(), values.end(), std::string()), values.end());
  return values;
}

int ToInt(const DbTarget& db, const char* text, const char* what) {
  int value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    throw DbError(PgWhere(db) + ": unexpected " + what + " value '" + s.data() + "'");
  }
  return value;
}

// The strongest granted relation lock of each session, ranked by PostgreSQL's lock-mode
// order; the relation's name when it lives in the database we are connected to (pg_class
// is per database), else its oid.
constexpr char kSessionsSql[] = R"sql(
SELECT a.pid,
       coalesce(a.application_name, ''),
       coalesce(a.state, ''),
       coalesce(extract(epoch FROM now() - a.state_change), 0)::float8,
       pg_blocking_pids(a.pid),
       coalesce(host(a.client_addr), ''),
       coalesce(l.mode, ''),
       coalesce(l.relation, ''),
       coalesce(a.usename::text, '')
FROM pg_stat_activity a
LEFT JOIN LATERAL (
  SELECT k.mode,
         coalesce(c.relname::text, k.relation::text) AS relation
  FROM pg_locks k
  LEFT JOIN pg_class c
    ON c.oid = k.relation
   AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  WHERE k.pid = a.pid AND k.granted AND k.locktype = 'relation'
  ORDER BY CASE k.mode
             WHEN 'AccessShareLock' THEN 1
             WHEN 'RowShareLock' THEN 2
             WHEN 'RowExclusiveLock' THEN 3
             WHEN 'ShareUpdateExclusiveLock' THEN 4
             WHEN 'ShareLock' THEN 5
             WHEN 'ShareRowExclusiveLock' THEN 6
             WHEN 'ExclusiveLock' THEN 7
             WHEN 'AccessExclusiveLock' THEN 8
             ELSE 0
           END DESC,
           2
  LIMIT 1
) l ON true
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
ORDER BY a.pid
)sql";

constexpr char kCapacitySql[] = R"sql(
SELECT current_setting('max_connections'),
       current_setting('superuser_reserved_connections'),
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::text
)sql";

constexpr char kCountApplicationSql[] = R"sql(
SELECT count(*)::text FROM pg_stat_activity WHERE application_name = $1
)sql";

constexpr char kTerminateApplicationSql[] = R"sql(
SELECT count(pg_terminate_backend(pid))::text
FROM pg_stat_activity
WHERE application_name = $1 AND NOT (pid = ANY($2::int[])) AND pid <> pg_backend_pid()
)sql";

constexpr char kTerminateSql[] = R"sql(
SELECT pid, pg_terminate_backend(pid)
FROM pg_stat_activity
WHERE pid = ANY($1::int[])
  AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
  AND ($4::text = '' OR datname = $4::text)
  AND ($5::text = '' OR usename = $5::text)
  -- IsTargetSession, in SQL: the target's own sessions are spared; the controller's are not.
  AND (left(coalesce(application_name, ''), 20) = 'poolguard-controller'
       OR left(coalesce(application_name, ''), 16) = 'poolguard-chaos/'
       OR NOT (coalesce(host(client_addr), '') = ANY($3::text[])
               OR ($6::text <> '' AND usename = $6::text
                   AND ($2::text = '' OR coalesce(application_name, '') = $2::text))))
)sql";

// The role's other sessions in this database, the controller's and experiments' spared
// (IsControllerSession, in SQL).

// Runs `sql` on `conn`; throws DbError unless it returned rows.
PgResultPtr Run(PGconn* conn, const DbTarget& db, const char* sql,
                const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResultPtr r(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, 0));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    const std::string error =
        PgOneLine(r != nullptr ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn));
    throw DbError(PgWhere(db) + ": " + (error.empty() ? "query failed" : error));
  }
  return r;
}

// Opens a connection that must succeed; throws DbError naming the server's answer.
PgPtr OpenOrThrow(const DbTarget& db, const char* application_name) {
  PgOpenOptions options;
  options.application_name = application_name;
  PgPtr conn = PgOpen(db, options);
  if (conn == nullptr) throw DbError(PgWhere(db) + ": cannot allocate a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw DbError(PgWhere(db) + ": " + PgOneLine(PQerrorMessage(conn.get())));
  }
  return conn;
}

// The first column of the only row, as an integer.
int ScalarInt(const PgResultPtr& r, const DbTarget& db, const char* what) {
  if (PQntuples(r.get()) != 1) throw DbError(PgWhere(db) + ": " + what + " query gave no row");
  return ToInt(db, PQgetvalue(r.get(), 0, 0), what);
}

LoginResult ClassifyLogin(std::string_view message) {
  // libpq keeps the server's SQLSTATE of a failed connection to itself; the messages
  // are stable (and the server's own are English unless lc_messages says otherwise).
  if (Contains(message, "authentication failed") ||
      (Contains(message, "role \"") && Contains(message, "\" does not exist")) ||
      Contains(message, "no pg_hba.conf entry") || Contains(message, "no password supplied")) {
    return LoginResult::kAuthRejected;
  }
  if (Contains(message, "too many clients already") ||
      Contains(message, "remaining connection slots are reserved")) {
    return LoginResult::kTooManyClients;
  }
  // libpq's connect_timeout: no answer to the connection or the login in time. Whether
  // TCP got through is the diagnosis's to tell (it probes TCP on its own).
  if (Contains(message, "timeout expired")) return LoginResult::kTimedOut;
  if (Contains(message, "Connection refused") || Contains(message, "could not connect") ||
      Contains(message, "No route to host") || Contains(message, "Network is unreachable") ||
      Contains(message, "Connection timed out") ||
      Contains(message, "could not translate host name")) {
    return LoginResult::kRefused;
  }
  return LoginResult::kOtherError;
}

class Admin final : public PgAdmin {
 public:
  DbCapacity Capacity(const DbTarget& db, PgConnection connection) override {
    PgResultPtr r;
    if (connection == PgConnection::kKept) {
      r = Query(db, kCapacitySql, {});
    } else {
      PgPtr conn = OpenOrThrow(db, kAdminApplicationName);
      r = Run(conn.get(), db, kCapacitySql, {});
    }
    if (PQntuples(r.get()) != 1) throw DbError(PgWhere(db) + ": capacity query gave no row");
    DbCapacity capacity;
    capacity.max_connections = ToInt(db, PQgetvalue(r.get(), 0, 0), "max_connections");
    capacity.reserved = ToInt(db, PQgetvalue(r.get(), 0, 1), "superuser_reserved_connections");
    capacity.in_use = ToInt(db, PQgetvalue(r.get(), 0, 2), "client backend count");
    return capacity;
  }

  int CountSessions(const DbTarget& db, const std::string& application_name) override {
    return ScalarInt(Query(db, kCountApplicationSql, {application_name}), db, "session count");
  }

  int TerminateApplication(const DbTarget& db, const std::string& application_name,
                           const std::vector<int>& keep) override {
    PgPtr conn = OpenOrThrow(db, kAdminApplicationName);
    return ScalarInt(
        Run(conn.get(), db, kTerminateApplicationSql, {application_name, IntArrayLiteral(keep)}),
        db, "terminated session count");
  }

  std::vector<SessionRow> Sessions(const DbTarget& db, const SessionFilter& filter) override {
    PgResultPtr r = Query(db, kSessionsSql, {});
    std::vector<SessionRow> rows;
    const int n = PQntuples(r.get());
    rows.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      SessionRow row;
      row.pid = ToInt(db, PQgetvalue(r.get(), i, 0), "pid");
      row.application_name = PQgetvalue(r.get(), i, 1);
      row.state = PQgetvalue(r.get(), i, 2);
      row.state_seconds = std::strtod(PQgetvalue(r.get(), i, 3), nullptr);
      const std::string_view blocking = PQgetvalue(r.get(), i, 4);
      if (!ParseIntArray(blocking, row.blocked_by)) {
        throw DbError(PgWhere(db) + ": unexpected pg_blocking_pids value '" +
                      std::string(blocking) + "'");
      }
      const std::string address = PQgetvalue(r.get(), i, 5);
      row.lock_mode = PQgetvalue(r.get(), i, 6);
      row.lock_relation = PQgetvalue(r.get(), i, 7);
      row.role = PQgetvalue(r.get(), i, 8);
      row.client_address = address;
      row.is_target = IsTargetSession(filter, row.application_name, row.role, address);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  std::vector<int> TerminateBlockers(const DbTarget& db, const std::vector<int>& pids,
                                     const SessionFilter& spare,
                                     const TerminateScope& scope) override {
    std::vector<int> terminated;
    if (pids.empty()) return terminated;
    PgResultPtr r = Query(
        db, kTerminateSql,
        {IntArrayLiteral(pids), spare.application_name, TextArrayLiteral(NonEmpty(spare.addresses)),
         scope.database, scope.role, spare.role});
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      if (std::string_view(PQgetvalue(r.get(), i, 1)) == "t") {
        terminated.push_back(ToInt(db, PQgetvalue(r.get(), i, 0), "pid"));
      }
    }
    std::sort(terminated.begin(), terminated.end());
    return terminated;
  }

  LoginAttempt Login(const DbTarget& db) override {
    LoginAttempt attempt;
    PgOpenOptions options;
    options.application_name = kLoginApplicationName;
    PgPtr conn = PgOpen(db, options);
    if (conn == nullptr) {
      attempt.result = LoginResult::kOtherError;
      attempt.detail = "cannot allocate a PostgreSQL connection";
      return attempt;
    }
    if (PQstatus(conn.get()) == CONNECTION_OK) {
      attempt.result = LoginResult::kOk;
      attempt.detail = "logged in as " + db.user;
      return attempt;
    }
    attempt.detail = PgOneLine(PQerrorMessage(conn.get()));
    attempt.result = ClassifyLogin(attempt.detail);
    return attempt;
  }

  int SetOwnPassword(const DbTarget& db, const std::string& new_password,
                     bool end_sessions) override {
    PgPtr conn = OpenOrThrow(db, kAdminApplicationName);
    // Hashed here (SCRAM or md5, whichever password_encryption names), so the statement
    // that reaches the server, and any log of it, carries no password.
    std::unique_ptr<char, decltype(&PQfreemem)> hashed(
        PQencryptPasswordConn(conn.get(), new_password.c_str(), db.user.c_str(), nullptr),
        &PQfreemem);
    if (hashed == nullptr) {
      throw DbError(PgWhere(db) +
                    ": cannot hash the password: " + PgOneLine(PQerrorMessage(conn.get())));
    }
    std::unique_ptr<char, decltype(&PQfreemem)> literal(
        PQescapeLiteral(conn.get(), hashed.get(), std::strlen(hashed.get())), &PQfreemem);
    if (literal == nullptr) throw DbError(PgWhere(db) + ": cannot quote the password hash");
    const std::string sql = "ALTER ROLE CURRENT_USER PASSWORD " + std::string(literal.get());
    PgResultPtr r(PQexec(conn.get(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw DbError(
          PgWhere(db) + ": cannot change the password of role " + db.user + ": " +
          PgOneLine(r != nullptr ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn.get())));
    }
    return end_sessions ? EndOwnSessionsOn(conn.get(), db) : 0;
  }

  int EndOwnSessions(const DbTarget& db) override {
    PgPtr conn = OpenOrThrow(db, kAdminApplicationName);
    return EndOwnSessionsOn(conn.get(), db);
  }

  void Retain(const std::vector<DbTarget>& keep) override {
    std::vector<std::shared_ptr<Kept>> closing;  // closed outside the map's lock
    {
      std::lock_guard lock(mutex_);
      for (auto it = kept_.begin(); it != kept_.end();) {
        const bool wanted = std::any_of(keep.begin(), keep.end(),
                                        [&](const DbTarget& db) { return KeyOf(db) == it->first; });
        if (wanted) {
          ++it;
        } else {
          closing.push_back(std::move(it->second));
          it = kept_.erase(it);
        }
      }
    }
  }

 private:
  // The password is part of the key: a Remediation whose credentials are wrong must not
  // read (or terminate) through a session another one opened with the right ones.
  using Key = std::tuple<std::string, int, std::string, std::string, std::string>;
  struct Kept {
    std::mutex mutex;  // one query at a time on a connection
    PgPtr conn;
  };

  // The role's other sessions in the database ended, but the controller's and experiments'
  // (kEndOwnSessionsSql), on a connection logged in as that role.
  static int EndOwnSessionsOn(PGconn* conn, const DbTarget& db) {
    return ScalarInt(Run(conn, db, kEndOwnSessionsSql, {}), db, "ended session count");
  }

  static Key KeyOf(const DbTarget& db) {
    return {db.endpoint.host, db.endpoint.port, db.user, db.database, db.password};
  }

  std::shared_ptr<Kept> Entry(const DbTarget& db) {
    std::lock_guard lock(mutex_);
    auto& entry = kept_[KeyOf(db)];
    if (entry == nullptr) entry = std::make_shared<Kept>();
    return entry;
  }

  // Opens the kept connection; throws DbError.
  static PgPtr OpenKept(const DbTarget& db) {
    PgPtr conn = OpenOrThrow(db, kDiagnosticsApplicationName);
    PgResultPtr r(PQexec(conn.get(), "SET statement_timeout = '2s'"));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw DbError(PgWhere(db) + ": " + PgOneLine(PQresultErrorMessage(r.get())));
    }
    return conn;
  }

  // Runs `sql` on the kept connection; a connection found broken is reopened once.
  PgResultPtr Query(const DbTarget& db, const char* sql, const std::vector<std::string>& params) {
    const std::shared_ptr<Kept> kept = Entry(db);
    std::lock_guard lock(kept->mutex);
    bool fresh = false;
    if (kept->conn == nullptr || PQstatus(kept->conn.get()) != CONNECTION_OK) {
      kept->conn.reset();
      kept->conn = OpenKept(db);
      fresh = true;
    }
    while (true) {
      try {
        return Run(kept->conn.get(), db, sql, params);
      } catch (const DbError&) {
        if (PQstatus(kept->conn.get()) == CONNECTION_OK || fresh) {
          if (PQstatus(kept->conn.get()) != CONNECTION_OK) kept->conn.reset();
          throw;
        }
      }
      // The server ended the session (restart, pg_terminate_backend, network): once more on
      // a new one.
      kept->conn.reset();
      kept->conn = OpenKept(db);
      fresh = true;
    }
  }

  std::mutex mutex_;
  std::map<Key, std::shared_ptr<Kept>> kept_;
};

}  // namespace

PgPtr PgOpen(const DbTarget& db, const PgOpenOptions& options) {
  const std::string port = std::to_string(db.endpoint.port);
  const std::string connect_timeout = std::to_string(options.connect_timeout_seconds);
  std::vector<const char*> keys = {
      "host", "port", "user", "password", "dbname", "application_name", "connect_timeout"};
  std::vector<const char*> values = {db.endpoint.host.c_str(), port.c_str(),
                                     db.user.c_str(),          db.password.c_str(),
                                     db.database.c_str(),      options.application_name.c_str(),
                                     connect_timeout.c_str()};
  if (options.keepalives) {
    for (const auto& [k, v] :
         {std::pair{"keepalives_idle", "10"}, std::pair{"keepalives_interval", "5"},
          std::pair{"keepalives_count", "3"}}) {
      keys.push_back(k);
      values.push_back(v);
    }
  }
  std::string session_options;
  if (options.session_timeout.count() > 0) {
    const std::string ms = std::to_string(options.session_timeout.count());
    session_options =
        "-c idle_session_timeout=" + ms + " -c idle_in_transaction_session_timeout=" + ms;
  }
  if (options.keepalives) {
    if (!session_options.empty()) session_options += ' ';
    session_options +=
        "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3";
  }
  if (!session_options.empty()) {
    keys.push_back("options");
    values.push_back(session_options.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PgPtr(PQconnectdbParams(keys.data(), values.data(), 0));
}

std::string PgOneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string PgWhere(const DbTarget& db) { return "PostgreSQL at " + db.endpoint.ToString(); }

std::unique_ptr<PgAdmin> NewPgAdmin() { return std::make_unique<Admin>(); }

}  // namespace poolguard::controller
