#include "pool.h"

#include <fmt/format.h>

namespace poolguard::target {

PoolTimeoutError::PoolTimeoutError(const PoolOptions& options)
    : std::runtime_error(fmt::format(
          "QueuePool limit of size {} overflow {} reached, connection timed out, timeout {:.2f}",
          options.size, options.max_overflow, options.timeout.count())) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

Pool::Lease::~Lease() {
  if (pool_ != nullptr && connection_) pool_->Return(std::move(connection_), broken_);
}

Pool::Pool(PoolOptions options, std::shared_ptr<ConnectionFactory> factory, PoolObserver observer)
    : options_(options), factory_(std::move(factory)), observer_(std::move(observer)) {}

Pool::~Pool() { Close(); }

Pool::Lease Pool::Checkout() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto waited = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::unique_ptr<Connection> connection;
  bool open_new = false;
  {
    std::unique_lock lock(mutex_);
    if (closed_) throw PoolClosedError();
    // Newcomers never overtake queued waiters.
    if (waiters_.empty() && !idle_.empty()) {
      connection = std::move(idle_.front());
      idle_.pop_front();
    } else if (waiters_.empty() && open_ < options_.size + options_.max_overflow) {
      ++open_;
      open_new = true;
    } else {
      Waiter self;
      waiters_.push_back(&self);
      const auto deadline = start + std::chrono::duration_cast<Clock::duration>(options_.timeout);
      self.cv.wait_until(lock, deadline,
                         [&] { return self.handed != nullptr || self.may_open || closed_; });
      if (self.handed == nullptr && !self.may_open) {
        waiters_.remove(&self);
        if (closed_) throw PoolClosedError();
        ++timeouts_;
        lock.unlock();
        if (observer_.on_timeout) observer_.on_timeout(waited());
        throw PoolTimeoutError(options_);
      }
      connection = std::move(self.handed);
      open_new = self.may_open;
    }
  }
  if (open_new) {
    connection = OpenForSlot();
  } else if (options_.pre_ping) {
    connection = PingOrReplace(std::move(connection));
  }
  if (observer_.on_checkout) observer_.on_checkout(waited());
  return Lease(this, std::move(connection));
}

std::unique_ptr<Connection> Pool::OpenForSlot() {
  try {
    return factory_->Connect();
  } catch (...) {
    std::lock_guard lock(mutex_);
    --open_;
    GiveSlotToWaiterLocked();
    throw;
  }
}

std::unique_ptr<Connection> Pool::PingOrReplace(std::unique_ptr<Connection> connection) {
  bool alive = false;
  try {
    alive = connection->Ping();
  } catch (...) {
    alive = false;
  }
  if (alive) return connection;
  connection.reset();  // close the dead one, keep its slot for the replacement
  {
    std::lock_guard lock(mutex_);
    ++replaced_by_ping_;
  }
  return OpenForSlot();
}

bool Pool::GiveSlotToWaiterLocked() {
  if (waiters_.empty() || closed_) return false;
  Waiter* first = waiters_.front();
  waiters_.pop_front();
  first->may_open = true;
  ++open_;
  first->cv.notify_one();
  return true;
}

void Pool::Return(std::unique_ptr<Connection> connection, bool broken) {
  std::unique_ptr<Connection> to_close;
  {
    std::lock_guard lock(mutex_);
    if (broken || closed_) {
      if (broken) ++discarded_;
      --open_;
      to_close = std::move(connection);
      GiveSlotToWaiterLocked();
    } else if (!waiters_.empty()) {
      Waiter* first = waiters_.front();
      waiters_.pop_front();
      first->handed = std::move(connection);
      first->cv.notify_one();
    } else if (idle_.size() >= options_.size) {
      --open_;  // an overflow connection: close it rather than keep it
      to_close = std::move(connection);
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  // to_close is destroyed here, outside the lock.
}

PoolStats Pool::Stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.size = options_.size;
  s.max_overflow = options_.max_overflow;
  s.open = open_;
  s.idle = idle_.size();
  s.checked_out = open_ - idle_.size();
  s.waiters = waiters_.size();
  s.timeouts = timeouts_;
  s.replaced_by_ping = replaced_by_ping_;
  s.discarded = discarded_;
  return s;
}

void Pool::Close() {
  std::deque<std::unique_ptr<Connection>> to_close;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    open_ -= idle_.size();
    to_close.swap(idle_);
    for (Waiter* w : waiters_) w->cv.notify_one();
  }
}

}  // namespace poolguard::target
