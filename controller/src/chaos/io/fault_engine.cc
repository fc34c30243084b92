#include "chaos/fault_engine.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "core/io/pg.h"
#include "poolguard/common/http_client.h"

namespace poolguard::controller {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A leak session; throws InjectError.
PgPtr Connect(const DbTarget& db, const std::string& application_name,
              std::chrono::milliseconds session_timeout) {
  PgOpenOptions options;
  options.application_name = application_name;
  options.connect_timeout_seconds = 10;
  options.session_timeout = session_timeout;
  PgPtr conn = PgOpen(db, options);
  if (conn == nullptr) throw InjectError("cannot allocate a PostgreSQL connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw InjectError("cannot connect to " + db.endpoint.ToString() + ": " +
                      Trim(PQerrorMessage(conn.get())));
  }
  return conn;
}

void Exec(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  std::string error = Trim(PQresultErrorMessage(r));
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw InjectError("statement failed: " + error);
  }
}

std::string QuoteTable(PGconn* conn, const std::string& table) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t dot = table.find('.', start);
    const std::string part = table.substr(start, dot == std::string::npos ? dot : dot - start);
    char* quoted = PQescapeIdentifier(conn, part.c_str(), part.size());
    if (quoted == nullptr) throw InjectError("invalid table name " + table);
    if (!out.empty()) out += ".";
    out += quoted;
    PQfreemem(quoted);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// One TrafficSurge client: GET path in a loop over a keep-alive connection, moving to the
// next endpoint after 1,000 requests or a failure. Every request has a deadline; Stop
// shuts the connection down, which wakes a request in flight at once.
class SurgeClient {
 public:
  /// `budget`: the requests this client sends (negative: no limit). A client whose budget
  /// is spent stays (the experiment still holds it) but sends nothing more.
  SurgeClient(std::vector<Endpoint> endpoints, std::string path, size_t index, long long budget)
      : endpoints_(std::move(endpoints)), path_(std::move(path)), index_(index), budget_(budget) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SurgeClient() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      if (connection_ != nullptr) connection_->Shutdown();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool Stopping() {
    std::lock_guard lock(mutex_);
    return stop_;
  }

  void Loop() {
    size_t next = index_;
    while (true) {
      const Endpoint& ep = endpoints_[next++ % endpoints_.size()];
      auto connection = std::make_shared<http::Connection>(ep.host, ep.port);
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        connection_ = connection;
      }
      bool failed = false;
      for (int i = 0; i < 1000 && !failed; ++i) {
        if (!TakeOne()) {
          std::lock_guard lock(mutex_);
          connection_.reset();
          return;
        }
        failed = connection->Get(path_, std::chrono::seconds(30)).status == 0;
      }
      {
        std::lock_guard lock(mutex_);
        connection_.reset();
      }
      if (failed && !Stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  bool TakeOne() {                 // only this client's thread calls it
    if (budget_ < 0) return true;  // no limit
    if (budget_ == 0) return false;
    --budget_;
    return true;
  }

  std::vector<Endpoint> endpoints_;
  std::string path_;
  size_t index_;
  long long budget_;
  std::mutex mutex_;  // guards stop_ and connection_
  bool stop_ = false;
  std::shared_ptr<http::Connection> connection_;
  std::thread thread_;
};

class Engine final : public FaultEngine {
 public:
  Engine() : monitor_([this] { Monitor(); }) {}
  ~Engine() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    monitor_.join();
    for (const auto& key : Keys()) Rollback(key);
  }

  void Inject(const std::string& key, const FaultPlan& plan) override {
    if (plan.type == FaultType::kTrafficSurge) {
      InjectSurge(key, plan);
      return;
    }
    int have = 0;
    bool need_lock = false;
    {
      std::lock_guard lock(mutex_);
      auto& f = faults_[key];
      have = static_cast<int>(f.sessions.size());
      // The lock holder is one of the live sessions, or there is none: a pid left from a
      // session that died (or from an earlier experiment of the same name) holds nothing.
      const bool holder_alive =
          f.lock_pid != 0 && std::any_of(f.sessions.begin(), f.sessions.end(), [&](const auto& c) {
            return PQbackendPID(c.get()) == f.lock_pid;
          });
      if (!holder_alive) f.lock_pid = 0;
      need_lock = plan.mode == LeakMode::kLockTable && !holder_alive;
    }
    const int missing = plan.count - have;
    if (missing <= 0) return;

    std::vector<PgPtr> opened;
    // The lock holder first, so the lock is in place as early as possible.
    if (need_lock) {
      PgPtr holder = Connect(plan.db, plan.application_name, plan.session_timeout);
      Exec(holder.get(), "SET lock_timeout = '10s'");
      Exec(holder.get(), "BEGIN");
      try {
        Exec(holder.get(),
             "LOCK TABLE " + QuoteTable(holder.get(), plan.table) + " IN ACCESS EXCLUSIVE MODE");
      } catch (const InjectError& e) {
        const std::string what = e.what();
        if (!plan.end_role_sessions || (what.find("permission denied") == std::string::npos &&
                                        what.find("must be owner") == std::string::npos))
          throw;
        throw InjectError(std::string("a hung database takes LOCK pg_catalog.pg_authid, which "
                                      "only a superuser role may: ") +
                          e.what());
      }
      if (plan.end_role_sessions) Exec(holder.get(), kEndOwnSessionsSql);
      opened.push_back(std::move(holder));
    }
    const int rest = missing - static_cast<int>(opened.size());
    if (rest > 0) {
      // Open in parallel: a few hundred sequential SCRAM handshakes would take seconds.
      const int threads = std::min(rest, 16);
      std::vector<std::vector<PgPtr>> per_thread(threads);
      std::vector<std::string> errors(threads);
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          try {
            for (int i = t; i < rest; i += threads) {
              PgPtr c = Connect(plan.db, plan.application_name, plan.session_timeout);
              if (plan.mode == LeakMode::kIdleInTransaction) Exec(c.get(), "BEGIN");
              per_thread[t].push_back(std::move(c));
            }
          } catch (const std::exception& e) {
            errors[t] = e.what();
          }
        });
      }
      for (auto& w : workers) w.join();
      for (auto& v : per_thread) {
        for (auto& c : v) opened.push_back(std::move(c));
      }
      for (const auto& e : errors) {
        if (!e.empty()) {
          Store(key, std::move(opened), need_lock);
          throw InjectError("opened " + std::to_string(have + static_cast<int>(opened.size())) +
                            " of " + std::to_string(plan.count) + " sessions: " + e);
        }
      }
    }
    Store(key, std::move(opened), need_lock);
  }

  int Held(const std::string& key) override {
    std::lock_guard lock(mutex_);
    auto it = faults_.find(key);
    if (it == faults_.end()) return 0;
    return static_cast<int>(it->second.sessions.size() + it->second.clients.size());
  }

  std::vector<int> Pids(const std::string& key) override {
    std::lock_guard lock(mutex_);
    std::vector<int> pids;
    auto it = faults_.find(key);
    if (it == faults_.end()) return pids;
    for (const auto& s : it->second.sessions) pids.push_back(PQbackendPID(s.get()));
    return pids;
  }

  void Rollback(const std::string& key) override {
    Fault fault;
    {
      std::lock_guard lock(mutex_);
      auto it = faults_.find(key);
      if (it == faults_.end()) return;
      fault = std::move(it->second);
      faults_.erase(it);
    }
    // Stop all surge clients at once (each Stop shuts its socket), then join.
    for (auto& c : fault.clients) c->Stop();
    fault.clients.clear();
    fault.sessions.clear();  // PQfinish: the backend ends (and releases any lock) at once
  }

  std::vector<std::string> Keys() override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> keys;
    for (const auto& [k, _] : faults_) keys.push_back(k);
    return keys;
  }

  int TotalSessions() override {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& [_, f] : faults_) n += static_cast<int>(f.sessions.size());
    return n;
  }
  int TotalClients() override {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& [_, f] : faults_) n += static_cast<int>(f.clients.size());
    return n;
  }

  void SetOnLost(std::function<void(const std::string&)> callback) override {
    std::lock_guard lock(mutex_);
    on_lost_ = std::move(callback);
  }

 private:
  struct Fault {
    std::vector<PgPtr> sessions;
    int lock_pid = 0;  // backend holding the table lock (LockTable)
    std::vector<std::unique_ptr<SurgeClient>> clients;
  };

  void InjectSurge(const std::string& key, const FaultPlan& plan) {
    if (plan.surge_endpoints.empty()) throw InjectError("the target has no ready endpoints");
    std::lock_guard lock(mutex_);
    auto& f = faults_[key];
    while (static_cast<int>(f.clients.size()) < plan.count) {
      // Requests split evenly over the clients, each of which starts on its own endpoint:
      // with as many clients as pods, each pod gets its share, whatever their speeds.
      const long long i = static_cast<long long>(f.clients.size());
      const long long share =
          plan.surge_requests <= 0
              ? -1
              : plan.surge_requests / plan.count + (i < plan.surge_requests % plan.count ? 1 : 0);
      f.clients.push_back(std::make_unique<SurgeClient>(plan.surge_endpoints, plan.surge_path,
                                                        f.clients.size(), share));
    }
  }

  void Store(const std::string& key, std::vector<PgPtr> opened, bool took_lock) {
    std::lock_guard lock(mutex_);
    auto& f = faults_[key];
    if (took_lock && !opened.empty()) f.lock_pid = PQbackendPID(opened.front().get());
    for (auto& c : opened) {
      PQsetnonblocking(c.get(), 1);
      f.sessions.push_back(std::move(c));
    }
  }

  // Finds sessions the server ended (terminated backend, idle timeout, restart) without a
  // query: a live idle session has nothing to read; a dead one has an error or EOF waiting.
  void Monitor() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(250));
      if (stop_) break;
      std::vector<std::string> lost;
      for (auto& [key, f] : faults_) {
        const size_t before = f.sessions.size();
        for (size_t i = 0; i < f.sessions.size();) {
          PGconn* c = f.sessions[i].get();
          pollfd p{PQsocket(c), POLLIN, 0};
          bool dead = p.fd < 0;
          if (!dead && poll(&p, 1, 0) > 0) {
            dead = PQconsumeInput(c) == 0 || PQstatus(c) == CONNECTION_BAD;
            if (!dead) {
              while (PGresult* r = PQgetResult(c)) PQclear(r);
              dead = PQstatus(c) == CONNECTION_BAD;
            }
          }
          if (dead) {
            if (PQbackendPID(c) == f.lock_pid) f.lock_pid = 0;
            f.sessions.erase(f.sessions.begin() + static_cast<long>(i));
          } else {
            ++i;
          }
        }
        if (f.sessions.size() != before) lost.push_back(key);
      }
      if (!lost.empty() && on_lost_) {
        auto callback = on_lost_;
        lock.unlock();
        for (const auto& k : lost) callback(k);
        lock.lock();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, Fault> faults_;
  std::function<void(const std::string&)> on_lost_;
  std::thread monitor_;
};

}  // namespace

std::unique_ptr<FaultEngine> NewFaultEngine() { return std::make_unique<Engine>(); }

}  // namespace poolguard::controller
