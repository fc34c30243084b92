#include "migrations.h"

#include <openssl/evp.h>

#include <map>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

namespace poolguard::target {
namespace {

// Any constant works as long as every replica uses the same one: "poolguar" in ASCII.
constexpr long long kAdvisoryLockKey = 0x706f6f6c67756172LL;

class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection& c) : c_(c) {
    pqxx::nontransaction(c_).exec("SELECT pg_advisory_lock(" + std::to_string(kAdvisoryLockKey) +
                                  ")");
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction(c_).exec("SELECT pg_advisory_unlock(" +
                                    std::to_string(kAdvisoryLockKey) + ")");
    } catch (...) {
      // The lock dies with the session anyway.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& c_;
};

}  // namespace

std::string Checksum(const std::string& sql) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(sql.data(), sql.size(), digest, &length, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

MigrationReport ApplyMigrations(pqxx::connection& connection,
                                const std::vector<Migration>& migrations) {
  MigrationReport report;
  AdvisoryLock lock(connection);
  pqxx::nontransaction(connection)
      .exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version INTEGER PRIMARY KEY,"
          " name TEXT NOT NULL,"
          " checksum TEXT NOT NULL,"
          " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
  std::map<int, std::pair<std::string, std::string>> recorded;
  {
    pqxx::nontransaction tx(connection);
    for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations")) {
      recorded[row[0].template as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
  }
  for (const Migration& m : migrations) {
    const std::string sum = Checksum(m.sql);
    if (auto it = recorded.find(m.version); it != recorded.end()) {
      if (it->second.second != sum) {
        throw MigrationError("migration " + m.name +
                             " was changed after it was applied (recorded checksum " +
                             it->second.second + ", file now " + sum +
                             "); add a new migration instead of editing an applied one");
      }
      ++report.already_applied;
      continue;
    }
    try {
      pqxx::work tx(connection);
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     m.version, m.name, sum);
      tx.commit();
    } catch (const std::exception& e) {
      throw MigrationError("migration " + m.name + " failed and was rolled back: " + e.what());
    }
    report.applied.push_back(m.name);
  }
  return report;
}

}  // namespace poolguard::target
