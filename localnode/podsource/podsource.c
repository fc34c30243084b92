// libpoolguard-podsource.so: preloaded into every container the local node starts
// (LD_PRELOAD), so that a pod's outgoing TCP connections carry its pod IP as source
// address, as they do on kind or any CNI. The local node's pods share one network
// namespace, where the kernel would otherwise pick one address for all of them, and
// PostgreSQL's pg_stat_activity.client_addr could not tell pods apart.
//
// connect() on an IPv4 (or IPv4-mapped IPv6) stream socket that is not bound yet binds it
// to LOCALNODE_POD_IP first (the port is still chosen at connect, IP_BIND_ADDRESS_NO_PORT),
// then connects as asked. Loopback destinations, sockets the program bound itself, and
// any failure to bind are left alone: the connection is made as without the library.
// Statically linked programs (Go's, for one) do not load it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);

static connect_fn real_connect;
static struct in_addr pod_ip;
static int enabled;

// ISO C has no cast from dlsym's object pointer to a function pointer; POSIX blesses this.
static connect_fn next_connect(void) {
  connect_fn f;
  void* p = dlsym(RTLD_NEXT, "connect");
  memcpy(&f, &p, sizeof f);
  return f;
}

__attribute__((constructor)) static void podsource_init(void) {
  real_connect = next_connect();
  const char* ip = getenv("LOCALNODE_POD_IP");
  enabled = ip != NULL && inet_pton(AF_INET, ip, &pod_ip) == 1;
}

static int is_loopback_or_any(uint32_t host_order) {
  return (host_order >> 24) == 127 || host_order == 0;
}

// Binds fd to the pod IP when it is an unbound stream socket of `family`.
static void bind_pod_ip(int fd, int family) {
  int type = 0;
  socklen_t type_len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM) return;
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  memset(&local, 0, sizeof local);
  if (getsockname(fd, (struct sockaddr*)&local, &local_len) != 0) return;
  int one = 1;
  if (family == AF_INET) {
    const struct sockaddr_in* l = (const struct sockaddr_in*)&local;
    if (l->sin_family != AF_INET || l->sin_port != 0 || l->sin_addr.s_addr != htonl(INADDR_ANY))
      return;
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr = pod_ip;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    (void)bind(fd, (const struct sockaddr*)&src, sizeof src);
  } else {
    const struct sockaddr_in6* l = (const struct sockaddr_in6*)&local;
    if (l->sin6_family != AF_INET6 || l->sin6_port != 0 || !IN6_IS_ADDR_UNSPECIFIED(&l->sin6_addr))
      return;
    struct sockaddr_in6 src;
    memset(&src, 0, sizeof src);
    src.sin6_family = AF_INET6;
    src.sin6_addr.s6_addr[10] = 0xff;
    src.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&src.sin6_addr.s6_addr[12], &pod_ip, 4);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    (void)bind(fd, (const struct sockaddr*)&src, sizeof src);
  }
}

// glibc (with _GNU_SOURCE, needed for RTLD_NEXT) declares connect with a transparent union
// of sockaddr pointers; the definition must match it.
int connect(int fd, __CONST_SOCKADDR_ARG arg, socklen_t len) {
  const struct sockaddr* addr = arg.__sockaddr__;
  if (real_connect == NULL) real_connect = next_connect();
  if (real_connect == NULL) {
    errno = ENOSYS;
    return -1;
  }
  if (enabled && addr != NULL) {
    const int saved = errno;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
      const struct sockaddr_in* dst = (const struct sockaddr_in*)addr;
      if (!is_loopback_or_any(ntohl(dst->sin_addr.s_addr))) bind_pod_ip(fd, AF_INET);
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
      const struct sockaddr_in6* dst = (const struct sockaddr_in6*)addr;
      if (IN6_IS_ADDR_V4MAPPED(&dst->sin6_addr)) {
        uint32_t v4;
        memcpy(&v4, &dst->sin6_addr.s6_addr[12], 4);
        if (!is_loopback_or_any(ntohl(v4))) bind_pod_ip(fd, AF_INET6);
      }
    }
    errno = saved;
  }
  return real_connect(fd, arg, len);
}
