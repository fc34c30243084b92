// The JSON scanner the informer reads watch events and list pages with.

#include "json_scan.h"

#include <gtest/gtest.h>

#include <vector>

namespace poolguard::kube::json_scan {
namespace {

TEST(JsonScanTest, FindsMembersWithoutBeingFooledByStrings) {
  std::string_view obj =
      R"( {"a": "x}\"y", "b" : [1, {"c": "]"}], "metadata":{"name":"n","ns":null}, "z":-1.5e3 } )";
  EXPECT_EQ(Member(obj, "a"), R"("x}\"y")");
  EXPECT_EQ(Member(obj, "b"), R"([1, {"c": "]"}])");
  EXPECT_EQ(Member(obj, "z"), "-1.5e3");
  EXPECT_EQ(Member(obj, "c"), std::nullopt);  // not at the top level
  EXPECT_EQ(StrAt(obj, {"metadata", "name"}), "n");
  EXPECT_EQ(StrAt(obj, {"metadata", "ns"}), "");  // null
  EXPECT_EQ(StrAt(obj, {"metadata", "missing"}), "");
  EXPECT_EQ(Member("[1]", "a"), std::nullopt);
  EXPECT_EQ(Member("{}", "a"), std::nullopt);
}

TEST(JsonScanTest, RejectsTruncatedValues) {
  EXPECT_EQ(SkipValue(R"({"a":"b")", 0), kBad);
  EXPECT_EQ(SkipValue(R"("abc\")", 0), kBad);
  EXPECT_EQ(SkipValue("[1,2", 0), kBad);
  EXPECT_EQ(SkipValue("", 0), kBad);
  EXPECT_EQ(SkipValue(R"({"a":[1,"]"]} tail)", 0), 13u);
  EXPECT_EQ(Member(R"({"a":1,"b":)", "b"), std::nullopt);
}

TEST(JsonScanTest, DecodesEscapes) {
  std::string out;
  ASSERT_TRUE(DecodeString(R"("a\"b\\c\/d\n\u00e9\ud83d\ude00")", &out));
  EXPECT_EQ(out, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_FALSE(DecodeString("abc", &out));
  EXPECT_FALSE(DecodeString(R"("\x")", &out));
}

TEST(JsonScanTest, WalksArrays) {
  std::vector<std::string> items;
  EXPECT_TRUE(ForEachElement(R"([ {"a":[1,2]}, "s,]", 3 ])",
                             [&](std::string_view v) { items.emplace_back(v); }));
  EXPECT_EQ(items, (std::vector<std::string>{R"({"a":[1,2]})", R"("s,]")", "3"}));
  EXPECT_TRUE(ForEachElement("[]", [&](std::string_view) { FAIL(); }));
  EXPECT_FALSE(ForEachElement("[1,", [](std::string_view) {}));
  EXPECT_FALSE(ForEachElement("{}", [](std::string_view) {}));
}

}  // namespace
}  // namespace poolguard::kube::json_scan
