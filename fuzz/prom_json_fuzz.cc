// A Prometheus /api/v1/query answer as the controller reads it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remediation/signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::controller;
  const auto result =
      ParsePromQueryResponse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!result.ok && result.error.empty()) __builtin_trap();  // a failure must say why
  (void)SingleValue(result);
  return 0;
}
