#include "pg_fixture.h"

#include <cpprest/http_client.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace poolguard::testing {

PgServer& PgServer::Shared() {
  static PgServer server;
  return server;
}

PgServer::PgServer() : server_("poolguard-pg", max_connections_) {
  Run("psql -q '" + SuperuserUrl() + "' -c \"CREATE ROLE app LOGIN PASSWORD 'app'\"");
}

std::string PgServer::Url(const std::string& user, const std::string& password,
                          const std::string& database) const {
  return server_.Url(user, password, database);
}

std::string PgServer::CreateDatabase() {
  const std::string name = "test_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
  Run("psql -q '" + SuperuserUrl() + "' -c 'CREATE DATABASE " + name + " OWNER app'");
  return name;
}

HttpResult HttpCall(const std::string& base_url, const std::string& method, const std::string& path,
                    const std::string& body, const std::string& content_type,
                    std::chrono::seconds timeout) {
  HttpResult result;
  const auto start = std::chrono::steady_clock::now();
  try {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    web::http::client::http_client client(base_url, config);
    web::http::http_request request(method);
    request.set_request_uri(path);
    if (!body.empty() || method == "POST") request.set_body(body, content_type);
    auto response = client.request(request).get();
    result.status = response.status_code();
    result.body = response.extract_utf8string(true).get();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

TargetProcess::TargetProcess(std::map<std::string, std::string> env) {
  if (env.find("PORT") == env.end()) env["PORT"] = std::to_string(FreePort());
  if (env.find("BIND_ADDRESS") == env.end()) env["BIND_ADDRESS"] = "127.0.0.1";
  if (env.find("ENV_FILE") == env.end()) env["ENV_FILE"] = "/nonexistent/.env";
  base_url_ = "http://" + env["BIND_ADDRESS"] + ":" + env["PORT"];
  process_ =
      std::make_unique<ChildProcess>(POOLGUARD_TARGET_BINARY, std::vector<std::string>{}, env);
}

bool TargetProcess::WaitUntilServing(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (process_->Poll()) return false;
    if (HttpCall(base_url_, "GET", "/livez", "", "", std::chrono::seconds(2)).status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int TargetProcess::WaitForExit(std::chrono::seconds timeout) { return process_->Wait(timeout); }

int TargetProcess::Terminate(std::chrono::seconds timeout) {
  if (auto code = process_->Poll()) return *code;
  process_->Signal(SIGTERM);
  const int code = process_->Wait(timeout);
  if (code == -1) {
    process_->Kill();
    return -1;
  }
  return code;
}

}  // namespace poolguard::testing
