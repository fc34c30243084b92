// What a target sends as text: its log as the controller reads it for DB_ERROR lines (text
// or JSON lines, with or without Kubernetes timestamps), and its /health body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remediation/signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::controller;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto counts = ParseDbErrorLines(text);
  if (counts.Total() < 0) __builtin_trap();
  const auto verdict = ReadHealthBody(text);
  // A verdict always names what it read, and only then.
  if (verdict.healthy.has_value() == verdict.detail.empty()) __builtin_trap();
  return 0;
}
