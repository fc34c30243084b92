#include "app/kill_switch.h"

#include <spdlog/spdlog.h>

#include "poolguard/common/json_util.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller {

KillSwitch::KillSwitch(std::string where, KillSwitchReader read, std::chrono::milliseconds interval,
                       std::function<void()> on_change)
    : where_(std::move(where)),
      read_(std::move(read)),
      on_change_(std::move(on_change)),
      poller_("chaos kill switch poll", interval, [this] { PollUnlessWatched(); }) {}

std::string KillSwitch::Engaged() const {
  std::lock_guard lock(mutex_);
  if (!on_) return "";
  return where_ + " carries " + kKillSwitchAnnotation + "=\"" + value_ + "\"";
}

void KillSwitch::Poll() {
  uint64_t seq = 0;
  {
    std::lock_guard lock(mutex_);
    seq = watch_seq_;
  }
  std::optional<std::string> read;
  try {
    read = read_();
  } catch (const std::exception& e) {
    // The last state holds: a failed read neither starts nor stops experiments.
    std::lock_guard lock(mutex_);
    if (last_error_ != e.what()) spdlog::warn("cannot read the chaos kill switch: {}", e.what());
    last_error_ = e.what();
    return;
  }
  Apply(read, seq);
}

void KillSwitch::Observed(const std::optional<std::string>& value) {
  {
    std::lock_guard lock(mutex_);
    ++watch_seq_;
  }
  Apply(value, std::nullopt);
}

void KillSwitch::Apply(const std::optional<std::string>& read,
                       std::optional<uint64_t> only_if_seq) {
  // Only the first line, bounded: the value is shown in status messages.
  const bool on = read.has_value();
  const std::string value = on ? read->substr(0, read->find('\n')).substr(0, 200) : "";
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    // A watch event since this poll's read began is newer than what it read.
    if (only_if_seq && *only_if_seq != watch_seq_) return;
    last_error_.clear();
    changed = on != on_ || value != value_;
    on_ = on;
    value_ = value;
  }
  if (!changed) return;
  if (on) {
    spdlog::warn("chaos kill switch ON ({}=\"{}\" on {}): rolling back every experiment",
                 kKillSwitchAnnotation, value, where_);
  } else {
    spdlog::info("chaos kill switch off ({}): experiments may start again", where_);
  }
  if (on_change_) on_change_();
}

void KillSwitch::Start() {
  Poll();
  poller_.Start();
}

void KillSwitch::Stop() { poller_.Stop(); }

void KillSwitch::PollUnlessWatched() {
  // Watched: the watch keeps the switch, no request is made.
  if (!watch_synced_ || !watch_synced_()) Poll();
}

std::optional<std::string> KillSwitchValue(const kube::Json& ns_object) {
  const kube::Json* v = json::Find(ns_object, {"metadata", "annotations", kKillSwitchAnnotation});
  if (v == nullptr) return std::nullopt;
  return v->is_string() ? v->as_string() : std::string();
}

KillSwitchReader NamespaceAnnotationReader(std::shared_ptr<kube::Client> client, std::string ns) {
  return [client = std::move(client), ns = std::move(ns)]() -> std::optional<std::string> {
    try {
      return KillSwitchValue(client->Resource({"", "v1", "namespaces", false}).Get(ns));
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return std::nullopt;
      throw;
    }
  };
}

}  // namespace poolguard::controller
