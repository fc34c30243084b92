#pragma once

// Small text helpers for the messages and evidence the controller writes into status.

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
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

/// "1 session", "3 sessions".
inline std::string Plural(int n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
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

/// `text` cut to at most `max_bytes` (at least 4), ending in "…" when cut, never inside a
/// UTF-8 sequence: what status keeps of texts that come from outside (server errors, log
/// lines), so that no object nears etcd's size limit.
inline std::string Truncated(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes < 4 ? 0 : max_bytes - 3;  // room for "…" (3 bytes)
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "\xE2\x80\xA6";
}

}  // namespace poolguard::controller
