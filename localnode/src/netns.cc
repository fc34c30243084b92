#include "netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace poolguard::localnode {

namespace {

constexpr const char* kNetnsDir = "/run/netns/";
constexpr const char* kPodSide = "eth0";

// PIDs of the processes whose network namespace is `ns` (same device and inode).
std::vector<pid_t> ProcessesIn(const struct stat& ns) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == getpid()) continue;
    struct stat st {};
    std::string path = "/proc/" + std::string(e->d_name) + "/ns/net";
    if (stat(path.c_str(), &st) == 0 && st.st_dev == ns.st_dev && st.st_ino == ns.st_ino)
      out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

void MustRun(const std::vector<std::string>& argv) {
  std::string out;
  int rc = RunCommand(argv, &out);
  if (rc == 0) return;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  throw std::runtime_error("pod network: `" + cmd + "` failed (exit " + std::to_string(rc) +
                           "): " + out);
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execvp(a[0], a.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && output) output->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool RunInNetns(int netns_fd, const std::function<void()>& fn) {
  int err = 0;
  std::thread([&] {
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) {
      err = errno;
      return;
    }
    fn();
  }).join();
  errno = err;
  return err == 0;
}

std::string PodNetwork::DefaultName(const std::string& pod_network) {
  auto dot = pod_network.rfind('.');
  return "poolguard-" + (dot == std::string::npos ? pod_network : pod_network.substr(dot + 1));
}

PodNetwork::PodNetwork(Config config) : config_(std::move(config)) {
  if (config_.netns.empty()) config_.netns = DefaultName(config_.pod_network);
  // The host-side veth is named like the namespace: at most 15 characters (IFNAMSIZ - 1).
  if (config_.netns.size() > 15 || config_.netns.find('/') != std::string::npos)
    throw std::invalid_argument("network namespace name '" + config_.netns +
                                "' must have at most 15 characters and no '/'");
}

PodNetwork::~PodNetwork() {
  if (fd_ >= 0) close(fd_);
}

void PodNetwork::TearDown(const Config& config) {
  std::string path = kNetnsDir + config.netns;
  struct stat ns {};
  if (stat(path.c_str(), &ns) == 0) {
    // Whatever still runs in it is a container of an earlier run: nothing is adopted.
    for (int round = 0; round < 50; ++round) {
      auto pids = ProcessesIn(ns);
      if (pids.empty()) break;
      if (round == 0)
        spdlog::warn("pod network: killing {} leftover processes in network namespace {}",
                     pids.size(), config.netns);
      for (pid_t p : pids) kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Deleting one end deletes the pair, even while the namespace is still referenced.
  RunCommand({"ip", "link", "del", config.netns});
  if (access(path.c_str(), F_OK) == 0) {
    std::string out;
    if (RunCommand({"ip", "netns", "del", config.netns}, &out) != 0)
      spdlog::warn("pod network: ip netns del {}: {}", config.netns, out);
  }
}

void PodNetwork::TearDown() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  TearDown(config_);
  spdlog::info("pod network: removed network namespace {} and its veth", config_.netns);
}

void PodNetwork::SetUp() {
  TearDown(config_);
  const std::string& ns = config_.netns;
  std::string gw = gateway();
  MustRun({"ip", "netns", "add", ns});
  MustRun({"ip", "link", "add", ns, "type", "veth", "peer", "name", kPodSide, "netns", ns});
  MustRun({"ip", "addr", "add", gw + "/24", "dev", ns});
  MustRun({"ip", "link", "set", ns, "up"});
  // The Service proxy addresses are in the namespace too: reached through the veth.
  MustRun({"ip", "route", "add", config_.service_network + ".0/24", "dev", ns, "src", gw});
  MustRun({"ip", "-n", ns, "link", "set", "lo", "up"});
  MustRun({"ip", "-n", ns, "link", "set", kPodSide, "up"});
  // Linux flushes a device's routes when its last IPv4 address goes; pod addresses come
  // and go, so a permanent one keeps the routes back to the host alive when no pod runs.
  MustRun({"ip", "-n", ns, "addr", "add", anchor() + "/32", "dev", kPodSide});
  MustRun({"ip", "-n", ns, "route", "add", gw + "/32", "dev", kPodSide, "scope", "link"});
  MustRun({"ip", "-n", ns, "route", "add", "default", "via", gw, "dev", kPodSide});
  fd_ = open((kNetnsDir + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    throw std::runtime_error("pod network: cannot open " + std::string(kNetnsDir) + ns + ": " +
                             strerror(errno));
  spdlog::info(
      "pod network: network namespace {}, veth {} (host, {}/24) <-> {} (pods); Service proxy "
      "network {}.0/24",
      ns, ns, gw, kPodSide, config_.service_network);
}

void PodNetwork::AddAddress(const std::string& ip) {
  std::string out;
  if (RunCommand({"ip", "-n", config_.netns, "addr", "add", ip + "/32", "dev", kPodSide}, &out) !=
      0)
    spdlog::warn("pod network: adding {}: {}", ip, out);
}

void PodNetwork::DelAddress(const std::string& ip) {
  RunCommand({"ip", "-n", config_.netns, "addr", "del", ip + "/32", "dev", kPodSide});
}

}  // namespace poolguard::localnode
