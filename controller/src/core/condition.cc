#include "core/condition.h"

namespace poolguard::controller {

void SetCondition(std::vector<Condition>* conditions, Condition condition, WallTime now) {
  for (auto& c : *conditions) {
    if (c.type != condition.type) continue;
    if (c.status != condition.status || !c.last_transition_time) {
      condition.last_transition_time = TruncateToSeconds(now);
    } else {
      condition.last_transition_time = c.last_transition_time;
    }
    c = std::move(condition);
    return;
  }
  condition.last_transition_time = TruncateToSeconds(now);
  conditions->push_back(std::move(condition));
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::vector<Condition> ParseConditions(
    const Json& status, std::optional<WallTime> (*time_field)(const Json&, const std::string&),
    std::optional<int64_t> (*int_field)(const Json&, const std::string&)) {
  std::vector<Condition> conditions;
  const Json* conds = Field(status, "conditions");
  if (conds == nullptr || !conds->is_array()) return conditions;
  for (const auto& c : conds->as_array()) {
    Condition cond;
    cond.type = StringField(c, "type");
    cond.status = StringField(c, "status");
    cond.reason = StringField(c, "reason");
    cond.message = StringField(c, "message");
    cond.last_transition_time = time_field(c, "lastTransitionTime");
    cond.observed_generation = int_field(c, "observedGeneration").value_or(0);
    conditions.push_back(cond);
  }
  return conditions;
}

Json ConditionsToJson(const std::vector<Condition>& conditions) {
  Json conds = Json::array();
  size_t i = 0;
  for (const auto& c : conditions) {
    Json j = Json::object();
    j["type"] = Json::string(c.type);
    j["status"] = Json::string(c.status);
    j["reason"] = Json::string(c.reason);
    j["message"] = Json::string(c.message);
    j["lastTransitionTime"] = Json::string(FormatTime(c.last_transition_time.value_or(WallTime{})));
    j["observedGeneration"] = Json::number(c.observed_generation);
    conds[i++] = j;
  }
  return conds;
}

}  // namespace poolguard::controller
