#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/connection>
#include <string>

#include "pool.h"

namespace poolguard::target {

/// A PostgreSQL session through libpqxx. One thread uses it at a time (the pool's lease).
class PgConnection final : public Connection {
 public:
  /// Connects; throws DbError classified from libpq's message.
  explicit PgConnection(const std::string& conninfo);
  /// Pre-ping without a round trip while the session is busy: a socket that has nothing
  /// to read is alive. A readable socket (the server closed it or sent a FATAL) or an
  /// idle spell longer than a second gets a real `SELECT 1`.
  bool Ping() override;
  pqxx::connection& raw() { return *connection_; }
  /// Call after each successful use, so Ping knows how fresh the session is.
  void MarkUsed() { last_used_ = std::chrono::steady_clock::now(); }

 private:
  std::unique_ptr<pqxx::connection> connection_;
  std::chrono::steady_clock::time_point last_used_;
};

class PgConnectionFactory final : public ConnectionFactory {
 public:
  /// `database_url` is a postgresql:// URI; application_name and connect_timeout are
  /// added when it does not set them.
  PgConnectionFactory(const std::string& database_url, const std::string& application_name,
                      int connect_timeout_seconds);
  /// Runs on every new connection, e.g. to declare prepared statements.
  void OnConnect(std::function<void(pqxx::connection&)> hook) { on_connect_ = std::move(hook); }
  std::unique_ptr<Connection> Connect() override;
  const std::string& conninfo() const { return conninfo_; }

 private:
  std::string conninfo_;
  std::function<void(pqxx::connection&)> on_connect_;
};

/// Adds libpq parameters to a postgresql:// URI unless it already sets them.
std::string WithUriParameter(const std::string& uri, const std::string& key,
                             const std::string& value);

}  // namespace poolguard::target
