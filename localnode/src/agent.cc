#include "agent.h"

#include <cpprest/asyncrt_utils.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "env.h"
#include "images.h"
#include "kubelet_server.h"
#include "netns.h"
#include "poolguard/common/json_util.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/config.h"
#include "poolguard/kube/errors.h"
#include "poolguard/kube/informer.h"
#include "probe.h"
#include "proxy.h"

namespace poolguard::localnode {

namespace fs = std::filesystem;
using kube::Json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// "2026-11-27T06:23:54.123456789Z": the kubelet's log timestamp (RFC 3339, nanoseconds).
std::string LogTimestamp(std::chrono::system_clock::time_point t) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1'000'000'000));
  return buf;
}

// Copies a container's output from `in` to the log file `out`, one "<timestamp> <line>"
// per line, until every writer of the pipe has gone; then closes both.
void StartLogCopier(int in, int out) {
  std::thread([in, out] {
    std::string pending;
    char buf[65536];
    auto write_all = [out](const std::string& text) {
      size_t done = 0;
      while (done < text.size()) {
        const ssize_t n = write(out, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<size_t>(n);
      }
    };
    while (true) {
      const ssize_t n = read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      const std::string stamp = LogTimestamp(std::chrono::system_clock::now());
      std::string lines;
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        lines += stamp + " " + pending.substr(start, nl + 1 - start);
      }
      pending.erase(0, start);
      if (pending.size() > 16384) {  // a very long line without a newline: split it
        lines += stamp + " " + pending + "\n";
        pending.clear();
      }
      if (!lines.empty()) write_all(lines);
    }
    if (!pending.empty()) {
      write_all(LogTimestamp(std::chrono::system_clock::now()) + " " + pending + "\n");
    }
    close(in);
    close(out);
  }).detach();
}

const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string Now(bool micro = false) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (micro) {
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
        1000000;
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    s += frac;
  }
  return s + "Z";
}

Json Obj(std::initializer_list<std::pair<std::string, Json>> fields) {
  Json o = Json::object();
  for (const auto& [k, v] : fields) o[k] = v;
  return o;
}
Json S(const std::string& s) { return Json::string(s); }

int RunQuiet(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Files of Secrets and service-account tokens: the owner's alone. Pods here share one
// filesystem, so what a kubelet keeps in a pod's own tmpfs must not be readable by every
// local user; the containers that read them run as root.
constexpr fs::perms kSecretFile = fs::perms(0600);
constexpr fs::perms kSecretDir = fs::perms(0700);

void WriteFile(const fs::path& path, const std::string& content, bool in_place = false,
               fs::perms mode = fs::perms(0644)) {
  if (in_place) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    return;
  }
  fs::path tmp = path;
  tmp += ".tmp";
  {
    // Created with the final mode, so a secret is never readable even for a moment.
    const int fd =
        open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) throw std::runtime_error("cannot write " + tmp.string() + ": " + strerror(errno));
    close(fd);
    fs::permissions(tmp, mode);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Field 22 of /proc/PID/stat: start time in clock ticks, to tell a reused PID apart.
std::string ProcStartTime(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto rp = stat.rfind(')');
  if (rp == std::string::npos) return "";
  std::istringstream ss(stat.substr(rp + 2));
  std::string field;
  for (int i = 3; i <= 22 && ss >> field; ++i) {
  }
  return field;
}

std::string DecodeBase64(const std::string& s) {
  auto bytes = utility::conversions::from_base64(s);
  return std::string(bytes.begin(), bytes.end());
}

std::string LookPath(const std::string& file, const EnvList& env) {
  if (file.find('/') != std::string::npos) return file;
  std::string path = env.Get("PATH").value_or(kDefaultPath);
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    fs::path p = fs::path(dir.empty() ? "." : dir) / file;
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return file;
}

struct ProbeRun {
  std::mutex mu;
  ProbeState state;
  std::string message;
  std::atomic<bool> stop{false};
  ProbeRun(ProbeSpec spec, bool initial) : state(std::move(spec), initial) {}
  bool Result() {
    std::lock_guard lock(mu);
    return state.result();
  }
};

// Probes one container in a thread of its own (a probe may block for its timeout).
std::shared_ptr<ProbeRun> StartProber(const std::optional<ProbeSpec>& spec, bool initial,
                                      std::string pod_ip, int pid, std::vector<std::string> env,
                                      std::string what, std::shared_ptr<ProbeRun> gate) {
  if (!spec) return nullptr;
  auto run = std::make_shared<ProbeRun>(*spec, initial);
  std::thread([run, pod_ip, pid, env, what, gate] {
    auto start = SteadyClock::now();
    while (!run->stop) {
      std::this_thread::sleep_for(100ms);
      if (gate && !gate->Result()) continue;  // liveness/readiness wait for the startup probe
      auto since =
          std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
      ProbeSpec s;
      {
        std::lock_guard lock(run->mu);
        if (!run->state.Due(since)) continue;
        s = run->state.spec();
      }
      auto outcome = RunProbe(s, pod_ip, pid, env);
      if (run->stop) break;
      std::lock_guard lock(run->mu);
      bool before = run->state.result();
      run->state.Record(outcome.success, since);
      run->message = outcome.message;
      if (before != run->state.result()) {
        spdlog::info("{}: {} ({})", what, run->state.result() ? "succeeded" : "failed",
                     outcome.message);
      }
    }
  }).detach();
  return run;
}

void StopProber(std::shared_ptr<ProbeRun>& run) {
  if (run) run->stop = true;
  run.reset();
}

struct ContainerRt {
  Json spec;
  std::string name, image;
  enum class State { kWaiting, kRunning, kTerminated } state = State::kWaiting;
  std::string waiting_reason = "ContainerCreating", waiting_message;
  pid_t pid = 0;
  std::string started_at;
  SteadyClock::time_point started_tp{};
  int restart_count = 0;
  bool has_run = false;
  int crash_streak = 0;
  SteadyClock::time_point next_start{};
  Json last_terminated = Json::null();
  Json terminated = Json::null();
  bool stopping = false;
  SteadyClock::time_point kill_deadline{};
  std::shared_ptr<ProbeRun> readiness, liveness, startup;
  std::string log_file;
  std::string exec_path;
};

struct PodRt {
  std::string uid, ns, name, ip, hostname, subdomain;
  Json pod;
  fs::path dir;
  std::vector<ContainerRt> containers;
  bool terminating = false;
  SteadyClock::time_point term_deadline{};
  std::string start_time;
  std::map<std::string, std::pair<std::string, std::string>> conditions;  // type → status, time
  std::string last_status;
  SteadyClock::time_point next_status_try{};
  bool volumes_ready = false;
  std::string volume_error;
  SteadyClock::time_point volumes_refresh{};
  std::string hosts;
  std::string restart_policy = "Always";
};

}  // namespace

class Agent::Impl {
 public:
  explicit Impl(AgentOptions options) : opt_(std::move(options)) {}
  ~Impl() {
    // Run() failed before its shutdown: leave no namespace behind.
    if (net_ && net_->fd() >= 0) net_->TearDown();
  }

  void Run(const std::atomic<bool>& stop) {
    fs::create_directories(opt_.state_dir);
    fs::permissions(opt_.state_dir, fs::perms(0755));
    CleanStale();
    net_ = std::make_unique<PodNetwork>(
        PodNetwork::Config{opt_.netns, opt_.pod_network, opt_.service_network});
    net_->SetUp();
    proxy_.SetNetns(net_->fd());
    std::map<std::string, std::string> vars = {
        {"REPO", opt_.source_dir},
        {"BUILD", opt_.build_dir},
        {"IMAGES", (fs::path(opt_.images_file).parent_path() / "images").string()}};
    images_ = ImageTable::LoadFile(opt_.images_file, vars);
    spdlog::info("image table {}: {} entries", opt_.images_file, images_.entries().size());

    auto config = kube::LoadKubeconfigFile(opt_.kubeconfig);
    client_ = kube::Client::Create(config);
    ParseServer(config.server);

    if (!opt_.tls_cert_file.empty()) {
      KubeletServer::Options ko;
      ko.port = opt_.kubelet_port;
      ko.cert_file = opt_.tls_cert_file;
      ko.key_file = opt_.tls_key_file;
      ko.client_ca_file = opt_.client_ca_file;
      kubelet_ = std::make_unique<KubeletServer>(
          ko,
          [this](const std::string& ns, const std::string& pod,
                 const std::string& c) -> std::optional<std::string> {
            std::lock_guard lock(logs_mu_);
            auto it = logs_.find(ns + "/" + pod + "/" + c);
            if (it == logs_.end()) return std::nullopt;
            return it->second;
          });
      kubelet_->Start();
      spdlog::info("kubelet port: https://127.0.0.1:{}", opt_.kubelet_port);
    }

    RegisterNode();
    auto wake = [this] {
      std::lock_guard lock(wake_mu_);
      woken_ = true;
      wake_cv_.notify_one();
    };
    kube::EventHandler h{[wake](const Json&) { wake(); },
                         [wake](const Json&, const Json&) { wake(); },
                         [wake](const Json&) { wake(); }};
    pods_ = std::make_unique<kube::Informer>(client_->Resource({"", "v1", "pods"}));
    services_ = std::make_unique<kube::Informer>(client_->Resource({"", "v1", "services"}));
    slices_ = std::make_unique<kube::Informer>(
        client_->Resource({"discovery.k8s.io", "v1", "endpointslices"}));
    for (auto* inf : {pods_.get(), services_.get(), slices_.get()}) {
      inf->AddEventHandler(h);
      inf->Run();
    }
    for (auto* inf : {pods_.get(), services_.get(), slices_.get()}) inf->WaitForSync(30s);
    spdlog::info("node {} registered; informers synced; running", opt_.node_name);

    auto last_lease = SteadyClock::time_point{};
    auto last_node = SteadyClock::now();
    while (!stop) {
      try {
        if (SteadyClock::now() - last_lease > 10s) {
          RenewLease();
          last_lease = SteadyClock::now();
        }
        if (SteadyClock::now() - last_node > 60s) {
          UpdateNodeStatus();
          last_node = SteadyClock::now();
        }
        SyncOnce();
      } catch (const std::exception& e) {
        spdlog::warn("sync: {}", e.what());
      }
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, 200ms, [this] { return woken_; });
      woken_ = false;
    }
    Shutdown();
  }

 private:
  // ---------------------------------------------------------------- node & lease
  void ParseServer(const std::string& server) {
    // https://host:port
    std::string s = server;
    auto p = s.find("://");
    if (p != std::string::npos) s = s.substr(p + 3);
    auto slash = s.find('/');
    if (slash != std::string::npos) s = s.substr(0, slash);
    auto colon = s.rfind(':');
    api_host_ = colon == std::string::npos ? s : s.substr(0, colon);
    api_port_ = colon == std::string::npos ? "443" : s.substr(colon + 1);
    // Inside the pod network 127.0.0.1 is the namespace's own loopback: pods reach an API
    // server on the host's loopback at the gateway (it must listen there too).
    bool loopback = api_host_ == "localhost" || api_host_.rfind("127.", 0) == 0;
    pod_api_host_ = loopback ? net_->gateway() : api_host_;
    spdlog::info("pods reach the API server at {}:{}", pod_api_host_, api_port_);
  }

  Json NodeStatus() {
    long mem_kb = 0;
    std::ifstream mi("/proc/meminfo");
    std::string key;
    while (mi >> key) {
      if (key == "MemTotal:") {
        mi >> mem_kb;
        break;
      }
    }
    Json res = Obj({{"cpu", S(std::to_string(std::thread::hardware_concurrency()))},
                    {"memory", S(std::to_string(mem_kb) + "Ki")},
                    {"pods", S("110")},
                    {"ephemeral-storage", S("10Gi")}});
    Json cond = Obj({{"type", S("Ready")},
                     {"status", S("True")},
                     {"reason", S("KubeletReady")},
                     {"message", S("localnode is posting ready status")},
                     {"lastHeartbeatTime", S(Now())},
                     {"lastTransitionTime", S(node_ready_since_)}});
    Json conds = Json::array();
    conds[0] = cond;
    Json addrs = Json::array();
    addrs[0] = Obj({{"type", S("InternalIP")}, {"address", S("127.0.0.1")}});
    Json info = Obj({{"machineID", S("localnode")},
                     {"systemUUID", S("localnode")},
                     {"bootID", S(boot_id_)},
                     {"kernelVersion", S("linux")},
                     {"osImage", S("localnode (processes on the host)")},
                     {"containerRuntimeVersion", S("localnode://0.1")},
                     {"kubeletVersion", S(POOLGUARD_KUBERNETES_VERSION "-localnode")},
                     {"kubeProxyVersion", S(POOLGUARD_KUBERNETES_VERSION "-localnode")},
                     {"operatingSystem", S("linux")},
                     {"architecture", S("amd64")}});
    return Obj({{"capacity", res},
                {"allocatable", res},
                {"conditions", conds},
                {"addresses", addrs},
                {"daemonEndpoints",
                 Obj({{"kubeletEndpoint", Obj({{"Port", Json::number(opt_.kubelet_port)}})}})},
                {"nodeInfo", info}});
  }

  void RegisterNode() {
    node_ready_since_ = Now();
    boot_id_ = ReadFile("/proc/sys/kernel/random/boot_id");
    while (!boot_id_.empty() && boot_id_.back() == '\n') boot_id_.pop_back();
    auto nodes = client_->Resource({"", "v1", "nodes", false});
    try {
      nodes.Get(opt_.node_name);
    } catch (const kube::ApiError& e) {
      if (!kube::IsNotFound(e)) throw;
      Json labels = Obj({{"kubernetes.io/hostname", S(opt_.node_name)},
                         {"kubernetes.io/os", S("linux")},
                         {"kubernetes.io/arch", S("amd64")}});
      nodes.Create(Obj({{"apiVersion", S("v1")},
                        {"kind", S("Node")},
                        {"metadata", Obj({{"name", S(opt_.node_name)}, {"labels", labels}})},
                        {"spec", Json::object()}}));
      spdlog::info("created Node {}", opt_.node_name);
    }
    UpdateNodeStatus();
    RenewLease();
  }

  void UpdateNodeStatus() {
    client_->Resource({"", "v1", "nodes", false})
        .Patch(opt_.node_name, kube::PatchType::kMerge, Obj({{"status", NodeStatus()}}), {},
               "status");
  }

  void RenewLease() {
    auto leases = client_->Resource({"coordination.k8s.io", "v1", "leases"}, "kube-node-lease");
    Json spec = Obj({{"holderIdentity", S(opt_.node_name)},
                     {"leaseDurationSeconds", Json::number(40)},
                     {"renewTime", S(Now(true))}});
    try {
      leases.Patch(opt_.node_name, kube::PatchType::kMerge, Obj({{"spec", spec}}));
    } catch (const kube::ApiError& e) {
      if (!kube::IsNotFound(e)) throw;
      leases.Create(Obj(
          {{"apiVersion", S("coordination.k8s.io/v1")},
           {"kind", S("Lease")},
           {"metadata", Obj({{"name", S(opt_.node_name)}, {"namespace", S("kube-node-lease")}})},
           {"spec", spec}}));
    }
  }

  // ---------------------------------------------------------------- addresses & stale state
  // Pod and Service proxy addresses live in the pod network's namespace.
  void AddAddress(const std::string& ip) {
    if (addrs_.count(ip)) return;
    net_->AddAddress(ip);
    addrs_.insert(ip);
  }
  void DelAddress(const std::string& ip) {
    if (!addrs_.erase(ip)) return;
    net_->DelAddress(ip);
  }

  void SaveState() {
    std::string procs;
    for (const auto& [uid, pod] : pods_rt_) {
      for (const auto& c : pod.containers) {
        if (c.pid > 0) procs += std::to_string(c.pid) + " " + ProcStartTime(c.pid) + "\n";
      }
    }
    WriteFile(fs::path(opt_.state_dir) / "procs", procs);
  }

  // Kills what an earlier run recorded (process groups whose leader still has the
  // recorded start time); PodNetwork::SetUp then kills whatever still runs in the pod
  // network's namespace and recreates it: nothing stale is adopted.
  void CleanStale() {
    std::istringstream procs(ReadFile(fs::path(opt_.state_dir) / "procs"));
    pid_t pid;
    std::string start;
    while (procs >> pid >> start) {
      if (pid > 1 && ProcStartTime(pid) == start) {
        spdlog::warn("killing leftover process group {} from an earlier run", pid);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
      }
    }
    // Agents before the pod network namespace put pod addresses on the host's lo and
    // recorded them here.
    fs::path legacy = fs::path(opt_.state_dir) / "addrs";
    std::istringstream addrs(ReadFile(legacy));
    std::string ip;
    while (addrs >> ip) RunQuiet({"ip", "addr", "del", ip + "/32", "dev", "lo"});
    std::error_code ec;
    fs::remove(legacy, ec);
    SaveState();
  }

  std::string AllocateIp() {
    std::set<std::string> used;
    for (const auto& [uid, p] : pods_rt_) used.insert(p.ip);
    for (int i = 2; i < 254; ++i) {  // .1 is the gateway, .254 the namespace's anchor
      std::string ip = opt_.pod_network + "." + std::to_string(i);
      if (!used.count(ip)) return ip;
    }
    throw std::runtime_error("no free pod address in " + opt_.pod_network + ".0/24");
  }

  // ---------------------------------------------------------------- main sync
  void SyncOnce() {
    auto all = pods_->List();
    std::set<std::string> seen;
    for (const auto& pod : all) {
      const Json& spec = json::At(pod, "spec");
      const Json& meta = json::At(pod, "metadata");
      std::string node = json::StringField(spec, "nodeName");
      if (node.empty()) {
        MaybeBind(pod);
        continue;
      }
      if (node != opt_.node_name) continue;
      std::string uid = json::StringField(meta, "uid");
      std::string phase = json::StringField(json::At(pod, "status"), "phase");
      if (!pods_rt_.count(uid)) {
        if (phase == "Succeeded" || phase == "Failed") {
          if (meta.has_field("deletionTimestamp")) DeletePod(pod);
          continue;
        }
        CreateRuntime(pod);
      }
      seen.insert(uid);
      pods_rt_[uid].pod = pod;
    }
    // Pods gone from the API (force-deleted): stop at once.
    for (auto& [uid, rt] : pods_rt_) {
      if (!seen.count(uid) && !rt.terminating) {
        spdlog::info("pod {}/{} is gone from the API; stopping its containers", rt.ns, rt.name);
        BeginTermination(rt, 0);
      }
    }
    UpdateServices();
    std::vector<std::string> finished;
    for (auto& [uid, rt] : pods_rt_) {
      if (SyncPod(rt, seen.count(uid) > 0)) finished.push_back(uid);
    }
    for (const auto& uid : finished) FinishPod(uid);
    UpdateLogIndex();
  }

  void MaybeBind(const Json& pod) {
    const Json& meta = json::At(pod, "metadata");
    std::string sched = json::StringField(json::At(pod, "spec"), "schedulerName");
    if (!sched.empty() && sched != "default-scheduler") return;
    if (meta.has_field("deletionTimestamp")) return;
    std::string uid = json::StringField(meta, "uid");
    auto now = SteadyClock::now();
    auto it = bind_tried_.find(uid);
    if (it != bind_tried_.end() && now - it->second < 5s) return;
    bind_tried_[uid] = now;
    Json binding =
        Obj({{"apiVersion", S("v1")},
             {"kind", S("Binding")},
             {"metadata", Obj({{"name", S(json::StringField(meta, "name"))}, {"uid", S(uid)}})},
             {"target",
              Obj({{"apiVersion", S("v1")}, {"kind", S("Node")}, {"name", S(opt_.node_name)}})}});
    try {
      client_->Do("POST",
                  "/api/v1/namespaces/" + json::StringField(meta, "namespace") + "/pods/" +
                      json::StringField(meta, "name") + "/binding",
                  {}, binding.serialize());
      spdlog::info("bound pod {}/{} to {}", json::StringField(meta, "namespace"),
                   json::StringField(meta, "name"), opt_.node_name);
    } catch (const std::exception& e) {
      spdlog::warn("binding {}/{}: {}", json::StringField(meta, "namespace"),
                   json::StringField(meta, "name"), e.what());
    }
  }

  void CreateRuntime(const Json& pod) {
    const Json& meta = json::At(pod, "metadata");
    const Json& spec = json::At(pod, "spec");
    PodRt rt;
    rt.uid = json::StringField(meta, "uid");
    rt.ns = json::StringField(meta, "namespace");
    rt.name = json::StringField(meta, "name");
    rt.pod = pod;
    rt.hostname =
        json::StringField(spec, "hostname").empty() ? rt.name : json::StringField(spec, "hostname");
    rt.subdomain = json::StringField(spec, "subdomain");
    if (!json::StringField(spec, "restartPolicy").empty())
      rt.restart_policy = json::StringField(spec, "restartPolicy");
    rt.ip = AllocateIp();
    rt.dir = fs::path(opt_.state_dir) / "pods" / rt.uid;
    fs::create_directories(rt.dir / "logs");
    fs::create_directories(rt.dir / "volumes");
    rt.start_time = Now();
    std::map<std::string, int> prev_restarts;
    const Json& prev = json::At(json::At(pod, "status"), "containerStatuses");
    if (prev.is_array()) {
      for (const auto& cs : prev.as_array())
        prev_restarts[json::StringField(cs, "name")] = json::IntOr(cs, "restartCount", 0);
    }
    const Json& cs = json::At(spec, "containers");
    if (cs.is_array()) {
      for (const auto& c : cs.as_array()) {
        ContainerRt crt;
        crt.spec = c;
        crt.name = json::StringField(c, "name");
        crt.image = json::StringField(c, "image");
        crt.log_file = (rt.dir / "logs" / (crt.name + ".log")).string();
        if (prev_restarts.count(crt.name)) {
          crt.restart_count = prev_restarts[crt.name];
          crt.has_run = true;
        }
        rt.containers.push_back(std::move(crt));
      }
    }
    AddAddress(rt.ip);
    spdlog::info("pod {}/{} ({}): address {}", rt.ns, rt.name, rt.uid, rt.ip);
    pods_rt_[rt.uid] = std::move(rt);
  }

  // Returns true when the pod's runtime is finished and can be removed.
  bool SyncPod(PodRt& rt, bool in_api) {
    auto now = SteadyClock::now();
    Reap(rt);
    const Json& meta = json::At(rt.pod, "metadata");
    if (in_api && meta.has_field("deletionTimestamp") && !rt.terminating) {
      int grace =
          json::IntOr(meta, "deletionGracePeriodSeconds",
                      json::IntOr(json::At(rt.pod, "spec"), "terminationGracePeriodSeconds", 30));
      BeginTermination(rt, grace);
    }
    if (rt.terminating) {
      bool any = false;
      for (auto& c : rt.containers) any = any || c.pid > 0;
      if (any && now < rt.term_deadline) return false;
      for (auto& c : rt.containers) KillNow(c);
      if (in_api) {
        PatchStatus(rt, true);
        DeletePod(rt.pod);
      }
      return true;
    }
    if (!rt.volumes_ready || now > rt.volumes_refresh) {
      try {
        SetUpVolumes(rt);
        rt.volumes_ready = true;
        rt.volume_error.clear();
        rt.volumes_refresh = now + 10min;
      } catch (const std::exception& e) {
        if (rt.volume_error != e.what())
          spdlog::warn("pod {}/{}: volumes: {}", rt.ns, rt.name, e.what());
        rt.volume_error = e.what();
        rt.volumes_refresh = now + 2s;
      }
    }
    WriteHosts(rt);
    for (auto& c : rt.containers) {
      if (c.state == ContainerRt::State::kRunning) {
        if (c.stopping) {
          if (now >= c.kill_deadline) KillNow(c);
          continue;
        }
        if (c.liveness && !c.liveness->Result()) {
          spdlog::info("pod {}/{}: container {} failed its liveness probe; restarting it", rt.ns,
                       rt.name, c.name);
          StopContainer(c,
                        json::IntOr(json::At(rt.pod, "spec"), "terminationGracePeriodSeconds", 30));
        }
      } else if (c.state == ContainerRt::State::kWaiting && now >= c.next_start) {
        if (!rt.volumes_ready) {
          c.waiting_reason = "CreateContainerConfigError";
          c.waiting_message = rt.volume_error;
          continue;
        }
        StartContainer(rt, c);
      }
    }
    PatchStatus(rt, false);
    return false;
  }

  void BeginTermination(PodRt& rt, int grace) {
    rt.terminating = true;
    rt.term_deadline = SteadyClock::now() + std::chrono::seconds(grace);
    spdlog::info("pod {}/{}: terminating (grace {}s)", rt.ns, rt.name, grace);
    for (auto& c : rt.containers) {
      StopProber(c.readiness);
      StopProber(c.liveness);
      StopProber(c.startup);
      if (c.pid > 0) kill(c.pid, SIGTERM);
    }
  }

  void StopContainer(ContainerRt& c, int grace) {
    if (c.pid <= 0) return;
    c.stopping = true;
    c.kill_deadline = SteadyClock::now() + std::chrono::seconds(grace);
    kill(c.pid, SIGTERM);
  }

  void KillNow(ContainerRt& c) {
    if (c.pid <= 0) return;
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    int status = 0;
    waitpid(c.pid, &status, 0);
    OnExit(c, status);
  }

  void Reap(PodRt& rt) {
    for (auto& c : rt.containers) {
      if (c.pid <= 0) continue;
      int status = 0;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        spdlog::info("pod {}/{}: container {} (pid {}) exited: {}", rt.ns, rt.name, c.name, c.pid,
                     WIFEXITED(status) ? "code " + std::to_string(WEXITSTATUS(status))
                                       : "signal " + std::to_string(WTERMSIG(status)));
        OnExit(c, status);
        if (rt.terminating) continue;
        bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        bool restart =
            rt.restart_policy == "Always" || (rt.restart_policy == "OnFailure" && failed);
        if (!restart) {
          c.state = ContainerRt::State::kTerminated;
          c.terminated = c.last_terminated;
          c.last_terminated = Json::null();
          continue;
        }
        if (SteadyClock::now() - c.started_tp > 10min) c.crash_streak = 0;
        int delay = 0;
        if (c.crash_streak > 0) {
          delay = opt_.backoff_base_seconds << std::min(c.crash_streak - 1, 10);
          delay = std::min(delay, opt_.backoff_max_seconds);
        }
        ++c.crash_streak;
        c.next_start = SteadyClock::now() + std::chrono::seconds(delay);
        c.waiting_reason = delay > 0 ? "CrashLoopBackOff" : "ContainerCreating";
        c.waiting_message = delay > 0 ? "back-off " + std::to_string(delay) +
                                            "s restarting failed container=" + c.name +
                                            " pod=" + rt.name + "_" + rt.ns + "(" + rt.uid + ")"
                                      : "";
      }
    }
  }

  void OnExit(ContainerRt& c, int status) {
    kill(-c.pid, SIGKILL);  // whatever the container left in its process group
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    Json t = Obj({{"exitCode", Json::number(code)},
                  {"reason", S(code == 0 ? "Completed" : "Error")},
                  {"startedAt", S(c.started_at)},
                  {"finishedAt", S(Now())},
                  {"containerID", S("localnode://" + std::to_string(c.pid))}});
    if (WIFSIGNALED(status)) t["signal"] = Json::number(WTERMSIG(status));
    c.last_terminated = t;
    c.pid = 0;
    c.stopping = false;
    c.state = ContainerRt::State::kWaiting;
    StopProber(c.readiness);
    StopProber(c.liveness);
    StopProber(c.startup);
    SaveState();
  }

  // ---------------------------------------------------------------- containers
  std::optional<std::map<std::string, std::string>> LoadData(bool secret, const std::string& ns,
                                                             const std::string& name) {
    try {
      Json obj = client_->Resource({"", "v1", secret ? "secrets" : "configmaps"}, ns).Get(name);
      std::map<std::string, std::string> out;
      const Json& data = json::At(obj, "data");
      if (data.is_object()) {
        for (const auto& [k, v] : data.as_object())
          out[k] = secret ? DecodeBase64(v.as_string()) : v.as_string();
      }
      const Json& bin = json::At(obj, "binaryData");
      if (bin.is_object()) {
        for (const auto& [k, v] : bin.as_object()) out[k] = DecodeBase64(v.as_string());
      }
      return out;
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return std::nullopt;
      throw;
    }
  }

  EnvList BaseEnv(const PodRt& rt) {
    EnvList base;
    base.Set("PATH", kDefaultPath);
    base.Set("HOSTNAME", rt.hostname);
    base.Set("HOME", "/root");
    base.Set("BIND_ADDRESS", rt.ip);
    base.Set("LOCALNODE_POD_DATA_DIR",
             (fs::path(opt_.state_dir) / "data" / rt.ns / rt.name).string());
    base.Set("KUBERNETES_SERVICE_HOST", pod_api_host_);
    base.Set("KUBERNETES_SERVICE_PORT", api_port_);
    base.Set("KUBERNETES_SERVICE_PORT_HTTPS", api_port_);
    base.Set("KUBERNETES_PORT", "tcp://" + pod_api_host_ + ":" + api_port_);
    return base;
  }

  // The pod's outgoing connections leave from its pod IP (localnode/podsource): set after
  // the container's own env, which may preload libraries of its own (kept, after ours).
  void PreloadPodSource(const PodRt& rt, EnvList& env) const {
    if (opt_.podsource_library.empty()) return;
    env.Set("LOCALNODE_POD_IP", rt.ip);
    const std::string own = env.Get("LD_PRELOAD").value_or("");
    env.Set("LD_PRELOAD", opt_.podsource_library + (own.empty() ? "" : ":" + own));
  }

  void StartContainer(PodRt& rt, ContainerRt& c) {
    const ImageEntry* entry = images_.Find(c.image);
    auto backoff = [&](const std::string& reason, const std::string& message, int seconds) {
      c.waiting_reason = reason;
      c.waiting_message = message;
      c.next_start = SteadyClock::now() + std::chrono::seconds(seconds);
    };
    if (!entry) {
      std::string known;
      for (const auto& e : images_.entries()) known += (known.empty() ? "" : ", ") + e.pattern;
      bool first = c.waiting_reason != "ErrImagePull" && c.waiting_reason != "ImagePullBackOff";
      if (first)
        spdlog::warn("pod {}/{}: image {} has no entry in the image table", rt.ns, rt.name,
                     c.image);
      backoff(first ? "ErrImagePull" : "ImagePullBackOff",
              "image \"" + c.image + "\" is not in the localnode image table " + opt_.images_file +
                  " (known: " + known + ")",
              opt_.backoff_base_seconds);
      return;
    }
    EnvList env;
    std::vector<std::string> argv;
    try {
      EnvSources sources{
          [this](const std::string& ns, const std::string& n) { return LoadData(false, ns, n); },
          [this](const std::string& ns, const std::string& n) { return LoadData(true, ns, n); }};
      env = BuildEnv(rt.pod, c.spec, rt.ip, "127.0.0.1", BaseEnv(rt), sources);
      PreloadPodSource(rt, env);
      argv = ContainerArgv(*entry, ExpandAll(StringArray(json::At(c.spec, "command")), env),
                           ExpandAll(StringArray(json::At(c.spec, "args")), env));
    } catch (const std::exception& e) {
      backoff("CreateContainerConfigError", e.what(), 2);
      return;
    }
    std::string exe = LookPath(argv[0], env);

    // Mounts: the pod's hosts file, then each volumeMount.
    struct Mount {
      std::string src, dst;
      bool ro;
    };
    std::vector<Mount> mounts;
    mounts.push_back({(rt.dir / "hosts").string(), "/etc/hosts", true});
    const Json& vms = json::At(c.spec, "volumeMounts");
    if (vms.is_array()) {
      for (const auto& vm : vms.as_array()) {
        fs::path src = VolumePath(rt, json::StringField(vm, "name"));
        if (!json::StringField(vm, "subPath").empty()) src /= json::StringField(vm, "subPath");
        std::string dst = json::StringField(vm, "mountPath");
        std::error_code ec;
        if (fs::is_directory(src)) {
          fs::create_directories(dst, ec);
        } else if (!fs::exists(dst)) {
          fs::create_directories(fs::path(dst).parent_path(), ec);
          std::ofstream(dst).close();
        }
        mounts.push_back(
            {src.string(), dst,
             json::At(vm, "readOnly").is_boolean() && json::At(vm, "readOnly").as_bool()});
      }
    }
    std::string wd = json::StringField(c.spec, "workingDir");
    if (wd.empty() || !fs::is_directory(wd))
      wd = entry->working_dir.empty() ? rt.dir.string() : entry->working_dir;

    // Everything the child needs is prepared before fork (only syscalls after it).
    std::vector<std::string> env_strings = env.ToStrings();
    std::vector<char*> argv_c, envp_c;
    for (auto& a : argv) argv_c.push_back(a.data());
    argv_c.push_back(nullptr);
    for (auto& e : env_strings) envp_c.push_back(e.data());
    envp_c.push_back(nullptr);
    int log_fd = open(c.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    // stdout and stderr go through a pipe to a copier that stamps each line with the time
    // it arrived, as the kubelet's CRI log files do: the log endpoint's sinceSeconds,
    // sinceTime and timestamps need it.
    int out_pipe[2] = {-1, -1};
    if (log_fd >= 0 && pipe2(out_pipe, O_CLOEXEC) != 0) {
      close(log_fd);
      return;
    }
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      if (log_fd >= 0) {
        close(log_fd);
        close(out_pipe[0]);
        close(out_pipe[1]);
      }
      return;
    }
    bool use_ns = opt_.mount_namespaces;
    int netns_fd = net_->fd();
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) signal(s, SIG_DFL);
      auto fail = [&](const char* what) {
        int e = errno;
        char msg[256];
        int n = std::snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
        if (write(err_pipe[1], msg, static_cast<size_t>(n)) < 0) {
        }
        _exit(127);
      };
      // The pod network (CLOEXEC: the fd is not passed on).
      if (setns(netns_fd, CLONE_NEWNET) != 0) fail("setns(pod network)");
      if (use_ns) {
        if (unshare(CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWNS)");
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
          fail("making mounts private");
        for (const auto& m : mounts) {
          if (mount(m.src.c_str(), m.dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            fail(m.dst.c_str());
          if (m.ro)
            mount(nullptr, m.dst.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC,
                  nullptr);
        }
      }
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      if (out_pipe[1] >= 0) {
        dup2(out_pipe[1], 1);
        dup2(out_pipe[1], 2);
      }
      if (chdir(wd.c_str()) != 0) fail("chdir");
      execve(exe.c_str(), argv_c.data(), envp_c.data());
      fail(("exec " + exe).c_str());
    }
    close(err_pipe[1]);
    if (log_fd >= 0) {
      close(out_pipe[1]);
      StartLogCopier(out_pipe[0], log_fd);  // owns both; ends when every writer has exited
    }
    char buf[512];
    ssize_t n = read(err_pipe[0], buf, sizeof buf);
    close(err_pipe[0]);
    if (n > 0) {
      int status;
      waitpid(pid, &status, 0);
      backoff("RunContainerError",
              "failed to start container \"" + c.name +
                  "\": " + std::string(buf, static_cast<size_t>(n)),
              opt_.backoff_base_seconds);
      spdlog::warn("pod {}/{}: {}", rt.ns, rt.name, c.waiting_message);
      return;
    }
    c.pid = pid;
    c.exec_path = exe;
    c.state = ContainerRt::State::kRunning;
    c.started_at = Now();
    c.started_tp = SteadyClock::now();
    c.waiting_reason.clear();
    c.waiting_message.clear();
    if (c.has_run) ++c.restart_count;
    c.has_run = true;
    std::string what = rt.ns + "/" + rt.name + " container " + c.name;
    std::optional<ProbeSpec> startup, readiness, liveness;
    try {
      startup = ParseProbe(json::At(c.spec, "startupProbe"), c.spec);
      readiness = ParseProbe(json::At(c.spec, "readinessProbe"), c.spec);
      liveness = ParseProbe(json::At(c.spec, "livenessProbe"), c.spec);
    } catch (const std::exception& e) {
      spdlog::warn("{}: {}", what, e.what());
    }
    c.startup =
        StartProber(startup, false, rt.ip, pid, env_strings, what + " startup probe", nullptr);
    c.readiness = StartProber(readiness, false, rt.ip, pid, env_strings, what + " readiness probe",
                              c.startup);
    c.liveness =
        StartProber(liveness, true, rt.ip, pid, env_strings, what + " liveness probe", c.startup);
    spdlog::info("pod {}/{}: started container {} (pid {}): {}", rt.ns, rt.name, c.name, pid, exe);
    SaveState();
  }

  // ---------------------------------------------------------------- volumes
  fs::path VolumePath(const PodRt& rt, const std::string& name) {
    const Json& vols = json::At(json::At(rt.pod, "spec"), "volumes");
    if (vols.is_array()) {
      for (const auto& v : vols.as_array()) {
        if (json::StringField(v, "name") != name) continue;
        if (v.has_field("persistentVolumeClaim")) {
          return fs::path(opt_.state_dir) / "pvc" / rt.ns /
                 json::StringField(v.at("persistentVolumeClaim"), "claimName");
        }
        if (v.has_field("hostPath")) return json::StringField(v.at("hostPath"), "path");
      }
    }
    return rt.dir / "volumes" / name;
  }

  void WriteItems(const fs::path& dir, const std::map<std::string, std::string>& data,
                  const Json& items, const std::string& what, fs::perms mode) {
    if (items.is_array() && items.size() > 0) {
      for (const auto& it : items.as_array()) {
        auto d = data.find(json::StringField(it, "key"));
        if (d == data.end())
          throw std::runtime_error("key " + json::StringField(it, "key") + " not found in " + what);
        fs::path p = dir / json::StringField(it, "path");
        fs::create_directories(p.parent_path());
        WriteFile(p, d->second, false, mode);
      }
      return;
    }
    for (const auto& [k, v] : data) WriteFile(dir / k, v, false, mode);
  }

  void Projection(PodRt& rt, const fs::path& dir, const Json& src) {
    bool optional = json::At(src, "optional").is_boolean() && json::At(src, "optional").as_bool();
    if (src.has_field("serviceAccountToken")) {
      const Json& t = src.at("serviceAccountToken");
      std::string sa = json::StringField(json::At(rt.pod, "spec"), "serviceAccountName");
      if (sa.empty()) sa = "default";
      Json spec =
          Obj({{"expirationSeconds", Json::number(json::IntOr(t, "expirationSeconds", 3607))},
               {"boundObjectRef", Obj({{"apiVersion", S("v1")},
                                       {"kind", S("Pod")},
                                       {"name", S(rt.name)},
                                       {"uid", S(rt.uid)}})}});
      if (!json::StringField(t, "audience").empty()) {
        Json aud = Json::array();
        aud[0] = S(json::StringField(t, "audience"));
        spec["audiences"] = aud;
      }
      Json req = Obj({{"apiVersion", S("authentication.k8s.io/v1")},
                      {"kind", S("TokenRequest")},
                      {"spec", spec}});
      Json resp =
          client_->Do("POST", "/api/v1/namespaces/" + rt.ns + "/serviceaccounts/" + sa + "/token",
                      {}, req.serialize());
      fs::permissions(dir, kSecretDir);
      WriteFile(dir / json::StringField(t, "path"),
                json::StringField(json::At(resp, "status"), "token"), false, kSecretFile);
    } else if (src.has_field("configMap") || src.has_field("secret")) {
      bool secret = src.has_field("secret");
      const Json& ref = secret ? src.at("secret") : src.at("configMap");
      bool opt = optional ||
                 (json::At(ref, "optional").is_boolean() && json::At(ref, "optional").as_bool());
      std::string name =
          json::StringField(ref, secret && !ref.has_field("name") ? "secretName" : "name");
      auto data = LoadData(secret, rt.ns, name);
      if (!data) {
        if (opt) return;
        throw std::runtime_error(std::string(secret ? "secret" : "configmap") + " \"" + name +
                                 "\" not found");
      }
      if (secret) fs::permissions(dir, kSecretDir);
      WriteItems(dir, *data, json::At(ref, "items"), name, secret ? kSecretFile : fs::perms(0644));
    } else if (src.has_field("downwardAPI")) {
      const Json& items = json::At(src.at("downwardAPI"), "items");
      if (!items.is_array()) return;
      for (const auto& it : items.as_array()) {
        std::string value;
        if (it.has_field("fieldRef"))
          value = PodField(rt.pod, json::StringField(it.at("fieldRef"), "fieldPath"), rt.ip,
                           "127.0.0.1");
        WriteFile(dir / json::StringField(it, "path"), value);
      }
    }
  }

  void SetUpVolumes(PodRt& rt) {
    const Json& vols = json::At(json::At(rt.pod, "spec"), "volumes");
    if (!vols.is_array()) return;
    for (const auto& v : vols.as_array()) {
      fs::path dir = VolumePath(rt, json::StringField(v, "name"));
      fs::create_directories(dir);
      if (v.has_field("emptyDir") || v.has_field("persistentVolumeClaim")) {
        fs::permissions(dir, fs::perms::all);
      } else if (v.has_field("configMap")) {
        Json src = Obj({{"configMap", v.at("configMap")}});
        Projection(rt, dir, src);
      } else if (v.has_field("secret")) {
        Json src = Obj({{"secret", v.at("secret")}});
        Projection(rt, dir, src);
      } else if (v.has_field("downwardAPI")) {
        Projection(rt, dir, Obj({{"downwardAPI", v.at("downwardAPI")}}));
      } else if (v.has_field("projected")) {
        const Json& sources = json::At(v.at("projected"), "sources");
        if (sources.is_array()) {
          for (const auto& s : sources.as_array()) Projection(rt, dir, s);
        }
      } else if (!v.has_field("hostPath")) {
        throw std::runtime_error("volume " + json::StringField(v, "name") +
                                 ": type not supported by localnode");
      }
    }
  }

  // ---------------------------------------------------------------- services
  std::string ProxyIp(const std::string& cluster_ip) {
    auto dot = cluster_ip.rfind('.');
    if (dot == std::string::npos) return "";
    return opt_.service_network + cluster_ip.substr(dot);
  }

  void UpdateServices() {
    ServiceProxy::Table table;
    std::string hosts_common;
    std::map<std::string, std::string> hosts_ns;  // namespace → lines with short names
    std::map<std::string, std::vector<Json>> slices_by_svc;
    for (const auto& s : slices_->List()) {
      std::string svc = json::StringField(json::At(json::At(s, "metadata"), "labels"),
                                          "kubernetes.io/service-name");
      if (!svc.empty()) slices_by_svc[kube::NamespaceOf(s) + "/" + svc].push_back(s);
    }
    std::set<std::string> wanted_addrs;
    for (const auto& svc : services_->List()) {
      std::string ns = kube::NamespaceOf(svc), name = kube::NameOf(svc);
      if (ns == "default" && name == "kubernetes") continue;
      const Json& spec = json::At(svc, "spec");
      std::string cip = json::StringField(spec, "clusterIP");
      // As cluster DNS with the pod's search path (<ns>.svc.cluster.local svc.cluster.local
      // cluster.local): the short name resolves in the Service's own namespace only;
      // `svc.ns`, `svc.ns.svc` and the FQDN resolve from every namespace (a controller in
      // poolguard-system reaches http://prometheus.poolguard-demo:9090).
      std::string fqdn = name + "." + ns + ".svc.cluster.local";
      std::string names_all = name + "." + ns + " " + name + "." + ns + ".svc " + fqdn;
      // Ready endpoints.
      std::vector<std::pair<std::string, Json>> ready;  // ip, slice ports
      std::vector<std::pair<std::string, std::string>> hostnames;
      for (const auto& sl : slices_by_svc[ns + "/" + name]) {
        const Json& eps = json::At(sl, "endpoints");
        if (!eps.is_array()) continue;
        for (const auto& ep : eps.as_array()) {
          const Json& r = json::At(json::At(ep, "conditions"), "ready");
          if (r.is_boolean() && !r.as_bool()) continue;
          const Json& addrs = json::At(ep, "addresses");
          if (!addrs.is_array() || addrs.size() == 0) continue;
          std::string ip = addrs.at(0).as_string();
          ready.emplace_back(ip, json::At(sl, "ports"));
          if (!json::StringField(ep, "hostname").empty())
            hostnames.emplace_back(json::StringField(ep, "hostname"), ip);
        }
      }
      for (const auto& [h, ip] : hostnames) {
        hosts_common += ip + " " + h + "." + name + "." + ns + " " + h + "." + name + "." + ns +
                        ".svc " + h + "." + fqdn + "\n";
        hosts_ns[ns] += ip + " " + h + "." + name + "\n";
      }
      if (cip.empty() || cip == "None") {
        if (!ready.empty()) {
          hosts_common += ready[0].first + " " + names_all + "\n";
          hosts_ns[ns] += ready[0].first + " " + name + "\n";
        }
        continue;
      }
      std::string pip = ProxyIp(cip);
      wanted_addrs.insert(pip);
      hosts_common += pip + " " + names_all + "\n";
      hosts_ns[ns] += pip + " " + name + "\n";
      const Json& ports = json::At(spec, "ports");
      if (!ports.is_array()) continue;
      for (const auto& p : ports.as_array()) {
        if (!json::StringField(p, "protocol").empty() && json::StringField(p, "protocol") != "TCP")
          continue;
        std::string pname = json::StringField(p, "name");
        auto& backends = table[{pip, json::IntOr(p, "port", 0)}];
        for (const auto& [ip, sports] : ready) {
          if (!sports.is_array()) continue;
          for (const auto& sp : sports.as_array()) {
            if (json::StringField(sp, "name") == pname)
              backends.push_back({ip, json::IntOr(sp, "port", 0)});
          }
        }
      }
    }
    for (const auto& a : wanted_addrs) AddAddress(a);
    for (const auto& a : std::set<std::string>(proxy_addrs_)) {
      if (!wanted_addrs.count(a)) DelAddress(a);
    }
    proxy_addrs_ = wanted_addrs;
    if (table != proxy_table_) {
      proxy_.Update(table);
      proxy_table_ = table;
    }
    hosts_common_ = hosts_common;
    hosts_ns_ = hosts_ns;
  }

  void WriteHosts(PodRt& rt) {
    std::string h =
        "# written by poolguard-localnode\n127.0.0.1 localhost\n::1 localhost ip6-localhost "
        "ip6-loopback\n";
    h += rt.ip + " " + rt.hostname;
    if (!rt.subdomain.empty())
      h += " " + rt.hostname + "." + rt.subdomain + "." + rt.ns + ".svc.cluster.local";
    h += "\n" + pod_api_host_ +
         " kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local";
    if (rt.ns == "default") h += " kubernetes";
    h += "\n" + hosts_ns_[rt.ns] + hosts_common_;
    if (h == rt.hosts) return;
    WriteFile(rt.dir / "hosts", h, /*in_place=*/true);  // bind-mounted: the inode must stay
    rt.hosts = h;
  }

  // ---------------------------------------------------------------- status
  void SetCondition(PodRt& rt, const std::string& type, bool value) {
    std::string status = value ? "True" : "False";
    auto& c = rt.conditions[type];
    if (c.first != status) c = {status, Now()};
  }

  void PatchStatus(PodRt& rt, bool terminated) {
    Json statuses = Json::array();
    bool all_ready = !rt.containers.empty(), any_started = false, all_terminated = true,
         all_ok = true;
    size_t i = 0;
    for (auto& c : rt.containers) {
      bool running = c.state == ContainerRt::State::kRunning && !terminated;
      bool started = running && (!c.startup || c.startup->Result());
      bool ready = started && !c.stopping && (!c.readiness || c.readiness->Result());
      all_ready = all_ready && ready;
      any_started = any_started || c.has_run;
      Json state = Json::object();
      if (running) {
        state["running"] = Obj({{"startedAt", S(c.started_at)}});
      } else if (c.state == ContainerRt::State::kTerminated || terminated) {
        Json t = c.terminated.is_null() ? c.last_terminated : c.terminated;
        if (t.is_null())
          t = Obj({{"exitCode", Json::number(0)},
                   {"reason", S("Completed")},
                   {"finishedAt", S(Now())}});
        state["terminated"] = t;
        if (json::IntOr(t, "exitCode", 0) != 0) all_ok = false;
      } else {
        Json w =
            Obj({{"reason", S(c.waiting_reason.empty() ? "ContainerCreating" : c.waiting_reason)}});
        if (!c.waiting_message.empty()) w["message"] = S(c.waiting_message);
        state["waiting"] = w;
      }
      if (c.state != ContainerRt::State::kTerminated) all_terminated = false;
      Json cs = Obj({{"name", S(c.name)},
                     {"image", S(c.image)},
                     {"imageID", S(c.exec_path.empty() ? "" : "localnode://" + c.exec_path)},
                     {"ready", Json::boolean(ready)},
                     {"started", Json::boolean(started)},
                     {"restartCount", Json::number(c.restart_count)},
                     {"state", state},
                     {"lastState", Json::object()}});
      if (running) cs["containerID"] = S("localnode://" + std::to_string(c.pid));
      if (!c.last_terminated.is_null() && c.state != ContainerRt::State::kTerminated) {
        cs["lastState"] = Obj({{"terminated", c.last_terminated}});
      }
      statuses[i++] = cs;
    }
    std::string phase = "Pending";
    if (!rt.containers.empty() && all_terminated) {
      phase = all_ok ? "Succeeded" : "Failed";
    } else if (any_started) {
      phase = "Running";
    }
    SetCondition(rt, "PodReadyToStartContainers", rt.volumes_ready && !terminated);
    SetCondition(rt, "Initialized", true);
    SetCondition(rt, "ContainersReady", all_ready && !terminated);
    SetCondition(rt, "Ready", all_ready && !terminated);
    SetCondition(rt, "PodScheduled", true);
    Json conds = Json::array();
    size_t k = 0;
    for (const auto& [type, v] : rt.conditions) {
      Json c =
          Obj({{"type", S(type)}, {"status", S(v.first)}, {"lastTransitionTime", S(v.second)}});
      if (v.first == "False" && (type == "Ready" || type == "ContainersReady")) {
        c["reason"] = S("ContainersNotReady");
      }
      conds[k++] = c;
    }
    Json ips = Json::array();
    ips[0] = Obj({{"ip", S(rt.ip)}});
    Json hips = Json::array();
    hips[0] = Obj({{"ip", S("127.0.0.1")}});
    Json status = Obj({{"phase", S(phase)},
                       {"conditions", conds},
                       {"containerStatuses", statuses},
                       {"podIP", S(rt.ip)},
                       {"podIPs", ips},
                       {"hostIP", S("127.0.0.1")},
                       {"hostIPs", hips},
                       {"startTime", S(rt.start_time)}});
    std::string text = status.serialize();
    if (text == rt.last_status) return;
    if (!terminated && SteadyClock::now() < rt.next_status_try) return;
    try {
      Json patch = Obj({{"metadata", Obj({{"uid", S(rt.uid)}})}, {"status", status}});
      client_->Resource({"", "v1", "pods"}, rt.ns)
          .Patch(rt.name, kube::PatchType::kMerge, patch, {}, "status");
      rt.last_status = text;
    } catch (const std::exception& e) {
      spdlog::warn("pod {}/{}: status update: {}", rt.ns, rt.name, e.what());
      rt.next_status_try = SteadyClock::now() + 1s;
    }
  }

  void DeletePod(const Json& pod) {
    kube::DeleteOptions o;
    o.grace_period_seconds = 0;
    o.precondition_uid = kube::UidOf(pod);
    try {
      client_->Resource({"", "v1", "pods"}, kube::NamespaceOf(pod)).Delete(kube::NameOf(pod), o);
      spdlog::info("pod {}/{}: deleted", kube::NamespaceOf(pod), kube::NameOf(pod));
    } catch (const kube::ApiError& e) {
      if (!kube::IsNotFound(e) && !kube::IsConflict(e)) {
        spdlog::warn("pod {}/{}: delete: {}", kube::NamespaceOf(pod), kube::NameOf(pod), e.what());
      }
    }
  }

  void FinishPod(const std::string& uid) {
    auto it = pods_rt_.find(uid);
    if (it == pods_rt_.end()) return;
    DelAddress(it->second.ip);
    std::error_code ec;
    fs::remove_all(it->second.dir, ec);
    pods_rt_.erase(it);
    SaveState();
  }

  void UpdateLogIndex() {
    std::map<std::string, std::string> idx;
    for (const auto& [uid, rt] : pods_rt_) {
      for (const auto& c : rt.containers) idx[rt.ns + "/" + rt.name + "/" + c.name] = c.log_file;
    }
    std::lock_guard lock(logs_mu_);
    logs_ = std::move(idx);
  }

  void Shutdown() {
    spdlog::info("stopping: terminating {} pods", pods_rt_.size());
    for (auto* inf : {pods_.get(), services_.get(), slices_.get()}) {
      if (inf) inf->Stop();
    }
    int grace = 10;
    for (auto& [uid, rt] : pods_rt_) {
      for (auto& c : rt.containers) {
        StopProber(c.readiness);
        StopProber(c.liveness);
        StopProber(c.startup);
        if (c.pid > 0) kill(c.pid, SIGTERM);
      }
    }
    auto deadline = SteadyClock::now() + std::chrono::seconds(grace);
    while (SteadyClock::now() < deadline) {
      bool any = false;
      for (auto& [uid, rt] : pods_rt_) {
        for (auto& c : rt.containers) {
          int status;
          if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) {
            kill(-c.pid, SIGKILL);
            c.pid = 0;
          }
          any = any || c.pid > 0;
        }
      }
      if (!any) break;
      std::this_thread::sleep_for(100ms);
    }
    for (auto& [uid, rt] : pods_rt_) {
      for (auto& c : rt.containers) {
        if (c.pid > 0) {
          kill(-c.pid, SIGKILL);
          kill(c.pid, SIGKILL);
          waitpid(c.pid, nullptr, 0);
          c.pid = 0;
        }
      }
    }
    proxy_.Stop();
    if (kubelet_) kubelet_->Stop();
    net_->TearDown();
    addrs_.clear();
    SaveState();
    spdlog::info("stopped");
  }

  AgentOptions opt_;
  ImageTable images_;
  std::shared_ptr<kube::Client> client_;
  std::string api_host_, api_port_;
  std::string pod_api_host_;  // the API server as pods reach it
  std::unique_ptr<kube::Informer> pods_, services_, slices_;
  std::unique_ptr<KubeletServer> kubelet_;
  std::unique_ptr<PodNetwork> net_;
  std::map<std::string, PodRt> pods_rt_;
  std::map<std::string, SteadyClock::time_point> bind_tried_;
  std::set<std::string> addrs_, proxy_addrs_;
  ServiceProxy proxy_;
  ServiceProxy::Table proxy_table_;
  std::string hosts_common_;
  std::map<std::string, std::string> hosts_ns_;
  std::string node_ready_since_, boot_id_;
  std::mutex logs_mu_;
  std::map<std::string, std::string> logs_;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
};

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Agent::~Agent() = default;
void Agent::Run(const std::atomic<bool>& stop) { impl_->Run(stop); }

}  // namespace poolguard::localnode
