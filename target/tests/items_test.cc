#include "items.h"

#include <gtest/gtest.h>

namespace poolguard::target {
namespace {

TEST(ParseNewItem, AcceptsAValidItem) {
  auto r = ParseNewItem(R"({"name": "widget", "quantity": 3, "extra": true})");
  ASSERT_TRUE(std::holds_alternative<NewItem>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<NewItem>(r).name, "widget");
  EXPECT_EQ(std::get<NewItem>(r).quantity, 3);
}

struct Bad {
  std::string body;
  std::string mentions;
};

void PrintTo(const Bad& b, std::ostream* os) { *os << "body of " << b.body.size() << " bytes"; }

class ParseNewItemRejects : public ::testing::TestWithParam<Bad> {};

TEST_P(ParseNewItemRejects, WithAMessageNamingTheProblem) {
  auto r = ParseNewItem(GetParam().body);
  ASSERT_TRUE(std::holds_alternative<std::string>(r)) << GetParam().body;
  EXPECT_NE(std::get<std::string>(r).find(GetParam().mentions), std::string::npos)
      << std::get<std::string>(r);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ParseNewItemRejects,
    ::testing::Values(Bad{"", "not valid JSON"}, Bad{"{", "not valid JSON"},
                      Bad{"[1,2]", "JSON object"}, Bad{"\"x\"", "JSON object"},
                      Bad{R"({"quantity": 1})", "'name' is required"},
                      Bad{R"({"name": 5, "quantity": 1})", "'name' must be a string"},
                      Bad{R"({"name": "", "quantity": 1})", "1 to 200"},
                      Bad{R"({"name": "a"})", "'quantity' is required"},
                      Bad{R"({"name": "a", "quantity": "3"})", "whole number"},
                      Bad{R"({"name": "a", "quantity": 1.5})", "whole number"},
                      Bad{R"({"name": "a", "quantity": -1})", "between 0 and"},
                      Bad{R"({"name": "a", "quantity": 99999999999})", "between 0 and"},
                      Bad{std::string(100000, '['), "nests deeper"}),
    [](const ::testing::TestParamInfo<Bad>& param_info) {
      return "case" + std::to_string(param_info.index);
    });

TEST(JsonNestingDepth, IgnoresBracketsInStrings) {
  EXPECT_EQ(JsonNestingDepth(R"({"a": "[[[{{{", "b": [1, {"c": 2}]})"), 3);
  EXPECT_EQ(JsonNestingDepth(R"("\"[")"), 0);
}

}  // namespace
}  // namespace poolguard::target
