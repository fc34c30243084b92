// The console's HTTP surface: the page and its assets, the reads it shows, and the control
// API (the reference design's /break/* and /action/*). Every call that touches the cluster
// goes to the API server as the caller (their bearer token), so RBAC decides.
#pragma once

#include <poolguard/common/http_server.h>

#include <memory>
#include <string>

#include "user_clients.h"

namespace poolguard::console {

class ConsoleApi {
 public:
  explicit ConsoleApi(std::shared_ptr<UserClients> clients);

  /// Routes: GET / (the page), /console.js, /console.css, /livez; GET /api/whoami,
  /// /api/remediations, /api/experiments, /api/events, /api/watch; POST /break/db_pool,
  /// /break/abort, GET /break; POST /action/approve, /action/reject, GET /action.
  http::Router MakeRouter();

 private:
  std::shared_ptr<UserClients> clients_;
};

}  // namespace poolguard::console
