// Issue 15: the chaos kill switch is read by a watch, or by polling until the watch has
// synced; every change (on, off, a new value) makes every experiment be looked at again,
// and a failed read changes nothing.
#include "app/kill_switch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

struct Script {
  std::optional<std::string> value;
  bool fail = false;
  std::atomic<int> reads{0};  // the poll thread's, read by the test's
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

TEST(KillSwitch, AWatchTurnsItOnAndOffAndAnOlderPollCannotUndoIt) {
  Script script;
  int changes = 0;
  KillSwitch k("namespace ops", script.Reader(), 1h, [&] { ++changes; });
  k.Observed("stop");
  EXPECT_EQ(k.Engaged(), R"(namespace ops carries poolguard.dev/chaos-kill-switch="stop")");
  EXPECT_EQ(changes, 1);

  // A poll whose GET was answered before the watch's event arrives after it: the switch
  // stays as the watch says.
  KillSwitch* late_ptr = nullptr;
  KillSwitch late(
      "namespace ops",
      [&]() -> std::optional<std::string> {
        late_ptr->Observed("stop");  // the event, while the GET is on its way
        return std::nullopt;         // what the GET read: older
      },
      1h, nullptr);
  late_ptr = &late;
  late.Poll();
  EXPECT_NE(late.Engaged(), "");

  k.Observed(std::nullopt);  // annotation removed, or the Namespace gone
  EXPECT_EQ(k.Engaged(), "");
  EXPECT_EQ(changes, 2);
}

TEST(KillSwitch, WatchedItMakesNoRequestButStillReadsOnceAtStart) {
  Script script;
  std::atomic<bool> synced{false};
  KillSwitch k("namespace ops", script.Reader(), 1ms, nullptr);
  k.SetWatch([&] { return synced.load(); });
  k.Start();
  EXPECT_GE(script.reads.load(), 1);  // not yet synced: it polls
  synced = true;
  std::this_thread::sleep_for(20ms);  // a poll in progress when it synced may finish
  const int reads = script.reads;
  std::this_thread::sleep_for(50ms);
  k.Stop();
  EXPECT_EQ(script.reads, reads);  // 50 intervals, no read
}

}  // namespace
}  // namespace poolguard::controller
