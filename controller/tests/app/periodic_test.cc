// Housekeeping on a thread of its own: it runs again and again until stopped, and Stop
// neither waits for the next interval nor lets a run start after it returns.
#include "app/periodic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

TEST(Periodic, RunsEveryIntervalUntilStopped) {
  std::mutex m;
  std::condition_variable cv;
  int runs = 0;
  Periodic p("count", 1ms, [&] {
    std::lock_guard lock(m);
    ++runs;
    cv.notify_all();
  });
  p.Start();
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return runs >= 3; }));
  }
  p.Stop();
  int after_stop = 0;
  {
    std::lock_guard lock(m);
    after_stop = runs;
  }
  p.Stop();  // idempotent
  std::this_thread::sleep_for(5ms);
  std::lock_guard lock(m);
  EXPECT_EQ(runs, after_stop);  // nothing ran after Stop returned
}

TEST(Periodic, StopDoesNotWaitForTheNextInterval) {
  std::atomic<int> runs{0};
  Periodic p("hourly", 1h, [&] { ++runs; });
  p.Start();
  const auto start = std::chrono::steady_clock::now();
  p.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // not an hour
  EXPECT_EQ(runs, 0);  // the first run is one interval after Start
}

}  // namespace
}  // namespace poolguard::controller
