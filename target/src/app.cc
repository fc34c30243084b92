#include "app.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <random>

#include "items.h"
#include "pg_connection.h"
#include "poolguard/common/json_util.h"

namespace poolguard::target {
namespace {

using http::Request;
using http::Response;

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// Items are written straight to text: this is the hot path of the API.
void AppendItemJson(const pqxx::row& row, std::string& out) {
  out += "{\"id\":";
  out += row[0].c_str();
  out += ",\"name\":\"";
  out += json::Escape(row[1].c_str());
  out += "\",\"quantity\":";
  out += row[2].c_str();
  out += ",\"created_at\":\"";
  out += row[3].c_str();
  out += "\"}";
}

Response JsonText(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

constexpr const char* kItemColumns =
    "id, name, quantity, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

}  // namespace

App::App(const Config& config, std::shared_ptr<PgConnectionFactory> factory)
    : registry_(std::make_shared<prometheus::Registry>()),
      db_errors_(prometheus::BuildCounter()
                     .Name("db_errors_total")
                     .Help("Database failures answered with 503, by kind")
                     .Register(*registry_)),
      pool_timeouts_(prometheus::BuildCounter()
                         .Name("db_pool_timeouts_total")
                         .Help("Checkouts that waited DB_POOL_TIMEOUT without a connection")
                         .Register(*registry_)
                         .Add({})),
      pool_wait_(prometheus::BuildHistogram()
                     .Name("db_pool_wait_seconds")
                     .Help("Time a request waited for a pooled connection")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.005, 0.01,
                                                                      0.05, 0.1, 0.5, 1, 2, 3, 5})),
      pool_size_(prometheus::BuildGauge()
                     .Name("db_pool_size")
                     .Help("Connections the pool keeps (DB_POOL_SIZE)")
                     .Register(*registry_)
                     .Add({})),
      pool_max_overflow_(prometheus::BuildGauge()
                             .Name("db_pool_max_overflow")
                             .Help("Extra connections the pool may open (DB_MAX_OVERFLOW)")
                             .Register(*registry_)
                             .Add({})),
      pool_checked_out_(prometheus::BuildGauge()
                            .Name("db_pool_checked_out")
                            .Help("Connections lent to requests right now")
                            .Register(*registry_)
                            .Add({})),
      pool_idle_(prometheus::BuildGauge()
                     .Name("db_pool_idle")
                     .Help("Open connections waiting in the pool")
                     .Register(*registry_)
                     .Add({})),
      pool_waiters_(prometheus::BuildGauge()
                        .Name("db_pool_waiters")
                        .Help("Requests queued for a connection right now")
                        .Register(*registry_)
                        .Add({})),
      exports_open_(prometheus::BuildGauge()
                        .Name("items_exports_open")
                        .Help("Exports in progress, each holding a pooled connection")
                        .Register(*registry_)
                        .Add({})) {
  PoolOptions options;
  options.size = config.pool_size;
  options.max_overflow = config.max_overflow;
  options.timeout = std::chrono::duration<double>(config.pool_timeout_seconds);
  options.pre_ping = config.pool_pre_ping;
  PoolObserver observer;
  observer.on_checkout = [this](double seconds) { pool_wait_.Observe(seconds); };
  observer.on_timeout = [this](double seconds) {
    pool_wait_.Observe(seconds);
    pool_timeouts_.Increment();
  };
  // Prepared once per connection (libpqxx prepares lazily, on first use): the hot path
  // then costs one round trip with no parsing or planning on the server.
  factory->OnConnect([](pqxx::connection& c) {
    c.prepare("item_by_id", std::string("SELECT ") + kItemColumns + " FROM items WHERE id = $1");
    c.prepare("items_page",
              std::string("SELECT ") + kItemColumns + " FROM items ORDER BY id LIMIT $1 OFFSET $2");
    c.prepare("item_insert", std::string("INSERT INTO items (name, quantity) VALUES ($1, $2) "
                                         "RETURNING ") +
                                 kItemColumns);
  });
  pool_ = std::make_unique<Pool>(options, std::move(factory), std::move(observer));
  pool_size_.Set(static_cast<double>(options.size));
  pool_max_overflow_.Set(static_cast<double>(options.max_overflow));
  for (auto kind :
       {DbErrorKind::kPoolTimeout, DbErrorKind::kTooManyClients, DbErrorKind::kAuthentication,
        DbErrorKind::kConnectionRefused, DbErrorKind::kConnectionLost, DbErrorKind::kQuery}) {
    db_errors_.Add({{"kind", std::string(KindName(kind))}});  // export zeros from the start
  }
}

http::Router App::MakeRouter() {
  http::Router router;
  // Liveness and metrics answer on the I/O thread: even with every worker waiting on the
  // database, a probe sees a live process and a scrape sees why.
  router.Add(
      "GET", "/livez",
      [](const Request&) {
        return Response::Json(200, web::json::value::parse(R"({"status":"ok"})"));
      },
      http::Dispatch::kInline);
  router.Add(
      "GET", "/metrics", [this](const Request&) { return Metrics(); }, http::Dispatch::kInline);
  router.Add("GET", "/health", [this](const Request&) { return Health(); });
  router.Add("GET", "/items", [this](const Request& r) { return ListItems(r); });
  router.Add("POST", "/items", [this](const Request& r) { return CreateItem(r); });
  // Before /items/{id}: the first route that matches wins.
  router.Add("GET", "/items/export", [this](const Request& r) { return StartExport(r); });
  router.Add("GET", "/items/export/{token}",
             [this](const Request& r) { return ContinueExport(r); });
  router.Add("GET", "/items/{id}", [this](const Request& r) { return GetItem(r); });
  return router;
}

void App::RecordDbError(DbErrorKind kind, const std::string& message) {
  db_errors_.Add({{"kind", std::string(KindName(kind))}}).Increment();
  spdlog::error("DB_ERROR: {}: {}", KindName(kind), OneLine(message));
}

Response App::DatabaseFailure(DbErrorKind kind, const std::string& message) {
  RecordDbError(kind, message);  // the whole text, for operators
  // Clients get the kind in words: libpq's own text names the database's host, port and
  // role, which are not theirs to know.
  web::json::value error = web::json::value::object();
  error["code"] = web::json::value::string("DatabaseUnavailable");
  error["kind"] = web::json::value::string(std::string(KindName(kind)));
  // The pool's own timeout text (SQLAlchemy's wording) says nothing of the server.
  error["message"] = web::json::value::string(
      kind == DbErrorKind::kPoolTimeout ? OneLine(message) : std::string(KindDescription(kind)));
  web::json::value body = web::json::value::object();
  body["error"] = error;
  return Response::Json(503, body);
}

template <class Work>
Response App::WithConnection(Work&& work) {
  try {
    Pool::Lease lease = pool_->Checkout();
    auto& pg = static_cast<PgConnection&>(*lease);
    try {
      // Work that keeps the connection past the request takes the lease too.
      Response response = [&] {
        if constexpr (std::is_invocable_v<Work, pqxx::connection&, Pool::Lease&>) {
          return work(pg.raw(), lease);
        } else {
          return work(pg.raw());
        }
      }();
      pg.MarkUsed();
      return response;
    } catch (const pqxx::sql_error& e) {
      if (!pg.raw().is_open()) lease.Invalidate();
      if (IsInputError(e.sqlstate())) {
        // The client's data, not an outage: a 503 here would let any client fail a
        // Remediation's verification.
        pg.MarkUsed();
        spdlog::warn("the database rejected a request's input (SQLSTATE {}): {}", e.sqlstate(),
                     OneLine(e.what()));
        return Response::Error(400, "InvalidInput",
                               "the database rejected the input (SQLSTATE " + e.sqlstate() + ")");
      }
      const DbErrorKind kind = ClassifyStatementError(e.sqlstate(), e.what());
      if (kind == DbErrorKind::kConnectionLost) lease.Invalidate();
      return DatabaseFailure(kind, e.what());
    } catch (const pqxx::failure& e) {
      lease.Invalidate();  // broken_connection, in_doubt_error: never reuse
      return DatabaseFailure(DbErrorKind::kConnectionLost, e.what());
    }
  } catch (const PoolTimeoutError& e) {
    return DatabaseFailure(DbErrorKind::kPoolTimeout, e.what());
  } catch (const DbError& e) {
    return DatabaseFailure(e.kind(), e.what());
  } catch (const PoolClosedError& e) {
    return Response::Error(503, "ShuttingDown", e.what());
  }
}

Response App::Health() {
  Response r = WithConnection([](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT 1");
    return Response::Json(200, web::json::value::parse(R"({"status":"ok","database":"ok"})"));
  });
  if (r.status == 200) return r;
  return Response::Json(503,
                        web::json::value::parse(R"({"status":"degraded","database":"unhealthy"})"));
}

Response App::ListItems(const Request& request) {
  long long limit = 50;
  long long offset = 0;
  try {
    limit = http::IntParam(request, "limit", 1, 1000).value_or(50);
    offset = http::IntParam(request, "offset", 0, 1'000'000'000).value_or(0);
  } catch (const std::invalid_argument& e) {
    return Response::Error(400, "BadQuery", e.what());
  }
  return WithConnection([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared("items_page", limit, offset);
    std::string body = "{\"items\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i > 0) body += ',';
      AppendItemJson(rows[i], body);
    }
    body += "],\"limit\":" + std::to_string(limit) + ",\"offset\":" + std::to_string(offset) + "}";
    return JsonText(200, std::move(body));
  });
}

Response App::GetItem(const Request& request) {
  const std::string& text = request.params.at("id");
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id < 1) {
    return Response::Error(
        400, "BadItemId",
        "item id must be a positive whole number, got '" + text.substr(0, 64) + "'");
  }
  return WithConnection([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared("item_by_id", id);
    if (rows.empty()) {
      return Response::Error(404, "ItemNotFound", "no item with id " + std::to_string(id));
    }
    std::string body;
    AppendItemJson(rows[0], body);
    return JsonText(200, std::move(body));
  });
}

Response App::CreateItem(const Request& request) {
  if (request.content_type.rfind("application/json", 0) != 0) {
    return Response::Error(415, "UnsupportedMediaType",
                           "POST /items takes Content-Type: application/json, got '" +
                               request.content_type.substr(0, 64) + "'");
  }
  auto parsed = ParseNewItem(request.body);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    return Response::Error(400, "InvalidItem", *error);
  }
  const NewItem& item = std::get<NewItem>(parsed);
  return WithConnection([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result rows = tx.exec_prepared("item_insert", item.name, item.quantity);
    tx.commit();
    std::string body;
    AppendItemJson(rows[0], body);
    Response r = JsonText(201, std::move(body));
    r.headers.emplace_back("Location", "/items/" + rows[0][0].as<std::string>());
    return r;
  });
}

namespace {

std::string NewToken() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 2; ++i) {
    const std::uint64_t v = random();
    for (int shift = 60; shift >= 0; shift -= 4) token += kHex[(v >> shift) & 15];
  }
  return token;
}

// One batch from the export's cursor as {"items":[...]} and, unless it was the last,
// "next" (the URL of the following batch).
std::string ExportBatch(const pqxx::result& rows, const std::string& next) {
  std::string body = "{\"items\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) body += ',';
    AppendItemJson(rows[i], body);
  }
  body += "]";
  if (!next.empty()) body += ",\"next\":\"" + next + "\"";
  body += "}";
  return body;
}

}  // namespace

Response App::StartExport(const Request& request) {
  long long batch = 100;
  try {
    batch = http::IntParam(request, "batch", 1, 1000).value_or(100);
  } catch (const std::invalid_argument& e) {
    return Response::Error(400, "BadQuery", e.what());
  }
  return WithConnection([&](pqxx::connection& c, Pool::Lease& lease) {
    auto e = std::make_shared<Export>();
    e->batch = static_cast<std::size_t>(batch);
    e->tx = std::make_unique<pqxx::transaction<pqxx::isolation_level::repeatable_read>>(c);
    e->tx->exec(std::string("DECLARE export_cursor NO SCROLL CURSOR FOR SELECT ") + kItemColumns +
                " FROM items ORDER BY id");
    const pqxx::result rows = e->tx->exec("FETCH " + std::to_string(batch) + " FROM export_cursor");
    if (rows.size() < e->batch) {  // all of it in one batch: nothing to keep
      e->tx->commit();
      return JsonText(200, ExportBatch(rows, ""));
    }
    const std::string token = NewToken();
    e->lease.emplace(std::move(lease));  // from here the connection is the export's
    {
      std::lock_guard lock(exports_mutex_);
      exports_[token] = e;
      exports_open_.Set(static_cast<double>(exports_.size()));
    }
    return JsonText(200, ExportBatch(rows, "/items/export/" + token));
  });
}

Response App::ContinueExport(const Request& request) {
  const std::string& token = request.params.at("token");
  std::shared_ptr<Export> e;
  {
    std::lock_guard lock(exports_mutex_);
    auto it = exports_.find(token);
    if (it != exports_.end()) e = it->second;
  }
  if (e == nullptr) {
    return Response::Error(404, "ExportNotFound",
                           "no export in progress with token '" + token.substr(0, 64) + "'");
  }
  auto finish = [&] {
    std::lock_guard lock(exports_mutex_);
    exports_.erase(token);
    exports_open_.Set(static_cast<double>(exports_.size()));
  };
  std::lock_guard export_lock(e->mutex);
  if (e->tx == nullptr) return Response::Error(404, "ExportNotFound", "the export has ended");
  try {
    const pqxx::result rows =
        e->tx->exec("FETCH " + std::to_string(e->batch) + " FROM export_cursor");
    if (rows.size() < e->batch) {
      e->tx->commit();
      e->tx.reset();
      finish();  // the last reference but this one: the lease goes back with `e`
      return JsonText(200, ExportBatch(rows, ""));
    }
    return JsonText(200, ExportBatch(rows, "/items/export/" + token));
  } catch (const pqxx::failure& error) {
    e->tx.reset();
    if (e->lease) e->lease->Invalidate();
    finish();
    return DatabaseFailure(DbErrorKind::kConnectionLost, error.what());
  }
}

Response App::Metrics() {
  const PoolStats stats = pool_->Stats();
  pool_checked_out_.Set(static_cast<double>(stats.checked_out));
  pool_idle_.Set(static_cast<double>(stats.idle));
  pool_waiters_.Set(static_cast<double>(stats.waiters));
  return http::MetricsResponse(*registry_);
}

}  // namespace poolguard::target
