// Which sessions are the target's: the rule of SessionFilter, apart from any connection.

#include <algorithm>
#include <string>
#include <string_view>

#include "core/pg_admin.h"

namespace poolguard::controller {

std::string SessionFilter::Describe() const {
  std::string out;
  if (!role.empty()) {
    out = "role \"" + role + "\"";
    if (!application_name.empty()) out += " with application_name \"" + application_name + "\"";
  }
  if (!addresses.empty()) {
    if (!out.empty()) out += " or ";
    out += "a client address of " + std::to_string(addresses.size()) +
           (addresses.size() == 1 ? " pod" : " pods");
  }
  return out.empty() ? "nothing" : out;
}

bool IsControllerSession(std::string_view application_name) {
  return application_name.substr(0, 20) == "poolguard-controller" ||
         application_name.substr(0, 16) == "poolguard-chaos/";
}

bool IsTargetSession(const SessionFilter& filter, std::string_view application_name,
                     std::string_view role, std::string_view client_address) {
  if (IsControllerSession(application_name)) return false;
  if (!client_address.empty() && std::find(filter.addresses.begin(), filter.addresses.end(),
                                           client_address) != filter.addresses.end()) {
    return true;
  }
  if (filter.role.empty() || role != filter.role) return false;
  return filter.application_name.empty() || application_name == filter.application_name;
}

}  // namespace poolguard::controller
