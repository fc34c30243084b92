#include "pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "db_error.h"

namespace poolguard::target {
namespace {

using namespace std::chrono_literals;

// A fake session: pure logic tests of the pool only; the real one is tested against
// PostgreSQL in tests/integration.
struct FakeState {
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  std::atomic<int> pings{0};
  std::atomic<bool> fail_connect{false};
  std::atomic<bool> all_dead{false};  // pings fail for sessions opened before this was set
  std::atomic<int> generation{0};
};

class FakeConnection : public Connection {
 public:
  FakeConnection(std::shared_ptr<FakeState> state, int id)
      : state_(std::move(state)), id_(id), generation_(state_->generation.load()) {}
  ~FakeConnection() override { state_->closed++; }
  bool Ping() override {
    state_->pings++;
    return generation_ == state_->generation.load();
  }
  int id() const { return id_; }

 private:
  std::shared_ptr<FakeState> state_;
  int id_;
  int generation_;
};

class FakeFactory : public ConnectionFactory {
 public:
  explicit FakeFactory(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  std::unique_ptr<Connection> Connect() override {
    if (state_->fail_connect) {
      throw DbError(DbErrorKind::kTooManyClients, "FATAL:  sorry, too many clients already");
    }
    return std::make_unique<FakeConnection>(state_, ++state_->opened);
  }

 private:
  std::shared_ptr<FakeState> state_;
};

int IdOf(const Pool::Lease& lease) { return static_cast<FakeConnection*>(lease.get())->id(); }

struct PoolTest : ::testing::Test {
  std::shared_ptr<FakeState> state = std::make_shared<FakeState>();
  std::unique_ptr<Pool> MakePool(std::size_t size, std::size_t overflow, double timeout,
                                 bool pre_ping = true) {
    PoolOptions o;
    o.size = size;
    o.max_overflow = overflow;
    o.timeout = std::chrono::duration<double>(timeout);
    o.pre_ping = pre_ping;
    return std::make_unique<Pool>(o, std::make_shared<FakeFactory>(state));
  }
  // Waits (bounded) until `n` checkouts are queued, so tests control arrival order.
  static void WaitForWaiters(const Pool& pool, std::size_t n) {
    for (int i = 0; i < 2000 && pool.Stats().waiters < n; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(pool.Stats().waiters, n);
  }
};

TEST_F(PoolTest, OpensLazilyAndReusesReturnedConnections) {
  auto pool = MakePool(5, 0, 1);
  EXPECT_EQ(pool->Stats().open, 0u);
  int first = 0;
  {
    auto lease = pool->Checkout();
    first = IdOf(lease);
    EXPECT_EQ(pool->Stats().checked_out, 1u);
  }
  EXPECT_EQ(pool->Stats().idle, 1u);
  auto again = pool->Checkout();
  EXPECT_EQ(IdOf(again), first);
  EXPECT_EQ(state->opened, 1);
}

TEST_F(PoolTest, TimesOutAtSizePlusOverflowWithSqlalchemysMessage) {
  auto pool = MakePool(5, 0, 0.05);
  std::vector<Pool::Lease> held;
  for (int i = 0; i < 5; ++i) held.push_back(pool->Checkout());
  const auto start = std::chrono::steady_clock::now();
  try {
    pool->Checkout();
    FAIL() << "a sixth checkout succeeded";
  } catch (const PoolTimeoutError& e) {
    EXPECT_STREQ(
        e.what(),
        "QueuePool limit of size 5 overflow 0 reached, connection timed out, timeout 0.05");
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(pool->Stats().timeouts, 1u);
  EXPECT_EQ(pool->Stats().waiters, 0u);
  EXPECT_EQ(state->opened, 5);
}

TEST_F(PoolTest, OverflowConnectionsOpenUnderLoadAndCloseOnReturn) {
  auto pool = MakePool(2, 1, 0.05);
  {
    auto a = pool->Checkout();
    auto b = pool->Checkout();
    auto c = pool->Checkout();  // the overflow one
    EXPECT_EQ(pool->Stats().open, 3u);
    EXPECT_THROW(pool->Checkout(), PoolTimeoutError);
  }
  EXPECT_EQ(pool->Stats().open, 2u);
  EXPECT_EQ(pool->Stats().idle, 2u);
  EXPECT_EQ(state->closed, 1);
}

TEST_F(PoolTest, PrePingReplacesADeadConnection) {
  auto pool = MakePool(1, 0, 1);
  { auto lease = pool->Checkout(); }
  state->generation++;  // the server restarted: every existing session is dead
  auto lease = pool->Checkout();
  EXPECT_EQ(IdOf(lease), 2);
  EXPECT_EQ(state->closed, 1);
  EXPECT_EQ(pool->Stats().replaced_by_ping, 1u);
  EXPECT_EQ(pool->Stats().open, 1u);
}

TEST_F(PoolTest, WithoutPrePingADeadConnectionIsLentAsIs) {
  auto pool = MakePool(1, 0, 1, /*pre_ping=*/false);
  { auto lease = pool->Checkout(); }
  state->generation++;
  auto lease = pool->Checkout();
  EXPECT_EQ(IdOf(lease), 1);
  EXPECT_EQ(state->pings, 0);
}

TEST_F(PoolTest, BrokenConnectionsAreDiscardedNeverReturned) {
  auto pool = MakePool(1, 0, 1);
  {
    auto lease = pool->Checkout();
    lease.Invalidate();
  }
  EXPECT_EQ(pool->Stats().open, 0u);
  EXPECT_EQ(pool->Stats().discarded, 1u);
  EXPECT_EQ(state->closed, 1);
  auto lease = pool->Checkout();
  EXPECT_EQ(IdOf(lease), 2);
}

TEST_F(PoolTest, AFailedConnectFreesItsSlot) {
  auto pool = MakePool(1, 0, 0.05);
  state->fail_connect = true;
  try {
    pool->Checkout();
    FAIL();
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kTooManyClients);
  }
  EXPECT_EQ(pool->Stats().open, 0u);
  state->fail_connect = false;
  EXPECT_NO_THROW(pool->Checkout());
}

TEST_F(PoolTest, WaitersAreServedFirstComeFirstServed) {
  auto pool = MakePool(1, 0, 5);
  auto held = std::make_unique<Pool::Lease>(pool->Checkout());
  std::vector<int> order;
  std::mutex order_mutex;
  auto waiter = [&](int name) {
    return std::async(std::launch::async, [&, name] {
      auto lease = pool->Checkout();
      std::lock_guard lock(order_mutex);
      order.push_back(name);
    });
  };
  auto first = waiter(1);
  WaitForWaiters(*pool, 1);
  auto second = waiter(2);
  WaitForWaiters(*pool, 2);
  auto third = waiter(3);
  WaitForWaiters(*pool, 3);
  held.reset();
  first.get();
  second.get();
  third.get();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST_F(PoolTest, ANewcomerDoesNotOvertakeQueuedWaiters) {
  auto pool = MakePool(1, 0, 5);
  auto held = std::make_unique<Pool::Lease>(pool->Checkout());
  auto queued = std::async(std::launch::async, [&] { return IdOf(pool->Checkout()); });
  WaitForWaiters(*pool, 1);
  held.reset();  // handed straight to the queued waiter, not put back for anyone
  EXPECT_EQ(queued.get(), 1);
}

TEST_F(PoolTest, ADiscardedConnectionLetsAWaiterOpenANewOne) {
  auto pool = MakePool(1, 0, 5);
  auto held = std::make_unique<Pool::Lease>(pool->Checkout());
  auto queued = std::async(std::launch::async, [&] { return IdOf(pool->Checkout()); });
  WaitForWaiters(*pool, 1);
  held->Invalidate();
  held.reset();
  EXPECT_EQ(queued.get(), 2);
  EXPECT_EQ(pool->Stats().open, 1u);
}

TEST_F(PoolTest, CloseClosesIdleConnectionsAndWakesWaiters) {
  auto pool = MakePool(2, 0, 5);
  { auto a = pool->Checkout(); }
  auto held = std::make_unique<Pool::Lease>(pool->Checkout());
  auto held2 = std::make_unique<Pool::Lease>(pool->Checkout());
  auto queued = std::async(std::launch::async, [&] { pool->Checkout(); });
  WaitForWaiters(*pool, 1);
  pool->Close();
  EXPECT_THROW(queued.get(), PoolClosedError);
  held.reset();
  held2.reset();
  EXPECT_EQ(pool->Stats().open, 0u);
  EXPECT_EQ(state->closed, 2);
  EXPECT_THROW(pool->Checkout(), PoolClosedError);
}

TEST_F(PoolTest, NeverExceedsItsLimitUnderContention) {
  auto pool = MakePool(3, 1, 2);
  std::atomic<int> in_use{0};
  std::atomic<int> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto lease = pool->Checkout();
        const int now = ++in_use;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        if (i % 7 == 0) lease.Invalidate();
        --in_use;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 4);
  EXPECT_LE(pool->Stats().open, 4u);
  EXPECT_EQ(pool->Stats().checked_out, 0u);
  EXPECT_EQ(pool->Stats().timeouts, 0u);
}

}  // namespace
}  // namespace poolguard::target
