// ChaosSchedule input: the cron expression and the whole spec come from whoever may create
// a ChaosSchedule; zone rules and TZif bytes come from files, fuzzed so a damaged zoneinfo
// cannot crash the controller either. The first byte picks what the rest is.
#include <cpprest/json.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chaos/schedule.h"
#include "core/cron.h"
#include "core/time_zone.h"

namespace {

using namespace poolguard::controller;

// What every zone must satisfy, whatever it was read from.
void CheckZone(const TimeZone& zone) {
  for (int64_t local : {int64_t{0}, int64_t{1'800'000'000}, int64_t{4'102'444'800}}) {
    const int64_t t = zone.FirstInstantOf(local);
    // Either local happens at t, or the clocks jump past it at t.
    if (t + zone.OffsetAt(t) != local && t + zone.OffsetAt(t) <= local) __builtin_trap();
  }
}

void Cron(std::string_view text) {
  const auto nl = text.find('\n');
  std::string error;
  const auto cron = CronSchedule::Parse(text.substr(0, nl), &error);
  if (!cron) {
    if (error.empty()) __builtin_trap();  // a refusal says why
    return;
  }
  TimeZone zone;
  if (nl != std::string_view::npos) {
    try {
      zone = TimeZone::FromPosix(text.substr(nl + 1));
    } catch (const std::invalid_argument&) {
    }
  }
  int64_t t = 1'800'000'000;
  for (int i = 0; i < 5; ++i) {
    const auto next = cron->Next(t, zone);
    if (!next) return;
    if (*next <= t) __builtin_trap();  // time moves forward
    t = *next;
  }
}

void Spec(std::string_view text) {
  Json object;
  try {
    object = Json::parse(std::string(text));
  } catch (const std::exception&) {
    return;
  }
  ScheduleObserved o;
  o.name = "s";
  o.ns = "n";
  o.generation = 1;
  o.spec = ParseScheduleSpec(object);
  if (!o.spec.spec && o.spec.error.empty()) __builtin_trap();
  o.status = ParseScheduleStatus(object);
  o.zone = TimeZone();
  o.created = WallTime(std::chrono::seconds(1'800'000'000));
  o.now = o.created + std::chrono::hours(25);
  const ScheduleDecision d = DecideSchedule(o);
  // What is written reads back the same, or status would be written on every look.
  Json stored = Json::object();
  stored["status"] = ToJson(d.status);
  if (ParseScheduleStatus(stored) != d.status) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0:
        Cron(rest);
        break;
      case 1:
        CheckZone(TimeZone::FromPosix(rest));
        break;
      case 2:
        CheckZone(TimeZone::FromTzif(rest, "fuzz"));
        break;
      default:
        Spec(rest);
    }
  } catch (const std::invalid_argument&) {
    // refused with a message: what bad input gets
  }
  return 0;
}
