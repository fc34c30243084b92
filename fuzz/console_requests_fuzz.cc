// The control API's request bodies (anyone with network access to the console sends
// them, before any authorization): each parser accepts or names the field it refuses, and
// what it accepts builds objects and patches without throwing. Also the target chart's
// readers: a Prometheus query_range answer, and the Remediation its queries come from.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "requests.h"
#include "series.h"
#include "user_clients.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::console;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto named = [](const Invalid& bad) {
    if (bad.field.empty() || bad.message.empty()) __builtin_trap();
  };
  auto brk = ParseBreakDbPool(body);
  if (auto* bad = std::get_if<Invalid>(&brk)) {
    named(*bad);
  } else {
    const auto& r = std::get<BreakDbPool>(brk);
    if (!IsDnsLabel(r.ns) || r.connections < 1 || r.connections > 10000) __builtin_trap();
    const Json rem = Json::parse(R"({"metadata":{"name":"api"},"spec":{"target":{"deployment":"api"},)"
                                 R"("database":{"service":"db","credentialsSecret":"c"}}})");
    (void)ChaosExperimentFor(r, rem, std::string(body.substr(0, 64)));
  }
  auto exp = ParseExperimentRef(body);
  if (auto* bad = std::get_if<Invalid>(&exp)) named(*bad);
  auto ref = ParseRemediationRef(body);
  if (auto* bad = std::get_if<Invalid>(&ref)) {
    named(*bad);
  } else {
    // The same bytes as a stored Remediation: a decision on it never throws.
    Json object;
    try {
      object = Json::parse(std::string(body));
    } catch (const std::exception&) {
      object = Json::object();
    }
    auto patch = DecisionPatch(object, std::get<RemediationRef>(ref), Decision::kApprove, "u");
    if (auto* bad = std::get_if<Invalid>(&patch)) named(*bad);
  }
  (void)BearerToken(std::string(body));
  // The same bytes as a Prometheus answer for the target chart, and as a Remediation.
  std::string error;
  const auto points = ParseRange(std::string(body), &error);
  if (points.size() > 2000) __builtin_trap();
  try {
    (void)QueriesFor(Json::parse(std::string(body)));
  } catch (const std::exception&) {
  }
  return 0;
}
