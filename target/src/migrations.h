#pragma once

#include <pqxx/connection>
#include <stdexcept>
#include <string>
#include <vector>

namespace poolguard::target {

/// One schema change: target/migrations/NNNN_name.sql, compiled into the binary.
struct Migration {
  int version = 0;
  std::string name;  // the file name
  std::string sql;
};

/// The migrations compiled into this binary, ordered by version.
const std::vector<Migration>& EmbeddedMigrations();

/// Checksum recorded for a migration (hex SHA-256 of its SQL).
std::string Checksum(const std::string& sql);

class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MigrationReport {
  std::vector<std::string> applied;  // names applied by this call
  std::size_t already_applied = 0;
};

/// Applies the migrations not yet recorded in schema_migrations, each in its own
/// transaction, under a PostgreSQL advisory lock so replicas starting together apply
/// each once. Throws MigrationError when an applied migration's checksum changed or one
/// fails (naming it and the server's message).
MigrationReport ApplyMigrations(pqxx::connection& connection,
                                const std::vector<Migration>& migrations);

}  // namespace poolguard::target
