// DiagnosticDb on libpq: one connection kept per (host, port, user, database), so the
// diagnosis can still read pg_stat_activity once the server has no slot left for a new
// login; a fresh connection per Login, since that is what the target experiences.

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>

#include "remediation/io.h"

namespace poolguard::controller {
namespace {

constexpr char kDiagnosticsApplicationName[] = "poolguard-controller-diagnostics";
constexpr char kLoginApplicationName[] = "poolguard-controller-login";

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgPtr = std::unique_ptr<PGconn, PgDeleter>;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// libpq messages span lines ("...failed: FATAL:  password...\n\tIs the server running...");
// one line with single spaces reads better in a status field.
std::string OneLine(std::string_view text) {
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

std::string Where(const DbTarget& db) { return "PostgreSQL at " + db.endpoint.ToString(); }

// Opens a connection from keyword arrays, so no value needs quoting and the password never
// becomes part of a string we build. Returns null only when libpq cannot allocate.
PgPtr Open(const DbTarget& db, const char* application_name) {
  const std::string port = std::to_string(db.endpoint.port);
  const char* keys[] = {"host",
                        "port",
                        "user",
                        "password",
                        "dbname",
                        "application_name",
                        "connect_timeout",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        nullptr};
  const char* values[] = {db.endpoint.host.c_str(),
                          port.c_str(),
                          db.user.c_str(),
                          db.password.c_str(),
                          db.database.c_str(),
                          application_name,
                          "3",
                          "10",
                          "5",
                          "3",
                          nullptr};
  return PgPtr(PQconnectdbParams(keys, values, 0));
}

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

int ToInt(const DbTarget& db, const char* text, const char* what) {
  int value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    throw DiagnosticError(Where(db) + ": unexpected " + what + " value '" + s.data() + "'");
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
       coalesce(l.relation, '')
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

constexpr char kTerminateSql[] = R"sql(
SELECT pid, pg_terminate_backend(pid)
FROM pg_stat_activity
WHERE pid = ANY($1::int[])
  AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
  AND ($2::text = '' OR coalesce(application_name, '') <> $2::text)
  AND NOT (coalesce(host(client_addr), '') = ANY($3::text[]))
)sql";

class Db final : public DiagnosticDb {
 public:
  std::vector<SessionRow> Sessions(const DbTarget& db, const SessionFilter& filter) override {
    ResultPtr r = Query(db, kSessionsSql, {});
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
        throw DiagnosticError(Where(db) + ": unexpected pg_blocking_pids value '" +
                              std::string(blocking) + "'");
      }
      const std::string address = PQgetvalue(r.get(), i, 5);
      row.lock_mode = PQgetvalue(r.get(), i, 6);
      row.lock_relation = PQgetvalue(r.get(), i, 7);
      row.is_target = (!filter.target_application_name.empty() &&
                       row.application_name == filter.target_application_name) ||
                      (!address.empty() &&
                       std::find(filter.target_addresses.begin(), filter.target_addresses.end(),
                                 address) != filter.target_addresses.end());
      rows.push_back(std::move(row));
    }
    return rows;
  }

  DbCapacity Capacity(const DbTarget& db) override {
    ResultPtr r = Query(db, kCapacitySql, {});
    if (PQntuples(r.get()) != 1) throw DiagnosticError(Where(db) + ": capacity query gave no row");
    DbCapacity capacity;
    capacity.max_connections = ToInt(db, PQgetvalue(r.get(), 0, 0), "max_connections");
    capacity.reserved = ToInt(db, PQgetvalue(r.get(), 0, 1), "superuser_reserved_connections");
    capacity.in_use = ToInt(db, PQgetvalue(r.get(), 0, 2), "client backend count");
    return capacity;
  }

  LoginAttempt Login(const DbTarget& db) override {
    LoginAttempt attempt;
    PgPtr conn = Open(db, kLoginApplicationName);
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
    attempt.detail = OneLine(PQerrorMessage(conn.get()));
    attempt.result = ClassifyLogin(attempt.detail);
    return attempt;
  }

  std::vector<int> Terminate(const DbTarget& db, const std::vector<int>& pids,
                             const SessionFilter& filter) override {
    std::vector<int> terminated;
    if (pids.empty()) return terminated;
    ResultPtr r = Query(db, kTerminateSql,
                        {IntArrayLiteral(pids), filter.target_application_name,
                         TextArrayLiteral(filter.target_addresses)});
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      if (std::string_view(PQgetvalue(r.get(), i, 1)) == "t") {
        terminated.push_back(ToInt(db, PQgetvalue(r.get(), i, 0), "pid"));
      }
    }
    std::sort(terminated.begin(), terminated.end());
    return terminated;
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
  using Key = std::tuple<std::string, int, std::string, std::string>;
  struct Kept {
    std::mutex mutex;  // one query at a time on a connection
    PgPtr conn;
  };

  static Key KeyOf(const DbTarget& db) {
    return {db.endpoint.host, db.endpoint.port, db.user, db.database};
  }

  static LoginResult ClassifyLogin(std::string_view message) {
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
    if (Contains(message, "Connection refused") || Contains(message, "could not connect") ||
        Contains(message, "timeout expired") || Contains(message, "No route to host") ||
        Contains(message, "Network is unreachable") || Contains(message, "Connection timed out") ||
        Contains(message, "could not translate host name")) {
      return LoginResult::kRefused;
    }
    return LoginResult::kOtherError;
  }

  std::shared_ptr<Kept> Entry(const DbTarget& db) {
    std::lock_guard lock(mutex_);
    auto& entry = kept_[KeyOf(db)];
    if (entry == nullptr) entry = std::make_shared<Kept>();
    return entry;
  }

  // Opens the kept connection; throws DiagnosticError.
  static PgPtr OpenKept(const DbTarget& db) {
    PgPtr conn = Open(db, kDiagnosticsApplicationName);
    if (conn == nullptr) throw DiagnosticError(Where(db) + ": cannot allocate a connection");
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      throw DiagnosticError(Where(db) + ": " + OneLine(PQerrorMessage(conn.get())));
    }
    ResultPtr r(PQexec(conn.get(), "SET statement_timeout = '2s'"));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw DiagnosticError(Where(db) + ": " + OneLine(PQresultErrorMessage(r.get())));
    }
    return conn;
  }

  // Runs `sql` on the kept connection; a connection found broken is reopened once.
  ResultPtr Query(const DbTarget& db, const char* sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());

    const std::shared_ptr<Kept> kept = Entry(db);
    std::lock_guard lock(kept->mutex);
    bool fresh = false;
    if (kept->conn == nullptr || PQstatus(kept->conn.get()) != CONNECTION_OK) {
      kept->conn.reset();
      kept->conn = OpenKept(db);
      fresh = true;
    }
    while (true) {
      ResultPtr r(PQexecParams(kept->conn.get(), sql, static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
      if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) return r;
      const std::string error =
          OneLine(r != nullptr ? PQresultErrorMessage(r.get()) : PQerrorMessage(kept->conn.get()));
      if (PQstatus(kept->conn.get()) == CONNECTION_OK || fresh) {
        if (PQstatus(kept->conn.get()) != CONNECTION_OK) kept->conn.reset();
        throw DiagnosticError(Where(db) + ": " + (error.empty() ? "query failed" : error));
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

std::unique_ptr<DiagnosticDb> NewDiagnosticDb() { return std::make_unique<Db>(); }

}  // namespace poolguard::controller
