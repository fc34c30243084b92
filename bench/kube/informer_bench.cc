// kube_informer_bench: the C++ side of bench/kube.sh (the client-go side is
// bench/kube/clientgo, which is also the loader).
//
//   kube_informer_bench --kubeconfig F --namespace NS [--n N] [--ready-file F]
//                       [--done-file F] [--quiet-ms 10000] [--max-wait-s 600]
//                       [--encoding protobuf|json]
//
// Syncs a ConfigMap informer on NS and prints the seconds from start (before the client
// is created) until HasSynced, and peak RSS (VmHWM) at that point. With --ready-file it
// then creates that file and counts the update events its handler sees until it has seen
// as many as the loader wrote into --done-file (or none arrived for --quiet-ms after
// that), and prints their rate over the window first..last event.
// Results are key=value lines on stdout.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "poolguard/kube/client.h"
#include "poolguard/kube/config.h"
#include "poolguard/kube/informer.h"

namespace kube = poolguard::kube;
using Clock = std::chrono::steady_clock;

namespace {

double VmHWMMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      double kb = 0;
      fields >> kb;
      return kb / 1024;
    }
  }
  return -1;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "kube_informer_bench: " << why
            << "\nusage: kube_informer_bench --kubeconfig F --namespace NS [--n N]"
               " [--ready-file F] [--done-file F] [--quiet-ms MS] [--max-wait-s S]"
               " [--encoding protobuf|json]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = Clock::now();
  std::string kubeconfig, ns = "bench", ready_file;
  std::string done_file;
  long expected = 10000, quiet_ms = 10000, max_wait_s = 600;
  kube::ClientOptions options;  // protobuf for built-in kinds by default
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage("missing value after " + a);
    std::string v = argv[++i];
    if (a == "--kubeconfig") {
      kubeconfig = v;
    } else if (a == "--namespace") {
      ns = v;
    } else if (a == "--n") {
      expected = std::stol(v);
    } else if (a == "--ready-file") {
      ready_file = v;
    } else if (a == "--done-file") {
      done_file = v;
    } else if (a == "--quiet-ms") {
      quiet_ms = std::stol(v);
    } else if (a == "--max-wait-s") {
      max_wait_s = std::stol(v);
    } else if (a == "--encoding") {
      if (v != "protobuf" && v != "json") Usage("--encoding: protobuf or json");
      options.protobuf = v == "protobuf";
    } else {
      Usage("unknown option " + a);
    }
  }
  if (kubeconfig.empty()) Usage("--kubeconfig is required");

  auto client = kube::Client::Create(kube::LoadKubeconfigFile(kubeconfig), options);
  kube::Informer informer(client->Resource({"", "v1", "configmaps"}, ns));

  std::mutex mu;
  long events = 0;
  Clock::time_point first, last;
  double first_cpu = 0;
  kube::EventHandler handler;
  // Adds are the initial sync; only the loader's updates are counted.
  handler.on_update = [&](const kube::Json&, const kube::Json&) {
    auto now = Clock::now();
    std::lock_guard<std::mutex> guard(mu);
    if (events == 0) {
      first = now;
      first_cpu = CpuSeconds();
    }
    ++events;
    last = now;
  };
  informer.AddEventHandler(std::move(handler));
  informer.Run();
  if (!informer.WaitForSync(std::chrono::seconds(max_wait_s))) {
    std::cerr << "kube_informer_bench: informer did not sync\n";
    return 1;
  }
  double sync_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  size_t objects = informer.Size();
  std::printf("objects=%zu\nsync_seconds=%.3f\nsync_cpu_seconds=%.3f\nsync_rss_mib=%.1f\n", objects,
              sync_seconds, CpuSeconds(), VmHWMMiB());
  std::fflush(stdout);
  if (static_cast<long>(objects) != expected) {
    std::cerr << "kube_informer_bench: warning: " << objects << " objects cached, " << expected
              << " expected\n";
  }
  if (ready_file.empty()) return 0;
  std::ofstream(ready_file) << "synced\n";

  // Stop once every update the loader made has been seen (it writes their number to
  // --done-file when it is done), or nothing arrived for --quiet-ms after that, or
  // --max-wait-s.
  const auto deadline = Clock::now() + std::chrono::seconds(max_wait_s);
  long updates = -1;
  Clock::time_point done_at;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (updates < 0 && !done_file.empty()) {
      std::ifstream in(done_file);
      long v = -1;
      if (in >> v && v >= 0) {
        updates = v;
        done_at = Clock::now();
      }
    }
    std::lock_guard<std::mutex> guard(mu);
    if (updates >= 0 && (events >= updates || Clock::now() - std::max(last, done_at) >
                                                  std::chrono::milliseconds(quiet_ms))) {
      break;
    }
  }
  informer.Stop();
  std::lock_guard<std::mutex> guard(mu);
  double window = std::chrono::duration<double>(last - first).count();
  double rate = window > 0 ? static_cast<double>(events) / window : 0;
  double cpu_per_1k =
      events > 0 ? (CpuSeconds() - first_cpu) * 1e6 / static_cast<double>(events) : 0;
  std::printf(
      "events=%ld\nevent_seconds=%.3f\nevents_per_sec=%.0f\ncpu_ms_per_1k_events=%.1f\n"
      "peak_rss_mib=%.1f\n",
      events, window, rate, cpu_per_1k, VmHWMMiB());
  return 0;
}
