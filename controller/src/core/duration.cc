#include "core/duration.h"

#include <cmath>
#include <cstdint>

namespace poolguard::controller {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) return std::nullopt;
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(std::string(text.substr(start, i - start)), &used);
      if (used != i - start) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
    double unit_ms = 0;
    if (text.substr(i, 2) == "ms") {
      unit_ms = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit_ms = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit_ms = 60'000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unit_ms = 3'600'000;
      ++i;
    } else {
      return std::nullopt;
    }
    total_ms += value * unit_ms;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  std::string out;
  if (ms >= 3'600'000) {
    out += std::to_string(ms / 3'600'000) + "h";
    ms %= 3'600'000;
  }
  if (ms >= 60'000) {
    out += std::to_string(ms / 60'000) + "m";
    ms %= 60'000;
  }
  if (ms >= 1000 || (out.empty() && ms % 1000 == 0)) {
    out += std::to_string(ms / 1000) + "s";
    ms %= 1000;
  }
  if (ms > 0) out += std::to_string(ms) + "ms";
  return out;
}

}  // namespace poolguard::controller
