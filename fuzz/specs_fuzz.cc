// Objects as the API server hands them to the controller (any JSON a client managed to
// store): both kinds' spec and status readers, and the status codec's round trip.
#include <cpprest/json.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "chaos/types.h"
#include "remediation/spec.h"
#include "remediation/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolguard::controller;
  Json object;
  try {
    object = Json::parse(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception&) {
    return 0;
  }
  const RemediationSpecParse spec = ParseRemediationSpec(object);
  if (!spec.spec && spec.error.empty()) __builtin_trap();  // a refusal names the field
  // What the reconciler writes reads back the same, or it would write on every tick.
  RemediationStatus status = ParseRemediationStatus(object);
  BoundTexts(&status);
  Json stored = Json::object();
  stored["status"] = ToJson(status);
  Json again = Json::object();
  again["status"] = ToJson(ParseRemediationStatus(stored));
  if (again.serialize() != stored.serialize()) __builtin_trap();
  const SpecParse chaos = ParseChaosSpec(object);
  if (!chaos.spec && chaos.error.empty()) __builtin_trap();
  Json chaos_stored = Json::object();
  chaos_stored["status"] = ToJson(ParseChaosStatus(object));
  (void)ParseChaosStatus(chaos_stored);
  return 0;
}
