// Issue 15: the chaos kill switch is read by polling; every change (on, off, a new value)
// makes every experiment be looked at again, and a failed read changes nothing.
#include "app/kill_switch.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

struct Script {
  std::optional<std::string> value;
  bool fail = false;
  int reads = 0;
  KillSwitchReader Reader() {
    return [this]() -> std::optional<std::string> {
      ++reads;
      if (fail) throw std::runtime_error("apiserver unavailable");
      return value;
    };
  }
};

TEST(KillSwitch, OnOffAndNewValuesTellEveryExperimentAndFailuresChangeNothing) {
  Script script;
  int changes = 0;
  KillSwitch k("namespace ops", script.Reader(), 1h, [&] { ++changes; });
  k.Poll();
  EXPECT_EQ(k.Engaged(), "");
  EXPECT_EQ(changes, 0);  // off, as it was

  script.value = "game day over\nsecond line";
  k.Poll();
  EXPECT_EQ(k.Engaged(),
            R"(namespace ops carries poolguard.dev/chaos-kill-switch="game day over")");
  EXPECT_EQ(changes, 1);
  k.Poll();
  EXPECT_EQ(changes, 1);  // unchanged: no new look

  script.fail = true;  // the last state holds
  k.Poll();
  EXPECT_NE(k.Engaged(), "");
  EXPECT_EQ(changes, 1);

  script.fail = false;
  script.value = "";  // present and empty is still on
  k.Poll();
  EXPECT_EQ(k.Engaged(), R"(namespace ops carries poolguard.dev/chaos-kill-switch="")");
  EXPECT_EQ(changes, 2);

  script.value.reset();
  k.Poll();
  EXPECT_EQ(k.Engaged(), "");
  EXPECT_EQ(changes, 3);
}

TEST(KillSwitch, StartReadsAtOnceAndStopJoins) {
  Script script;
  script.value = "freeze";
  KillSwitch k("namespace ops", script.Reader(), 10ms, nullptr);
  k.Start();
  EXPECT_NE(k.Engaged(), "");  // before Start returns: no experiment starts in between
  k.Stop();
  const int reads = script.reads;
  EXPECT_GE(reads, 1);
  k.Stop();  // idempotent
}

}  // namespace
}  // namespace poolguard::controller
