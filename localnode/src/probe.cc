#include "probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace poolguard::localnode {

namespace {

int IntField(const Json& obj, const std::string& key, int def) {
  if (obj.is_object() && obj.has_field(key) && obj.at(key).is_integer())
    return obj.at(key).as_integer();
  return def;
}

std::string StrField(const Json& obj, const std::string& key) {
  if (obj.is_object() && obj.has_field(key) && obj.at(key).is_string())
    return obj.at(key).as_string();
  return "";
}

int ResolvePort(const Json& port, const Json& container) {
  if (port.is_integer()) return port.as_integer();
  if (port.is_string()) {
    const std::string name = port.as_string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
      return std::stoi(name);
    if (container.has_field("ports") && container.at("ports").is_array()) {
      for (const auto& p : container.at("ports").as_array()) {
        if (StrField(p, "name") == name) return IntField(p, "containerPort", 0);
      }
    }
    throw std::invalid_argument("probe names port '" + name +
                                "', which the container does not declare");
  }
  return 0;
}

// Connects with a timeout; returns the fd or -1 with `error` set.
int ConnectTimeout(const std::string& host, int port, int timeout_ms, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    error = "cannot resolve " + host;
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + strerror(errno);
    close(fd);
    return -1;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
      error = "connect timed out";
      close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      error = std::string("connect: ") + strerror(err);
      close(fd);
      return -1;
    }
  }
  return fd;
}

ProbeOutcome HttpProbe(const ProbeSpec& spec, const std::string& host, int timeout_ms) {
  if (spec.scheme == "HTTPS") {
    // No TLS client here: a TCP connect stands in (documented in docs/localnode.md).
    std::string err;
    int fd = ConnectTimeout(host, spec.port, timeout_ms, err);
    if (fd < 0) return {false, err};
    close(fd);
    return {true, "https probe: connected"};
  }
  std::string err;
  int fd = ConnectTimeout(host, spec.port, timeout_ms, err);
  if (fd < 0) return {false, err};
  std::string req = "GET " + spec.path + " HTTP/1.1\r\nHost: " + host + ":" +
                    std::to_string(spec.port) +
                    "\r\nUser-Agent: kube-probe/localnode\r\nAccept: */*\r\nConnection: close\r\n";
  for (const auto& [k, v] : spec.headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t sent = 0;
  std::string resp;
  while (true) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) {
      close(fd);
      return {false, "timeout after " + std::to_string(timeout_ms) + "ms"};
    }
    pollfd p{fd, static_cast<short>(sent < req.size() ? POLLOUT : POLLIN), 0};
    if (poll(&p, 1, left) != 1) continue;
    if (sent < req.size()) {
      ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    } else {
      char buf[512];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      resp.append(buf, static_cast<size_t>(n));
      if (resp.find("\r\n") != std::string::npos) break;
    }
  }
  close(fd);
  // "HTTP/1.1 200 OK"
  auto sp = resp.find(' ');
  if (resp.rfind("HTTP/", 0) != 0 || sp == std::string::npos) return {false, "no HTTP response"};
  int status = std::atoi(resp.c_str() + sp + 1);
  return {HttpProbeSuccess(status), "HTTP probe failed with statuscode: " + std::to_string(status)};
}

ProbeOutcome ExecProbe(const ProbeSpec& spec, int container_pid,
                       const std::vector<std::string>& env, int timeout_ms) {
  if (spec.command.empty()) return {false, "exec probe without a command"};
  std::vector<char*> argv, envp;
  for (const auto& a : spec.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The container's mount and network namespaces (`localhost` is the pod's own).
  int ns_fd = -1, net_fd = -1;
  if (container_pid > 0) {
    std::string proc = "/proc/" + std::to_string(container_pid) + "/ns/";
    ns_fd = open((proc + "mnt").c_str(), O_RDONLY | O_CLOEXEC);
    net_fd = open((proc + "net").c_str(), O_RDONLY | O_CLOEXEC);
  }
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    setpgid(0, 0);
    if (net_fd >= 0) setns(net_fd, CLONE_NEWNET);
    if (ns_fd >= 0) setns(ns_fd, CLONE_NEWNS);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (ns_fd >= 0) close(ns_fd);
  if (net_fd >= 0) close(net_fd);
  if (pid < 0) return {false, "fork failed"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return {false, "command timed out"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, ""};
  return {false,
          "command exited with " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1)};
}

}  // namespace

std::optional<ProbeSpec> ParseProbe(const Json& probe, const Json& container) {
  if (!probe.is_object()) return std::nullopt;
  ProbeSpec s;
  if (probe.has_field("httpGet")) {
    const Json& h = probe.at("httpGet");
    s.kind = ProbeSpec::Kind::kHttpGet;
    s.port = ResolvePort(h.has_field("port") ? h.at("port") : Json(), container);
    if (!StrField(h, "path").empty()) s.path = StrField(h, "path");
    if (!StrField(h, "scheme").empty()) s.scheme = StrField(h, "scheme");
    s.host = StrField(h, "host");
    if (h.has_field("httpHeaders") && h.at("httpHeaders").is_array()) {
      for (const auto& hd : h.at("httpHeaders").as_array())
        s.headers.emplace_back(StrField(hd, "name"), StrField(hd, "value"));
    }
  } else if (probe.has_field("tcpSocket")) {
    const Json& t = probe.at("tcpSocket");
    s.kind = ProbeSpec::Kind::kTcpSocket;
    s.port = ResolvePort(t.has_field("port") ? t.at("port") : Json(), container);
    s.host = StrField(t, "host");
  } else if (probe.has_field("exec")) {
    s.kind = ProbeSpec::Kind::kExec;
    const Json& c = probe.at("exec");
    if (c.has_field("command") && c.at("command").is_array()) {
      for (const auto& a : c.at("command").as_array()) s.command.push_back(a.as_string());
    }
  } else if (probe.has_field("grpc")) {
    s.kind = ProbeSpec::Kind::kGrpc;  // checked as a TCP connect
    s.port = IntField(probe.at("grpc"), "port", 0);
  } else {
    return std::nullopt;
  }
  s.initial_delay_seconds = IntField(probe, "initialDelaySeconds", 0);
  s.period_seconds = std::max(1, IntField(probe, "periodSeconds", 10));
  s.timeout_seconds = std::max(1, IntField(probe, "timeoutSeconds", 1));
  s.success_threshold = std::max(1, IntField(probe, "successThreshold", 1));
  s.failure_threshold = std::max(1, IntField(probe, "failureThreshold", 3));
  return s;
}

ProbeState::ProbeState(ProbeSpec spec, bool initial) : spec_(std::move(spec)), result_(initial) {}

bool ProbeState::Due(std::chrono::milliseconds since_start) const {
  using std::chrono::seconds;
  if (since_start <
      std::chrono::duration_cast<std::chrono::milliseconds>(seconds(spec_.initial_delay_seconds))) {
    return false;
  }
  if (!last_) return true;
  return since_start - *last_ >=
         std::chrono::duration_cast<std::chrono::milliseconds>(seconds(spec_.period_seconds));
}

void ProbeState::Record(bool success, std::chrono::milliseconds since_start) {
  last_ = since_start;
  if (success) {
    failures_ = 0;
    if (++successes_ >= spec_.success_threshold) result_ = true;
  } else {
    successes_ = 0;
    if (++failures_ >= spec_.failure_threshold) result_ = false;
  }
}

ProbeOutcome RunProbe(const ProbeSpec& spec, const std::string& pod_ip, int container_pid,
                      const std::vector<std::string>& env) {
  int timeout_ms = spec.timeout_seconds * 1000;
  std::string host = spec.host.empty() ? pod_ip : spec.host;
  switch (spec.kind) {
    case ProbeSpec::Kind::kHttpGet:
      return HttpProbe(spec, host, timeout_ms);
    case ProbeSpec::Kind::kExec:
      return ExecProbe(spec, container_pid, env, timeout_ms);
    case ProbeSpec::Kind::kTcpSocket:
    case ProbeSpec::Kind::kGrpc: {
      std::string err;
      int fd = ConnectTimeout(host, spec.port, timeout_ms, err);
      if (fd < 0) return {false, "dial tcp " + host + ":" + std::to_string(spec.port) + ": " + err};
      close(fd);
      return {true, ""};
    }
  }
  return {false, "unknown probe"};
}

}  // namespace poolguard::localnode
