#pragma once

// metav1.Condition, as both kinds keep them in status: lastTransitionTime moves only when
// the status flips.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace poolguard::controller {

/// metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  std::optional<WallTime> last_transition_time;
  int64_t observed_generation = 0;
  bool operator==(const Condition&) const = default;
};

/// Sets or adds a condition; lastTransitionTime changes only when status flips.
void SetCondition(std::vector<Condition>* conditions, Condition condition, WallTime now);
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);
/// A status object's `conditions`, read with the given field readers (core/json.h):
/// `time_field` for lastTransitionTime, `int_field` for observedGeneration.
std::vector<Condition> ParseConditions(
    const Json& status, std::optional<WallTime> (*time_field)(const Json&, const std::string&),
    std::optional<int64_t> (*int_field)(const Json&, const std::string&));
/// `conditions` as status stores them, lastTransitionTime in whole seconds (metav1.Time).
Json ConditionsToJson(const std::vector<Condition>& conditions);

}  // namespace poolguard::controller
