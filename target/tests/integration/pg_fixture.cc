#include "pg_fixture.h"

#include <cpprest/http_client.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
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
  base_url_ = "http://" + env["BIND_ADDRESS"] + ":" + env["PORT"];
  char tmpl[] = "/tmp/poolguard-target-log-XXXXXX";
  const int log_fd = mkstemp(tmpl);
  log_path_ = tmpl;
  std::vector<std::string> strings;
  strings.push_back("PATH=" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin"));
  if (env.find("ENV_FILE") == env.end()) strings.push_back("ENV_FILE=/nonexistent/.env");
  for (const auto& [k, v] : env) strings.push_back(k + "=" + v);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    std::vector<char*> envp;
    for (auto& s : strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(POOLGUARD_TARGET_BINARY), nullptr};
    execve(POOLGUARD_TARGET_BINARY, argv, envp.data());
    _exit(127);
  }
  close(log_fd);
}

TargetProcess::~TargetProcess() {
  if (pid_ > 0 && exit_code_ == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(log_path_.c_str());
}

bool TargetProcess::WaitUntilServing(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    if (HttpCall(base_url_, "GET", "/livez", "", "", std::chrono::seconds(2)).status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int TargetProcess::WaitForExit(std::chrono::seconds timeout) {
  if (exit_code_ != -1) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int TargetProcess::Terminate(std::chrono::seconds timeout) {
  if (exit_code_ != -1) return exit_code_;
  kill(pid_, SIGTERM);
  const int code = WaitForExit(timeout);
  if (code == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exit_code_ = 137;
    return -1;
  }
  return code;
}

std::string TargetProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace poolguard::testing
