#include "app/options.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

TEST(Options, Defaults) {
  const auto r = ParseOptions({}, {});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.options.metrics_bind_address, ":8080");
  EXPECT_FALSE(r.options.leader_elect);
  EXPECT_EQ(r.options.max_connections_per_experiment, 200);
}

TEST(Options, FlagsOverrideEnvironment) {
  const auto r = ParseOptions(
      {"--namespaces=a,b", "--leader-elect", "--max-connections-per-experiment", "50",
       "--log-format=json"},
      {{"POOLGUARD_MAX_CONNECTIONS_PER_EXPERIMENT", "10"}, {"POOLGUARD_NAMESPACES", "z"}});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.options.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.options.leader_elect);
  EXPECT_EQ(r.options.max_connections_per_experiment, 50);
  EXPECT_EQ(r.options.log_format, "json");
}

TEST(Options, AnEmptyVariableIsUnset) {
  const auto r = ParseOptions({}, {{"POOLGUARD_LEADER_ELECT", ""},
                                   {"POOLGUARD_LEADER_ELECTION_ID", ""},
                                   {"POOLGUARD_MAX_CONNECTIONS_PER_EXPERIMENT", ""}});
  ASSERT_EQ(r.error, "");
  EXPECT_FALSE(r.options.leader_elect);
  EXPECT_EQ(r.options.leader_election_id, "poolguard-controller");
  EXPECT_EQ(r.options.max_connections_per_experiment, 200);
  // A bare flag still means true.
  EXPECT_TRUE(ParseOptions({"--leader-elect"}, {}).options.leader_elect);
}

TEST(Options, BadInputNamesTheFlag) {
  EXPECT_EQ(ParseOptions({"--bogus"}, {}).error, "unknown flag --bogus (see --help)");
  EXPECT_NE(ParseOptions({"--max-connections-per-experiment=lots"}, {})
                .error.find("invalid --max-connections-per-experiment=\"lots\""),
            std::string::npos);
  EXPECT_NE(ParseOptions({"--metrics-bind-address=nowhere"}, {}).error.find("host:port"),
            std::string::npos);
  EXPECT_NE(ParseOptions({}, {{"POOLGUARD_LOG_LEVEL", "loud"}}).error.find("POOLGUARD_LOG_LEVEL"),
            std::string::npos);
  EXPECT_EQ(ParseOptions({"--kubeconfig"}, {}).error, "flag --kubeconfig needs a value");
}

TEST(Options, UsageListsEveryFlag) {
  const std::string u = Usage();
  for (const char* f :
       {"--kubeconfig", "--namespaces", "--metrics-bind-address", "--health-probe-bind-address",
        "--leader-elect", "--leader-election-namespace", "--log-level", "--log-format",
        "--max-connections-per-experiment"}) {
    EXPECT_NE(u.find(f), std::string::npos) << f;
  }
}

TEST(Options, BindAddress) {
  EXPECT_EQ(ParseBindAddress(":8080"), std::make_pair(std::string("0.0.0.0"), 8080));
  EXPECT_EQ(ParseBindAddress("127.0.0.1:0"), std::make_pair(std::string("127.0.0.1"), 0));
  EXPECT_FALSE(ParseBindAddress("8080"));
}

}  // namespace
}  // namespace poolguard::controller
