#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace poolguard::kube::file_util {

/// The most ReadFile reads: kubeconfigs, certificates, keys and tokens are kilobytes; a
/// path naming a device or a huge file fails instead of hanging or filling memory.
inline constexpr std::size_t kMaxFileBytes = 4 << 20;

/// Reads a whole file of at most kMaxFileBytes; on failure fills `err` with the reason and
/// returns false.
inline bool ReadFile(const std::string& path, std::string* out, std::string* err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = std::strerror(errno);
    return false;
  }
  out->clear();
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    out->append(buffer, static_cast<std::size_t>(in.gcount()));
    if (out->size() > kMaxFileBytes) {
      *err = "larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
      out->clear();
      return false;
    }
  }
  if (in.bad()) {
    *err = std::strerror(errno);
    return false;
  }
  return true;
}

inline std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// Standard base64 with padding; whitespace is ignored. False on any other junk.
inline bool Base64Decode(const std::string& in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  unsigned buf = 0;
  int bits = 0;
  int pad = 0;
  size_t n = 0;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      ++n;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    int v = val(c);
    if (v < 0) return false;
    ++n;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return n % 4 == 0 && pad <= 2;
}

}  // namespace poolguard::kube::file_util
