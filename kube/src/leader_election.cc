#include "poolguard/kube/leader_election.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "log_internal.h"
#include "poolguard/common/json_util.h"
#include "time_util.h"

namespace poolguard::kube {

namespace {
const GroupVersionResource kLeases{"coordination.k8s.io", "v1", "leases", true};
}  // namespace

class LeaderElector::Impl {
 public:
  Impl(std::shared_ptr<Client> client, LeaderElectionConfig config)
      : leases_(client->Resource(kLeases, config.lease_namespace)),
        config_(std::move(config)),
        clock_(client->clock()) {
    if (config_.lease_name.empty() || config_.identity.empty() || config_.lease_namespace.empty()) {
      throw std::invalid_argument("leader election needs lease_namespace, lease_name, identity");
    }
    if (config_.renew_deadline >= config_.lease_duration) {
      throw std::invalid_argument("leader election: renew_deadline must be < lease_duration");
    }
  }

  ~Impl() { Stop(); }

  void Run() {
    std::lock_guard<std::mutex> guard(run_mutex_);
    if (thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = false;
    }
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    std::lock_guard<std::mutex> guard(run_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  bool IsLeader() const {
    std::lock_guard<std::mutex> lock(mutex_);
    // A renewal older than renew_deadline is no lease by our own clock, even before the
    // renew loop notices (a process frozen with SIGSTOP and woken runs its workers first).
    return leading_ && clock_->Now() - last_renew_ <
                           std::chrono::duration_cast<Clock::Duration>(config_.renew_deadline);
  }

  std::string CurrentLeader() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return observed_holder_;
  }

 private:
  std::string What() const {
    return "lease " + config_.lease_namespace + "/" + config_.lease_name + " (" + config_.identity +
           ")";
  }

  int DurationSeconds() const {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
    return static_cast<int>(s < 1 ? 1 : s);
  }

  void Observe(const Json& spec, Clock::TimePoint now) {
    // The lease's age is judged from when *we* saw its record change, on our own clock,
    // never from the renewTime written by another machine's clock.
    std::string record = spec.serialize();
    std::string holder = json::StringField(spec, "holderIdentity");
    std::string previous;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (record != observed_record_) {
        observed_record_ = record;
        observed_time_ = now;
      }
      previous = observed_holder_;
      observed_holder_ = holder;
    }
    if (holder != previous && !holder.empty() && config_.on_new_leader) {
      config_.on_new_leader(holder);
    }
  }

  Json NewSpec(const Json* old_spec) const {
    std::string wall = time_util::Rfc3339(clock_->WallNow(), true);
    Json spec = Json::object();
    spec["holderIdentity"] = Json::string(config_.identity);
    spec["leaseDurationSeconds"] = Json::number(DurationSeconds());
    spec["renewTime"] = Json::string(wall);
    int transitions = 0;
    std::string acquire = wall;
    if (old_spec) {
      transitions = json::IntOr(*old_spec, "leaseTransitions", 0);
      if (json::StringField(*old_spec, "holderIdentity") == config_.identity) {
        std::string prev = json::StringField(*old_spec, "acquireTime");
        if (!prev.empty()) acquire = prev;
      } else {
        ++transitions;
      }
    }
    spec["acquireTime"] = Json::string(acquire);
    spec["leaseTransitions"] = Json::number(transitions);
    return spec;
  }

  // One attempt to take or keep the lease; true when we hold it afterwards.
  bool TryAcquireOrRenew() {
    auto now = clock_->Now();
    Json lease;
    try {
      lease = leases_.Get(config_.lease_name);
    } catch (const ApiError& e) {
      if (!IsNotFound(e)) throw;
      Json obj = Json::object();
      obj["apiVersion"] = Json::string("coordination.k8s.io/v1");
      obj["kind"] = Json::string("Lease");
      obj["metadata"] = Json::object();
      obj["metadata"]["name"] = Json::string(config_.lease_name);
      obj["metadata"]["namespace"] = Json::string(config_.lease_namespace);
      obj["spec"] = NewSpec(nullptr);
      try {
        Json created = leases_.Create(obj);
        Observe(created.at("spec"), now);
        return true;
      } catch (const ApiError& ce) {
        if (IsAlreadyExists(ce)) return false;  // another candidate was faster
        throw;
      }
    }
    Json spec = lease.has_field("spec") ? lease.at("spec") : Json::object();
    Observe(spec, now);
    std::string holder = json::StringField(spec, "holderIdentity");
    bool held_by_other = !holder.empty() && holder != config_.identity;
    if (held_by_other) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (observed_time_ + config_.lease_duration > now) return false;  // still valid
    }
    lease["spec"] = NewSpec(&spec);
    try {
      // metadata.resourceVersion from the Get makes this a compare-and-swap.
      Json updated = leases_.Update(lease);
      Observe(updated.at("spec"), now);
      return true;
    } catch (const ApiError& ue) {
      if (IsConflict(ue)) return false;  // someone else wrote it first
      throw;
    }
  }

  bool TryOnce() {
    try {
      return TryAcquireOrRenew();
    } catch (const std::exception& e) {
      internal::Log(LogLevel::kWarning, What() + ": " + e.what());
      return false;
    }
  }

  void Release() {
    try {
      Json lease = leases_.Get(config_.lease_name);
      Json spec = lease.has_field("spec") ? lease.at("spec") : Json::object();
      if (json::StringField(spec, "holderIdentity") != config_.identity) return;
      std::string wall = time_util::Rfc3339(clock_->WallNow(), true);
      spec["holderIdentity"] = Json::string("");
      spec["leaseDurationSeconds"] = Json::number(1);
      spec["renewTime"] = Json::string(wall);
      spec["acquireTime"] = Json::string(wall);
      lease["spec"] = spec;
      leases_.Update(lease);
    } catch (const std::exception& e) {
      internal::Log(LogLevel::kWarning, What() + ": release failed: " + e.what());
    }
  }

  bool Sleep(Clock::Duration d) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto deadline = clock_->Now() + d;
    while (!stopped_ && clock_->Now() < deadline) clock_->WaitUntil(lock, cv_, deadline);
    return !stopped_;
  }

  bool Stopped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopped_;
  }

  void SetLeading(bool v) {
    std::lock_guard<std::mutex> lock(mutex_);
    leading_ = v;
    if (v) last_renew_ = clock_->Now();
  }
  void Renewed(Clock::TimePoint at) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_renew_ = at;
  }

  void Loop() {
    const auto retry = std::chrono::duration_cast<Clock::Duration>(config_.retry_period);
    const auto deadline = std::chrono::duration_cast<Clock::Duration>(config_.renew_deadline);
    while (!Stopped()) {
      // Campaign.
      while (!Stopped() && !TryOnce()) Sleep(retry);
      if (Stopped()) break;
      SetLeading(true);
      internal::Log(LogLevel::kInfo, What() + ": became leader");
      if (config_.on_started_leading) config_.on_started_leading();
      // Renew until stopped or until renewals have failed for renew_deadline.
      auto last_renew = clock_->Now();
      bool lost = false;
      while (Sleep(retry)) {
        const auto attempt = clock_->Now();
        if (TryOnce()) {
          last_renew = clock_->Now();
          Renewed(attempt);  // valid from when the renewal was sent, not when it came back
        } else if (clock_->Now() - last_renew >= deadline) {
          lost = true;
          break;
        }
      }
      SetLeading(false);
      if (lost) {
        internal::Log(LogLevel::kWarning, What() + ": lost leadership (renew deadline passed)");
      } else if (config_.release_on_cancel) {
        Release();
      }
      if (config_.on_stopped_leading) config_.on_stopped_leading();
    }
  }

  ResourceClient leases_;
  LeaderElectionConfig config_;
  std::shared_ptr<Clock> clock_;

  std::mutex run_mutex_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool leading_ = false;
  Clock::TimePoint last_renew_{};
  std::string observed_record_;
  std::string observed_holder_;
  Clock::TimePoint observed_time_{};
};

LeaderElector::LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(config))) {}
LeaderElector::~LeaderElector() = default;
void LeaderElector::Run() { impl_->Run(); }
void LeaderElector::Stop() { impl_->Stop(); }
bool LeaderElector::IsLeader() const { return impl_->IsLeader(); }
std::string LeaderElector::CurrentLeader() const { return impl_->CurrentLeader(); }

}  // namespace poolguard::kube
