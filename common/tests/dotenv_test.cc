#include "poolguard/common/dotenv.h"

#include <gtest/gtest.h>

#include <map>

namespace poolguard::dotenv {
namespace {

std::map<std::string, std::string> ParseToMap(std::string_view text,
                                              std::map<std::string, std::string> env = {}) {
  std::map<std::string, std::string> out;
  Lookup lookup = [&env](const std::string& key) -> std::optional<std::string> {
    auto it = env.find(key);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  for (auto& e : Parse(text, lookup)) out[e.key] = e.value;
  return out;
}

TEST(Dotenv, ReadsPlainQuotedAndCommentedValues) {
  const auto m = ParseToMap(
      "# a comment\n"
      "A=1\n"
      "export B = two  # trailing comment\n"
      "C='single #not a comment'\n"
      "D=\"double\\nline\" # comment\n"
      "E=url#fragment\n"
      "F=\n"
      "G\n"
      "H=\"multi\nline\"\n");
  EXPECT_EQ(m.at("A"), "1");
  EXPECT_EQ(m.at("B"), "two");
  EXPECT_EQ(m.at("C"), "single #not a comment");
  EXPECT_EQ(m.at("D"), "double\nline");
  EXPECT_EQ(m.at("E"), "url#fragment");
  EXPECT_EQ(m.at("F"), "");
  EXPECT_EQ(m.count("G"), 0u);
  EXPECT_EQ(m.at("H"), "multi\nline");
}

TEST(Dotenv, ExpandsVariablesPreferringTheEnvironment) {
  const auto m = ParseToMap(
      "HOST=db\nURL=postgresql://${HOST}:${PORT:-5432}/app\nRAW='${HOST}'\nUSER_URL=${USER}\n",
      {{"USER", "alice"}});
  EXPECT_EQ(m.at("URL"), "postgresql://db:5432/app");
  EXPECT_EQ(m.at("RAW"), "${HOST}");
  EXPECT_EQ(m.at("USER_URL"), "alice");
}

TEST(Dotenv, RejectsMalformedLinesNamingTheLine) {
  try {
    ParseToMap("A=1\nB \"oops\"\n");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseToMap("A=\"unterminated\n"), std::invalid_argument);
  EXPECT_THROW(ParseToMap("A='x' junk\n"), std::invalid_argument);
}

TEST(Dotenv, MissingFileIsEmpty) { EXPECT_TRUE(ParseFile("/nonexistent/.env", nullptr).empty()); }

}  // namespace
// Found by the dotenv fuzzer: "export " at the very end read past the text.
TEST(Dotenv, ExportAtTheEndIsAMissingName) {
  EXPECT_THROW(Parse("A=1\nexport ", [](const std::string&) { return std::nullopt; }),
               std::invalid_argument);
}

}  // namespace poolguard::dotenv
