#include "poolguard/common/json_util.h"

#include <gtest/gtest.h>

namespace poolguard::json {
namespace {

TEST(JsonEscape, EscapesQuotesControlCharactersAndBadUtf8) {
  EXPECT_EQ(Escape("plain"), "plain");
  EXPECT_EQ(Escape("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nd\\te");
  EXPECT_EQ(Escape(std::string("\x01", 1)), "\\u0001");
  EXPECT_EQ(Escape("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(Escape("bad\xFF"), "bad\xEF\xBF\xBD");
  EXPECT_EQ(Escape("trunc\xE2\x82"), "trunc\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(JsonEscape, OutputAlwaysParses) {
  const std::string nasty = std::string("x\"\\\x00\x1f\x7f\xC0\xAF\xED\xA0\x80 end", 16);
  const std::string doc = "{\"m\":\"" + Escape(nasty) + "\"}";
  EXPECT_NO_THROW(web::json::value::parse(doc)) << doc;
}

TEST(ErrorBody, HasCodeAndMessage) {
  const auto body = ErrorBody("NotFound", "no item 7");
  EXPECT_EQ(body.at("error").at("code").as_string(), "NotFound");
  EXPECT_EQ(body.at("error").at("message").as_string(), "no item 7");
}

}  // namespace
}  // namespace poolguard::json
