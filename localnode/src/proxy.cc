#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "netns.h"

namespace poolguard::localnode {

struct ServiceProxy::Shared {
  std::mutex mu;
  Table table;
};

struct ServiceProxy::Listener {
  int fd = -1;
  std::atomic<bool> stop{false};
  std::atomic<unsigned> next{0};
  std::thread thread;
};

namespace {

// Connects to the backend from the client's own address when this namespace has it (a
// pod's: the connection keeps its source, as kube-proxy's DNAT keeps it, so a database
// behind a Service sees the pod IP); from whatever the kernel picks otherwise (the host).
int ConnectBackend(const ServiceProxy::Backend& b, const sockaddr_in& client) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (client.sin_family == AF_INET) {
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = client.sin_addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      close(fd);  // a bound-and-failed socket cannot be unbound: start again without
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(b.port));
  inet_pton(AF_INET, b.ip.c_str(), &addr.sin_addr);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = ETIMEDOUT;
    if (poll(&p, 1, 2000) == 1) {
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    rc = err == 0 ? 0 : -1;
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Copies bytes both ways until both directions have ended.
void Pump(int a, int b) {
  bool a_open = true, b_open = true;
  char buf[16384];
  while (a_open || b_open) {
    pollfd p[2] = {{a, static_cast<short>(a_open ? POLLIN : 0), 0},
                   {b, static_cast<short>(b_open ? POLLIN : 0), 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      bool& open = i == 0 ? a_open : b_open;
      if (!open || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(from, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        open = false;
        shutdown(to, SHUT_WR);
        if (n < 0) {
          a_open = b_open = false;
        }
        continue;
      }
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        ssize_t w = send(to, buf + off, static_cast<size_t>(n) - off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
          pollfd wp{to, POLLOUT, 0};
          poll(&wp, 1, 1000);
          continue;
        }
        if (w <= 0) {
          a_open = b_open = false;
          break;
        }
        off += static_cast<size_t>(w);
      }
    }
  }
  close(a);
  close(b);
}

}  // namespace

ServiceProxy::ServiceProxy(int netns_fd)
    : netns_fd_(netns_fd), shared_(std::make_shared<Shared>()) {}
ServiceProxy::~ServiceProxy() { Stop(); }

void ServiceProxy::Update(const Table& table) {
  {
    std::lock_guard lock(shared_->mu);
    shared_->table = table;
  }
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (table.count(it->first) == 0) {
      it->second->stop = true;
      it->second->thread.join();
      close(it->second->fd);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [addr, unused] : table) {
    if (listeners_.count(addr)) continue;
    // A socket stays in the network namespace it was created in.
    int fd = -1, err = 0;
    bool joined = RunInNetns(netns_fd_, [&] {
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(addr.second));
      inet_pton(AF_INET, addr.first.c_str(), &sa.sin_addr);
      if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 128) != 0) {
        err = errno;
        close(fd);
        fd = -1;
      }
    });
    if (!joined) err = errno;
    if (fd < 0) {
      spdlog::warn("proxy: cannot listen on {}:{}: {}", addr.first, addr.second, strerror(err));
      continue;
    }
    auto l = std::make_shared<Listener>();
    l->fd = fd;
    auto shared = shared_;
    ListenAddress key = addr;
    int netns_fd = netns_fd_;
    l->thread = std::thread([l_raw = l.get(), shared, key, netns_fd] {
      // Backend connections are opened by threads this one starts, which inherit its
      // network namespace: pods are reached inside the pod network.
      if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0)
        spdlog::warn("proxy: setns for {}:{}: {}", key.first, key.second, strerror(errno));
      while (!l_raw->stop) {
        pollfd p{l_raw->fd, POLLIN, 0};
        if (poll(&p, 1, 300) != 1) continue;
        sockaddr_in peer{};
        socklen_t peer_len = sizeof peer;
        int client =
            accept4(l_raw->fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
        if (client < 0) continue;
        std::vector<Backend> backends;
        {
          std::lock_guard lock(shared->mu);
          auto it = shared->table.find(key);
          if (it != shared->table.end()) backends = it->second;
        }
        unsigned start = l_raw->next++;
        std::thread([client, backends, start, peer] {
          for (size_t i = 0; i < backends.size(); ++i) {
            int up = ConnectBackend(backends[(start + i) % backends.size()], peer);
            if (up >= 0) {
              Pump(client, up);
              return;
            }
          }
          close(client);  // no ready endpoint: the client sees a closed connection
        }).detach();
      }
    });
    spdlog::info("proxy: listening on {}:{}", addr.first, addr.second);
    listeners_[addr] = l;
  }
}

void ServiceProxy::Stop() {
  for (auto& [addr, l] : listeners_) {
    l->stop = true;
    l->thread.join();
    close(l->fd);
  }
  listeners_.clear();
}

}  // namespace poolguard::localnode
