#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

#include "config.h"
#include "db_error.h"
#include "pg_connection.h"
#include "pool.h"
#include "poolguard/common/http_server.h"

namespace poolguard::target {

/// The target's HTTP API: /health, /livez, /items, /metrics. It owns the pool's metrics
/// and turns every database failure into a 503 JSON answer plus one `DB_ERROR:` log line.
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
};

}  // namespace poolguard::target
