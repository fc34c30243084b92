// The target's POST /items body: every input is an item or a message naming the problem.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "items.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parsed =
      poolguard::target::ParseNewItem(std::string_view(reinterpret_cast<const char*>(data), size));
  if (const auto* error = std::get_if<std::string>(&parsed); error != nullptr && error->empty()) {
    __builtin_trap();
  }
  return 0;
}
