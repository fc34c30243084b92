#include "app/periodic.h"

#include <malloc.h>

#include <utility>

namespace poolguard::controller {

Periodic::Periodic(std::string name, std::chrono::milliseconds interval, std::function<void()> run)
    : name_(std::move(name)), interval_(interval), run_(std::move(run)) {}

void Periodic::Start() {
  std::lock_guard lock(mutex_);
  if (stop_ || thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock held(mutex_);
    while (!wake_.wait_for(held, interval_, [this] { return stop_; })) {
      held.unlock();
      run_();
      held.lock();
    }
  });
}

void Periodic::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TrimHeap() { malloc_trim(0); }

}  // namespace poolguard::controller
