#include "poolguard/common/json_util.h"

#include <gtest/gtest.h>

#include <limits>

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

TEST(IntField, ReadsIntegersAndTruncatesFractions) {
  const auto o = Json::parse(R"({"a": 42, "b": -7, "c": 2.9, "d": -2.9, "e": "3", "f": null})");
  EXPECT_EQ(IntField(o, "a"), 42);
  EXPECT_EQ(IntField(o, "b"), -7);
  EXPECT_EQ(IntField(o, "c"), 2);
  EXPECT_EQ(IntField(o, "d"), -2);
  EXPECT_EQ(IntField(o, "e"), std::nullopt);
  EXPECT_EQ(IntField(o, "f"), std::nullopt);
  EXPECT_EQ(IntField(o, "missing"), std::nullopt);
  EXPECT_EQ(RoundedIntField(o, "c"), 3);
  EXPECT_EQ(RoundedIntField(o, "d"), -3);
}

// What a peer sends may not fit: the answer is "not an integer", never undefined behaviour
// (the fuzzer found 1.1e27 in a ChaosExperiment's status).
TEST(IntField, ValuesOutsideInt64AreNotIntegers) {
  const auto o = Json::parse(R"({"huge": 1.11111e27, "tiny": -1e300, "edge": 9223372036854775807,)"
                             R"( "past": 18446744073709551615, "two63": 9223372036854775808.0})");
  EXPECT_EQ(IntField(o, "huge"), std::nullopt);
  EXPECT_EQ(IntField(o, "tiny"), std::nullopt);
  EXPECT_EQ(IntField(o, "edge"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(IntField(o, "past"), std::nullopt);
  EXPECT_EQ(IntField(o, "two63"), std::nullopt);
  EXPECT_EQ(RoundedIntField(o, "huge"), std::nullopt);
  EXPECT_EQ(RoundedIntField(o, "two63"), std::nullopt);
  EXPECT_EQ(IntOr(o, "huge", 5), 5);
  EXPECT_EQ(IntOr(o, "edge", 5), 5) << "outside int's range: the fallback, not a wrapped value";
}

}  // namespace
}  // namespace poolguard::json
