// The target's .env parser (python-dotenv's rules): malformed input throws
// std::invalid_argument naming the line; nothing else may happen.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "poolguard/common/dotenv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    poolguard::dotenv::Parse(std::string_view(reinterpret_cast<const char*>(data), size),
                             [](const std::string& name) -> std::optional<std::string> {
                               if (name == "HOME") return std::string("/home/x");
                               return std::nullopt;
                             });
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
