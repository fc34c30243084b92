#include <iostream>
#include <mutex>

#include "log_internal.h"

namespace poolguard::kube {
namespace {
std::mutex& LogMutex() {
  static std::mutex m;
  return m;
}
std::function<void(LogLevel, const std::string&)>& LogSinkRef() {
  static std::function<void(LogLevel, const std::string&)> sink;
  return sink;
}
}  // namespace

void SetLogSink(std::function<void(LogLevel, const std::string&)> sink) {
  std::lock_guard<std::mutex> guard(LogMutex());
  LogSinkRef() = std::move(sink);
}

namespace internal {
void Log(LogLevel level, const std::string& message) {
  std::function<void(LogLevel, const std::string&)> sink;
  {
    std::lock_guard<std::mutex> guard(LogMutex());
    sink = LogSinkRef();
  }
  if (sink) {
    sink(level, message);
  } else if (level >= LogLevel::kWarning) {
    std::cerr << "poolguard/kube: " << message << std::endl;
  }
}
}  // namespace internal
}  // namespace poolguard::kube
