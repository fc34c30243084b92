#pragma once

// Test support shared by the suites that drive real processes (scripts/pg, kubectl):
// header-only, so each test executable just adds tests/support to its include path.

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace poolguard::testing {

/// Runs `command` through /bin/sh with stderr joined to stdout; returns the output, or
/// throws with the command and its output when it exits non-zero.
inline std::string Run(const std::string& command) {
  std::array<char, 4096> buffer{};
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  if (pclose(pipe) != 0) throw std::runtime_error("command failed: " + command + "\n" + output);
  return output;
}

}  // namespace poolguard::testing
