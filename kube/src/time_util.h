#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace poolguard::kube::time_util {

/// RFC 3339 in UTC; with `micros` the metav1.MicroTime form ("...T10:00:00.123456Z"), else
/// metav1.Time ("...T10:00:00Z").
inline std::string Rfc3339(std::chrono::system_clock::time_point t, bool micros) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micros) {
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  return out + "Z";
}

}  // namespace poolguard::kube::time_util
