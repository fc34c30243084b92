// A target's log as the controller reads it for DB_ERROR lines (text or JSON lines, with
// or without Kubernetes timestamps).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remediation/signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::controller;
  const auto counts =
      ParseDbErrorLines(std::string_view(reinterpret_cast<const char*>(data), size));
  if (counts.Total() < 0) __builtin_trap();
  return 0;
}
