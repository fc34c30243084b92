#include "poolguard/common/dotenv.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace poolguard::dotenv {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const Lookup& lookup) : text_(text), lookup_(lookup) {}

  std::vector<Entry> Run() {
    std::vector<Entry> entries;
    while (pos_ < text_.size()) {
      SkipBlanksAndNewlines();
      if (pos_ >= text_.size()) break;
      if (Peek() == '#') {
        SkipToEndOfLine();
        continue;
      }
      const int line = line_;
      if (text_.substr(pos_, 7) == "export " || text_.substr(pos_, 7) == "export\t") {
        pos_ += 7;
        SkipSpaces();
      }
      std::string key = ReadKey();
      SkipSpaces();
      if (pos_ >= text_.size() || Peek() == '\n' || Peek() == '#') {
        SkipToEndOfLine();  // "KEY" alone: no value, as python-dotenv (ignored on load)
        continue;
      }
      if (Peek() != '=') Fail(line, "expected '=' after " + key);
      ++pos_;
      SkipSpaces();
      std::string value = ReadValue(line);
      known_[key] = value;
      entries.push_back({std::move(key), std::move(value), line});
    }
    return entries;
  }

 private:
  // At the end of the text: '\0', which no rule takes (found by the dotenv fuzzer: a file
  // ending in "export " read past its end).
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  [[noreturn]] void Fail(int line, const std::string& what) const {
    throw std::invalid_argument("line " + std::to_string(line) + ": " + what);
  }

  void SkipSpaces() {
    while (pos_ < text_.size() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\r')) ++pos_;
  }

  void SkipBlanksAndNewlines() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(Peek()))) {
      if (Peek() == '\n') ++line_;
      ++pos_;
    }
  }

  void SkipToEndOfLine() {
    while (pos_ < text_.size() && Peek() != '\n') ++pos_;
  }

  std::string ReadKey() {
    const int line = line_;
    if (Peek() == '\'' || Peek() == '"') {
      const char quote = Peek();
      const auto end = text_.find(quote, pos_ + 1);
      if (end == std::string_view::npos) Fail(line, "unterminated quoted key");
      std::string key(text_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return key;
    }
    const auto start = pos_;
    while (pos_ < text_.size() && Peek() != '=' && Peek() != '#' &&
           !std::isspace(static_cast<unsigned char>(Peek()))) {
      ++pos_;
    }
    if (pos_ == start) Fail(line, "expected a variable name");
    return std::string(text_.substr(start, pos_ - start));
  }

  // After a closing quote: only blanks and an optional comment may follow.
  void ExpectEndOfValue(int line) {
    SkipSpaces();
    if (pos_ < text_.size() && Peek() == '#') SkipToEndOfLine();
    if (pos_ < text_.size() && Peek() != '\n') Fail(line, "unexpected text after quoted value");
  }

  std::string ReadValue(int line) {
    if (pos_ >= text_.size() || Peek() == '\n') return "";
    if (Peek() == '\'') {
      ++pos_;
      std::string out;
      for (;; ++pos_) {
        if (pos_ >= text_.size()) Fail(line, "unterminated single-quoted value");
        const char c = Peek();
        if (c == '\'') break;
        if (c == '\n') ++line_;
        if (c == '\\' && pos_ + 1 < text_.size() &&
            (text_[pos_ + 1] == '\'' || text_[pos_ + 1] == '\\')) {
          out += text_[++pos_];
          continue;
        }
        out += c;
      }
      ++pos_;
      ExpectEndOfValue(line);
      return out;
    }
    if (Peek() == '"') {
      ++pos_;
      std::string out;
      for (;; ++pos_) {
        if (pos_ >= text_.size()) Fail(line, "unterminated double-quoted value");
        const char c = Peek();
        if (c == '"') break;
        if (c == '\n') ++line_;
        if (c == '\\' && pos_ + 1 < text_.size()) {
          const char next = text_[pos_ + 1];
          const std::string_view escapes = "\\'\"abfnrtv";
          if (escapes.find(next) != std::string_view::npos) {
            ++pos_;
            switch (next) {
              case 'a':
                out += '\a';
                break;
              case 'b':
                out += '\b';
                break;
              case 'f':
                out += '\f';
                break;
              case 'n':
                out += '\n';
                break;
              case 'r':
                out += '\r';
                break;
              case 't':
                out += '\t';
                break;
              case 'v':
                out += '\v';
                break;
              default:
                out += next;
            }
            continue;
          }
        }
        out += c;
      }
      ++pos_;
      ExpectEndOfValue(line);
      return Expand(out);
    }
    // Unquoted: to the end of the line; " #" starts a comment; trailing blanks dropped.
    const auto start = pos_;
    while (pos_ < text_.size() && Peek() != '\n') {
      if (Peek() == '#' && pos_ > start && (text_[pos_ - 1] == ' ' || text_[pos_ - 1] == '\t')) {
        break;
      }
      ++pos_;
    }
    std::string value(text_.substr(start, pos_ - start));
    SkipToEndOfLine();
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.pop_back();
    return Expand(value);
  }

  // ${VAR} and ${VAR:-default}; the environment wins over earlier keys of the file.
  std::string Expand(const std::string& value) const {
    std::string out;
    for (std::size_t i = 0; i < value.size();) {
      if (value.compare(i, 2, "${") == 0) {
        const auto close = value.find('}', i + 2);
        if (close != std::string::npos) {
          std::string inner = value.substr(i + 2, close - i - 2);
          std::string fallback;
          if (const auto sep = inner.find(":-"); sep != std::string::npos) {
            fallback = inner.substr(sep + 2);
            inner.resize(sep);
          }
          std::optional<std::string> found = lookup_ ? lookup_(inner) : std::nullopt;
          if (!found) {
            if (auto it = known_.find(inner); it != known_.end()) found = it->second;
          }
          out += found ? *found : fallback;
          i = close + 1;
          continue;
        }
      }
      out += value[i++];
    }
    return out;
  }

  std::string_view text_;
  const Lookup& lookup_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::map<std::string, std::string> known_;
};

}  // namespace

std::vector<Entry> Parse(std::string_view content, const Lookup& lookup) {
  return Parser(content, lookup).Run();
}

std::vector<Entry> ParseFile(const std::string& path, const Lookup& lookup) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return Parse(buffer.str(), lookup);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace poolguard::dotenv
