#include "core/time_zone.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

namespace poolguard::controller {
namespace {

constexpr int64_t kDay = 86400;
constexpr int kLastYear = 2200;  // rules are expanded up to here

[[noreturn]] void Fail(const std::string& what) { throw std::invalid_argument(what); }

bool Leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && Leap(y) ? 29 : kDays[m - 1];
}

// ---- POSIX TZ rules ----

struct RuleDate {
  char kind = 'M';  // 'J' (1-365, no Feb 29), 'D' (0-365), 'M' (month.week.day)
  int a = 0, b = 0, c = 0;
  int time = 7200;  // seconds after local midnight; may be negative or past 24h
};

struct PosixRule {
  int std_offset = 0;  // east of UTC
  bool has_dst = false;
  int dst_offset = 0;
  RuleDate start, end;
};

class RuleParser {
 public:
  explicit RuleParser(std::string_view s) : s_(s) {}

  PosixRule Parse() {
    PosixRule r;
    Name();
    r.std_offset = -Offset(24, true);
    if (AtEnd()) return r;
    Name();
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') r.dst_offset = -Offset(24, true);
    if (AtEnd())
      Fail(Where("a daylight-saving zone needs its rule (\",start[/time],end[/time]\")"));
    Expect(',');
    r.start = Date();
    Expect(',');
    r.end = Date();
    if (!AtEnd()) Fail(Where("unexpected text"));
    return r;
  }

 private:
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  std::string Where(const std::string& what) const {
    return "time zone rule \"" + std::string(s_.substr(0, 64)) + "\": " + what + " at " +
           std::to_string(i_);
  }
  void Expect(char c) {
    if (Peek() != c) Fail(Where(std::string("expected '") + c + "'"));
    ++i_;
  }
  void Name() {
    if (Peek() == '<') {
      ++i_;
      const size_t from = i_;
      while (!AtEnd() && Peek() != '>') {
        const char c = Peek();
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-')
          Fail(Where("a quoted zone name may hold letters, digits, '+' and '-'"));
        ++i_;
      }
      if (i_ - from < 3) Fail(Where("a zone name needs three characters or more"));
      Expect('>');
      return;
    }
    const size_t from = i_;
    while (!AtEnd() && std::isalpha(static_cast<unsigned char>(Peek()))) ++i_;
    if (i_ - from < 3) Fail(Where("a zone name needs three letters or more"));
  }
  int Number(int max) {
    if (!std::isdigit(static_cast<unsigned char>(Peek()))) Fail(Where("expected a number"));
    int n = 0;
    while (std::isdigit(static_cast<unsigned char>(Peek()))) {
      n = n * 10 + (s_[i_++] - '0');
      if (n > max) Fail(Where("number out of range (at most " + std::to_string(max) + ")"));
    }
    return n;
  }
  // [+-]hh[:mm[:ss]] as seconds (the sign as written).
  int Offset(int max_hours, bool signed_ok) {
    int sign = 1;
    if (signed_ok && (Peek() == '+' || Peek() == '-')) sign = s_[i_++] == '-' ? -1 : 1;
    int secs = Number(max_hours) * 3600;
    if (Peek() == ':') {
      ++i_;
      secs += Number(59) * 60;
      if (Peek() == ':') {
        ++i_;
        secs += Number(59);
      }
    }
    return sign * secs;
  }
  RuleDate Date() {
    RuleDate d;
    if (Peek() == 'J') {
      ++i_;
      d.kind = 'J';
      d.a = Number(365);
      if (d.a < 1) Fail(Where("Jn counts days from 1"));
    } else if (Peek() == 'M') {
      ++i_;
      d.kind = 'M';
      d.a = Number(12);
      Expect('.');
      d.b = Number(5);
      Expect('.');
      d.c = Number(6);
      if (d.a < 1 || d.b < 1) Fail(Where("Mm.w.d counts months and weeks from 1"));
    } else {
      d.kind = 'D';
      d.a = Number(365);
    }
    if (Peek() == '/') {
      ++i_;
      d.time = Offset(167, true);
    }
    return d;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Local midnight (as seconds since the epoch, local as if UTC) of a rule's day in `year`.
int64_t DayOf(const RuleDate& d, int year) {
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  switch (d.kind) {
    case 'J':
      return (jan1 + d.a - 1 + (Leap(year) && d.a >= 60 ? 1 : 0)) * kDay;
    case 'D':
      return (jan1 + std::min(d.a, Leap(year) ? 365 : 364)) * kDay;
    default: {
      const int64_t first = DaysFromCivil(year, d.a, 1);
      const int weekday = static_cast<int>(((first % 7) + 11) % 7);  // 0 = Sunday
      int day = 1 + (d.c - weekday + 7) % 7 + (d.b - 1) * 7;
      while (day > DaysInMonth(year, d.a)) day -= 7;
      return (first + day - 1) * kDay;
    }
  }
}

// ---- TZif ----

class Bytes {
 public:
  Bytes(std::string_view b, const std::string& name) : b_(b), name_(name) {}
  void Need(size_t n) const {
    if (b_.size() - i_ < n)
      Fail("time zone \"" + name_ + "\": the file is cut short (TZif data ends at byte " +
           std::to_string(b_.size()) + ")");
  }
  uint32_t U32() {
    Need(4);
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(b_[i_++]);
    return v;
  }
  int64_t I64() {
    Need(8);
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | static_cast<unsigned char>(b_[i_++]);
    return static_cast<int64_t>(v);
  }
  unsigned char U8() {
    Need(1);
    return static_cast<unsigned char>(b_[i_++]);
  }
  void Skip(uint64_t n) {
    if (n > b_.size() - i_) Need(b_.size() + 1);
    i_ += n;
  }
  std::string_view Rest() const { return b_.substr(i_); }
  std::string_view Take(size_t n) {
    Need(n);
    auto v = b_.substr(i_, n);
    i_ += n;
    return v;
  }

 private:
  std::string_view b_;
  const std::string& name_;
  size_t i_ = 0;
};

struct Header {
  char version = 0;
  uint32_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

Header ReadHeader(Bytes& in, const std::string& name) {
  if (in.Take(4) != "TZif") Fail("time zone \"" + name + "\": not a TZif file");
  Header h;
  h.version = static_cast<char>(in.U8());
  in.Skip(15);
  h.isut = in.U32();
  h.isstd = in.U32();
  h.leap = in.U32();
  h.time = in.U32();
  h.type = in.U32();
  h.chars = in.U32();
  if (h.type == 0 || h.type > 256 || h.time > 1000000 || h.leap > 1000000 || h.chars > 65536 ||
      h.isut > h.type || h.isstd > h.type)
    Fail("time zone \"" + name + "\": implausible TZif counts");
  return h;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

TimeZone TimeZone::FromPosix(std::string_view rule) {
  const PosixRule r = RuleParser(rule).Parse();
  TimeZone z;
  z.name_ = std::string(rule);
  z.initial_offset_ = r.std_offset;
  if (r.has_dst) {
    for (int y = 1970; y <= kLastYear; ++y) {
      z.changes_.push_back({DayOf(r.start, y) + r.start.time - r.std_offset, r.dst_offset});
      z.changes_.push_back({DayOf(r.end, y) + r.end.time - r.dst_offset, r.std_offset});
    }
    std::stable_sort(z.changes_.begin(), z.changes_.end(),
                     [](const Change& a, const Change& b) { return a.at < b.at; });
  }
  return z;
}

TimeZone TimeZone::FromTzif(std::string_view bytes, const std::string& name) {
  Bytes in(bytes, name);
  Header h = ReadHeader(in, name);
  int time_size = 4;
  if (h.version >= '2') {
    // Skip the 32-bit block: the 64-bit one after it says the same for all times.
    in.Skip(uint64_t{h.time} * 5 + uint64_t{h.type} * 6 + h.chars + uint64_t{h.leap} * 8 + h.isstd +
            h.isut);
    h = ReadHeader(in, name);
    time_size = 8;
  }
  std::vector<int64_t> times(h.time);
  for (auto& t : times) t = time_size == 8 ? in.I64() : static_cast<int32_t>(in.U32());
  std::vector<unsigned char> idx(h.time);
  for (auto& i : idx) {
    i = in.U8();
    if (i >= h.type) Fail("time zone \"" + name + "\": a transition names a missing type");
  }
  std::vector<int> offsets(h.type);
  for (auto& o : offsets) {
    const auto off = static_cast<int32_t>(in.U32());
    if (off < -26 * 3600 || off > 26 * 3600)
      Fail("time zone \"" + name + "\": an offset beyond 26 hours");
    o = off;
    in.Skip(2);  // isdst, abbreviation index
  }
  in.Skip(h.chars + uint64_t{h.leap} * (time_size + 4) + h.isstd + h.isut);

  TimeZone z;
  z.name_ = name;
  z.initial_offset_ = offsets[0];
  for (size_t i = 0; i < times.size(); ++i) {
    if (i > 0 && times[i] <= times[i - 1])
      Fail("time zone \"" + name + "\": transitions out of order");
    z.changes_.push_back({times[i], offsets[idx[i]]});
  }
  if (h.version >= '2') {
    std::string_view footer = in.Rest();
    if (footer.size() < 2 || footer[0] != '\n')
      Fail("time zone \"" + name + "\": the TZif footer is missing");
    const auto nl = footer.find('\n', 1);
    if (nl == std::string_view::npos)
      Fail("time zone \"" + name + "\": the TZif footer is not terminated");
    const std::string_view rule = footer.substr(1, nl - 1);
    if (!rule.empty()) {
      const TimeZone tail = FromPosix(rule);
      const int64_t last = times.empty() ? INT64_MIN : times.back();
      if (times.empty()) z.initial_offset_ = tail.initial_offset_;
      for (const auto& c : tail.changes_)
        if (c.at > last) z.changes_.push_back(c);
    }
  }
  return z;
}

bool TimeZone::ValidName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  size_t part = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      if (i == part || name[part] == '.' || name[part] == '-') return false;
      part = i + 1;
      continue;
    }
    const char c = name[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-' &&
        c != '.')
      return false;
  }
  return true;
}

TimeZone TimeZone::Load(const std::string& name, const std::string& dir) {
  if (name.empty() || name == "UTC") return TimeZone();
  if (!ValidName(name))
    Fail("time zone \"" + name.substr(0, 64) +
         "\" is not an IANA name (such as \"Europe/Berlin\" or \"UTC\")");
  std::string base = dir;
  if (base.empty()) {
    const char* env = std::getenv("TZDIR");
    base = env != nullptr && *env != '\0' ? env : "/usr/share/zoneinfo";
  }
  std::ifstream f(base + "/" + name, std::ios::binary);
  if (!f) Fail("unknown time zone \"" + name + "\" (no such zone in " + base + ")");
  std::string bytes;
  bytes.resize(1 << 20);
  f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (f.gcount() <= 0 && !f.eof())
    Fail("unknown time zone \"" + name + "\" (cannot read it in " + base + ")");
  bytes.resize(static_cast<size_t>(f.gcount()));
  return FromTzif(bytes, name);
}

int TimeZone::OffsetAt(int64_t utc) const {
  auto it = std::upper_bound(changes_.begin(), changes_.end(), utc,
                             [](int64_t t, const Change& c) { return t < c.at; });
  return it == changes_.begin() ? initial_offset_ : std::prev(it)->offset;
}

int64_t TimeZone::FirstInstantOf(int64_t local) const {
  constexpr int64_t kWindow = 30 * 3600;
  std::set<int> offsets{OffsetAt(local - kWindow)};
  auto lo = std::lower_bound(changes_.begin(), changes_.end(), local - kWindow,
                             [](const Change& c, int64_t t) { return c.at < t; });
  auto hi = std::upper_bound(changes_.begin(), changes_.end(), local + kWindow,
                             [](int64_t t, const Change& c) { return t < c.at; });
  for (auto it = lo; it != hi; ++it) offsets.insert(it->offset);
  std::optional<int64_t> best;
  for (const int o : offsets) {
    const int64_t t = local - o;
    if (OffsetAt(t) == o && (!best || t < *best)) best = t;
  }
  if (best) return *best;
  // Skipped: the clocks jumped from before `local` to after it at one change.
  for (auto it = lo; it != hi; ++it) {
    const int before = it == changes_.begin() ? initial_offset_ : std::prev(it)->offset;
    if (it->at + before <= local && local < it->at + it->offset) return it->at;
  }
  return local - OffsetAt(local);
}

}  // namespace poolguard::controller
