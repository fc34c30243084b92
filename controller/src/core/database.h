#pragma once

// The database both kinds work on: where and as whom to connect, and what PostgreSQL says
// about its connection slots.

#include <string>

namespace poolguard::controller {

struct Endpoint {
  std::string host;
  int port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

/// Where and as whom to connect. The password never leaves this struct: it is not logged
/// and no error message built by the controller contains it.
struct DbTarget {
  Endpoint endpoint;
  std::string user;
  std::string password;
  std::string database = "postgres";
};

/// What PostgreSQL says about its connection slots.
struct DbCapacity {
  int max_connections = 0;
  int reserved = 0;  // superuser_reserved_connections
  int in_use = 0;    // client backends right now (our probe included)
};

}  // namespace poolguard::controller
