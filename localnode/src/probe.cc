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

#include "poolguard/common/http_client.h"
#include "poolguard/common/json_util.h"

namespace poolguard::localnode {

namespace {

int ResolvePort(const Json& port, const Json& container) {
  if (port.is_integer()) return port.as_integer();
  if (port.is_string()) {
    const std::string name = port.as_string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
      return std::stoi(name);
    if (container.has_field("ports") && container.at("ports").is_array()) {
      for (const auto& p : container.at("ports").as_array()) {
        if (json::StringField(p, "name") == name) return json::IntOr(p, "containerPort", 0);
      }
    }
    throw std::invalid_argument("probe names port '" + name +
                                "', which the container does not declare");
  }
  return 0;
}

ProbeOutcome HttpProbe(const ProbeSpec& spec, const std::string& host, int timeout_ms) {
  if (spec.scheme == "HTTPS") {
    // No TLS client here: a TCP connect stands in (documented in docs/localnode.md).
    const http::ConnectOutcome c =
        http::TcpConnect(host, spec.port, std::chrono::milliseconds(timeout_ms));
    if (!c.connected) return {false, c.error};
    return {true, "https probe: connected"};
  }
  http::GetOptions options;
  options.timeout = std::chrono::milliseconds(timeout_ms);
  options.user_agent = "kube-probe/localnode";
  options.headers = spec.headers;
  // The kubelet reads at most 10 KiB of a probe's body; the status is what counts.
  options.max_body_bytes = 10 * 1024;
  options.truncate_body = true;
  const std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  const std::string path =
      spec.path.empty() || spec.path.front() != '/' ? "/" + spec.path : spec.path;
  const http::ClientResponse r =
      http::Get("http://" + authority + ":" + std::to_string(spec.port) + path, options);
  if (r.status == 0) return {false, r.timed_out ? "timeout: " + r.error : r.error};
  return {HttpProbeSuccess(r.status),
          "HTTP probe failed with statuscode: " + std::to_string(r.status)};
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
    if (!json::StringField(h, "path").empty()) s.path = json::StringField(h, "path");
    if (!json::StringField(h, "scheme").empty()) s.scheme = json::StringField(h, "scheme");
    s.host = json::StringField(h, "host");
    if (h.has_field("httpHeaders") && h.at("httpHeaders").is_array()) {
      for (const auto& hd : h.at("httpHeaders").as_array())
        s.headers.emplace_back(json::StringField(hd, "name"), json::StringField(hd, "value"));
    }
  } else if (probe.has_field("tcpSocket")) {
    const Json& t = probe.at("tcpSocket");
    s.kind = ProbeSpec::Kind::kTcpSocket;
    s.port = ResolvePort(t.has_field("port") ? t.at("port") : Json(), container);
    s.host = json::StringField(t, "host");
  } else if (probe.has_field("exec")) {
    s.kind = ProbeSpec::Kind::kExec;
    const Json& c = probe.at("exec");
    if (c.has_field("command") && c.at("command").is_array()) {
      for (const auto& a : c.at("command").as_array()) s.command.push_back(a.as_string());
    }
  } else if (probe.has_field("grpc")) {
    s.kind = ProbeSpec::Kind::kGrpc;  // checked as a TCP connect
    s.port = json::IntOr(probe.at("grpc"), "port", 0);
  } else {
    return std::nullopt;
  }
  s.initial_delay_seconds = json::IntOr(probe, "initialDelaySeconds", 0);
  s.period_seconds = std::max(1, json::IntOr(probe, "periodSeconds", 10));
  s.timeout_seconds = std::max(1, json::IntOr(probe, "timeoutSeconds", 1));
  s.success_threshold = std::max(1, json::IntOr(probe, "successThreshold", 1));
  s.failure_threshold = std::max(1, json::IntOr(probe, "failureThreshold", 3));
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
      const http::ConnectOutcome c =
          http::TcpConnect(host, spec.port, std::chrono::milliseconds(timeout_ms));
      if (!c.connected) return {false, "dial tcp " + c.error};
      return {true, ""};
    }
  }
  return {false, "unknown probe"};
}

}  // namespace poolguard::localnode
