#pragma once

// A function run every interval on a thread of its own, on every replica (housekeeping
// such as handing freed heap pages back to the kernel).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "app/manager.h"

namespace poolguard::controller {

class Periodic final : public Runnable {
 public:
  /// `run` is called every `interval` (the first time one interval after Start) until Stop.
  Periodic(std::string name, std::chrono::milliseconds interval, std::function<void()> run);
  ~Periodic() override { Stop(); }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  std::string Name() const override { return name_; }
  bool NeedsLeaderElection() const override { return false; }
  void Start() override;
  /// Returns once a run in progress has finished; idempotent.
  void Stop() override;

 private:
  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<void()> run_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

/// Hands the heap's free pages back to the kernel (glibc's malloc_trim). The workers parse
/// objects into short-lived JSON in arenas of their own; freed, those pages stay in the
/// process's RSS until trimmed.
void TrimHeap();

}  // namespace poolguard::controller
