#include "pg_connection.h"

#include <poll.h>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "db_error.h"

namespace poolguard::target {

PgConnection::PgConnection(const std::string& conninfo)
    : last_used_(std::chrono::steady_clock::now()) {
  try {
    connection_ = std::make_unique<pqxx::connection>(conninfo);
  } catch (const pqxx::broken_connection& e) {
    throw DbError(ClassifyConnectError(e.what()), e.what());
  } catch (const std::exception& e) {
    throw DbError(ClassifyConnectError(e.what()), e.what());
  }
  // libpqxx 6 silently reconnects a broken connection by default; a pool must see the
  // break and replace the connection instead.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  connection_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
}

bool PgConnection::Ping() {
  if (!connection_->is_open()) return false;
  const int fd = connection_->sock();
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, 0);
  const bool quiet = ready == 0;
  const bool fresh = std::chrono::steady_clock::now() - last_used_ < std::chrono::seconds(1);
  if (quiet && fresh) return true;
  try {
    pqxx::nontransaction tx(*connection_);
    tx.exec("SELECT 1");
    MarkUsed();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string WithUriParameter(const std::string& uri, const std::string& key,
                             const std::string& value) {
  const auto query = uri.find('?');
  if (query != std::string::npos) {
    const std::string params = "&" + uri.substr(query + 1);
    if (params.find("&" + key + "=") != std::string::npos) return uri;
    return uri + "&" + key + "=" + value;
  }
  return uri + "?" + key + "=" + value;
}

PgConnectionFactory::PgConnectionFactory(const std::string& database_url,
                                         const std::string& application_name,
                                         int connect_timeout_seconds)
    : conninfo_(
          WithUriParameter(WithUriParameter(database_url, "application_name", application_name),
                           "connect_timeout", std::to_string(connect_timeout_seconds))) {}

std::unique_ptr<Connection> PgConnectionFactory::Connect() {
  auto connection = std::make_unique<PgConnection>(conninfo_);
  if (on_connect_) on_connect_(connection->raw());
  return connection;
}

}  // namespace poolguard::target
