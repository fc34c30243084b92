// poolguard-controller: main() only parses flags, sets up logging and runs the controller.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "app/app.h"
#include "app/options.h"
#include "poolguard/common/logging.h"

extern char** environ;

int main(int argc, char** argv) {
  using namespace poolguard;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const auto parsed =
      controller::ParseOptions(std::vector<std::string>(argv + 1, argv + argc), env);
  if (!parsed.error.empty()) {
    std::cerr << "poolguard-controller: " << parsed.error << "\n";
    return 2;
  }
  if (parsed.options.help) {
    std::cout << controller::Usage();
    return 0;
  }
  logging::Setup("poolguard-controller", *logging::ParseLevel(parsed.options.log_level),
                 *logging::ParseFormat(parsed.options.log_format));
  return controller::RunController(parsed.options);
}
