// One line of a JSON watch, read by the scanner that never builds a tree.
#include <cstddef>
#include <cstdint>
#include <string>

#include "json_scan.h"
#include "poolguard/kube/errors.h"
#include "watch_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  try {
    (void)poolguard::kube::internal::ParseWatchLine(line, "fuzz");
  } catch (const poolguard::kube::ApiError&) {
  }
  namespace scan = poolguard::kube::json_scan;
  (void)scan::StrAt(line, {"object", "metadata", "name"});
  if (auto member = scan::Member(line, "items")) {
    scan::ForEachElement(*member, [](std::string_view) { return true; });
  }
  std::string decoded;
  (void)scan::DecodeString(line, &decoded);
  return 0;
}
