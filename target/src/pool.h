#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace poolguard::target {

/// One database session as the pool sees it.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Pre-ping: true when the session is usable. A false answer makes the pool replace it.
  virtual bool Ping() = 0;
};

/// Opens sessions. Connect() throws (DbError for database failures) when it cannot.
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  virtual std::unique_ptr<Connection> Connect() = 0;
};

struct PoolOptions {
  std::size_t size = 5;          // connections kept open
  std::size_t max_overflow = 0;  // extra connections opened under load, closed on return
  std::chrono::duration<double> timeout{3.0};  // how long a checkout waits
  bool pre_ping = true;
};

/// Thrown when a checkout waited `timeout` without getting a connection. The message
/// matches SQLAlchemy's QueuePool so that log-based tooling recognises it.
class PoolTimeoutError : public std::runtime_error {
 public:
  explicit PoolTimeoutError(const PoolOptions& options);
};

/// Thrown by Checkout() after Close().
class PoolClosedError : public std::runtime_error {
 public:
  PoolClosedError() : std::runtime_error("the connection pool is closed") {}
};

struct PoolStats {
  std::size_t size = 0;                // configured size
  std::size_t max_overflow = 0;        // configured overflow
  std::size_t open = 0;                // connections open or being opened
  std::size_t idle = 0;                // open and waiting in the pool
  std::size_t checked_out = 0;         // open and lent out
  std::size_t waiters = 0;             // checkouts waiting for a connection
  std::uint64_t timeouts = 0;          // checkouts that gave up
  std::uint64_t replaced_by_ping = 0;  // dead connections found by pre-ping
  std::uint64_t discarded = 0;         // connections returned broken
};

/// Receives timings, for metrics. Called without the pool's lock held.
struct PoolObserver {
  std::function<void(double wait_seconds)> on_checkout;
  std::function<void(double wait_seconds)> on_timeout;
};

/// A connection pool with SQLAlchemy QueuePool semantics: at most size + max_overflow
/// connections; a checkout waits up to `timeout` (waiters are served first come, first
/// served) and then throws PoolTimeoutError; pre-ping on checkout replaces a dead
/// connection; a connection returned broken is discarded, never reused; overflow
/// connections are closed when returned. Thread-safe; connections are opened, pinged
/// and closed outside the lock.
class Pool {
 public:
  /// A checked-out connection, returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }
    Connection* get() const { return connection_.get(); }
    /// Marks the connection broken: it is closed instead of returned.
    void Invalidate() { broken_ = true; }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
    bool broken_ = false;
  };

  Pool(PoolOptions options, std::shared_ptr<ConnectionFactory> factory, PoolObserver observer = {});
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Lends a connection, opening one if below the limit, else waiting up to the timeout.
  /// Throws PoolTimeoutError, PoolClosedError, or what the factory throws.
  Lease Checkout();

  PoolStats Stats() const;
  const PoolOptions& options() const { return options_; }

  /// Closes idle connections and refuses new checkouts; lent connections are closed
  /// when they come back.
  void Close();

 private:
  struct Waiter {
    std::condition_variable cv;
    std::unique_ptr<Connection> handed;  // a connection given directly to this waiter
    bool may_open = false;               // or the right to open one (a slot was freed)
  };

  void Return(std::unique_ptr<Connection> connection, bool broken);
  // With the lock held: gives a freed slot to the first waiter, if any. Returns true if
  // the slot was taken.
  bool GiveSlotToWaiterLocked();
  std::unique_ptr<Connection> OpenForSlot();  // opens; on failure frees the slot and throws
  std::unique_ptr<Connection> PingOrReplace(std::unique_ptr<Connection> connection);

  const PoolOptions options_;
  const std::shared_ptr<ConnectionFactory> factory_;
  const PoolObserver observer_;

  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<Connection>> idle_;
  std::list<Waiter*> waiters_;  // FIFO
  std::size_t open_ = 0;        // connections open or reserved for opening
  bool closed_ = false;
  std::uint64_t timeouts_ = 0;
  std::uint64_t replaced_by_ping_ = 0;
  std::uint64_t discarded_ = 0;
};

}  // namespace poolguard::target
