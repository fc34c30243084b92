#include "app/app.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "app/metrics.h"
#include "chaos/fault_engine.h"
#include "chaos/reconciler.h"
#include "core/cluster_reader.h"
#include "core/io/pg.h"
#include "poolguard/common/http_server.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/config.h"
#include "poolguard/kube/errors.h"
#include "poolguard/kube/events.h"
#include "poolguard/kube/informer.h"
#include "poolguard/kube/leader_election.h"
#include "poolguard/kube/workqueue.h"
#include "remediation/cluster.h"
#include "remediation/collector.h"
#include "remediation/probes.h"
#include "remediation/reconciler.h"

namespace poolguard::controller {
namespace {

const kube::GroupVersionResource kChaosGvr{"poolguard.dev", "v1alpha1", "chaosexperiments"};
const kube::GroupVersionResource kRemediationGvr{"poolguard.dev", "v1alpha1", "remediations"};

using Informers = std::map<std::string, std::unique_ptr<kube::Informer>>;

// ObjectStore over informer caches (one per watched namespace, or one for all).
class InformerStore final : public ObjectStore {
 public:
  InformerStore(std::shared_ptr<kube::Client> client, kube::GroupVersionResource gvr,
                Informers* informers)
      : client_(std::move(client)), gvr_(std::move(gvr)), informers_(informers) {}

  std::optional<kube::Json> Get(const std::string& key) override {
    const std::string ns = key.substr(0, key.find('/'));
    auto it = informers_->find(ns);
    if (it == informers_->end()) it = informers_->find("");
    if (it == informers_->end()) return std::nullopt;
    return it->second->Get(key);
  }
  std::vector<kube::Json> List() override {
    std::vector<kube::Json> out;
    for (auto& [_, inf] : *informers_) {
      auto items = inf->List();
      out.insert(out.end(), items.begin(), items.end());
    }
    return out;
  }
  kube::Json Update(const kube::Json& object) override {
    return client_->Resource(gvr_, kube::NamespaceOf(object)).Update(object);
  }
  kube::Json UpdateStatus(const kube::Json& object) override {
    return client_->Resource(gvr_, kube::NamespaceOf(object)).UpdateStatus(object);
  }

 private:
  std::shared_ptr<kube::Client> client_;
  kube::GroupVersionResource gvr_;
  Informers* informers_;
};

// An update worth a reconcile now: the spec (generation) or the metadata (the approve
// annotation, deletion) changed. Status-only updates are the reconciler's own writes; its
// requeue timer already paces the next tick.
bool SpecOrMetadataChanged(const kube::Json& before, const kube::Json& after) {
  const kube::Json* a = Field(before, "metadata");
  const kube::Json* b = Field(after, "metadata");
  if (a == nullptr || b == nullptr) return true;
  for (const char* f : {"generation", "annotations", "deletionTimestamp", "labels"}) {
    const kube::Json* x = Field(*a, f);
    const kube::Json* y = Field(*b, f);
    if ((x == nullptr) != (y == nullptr) || (x != nullptr && x->serialize() != y->serialize())) {
      return true;
    }
  }
  return false;
}

// One informer per watched namespace (or one for all) feeding `queue`; `filter` (optional)
// decides which updates enqueue.
Informers MakeInformers(const std::shared_ptr<kube::Client>& client,
                        const kube::GroupVersionResource& gvr,
                        const std::vector<std::string>& namespaces,
                        const std::shared_ptr<kube::WorkQueue>& queue,
                        bool (*filter)(const kube::Json&, const kube::Json&) = nullptr) {
  kube::EventHandler handler;
  handler.on_add = [queue](const kube::Json& o) { queue->Add(kube::KeyOf(o)); };
  handler.on_update = [queue, filter](const kube::Json& old, const kube::Json& o) {
    if (filter == nullptr || filter(old, o)) queue->Add(kube::KeyOf(o));
  };
  handler.on_delete = [queue](const kube::Json& o) { queue->Add(kube::KeyOf(o)); };
  Informers informers;
  for (const auto& ns : namespaces) {
    kube::InformerOptions io;
    io.resync_period = std::chrono::seconds(300);
    auto inf = std::make_unique<kube::Informer>(client->Resource(gvr, ns), io);
    inf->AddEventHandler(handler);
    informers[ns] = std::move(inf);
  }
  return informers;
}

// A worker: takes keys from `queue` until it shuts down, reconciles, requeues.
void Work(kube::WorkQueue& queue, const char* controller, Metrics& metrics,
          const std::function<ReconcileResult(const std::string&)>& reconcile) {
  while (auto key = queue.Get()) {
    const auto start = std::chrono::steady_clock::now();
    std::string result = "success";
    try {
      const auto r = reconcile(*key);
      queue.Forget(*key);
      if (r.requeue_after) {
        queue.AddAfter(*key, *r.requeue_after);
        result = "requeue_after";
      }
    } catch (const kube::ApiError& e) {
      result = "error";
      if (kube::IsConflict(e)) {
        spdlog::debug("{}: {}; retrying", *key, e.what());
      } else {
        spdlog::warn("{}: {}; retrying", *key, e.what());
      }
      queue.AddRateLimited(*key);
    } catch (const std::exception& e) {
      result = "error";
      spdlog::error("{}: {}; retrying", *key, e.what());
      queue.AddRateLimited(*key);
    }
    metrics.Reconciled(
        controller, result,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    queue.Done(*key);
  }
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::unique_ptr<http::Server> StartServer(const std::string& address, http::Router router,
                                          const char* what) {
  if (address == "0") return nullptr;
  const auto bind = ParseBindAddress(address);
  http::ServerOptions opts;
  opts.address = bind->first;
  opts.port = static_cast<uint16_t>(bind->second);
  auto server = std::make_unique<http::Server>(opts, std::move(router), nullptr);
  server->Start();
  spdlog::info("serving {} on {}:{}", what, opts.address, server->port());
  return server;
}

}  // namespace

int RunController(const Options& options) {
  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kube::Config config;
  try {
    config = options.kubeconfig.empty() ? kube::LoadDefaultConfig()
                                        : kube::LoadKubeconfigFile(options.kubeconfig);
  } catch (const std::exception& e) {
    spdlog::critical("cannot load the Kubernetes configuration: {}", e.what());
    return 2;
  }
  auto client = kube::Client::Create(config);
  Metrics metrics;

  auto queue = std::make_shared<kube::WorkQueue>(
      kube::Clock::Real(), kube::DefaultControllerRateLimiter(kube::Clock::Real()),
      metrics.QueueMetrics("chaosexperiment"));
  auto rem_queue = std::make_shared<kube::WorkQueue>(
      kube::Clock::Real(), kube::DefaultControllerRateLimiter(kube::Clock::Real()),
      metrics.QueueMetrics("remediation"));
  std::vector<std::string> namespaces = options.namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  Informers informers = MakeInformers(client, kChaosGvr, namespaces, queue);
  Informers rem_informers =
      MakeInformers(client, kRemediationGvr, namespaces, rem_queue, SpecOrMetadataChanged);

  InformerStore store(client, kChaosGvr, &informers);
  InformerStore rem_store(client, kRemediationGvr, &rem_informers);
  auto reader = NewClusterReader(client);
  auto engine = NewFaultEngine();
  auto pg_admin = NewPgAdmin();
  const std::string identity = Hostname() + "_" + std::to_string(getpid());
  kube::EventRecorderOptions ro;
  ro.component = "poolguard-controller";
  ro.host = Hostname();
  kube::EventRecorder recorder(kube::NewClientEventSink(client), ro);
  ChaosReconcilerOptions rops;
  rops.max_connections_per_experiment = options.max_connections_per_experiment;
  rops.capacity_margin = options.db_capacity_margin;
  rops.session_grace = options.session_grace;
  ChaosReconciler reconciler(&store, reader.get(), engine.get(), pg_admin.get(), &recorder,
                             &metrics, rops);
  engine->SetOnLost([queue](const std::string& key) { queue->Add(key); });
  auto rem_cluster = NewRemediationCluster(client);
  auto http_getter = NewHttpGetter();
  Collector collector(rem_cluster.get(), reader.get(), pg_admin.get(), http_getter.get(),
                      CollectorOptions{});
  RemediationReconciler rem_reconciler(&rem_store, &collector, rem_cluster.get(), reader.get(),
                                       pg_admin.get(), &recorder, &metrics,
                                       CollectorOptions{}.target_application_name);
  auto all_informers = [&](const std::function<void(kube::Informer&)>& f) {
    for (auto& [_, inf] : informers) f(*inf);
    for (auto& [_, inf] : rem_informers) f(*inf);
  };

  // Health and metrics serve on every replica, leader or not.
  auto synced = [&] {
    bool all = true;
    all_informers([&](kube::Informer& inf) { all = all && inf.HasSynced(); });
    return all;
  };
  http::Router health;
  health.Add("GET", "/healthz",
             [](const http::Request&) { return http::Response::Text(200, "ok\n"); });
  health.Add("GET", "/readyz", [&synced](const http::Request&) {
    return synced() ? http::Response::Text(200, "ok\n")
                    : http::Response::Text(503, "informers not synced\n");
  });
  http::Router metrics_router;
  metrics_router.Add("GET", "/metrics", [&](const http::Request&) {
    std::map<std::string, int> by_phase;
    for (const auto& o : store.List()) {
      const Phase p = ParseChaosStatus(o).phase;
      by_phase[std::string(p == Phase::kNone ? "Pending" : PhaseName(p))]++;
    }
    metrics.SetPhaseCounts(by_phase);
    metrics.SetHeld(engine->TotalSessions(), engine->TotalClients());
    std::map<std::string, int> rem_by_phase;
    for (const auto& o : rem_store.List()) {
      const RemediationPhase p = ParseRemediationStatus(o).phase;
      rem_by_phase[std::string(p == RemediationPhase::kNone ? "Watching"
                                                            : RemediationPhaseName(p))]++;
    }
    metrics.SetRemediationPhaseCounts(rem_by_phase);
    return http::MetricsResponse(metrics.registry());
  });
  std::unique_ptr<http::Server> health_server, metrics_server;
  try {
    health_server =
        StartServer(options.health_probe_bind_address, std::move(health), "health probes");
    metrics_server =
        StartServer(options.metrics_bind_address, std::move(metrics_router), "metrics");
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }

  all_informers([](kube::Informer& inf) { inf.Run(); });

  // Workers run only while leading (or always without leader election).
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  bool lost_leadership = false;
  std::vector<std::thread> workers;
  std::atomic<bool> workers_started{false};
  auto start_workers = [&] {
    if (workers_started.exchange(true)) return;
    metrics.SetLeader(true);
    spdlog::info("starting {} workers", options.workers);
    for (int i = 0; i < options.workers; ++i) {
      workers.emplace_back([&] {
        Work(*queue, "chaosexperiment", metrics,
             [&](const std::string& key) { return reconciler.Reconcile(key); });
      });
      workers.emplace_back([&] {
        Work(*rem_queue, "remediation", metrics,
             [&](const std::string& key) { return rem_reconciler.Reconcile(key); });
      });
    }
  };

  std::unique_ptr<kube::LeaderElector> elector;
  if (options.leader_elect) {
    kube::LeaderElectionConfig lc;
    lc.lease_namespace = options.leader_election_namespace.empty()
                             ? config.default_namespace
                             : options.leader_election_namespace;
    lc.lease_name = options.leader_election_id;
    lc.identity = identity;
    // `lc` ends with this block: the callback keeps its own copy of the lease's name.
    lc.on_started_leading = [&, lease = lc.lease_namespace + "/" + lc.lease_name] {
      spdlog::info("leading (lease {})", lease);
      // Workers start on their own thread: this callback must return promptly.
      std::thread([&] {
        all_informers([](kube::Informer& inf) { inf.WaitForSync(std::chrono::minutes(5)); });
        start_workers();
      }).detach();
    };
    lc.on_stopped_leading = [&] {
      std::lock_guard lock(mutex);
      if (!stop) {
        spdlog::error("lost the leader lease; rolling back and exiting");
        lost_leadership = true;
        stop = true;
        cv.notify_all();
      }
    };
    elector = std::make_unique<kube::LeaderElector>(client, lc);
    elector->Run();
  } else {
    std::thread([&] {
      all_informers([](kube::Informer& inf) { inf.WaitForSync(std::chrono::minutes(5)); });
      start_workers();
    }).detach();
  }

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}; rolling back every active fault", strsignal(sig));
    std::lock_guard lock(mutex);
    stop = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return stop; });
  }

  // Shut down: stop taking work, finish what is in hand, then roll back every fault held
  // here and record it in status, release the lease, and exit.
  queue->ShutDown();
  rem_queue->ShutDown();
  for (auto& w : workers) {
    if (w.joinable()) w.join();
  }
  for (const auto& key : engine->Keys()) {
    try {
      reconciler.Shutdown(key);
    } catch (const std::exception& e) {
      spdlog::error("{}: could not record the rollback in status: {}", key, e.what());
    }
    engine->Rollback(key);  // in any case
  }
  recorder.Flush();
  if (elector) elector->Stop();
  all_informers([](kube::Informer& inf) { inf.Stop(); });
  if (health_server) health_server->Shutdown(std::chrono::milliseconds(500));
  if (metrics_server) metrics_server->Shutdown(std::chrono::milliseconds(500));
  if (signal_thread.joinable()) {
    if (lost_leadership) {
      pthread_kill(signal_thread.native_handle(), SIGTERM);
    }
    signal_thread.join();
  }
  spdlog::info("stopped");
  return lost_leadership ? 1 : 0;
}

}  // namespace poolguard::controller
