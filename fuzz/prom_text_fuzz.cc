// A target's /metrics as the controller reads it: the text exposition parser and the
// readers over its samples.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remediation/signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::controller;
  const auto parsed =
      ParsePrometheusText(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed.samples.size() > kMaxPromSamples) __builtin_trap();
  for (const MetricPreset preset :
       {MetricPreset::kPoolGuardTarget, MetricPreset::kHikariCP, MetricPreset::kNone}) {
    (void)ReadPoolGauges(parsed.samples, PresetOf(preset).pod);
  }
  (void)SumSamples(parsed.samples, "http_requests_total", {{"code", "503"}});
  return 0;
}
