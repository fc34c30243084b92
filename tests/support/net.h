#pragma once

// Test support: loopback ports for test servers and processes. Header-only, like shell.h.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace poolguard::testing {

/// A TCP port on 127.0.0.1 that nothing listens on right now: the kernel picks one for a
/// socket, which is then closed. Another process may take it before the caller binds it.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("FreePort: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("FreePort: no port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

}  // namespace poolguard::testing
