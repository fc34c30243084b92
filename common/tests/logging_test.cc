#include "poolguard/common/logging.h"

#include <cpprest/json.h>
#include <gtest/gtest.h>

namespace poolguard::logging {
namespace {

TEST(Logging, ParsesLevelsAndFormats) {
  EXPECT_EQ(ParseLevel("INFO"), spdlog::level::info);
  EXPECT_EQ(ParseLevel("warning"), spdlog::level::warn);
  EXPECT_FALSE(ParseLevel("loud").has_value());
  EXPECT_EQ(ParseFormat("JSON"), Format::kJson);
  EXPECT_FALSE(ParseFormat("xml").has_value());
}

TEST(Logging, JsonFormatterEscapesTheMessage) {
  auto formatter = MakeJsonFormatter();
  const std::string payload = "DB_ERROR: \"quoted\"\nsecond line \xFF";
  spdlog::details::log_msg msg("target", spdlog::level::err, payload);
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  const std::string line(out.data(), out.size());
  ASSERT_EQ(line.back(), '\n');
  const auto doc = web::json::value::parse(line.substr(0, line.size() - 1));
  EXPECT_EQ(doc.at("level").as_string(), "error");
  EXPECT_EQ(doc.at("logger").as_string(), "target");
  EXPECT_EQ(doc.at("msg").as_string().rfind("DB_ERROR: \"quoted\"\nsecond line", 0), 0u);
}

}  // namespace
}  // namespace poolguard::logging
