#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/transaction>
#include <string>

#include "config.h"
#include "db_error.h"
#include "pg_connection.h"
#include "pool.h"
#include "poolguard/common/http_server.h"

namespace poolguard::target {

/// The target's HTTP API: /health, /livez, /items, /items/export, /metrics. It owns the
/// pool's metrics and turns every database failure into a 503 JSON answer plus one
/// `DB_ERROR:` log line.
class App {
 public:
  /// Builds the pool over `factory`; declares the API's prepared statements on each of
  /// its connections.
  App(const Config& config, std::shared_ptr<PgConnectionFactory> factory);
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  http::Router MakeRouter();
  Pool& pool() { return *pool_; }
  prometheus::Registry& registry() { return *registry_; }

 private:
  http::Response Health();
  http::Response ListItems(const http::Request& request);
  http::Response GetItem(const http::Request& request);
  http::Response CreateItem(const http::Request& request);
  http::Response StartExport(const http::Request& request);
  http::Response ContinueExport(const http::Request& request);
  http::Response Metrics();

  // Runs `work` on a pooled connection; maps every failure to a DB_ERROR answer.
  template <class Work>
  http::Response WithConnection(Work&& work);
  http::Response DatabaseFailure(DbErrorKind kind, const std::string& message);
  void RecordDbError(DbErrorKind kind, const std::string& message);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& db_errors_;
  prometheus::Counter& pool_timeouts_;
  prometheus::Histogram& pool_wait_;
  prometheus::Gauge& pool_size_;
  prometheus::Gauge& pool_max_overflow_;
  prometheus::Gauge& pool_checked_out_;
  prometheus::Gauge& pool_idle_;
  prometheus::Gauge& pool_waiters_;
  std::unique_ptr<Pool> pool_;

  // An export in progress: a pooled connection held across requests, a REPEATABLE READ
  // transaction and a cursor on it. Returned to the pool when the client reads the last
  // batch. THE LEAK (deliberate, documented in docs/target.md): nothing ever ends an
  // export its client abandoned, so each one keeps a connection idle in transaction
  // until the process restarts, as server-side cursor pagination without an expiry does.
  struct Export {
    std::optional<Pool::Lease> lease;  // destroyed last: the transaction ends first
    std::unique_ptr<pqxx::transaction<pqxx::isolation_level::repeatable_read>> tx;
    std::size_t batch = 0;
    std::mutex mutex;  // one request of an export at a time
  };
  std::mutex exports_mutex_;
  std::map<std::string, std::shared_ptr<Export>> exports_;  // by token; at most the pool's size
  prometheus::Gauge& exports_open_;
};

}  // namespace poolguard::target
