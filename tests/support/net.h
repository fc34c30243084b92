#pragma once

// Test support: loopback ports for test servers and processes. Header-only, like shell.h.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace poolguard::testing {

/// A TCP port on 127.0.0.1 that nothing listens on right now, drawn from 15000-19999:
/// below the kernel's ephemeral range (32768-60999), where any outgoing connection could
/// take the port before the caller binds it, and apart from scripts/pg's and localcluster's
/// 20000-31999, so a stopped test PostgreSQL never finds its port handed out. Another test process
/// still could, so callers that can retry should. Never the same port twice in one process.
inline int FreePort() {
  static std::mutex mutex;
  static std::mt19937 random{std::random_device{}()};
  static std::set<int> given;
  const std::lock_guard<std::mutex> lock(mutex);
  std::uniform_int_distribution<int> pick(15000, 19999);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int port = pick(random);
    if (given.count(port) != 0) continue;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("FreePort: socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) {
      given.insert(port);
      return port;
    }
  }
  throw std::runtime_error("FreePort: no free port in 127.0.0.1:15000-19999 after 500 tries");
}

}  // namespace poolguard::testing
