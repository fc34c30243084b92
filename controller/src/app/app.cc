// The composition root: builds every part, hands the long-running ones to the Manager, and
// turns signals into a stop. Nothing here decides anything.

#include "app/app.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "app/controller.h"
#include "app/informer_set.h"
#include "app/kill_switch.h"
#include "app/manager.h"
#include "app/metrics.h"
#include "app/periodic.h"
#include "app/stop_conditions.h"
#include "app/webhook_notifier.h"
#include "chaos/fault_engine.h"
#include "chaos/reconciler.h"
#include "chaos/schedule_reconciler.h"
#include "core/io/cluster_reader.h"
#include "core/io/pg.h"
#include "poolguard/common/http_server.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/config.h"
#include "poolguard/kube/events.h"
#include "poolguard/kube/informer.h"
#include "poolguard/kube/leader_election.h"
#include "poolguard/kube/workqueue.h"
#include "remediation/collector.h"
#include "remediation/io/cluster.h"
#include "remediation/probes.h"
#include "remediation/reconciler.h"

namespace poolguard::controller {
namespace {

const kube::GroupVersionResource kChaosGvr{"poolguard.dev", "v1alpha1", "chaosexperiments"};
const kube::GroupVersionResource kRemediationGvr{"poolguard.dev", "v1alpha1", "remediations"};
const kube::GroupVersionResource kScheduleGvr{"poolguard.dev", "v1alpha1", "chaosschedules"};

// Whether the API server serves ChaosSchedules: `helm upgrade` does not add new CRDs, and a
// controller whose cache can never sync would exit. Unknown (no answer): assume it does.
bool SchedulesServed(kube::Client& client) {
  try {
    const Json list = client.Do("GET", "/apis/poolguard.dev/v1alpha1");
    if (const Json* resources = json::Field(list, "resources");
        resources != nullptr && resources->is_array()) {
      for (const auto& r : resources->as_array())
        if (StringField(r, "name") == kScheduleGvr.resource) return true;
    }
    return false;
  } catch (const std::exception& e) {
    spdlog::warn("cannot tell whether ChaosSchedules are served ({}); assuming they are", e.what());
    return true;
  }
}

// A Runnable from two functions (servers, the event recorder's flush, the leader gauge).
class FuncRunnable final : public Runnable {
 public:
  FuncRunnable(std::string name, bool needs_lease, std::function<void()> start,
               std::function<void()> stop)
      : name_(std::move(name)),
        needs_lease_(needs_lease),
        start_(std::move(start)),
        stop_(std::move(stop)) {}
  std::string Name() const override { return name_; }
  bool NeedsLeaderElection() const override { return needs_lease_; }
  void Start() override {
    if (start_) start_();
  }
  void Stop() override {
    if (!stopped_.exchange(true) && stop_) stop_();
  }

 private:
  std::string name_;
  bool needs_lease_;
  std::function<void()> start_, stop_;
  std::atomic<bool> stopped_{false};
};

// An HTTP server that runs on every replica; "0" turns it off.
class ServerRunnable final : public Runnable {
 public:
  ServerRunnable(std::string what, std::string address, http::Router router)
      : what_(std::move(what)), address_(std::move(address)), router_(std::move(router)) {}
  std::string Name() const override { return what_ + " server"; }
  bool NeedsLeaderElection() const override { return false; }
  void Start() override {
    if (address_ == "0") return;
    const auto bind = ParseBindAddress(address_);  // validated with the flags
    http::ServerOptions opts;
    opts.address = bind->first;
    opts.port = static_cast<uint16_t>(bind->second);
    // Every handler here is kInline and answers from memory: one I/O thread, and the
    // smallest worker pool (the default 64 idle threads would cost RSS for nothing).
    opts.io_threads = 1;
    opts.workers = 1;
    server_ = std::make_unique<http::Server>(opts, std::move(router_), nullptr);
    server_->Start();
    spdlog::info("serving {} on {}:{}", what_, opts.address, server_->port());
  }
  void Stop() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
  }

 private:
  std::string what_, address_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
};

class KubeEvents final : public Events {
 public:
  explicit KubeEvents(kube::EventRecorder* recorder) : recorder_(recorder) {}
  void Record(const Json& object, const std::string& type, const std::string& reason,
              const std::string& message) override {
    recorder_->Record(object, type, reason, message);
  }

 private:
  kube::EventRecorder* recorder_;
};

class KubeLeaderElection final : public LeaderElection {
 public:
  KubeLeaderElection(std::shared_ptr<kube::Client> client, kube::LeaderElectionConfig config)
      : client_(std::move(client)), config_(std::move(config)) {}
  void Run(std::function<void()> on_started, std::function<void()> on_stopped) override {
    config_.on_started_leading = [lease = config_.lease_namespace + "/" + config_.lease_name,
                                  on_started = std::move(on_started)] {
      spdlog::info("leading (lease {})", lease);
      on_started();
    };
    config_.on_stopped_leading = std::move(on_stopped);
    elector_ = std::make_unique<kube::LeaderElector>(client_, config_);
    elector_->Run();
  }
  void Stop() override {
    if (elector_) elector_->Stop();
  }
  bool HoldsLease() const override { return elector_ != nullptr && elector_->IsLeader(); }

 private:
  std::shared_ptr<kube::Client> client_;
  kube::LeaderElectionConfig config_;
  std::unique_ptr<kube::LeaderElector> elector_;
};

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

int RunController(const Options& options) {
  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // The API server client's shared I/O threads (cpprestsdk's default is 40), now that they
  // inherit the blocked signals.
  kube::Client::SetIoThreads(4);

  kube::Config config;
  try {
    config = options.kubeconfig.empty() ? kube::LoadDefaultConfig()
                                        : kube::LoadKubeconfigFile(options.kubeconfig);
  } catch (const std::exception& e) {
    spdlog::critical("cannot load the Kubernetes configuration: {}", e.what());
    return 2;
  }
  auto client = kube::Client::Create(config);
  auto clock = kube::Clock::Real();
  Metrics metrics;
  kube::EventRecorderOptions ro;
  ro.component = "poolguard-controller";
  ro.host = Hostname();
  kube::EventRecorder recorder(kube::NewClientEventSink(client), ro);
  KubeEvents events(&recorder);
  // Caches of the built-in kinds a Remediation tick reads, in the namespaces served: a tick
  // asks the API server only for what no cache holds (Secrets, logs) and what must be
  // fresh (a patch's read-modify-write, the chaos guardrails' and faults' StatefulSets).
  InformerSet services_cache("service", client, {"", "v1", "services"}, options.namespaces,
                             nullptr);
  InformerSet slices_cache("endpointslice", client, {"discovery.k8s.io", "v1", "endpointslices"},
                           options.namespaces, nullptr);
  slices_cache.AddIndexer(kServiceIndex, ServiceIndexOf);
  InformerSet deployments_cache("deployment", client, {"apps", "v1", "deployments"},
                                options.namespaces, nullptr);
  InformerSet statefulsets_cache("statefulset", client, {"apps", "v1", "statefulsets"},
                                 options.namespaces, nullptr);
  ReadCaches caches;
  if (options.cache_reads) {
    caches = {&services_cache, &slices_cache, &deployments_cache, &statefulsets_cache};
  }
  auto reader = NewClusterReader(client, caches);
  auto pg_admin = NewPgAdmin();
  // The experiments' own: its kept connections (sessions counted while faults are held)
  // are retained by the held faults' databases, the other's by the Remediations'.
  auto chaos_pg_admin = NewPgAdmin();
  // Notifications: the cluster-wide webhook, and each Remediation's own.
  WebhookNotifierOptions nops;
  if (!options.notify_webhook_url.empty()) {
    nops.targets.push_back({options.notify_webhook_url, options.notify_webhook_format});
  }
  nops.console_url = options.console_url;
  WebhookNotifier notifier(nops, HttpWebhookSender());
  notifier.on_result = [&metrics](const std::string& result) { metrics.Notified(result); };

  // The Remediations' cache and the HTTP probes come first: experiments' stop conditions
  // read them too.
  auto rem_queue = std::make_shared<kube::WorkQueue>(
      clock, kube::DefaultControllerRateLimiter(clock), metrics.QueueMetrics("remediation"));
  InformerSet rem_cache("remediation", client, kRemediationGvr, options.namespaces, rem_queue,
                        SpecOrMetadataChanged);
  rem_cache.AddIndexer(kTargetIndex, RemediationTargetIndex);
  rem_cache.AddIndexer(kPhaseIndex, [](const kube::Json& o) {
    const RemediationPhase p = ParseRemediationPhase(json::StringAt(o, {"status", "phase"}));
    return std::vector<std::string>{
        std::string(p == RemediationPhase::kNone ? "Watching" : RemediationPhaseName(p))};
  });
  auto probes = NewProbes();

  // ---- ChaosExperiments ----
  auto chaos_queue = std::make_shared<kube::WorkQueue>(
      clock, kube::DefaultControllerRateLimiter(clock), metrics.QueueMetrics("chaosexperiment"));
  InformerSet chaos_cache("chaosexperiment", client, kChaosGvr, options.namespaces, chaos_queue);
  chaos_cache.AddIndexer(kScheduleIndex, ScheduleRunIndex);
  // Experiments by target (spec.target.deployment, as Remediations): a Remediation's tick
  // and an experiment's one-per-target guardrail look up only their target's.
  chaos_cache.AddIndexer(kTargetIndex, RemediationTargetIndex);
  chaos_cache.AddIndexer(kPhaseIndex, [](const kube::Json& o) {
    const Phase p = ParsePhase(json::StringAt(o, {"status", "phase"}));
    return std::vector<std::string>{std::string(p == Phase::kNone ? "Pending" : PhaseName(p))};
  });
  auto engine = NewFaultEngine();
  // The kill switch: turned on, every session and client this process holds is closed at
  // once (before any status write: a thousand rollbacks recorded one by one take seconds);
  // on and off, every experiment is looked at again at once.
  const std::string kill_switch_ns = !options.kill_switch_namespace.empty()
                                         ? options.kill_switch_namespace
                                         : config.default_namespace;
  ChaosReconciler* chaos_ptr = nullptr;  // set once built, before the switch is first read
  KillSwitch kill_switch("namespace " + kill_switch_ns,
                         NamespaceAnnotationReader(client, kill_switch_ns), std::chrono::seconds(2),
                         [&chaos_cache, chaos_queue, &metrics, &kill_switch, &chaos_ptr] {
                           const std::string engaged = kill_switch.Engaged();
                           metrics.SetKillSwitch(!engaged.empty());
                           if (!engaged.empty() && chaos_ptr != nullptr) {
                             chaos_ptr->ReleaseHeld(engaged);
                           }
                           for (const auto& key : chaos_cache.ListKeys()) chaos_queue->Add(key);
                         });
  // Watched (that Namespace only: list/watch with resourceNames needs its name as a field
  // selector); polled every 2 s until the watch has synced, or if it never does.
  kube::InformerOptions kill_switch_watch_options;
  kill_switch_watch_options.selectors.field_selector = "metadata.name=" + kill_switch_ns;
  kube::Informer kill_switch_watch(client->Resource({"", "v1", "namespaces", false}),
                                   kill_switch_watch_options);
  kill_switch_watch.AddEventHandler(
      {[&kill_switch](const kube::Json& o) { kill_switch.Observed(KillSwitchValue(o)); },
       [&kill_switch](const kube::Json&, const kube::Json& o) {
         kill_switch.Observed(KillSwitchValue(o));
       },
       [&kill_switch](const kube::Json&) { kill_switch.Observed(std::nullopt); }});
  kill_switch.SetWatch([&kill_switch_watch] { return kill_switch_watch.HasSynced(); });
  FuncRunnable kill_switch_watcher(
      "chaos kill switch watch", false, [&kill_switch_watch] { kill_switch_watch.Run(); },
      [&kill_switch_watch] { kill_switch_watch.Stop(); });
  ChaosReconcilerOptions rops;
  rops.kill_switch = [&kill_switch] { return kill_switch.Engaged(); };
  rops.needs_human = [&rem_cache](const std::string& ns, const std::string& deployment) {
    return RemediationNeedsHuman(rem_cache, ns, deployment);
  };
  rops.prometheus = [&probes](const std::string& url, const std::string& query) {
    return QueryPrometheus(*probes, url, query);
  };
  rops.max_connections_per_experiment = options.max_connections_per_experiment;
  rops.capacity_margin = options.db_capacity_margin;
  rops.max_surge_clients = options.max_surge_clients;
  rops.session_grace = options.session_grace;
  ChaosReconciler chaos(&chaos_cache, reader.get(), engine.get(), chaos_pg_admin.get(), &events,
                        &metrics, clock, rops);
  chaos.set_notifier(&notifier);
  chaos_ptr = &chaos;
  engine->SetOnLost([chaos_queue](const std::string& key) { chaos_queue->Add(key); });
  // The manager, once built below: workers ask it whether they may act (the lease).
  const Manager* manager_ptr = nullptr;
  Controller::Options chaos_options;
  chaos_options.name = "chaosexperiment";
  chaos_options.workers = options.workers;
  chaos_options.may_act = [&manager_ptr] {
    return manager_ptr == nullptr || manager_ptr->MayAct();
  };
  // No fault outlives this process: once the workers have stopped, every fault held here
  // is rolled back and the rollback recorded in status. After a lost lease another replica
  // may lead already: only what lives in this process (sessions, clients) is closed; the
  // status and the faults outside it (a password, a StatefulSet) are the new leader's.
  chaos_options.on_stopped = [&] {
    if (manager_ptr != nullptr && manager_ptr->LostLease()) {
      for (const auto& key : engine->Keys()) engine->Rollback(key);
      spdlog::warn(
          "lost the lease: closed this process's sessions and clients, left status "
          "and outside faults to the new leader");
      return;
    }
    for (const auto& key : chaos.Holding()) {
      try {
        chaos.Shutdown(key);
      } catch (const std::exception& e) {
        spdlog::error("{}: could not record the rollback in status: {}", key, e.what());
      }
      engine->Rollback(key);  // in any case
    }
  };
  Controller chaos_controller(
      chaos_options, chaos_queue, &chaos_cache,
      [&chaos](const std::string& key) { return chaos.Reconcile(key); }, &metrics, clock);

  // ---- ChaosSchedules: experiments created on a cron schedule ----
  const bool schedules_served = SchedulesServed(*client);
  if (!schedules_served) {
    spdlog::warn(
        "the ChaosSchedule CRD is not installed: schedules are off (kubectl apply -f "
        "crds/chaosschedules.poolguard.dev.yaml, then restart the controller)");
  }
  auto schedule_queue = std::make_shared<kube::WorkQueue>(
      clock, kube::DefaultControllerRateLimiter(clock), metrics.QueueMetrics("chaosschedule"));
  InformerSet schedule_cache("chaosschedule", client, kScheduleGvr, options.namespaces,
                             schedule_queue, SpecOrMetadataChanged);
  auto schedule_runs = NewScheduleRuns(client, &chaos_cache);
  ScheduleReconcilerOptions sops;
  sops.kill_switch = [&kill_switch] { return kill_switch.Engaged(); };
  ScheduleReconciler schedules(&schedule_cache, schedule_runs.get(), &events, clock, sops);
  Controller::Options schedule_options;
  schedule_options.name = "chaosschedule";
  schedule_options.workers = 1;  // cheap decisions; one worker keeps creates in order
  schedule_options.may_act = chaos_options.may_act;
  Controller schedule_controller(
      schedule_options, schedule_queue, &schedule_cache,
      [&schedules](const std::string& key) { return schedules.Reconcile(key); }, &metrics, clock);

  // ---- Remediations ----
  auto rem_cluster = NewRemediationCluster(client, &chaos_cache, caches);
  Collector collector(rem_cluster.get(), reader.get(), pg_admin.get(), probes.get(),
                      CollectorOptions{}, clock);
  RemediationReconciler remediation(&rem_cache, &collector, rem_cluster.get(), reader.get(),
                                    pg_admin.get(), &events, &metrics, clock);
  remediation.set_notifier(&notifier);
  Controller::Options rem_options;
  rem_options.name = "remediation";
  rem_options.workers = options.workers;
  rem_options.may_act = chaos_options.may_act;
  Controller rem_controller(
      rem_options, rem_queue, &rem_cache,
      [&remediation](const std::string& key) { return remediation.Reconcile(key); }, &metrics,
      clock);

  // ---- health and metrics, on every replica ----
  http::Router health;
  // All three answer on the server's I/O thread: they never block.
  health.Add(
      "GET", "/healthz", [](const http::Request&) { return http::Response::Text(200, "ok\n"); },
      http::Dispatch::kInline);
  health.Add(
      "GET", "/readyz",
      [&](const http::Request&) {
        return chaos_cache.HasSynced() && rem_cache.HasSynced()
                   ? http::Response::Text(200, "ok\n")
                   : http::Response::Text(503, "informers not synced\n");
      },
      http::Dispatch::kInline);
  http::Router metrics_router;
  metrics_router.Add(
      "GET", "/metrics",
      [&](const http::Request&) {
        // From the phase indexes: no object is copied or parsed per scrape.
        metrics.SetPhaseCounts(chaos_cache.IndexCounts(kPhaseIndex));
        metrics.SetHeld(engine->TotalSessions(), engine->TotalClients());
        metrics.SetRemediationPhaseCounts(rem_cache.IndexCounts(kPhaseIndex));
        return http::MetricsResponse(metrics.registry());
      },
      http::Dispatch::kInline);
  ServerRunnable health_server("health probes", options.health_probe_bind_address,
                               std::move(health));
  ServerRunnable metrics_server("metrics", options.metrics_bind_address, std::move(metrics_router));
  FuncRunnable event_flush("event recorder", false, nullptr, [&recorder] { recorder.Flush(); });
  // Every 10 s the heap's free pages go back to the kernel: the JSON the workers parse and
  // free each tick otherwise keeps each malloc arena at its high-water mark
  // (bench/compare.sh at 1000 Remediations: 66.6 -> 49.9 MB, CPU per reconcile the same).
  Periodic heap_trim("heap trim", std::chrono::seconds(10), TrimHeap);
  FuncRunnable leader_gauge(
      "leader gauge", true, [&metrics] { metrics.SetLeader(true); },
      [&metrics] { metrics.SetLeader(false); });

  // ---- the manager: who runs, in which order, under which lease ----
  std::unique_ptr<LeaderElection> election;
  if (options.leader_elect) {
    kube::LeaderElectionConfig lc;
    lc.lease_namespace = options.leader_election_namespace.empty()
                             ? config.default_namespace
                             : options.leader_election_namespace;
    lc.lease_name = options.leader_election_id;
    lc.identity = Hostname() + "_" + std::to_string(getpid());
    election = std::make_unique<KubeLeaderElection>(client, lc);
  }
  Manager manager(std::move(election));
  manager_ptr = &manager;
  std::vector<Runnable*> runnables{&event_flush,    &heap_trim,   &health_server,
                                   &metrics_server, &kill_switch, &kill_switch_watcher,
                                   &chaos_cache,    &rem_cache};
  if (options.cache_reads) {
    runnables.insert(runnables.end(),
                     {&services_cache, &slices_cache, &deployments_cache, &statefulsets_cache});
  }
  runnables.insert(runnables.end(), {&chaos_controller, &rem_controller, &leader_gauge});
  for (Runnable* r : runnables) manager.Add(r);
  if (schedules_served) {
    manager.Add(&schedule_cache);
    manager.Add(&schedule_controller);
  }

  std::atomic<bool> signalled{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (signalled.exchange(true)) return;  // woken by ourselves below
    spdlog::info("received {}; rolling back every active fault", strsignal(sig));
    manager.RequestStop();
  });
  const Manager::ExitCode code = manager.Run();
  // The Controllers outlive the manager (declared before it): a standby's, never started,
  // run on_stopped in their destructors and must not ask a destroyed manager.
  manager_ptr = nullptr;
  if (!signalled.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  spdlog::info("stopped");
  return code;
}

}  // namespace poolguard::controller
