#include "config.h"

#include <gtest/gtest.h>

#include <map>

namespace poolguard::target {
namespace {

VariableSource From(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const std::string kUrl = "postgresql://app:secret@db:5432/app";

TEST(Config, DefaultsMatchTheReferencePool) {
  const Config c = LoadConfig(From({{"DATABASE_URL", kUrl}}));
  EXPECT_EQ(c.pool_size, 5u);
  EXPECT_EQ(c.max_overflow, 0u);
  EXPECT_DOUBLE_EQ(c.pool_timeout_seconds, 3.0);
  EXPECT_TRUE(c.pool_pre_ping);
  EXPECT_EQ(c.bind_address, "0.0.0.0");
  EXPECT_EQ(c.port, 8000);
}

TEST(Config, ReadsEveryVariable) {
  const Config c = LoadConfig(From({{"DATABASE_URL", kUrl},
                                    {"BIND_ADDRESS", "127.0.1.7"},
                                    {"PORT", "9000"},
                                    {"DB_POOL_SIZE", "10"},
                                    {"DB_MAX_OVERFLOW", "2"},
                                    {"DB_POOL_TIMEOUT", "0.25"},
                                    {"DB_POOL_PRE_PING", "false"},
                                    {"LOG_LEVEL", "debug"},
                                    {"LOG_FORMAT", "json"}}));
  EXPECT_EQ(c.bind_address, "127.0.1.7");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.pool_size, 10u);
  EXPECT_EQ(c.max_overflow, 2u);
  EXPECT_DOUBLE_EQ(c.pool_timeout_seconds, 0.25);
  EXPECT_FALSE(c.pool_pre_ping);
  EXPECT_EQ(c.log_level, spdlog::level::debug);
  EXPECT_EQ(c.log_format, logging::Format::kJson);
}

struct BadCase {
  std::string name;
  std::string value;
};

void PrintTo(const BadCase& b, std::ostream* os) { *os << b.name << "=" << b.value; }

class ConfigRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigRejects, NamingTheVariableAndTheValue) {
  const BadCase& bad = GetParam();
  std::map<std::string, std::string> vars{{"DATABASE_URL", kUrl}};
  vars[bad.name] = bad.value;
  try {
    LoadConfig(From(vars));
    FAIL() << bad.name << "=" << bad.value << " was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(bad.name), std::string::npos) << message;
    if (bad.name != "DATABASE_URL") {
      EXPECT_NE(message.find(bad.value), std::string::npos) << message;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Values, ConfigRejects,
    ::testing::Values(BadCase{"PORT", "0"}, BadCase{"PORT", "70000"}, BadCase{"PORT", "80a"},
                      BadCase{"DB_POOL_SIZE", "0"}, BadCase{"DB_POOL_SIZE", "-1"},
                      BadCase{"DB_MAX_OVERFLOW", "-3"}, BadCase{"DB_POOL_TIMEOUT", "abc"},
                      BadCase{"DB_POOL_TIMEOUT", "0"}, BadCase{"DB_POOL_TIMEOUT", "nan"},
                      BadCase{"DB_POOL_PRE_PING", "maybe"}, BadCase{"LOG_LEVEL", "loud"},
                      BadCase{"LOG_FORMAT", "xml"}, BadCase{"BIND_ADDRESS", "999.1.1.1"},
                      BadCase{"DATABASE_URL", "mysql://x@y/z"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return param_info.param.name + "_" + std::to_string(param_info.index);
    });

TEST(Config, RequiresTheDatabaseUrl) {
  try {
    LoadConfig(From({}));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("DATABASE_URL is not set"), std::string::npos);
  }
}

TEST(Config, RedactsPasswords) {
  EXPECT_EQ(RedactUrl("postgresql://app:secret@db:5432/app"), "postgresql://app:***@db:5432/app");
  EXPECT_EQ(RedactUrl("postgresql://app@db/app"), "postgresql://app@db/app");
}

}  // namespace
}  // namespace poolguard::target
