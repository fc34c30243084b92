#pragma once

// Small text helpers for the messages and evidence the controller writes into status.

#include <cstdio>
#include <string>
#include <vector>

namespace poolguard::controller {

/// `parts` separated by `sep`; no separator is written while the result is still empty.
inline std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

/// printf's "%.<decimals>f": FormatFixed(3.14159, 2) == "3.14", FormatFixed(3.7, 0) == "4".
inline std::string FormatFixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// printf's "%.<digits>g": FormatSignificant(0.12345, 3) == "0.123".
inline std::string FormatSignificant(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

}  // namespace poolguard::controller
