// Timers on the virtual clock (determinism/time_timers.cc), on real
// programs: the timers probe (alarm, setitimer, POSIX timers, timerfds),
// Python's signal.setitimer and coreutils timeout. In step mode every
// figure is exact and the same on every run; natively they vary.
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

const std::vector<std::string> kCases = {
    "alarm_pause", "alarm_sleep",  "alarm_left",  "itimer_periodic",
    "getitimer",   "posix_signal", "posix_abs",   "posix_thread",
    "timerfd_rel", "timerfd_abs",  "timerfd_sleep", "timerfd_epoll"};

std::vector<std::string> ProbeWithAllCases() {
  std::vector<std::string> command = {Probe("timers")};
  command.insert(command.end(), kCases.begin(), kCases.end());
  return command;
}

TEST(TimersTest, ExpireOnTheVirtualClockAndReportVirtualTimeLeft) {
  // moved_ms counts from the read before arming (one 1 ms tick).
  EXPECT_EQ(Twice({kStart}, ProbeWithAllCases()),
            // pause() waits for the real-time fallback; the clock then
            // reads the alarm's deadline.
            "alarm_pause fired=1 moved_ms=1001\n"
            // sleep(5) stops at the alarm, as a real one would: 4 s left.
            "alarm_sleep left=4 fired=1 moved_ms=1001\n"
            "alarm_left previous=10\n"
            // Fired by the clock reads themselves, 100 ticks apart.
            "itimer_periodic fired=5 moved_ms=501\n"
            // 5 s minus the one tick read since arming.
            "getitimer left=4.999000\n"
            "posix_signal sig=10 code_timer=1 value=42 overrun=0 moved_ms=201\n"
            "posix_abs left_ms=299 sleep=-1 errno=4 fired=1 rem_ms=701 moved_ms=301\n"
            "posix_thread fired=1\n"
            "timerfd_rel read=8 expirations=1 moved_ms=201\n"
            "timerfd_abs left_ms=199 read=8 expirations=1\n"
            // A 1 s sleep over a 100 ms periodic timerfd: all 10 at once.
            "timerfd_sleep read=8 expirations=10\n"
            "timerfd_epoll ready=1 moved_ms=151\n");
}

TEST(TimersTest, FrozenAndRealModes) {
  for (const char* mode : {"--clock=frozen", "--clock=real"}) {
    std::vector<std::string> args = {kStart, mode, "--"};
    for (const std::string& c : ProbeWithAllCases()) args.push_back(c);
    Output o = Detrun(args, "", 30);
    ASSERT_EQ(o.exit_code, 0) << mode << o.err;
    // Fired by the real-time fallback in frozen mode, by either way in
    // real mode; the frozen clock never moves.
    EXPECT_THAT(o.out, HasSubstr("alarm_pause fired=1 moved_ms=")) << mode;
    EXPECT_THAT(o.out, HasSubstr("alarm_left previous=10\n")) << mode;
    EXPECT_THAT(o.out, HasSubstr("itimer_periodic fired=5 ")) << mode;
    EXPECT_THAT(o.out, HasSubstr("posix_signal sig=10 code_timer=1 value=42 ")) << mode;
    EXPECT_THAT(o.out, HasSubstr("posix_thread fired=1\n")) << mode;
    EXPECT_THAT(o.out, HasSubstr("timerfd_rel read=8 expirations=1 ")) << mode;
    EXPECT_THAT(o.out, HasSubstr("timerfd_epoll ready=1 ")) << mode;
    if (std::string(mode) == "--clock=frozen") {
      EXPECT_THAT(o.out, HasSubstr("alarm_pause fired=1 moved_ms=0\n"));
      EXPECT_THAT(o.out, HasSubstr("getitimer left=5.000000\n"));
      EXPECT_THAT(o.out, HasSubstr("timerfd_abs left_ms=200 read=8 expirations=1\n"));
    } else {
      // Absolute deadlines are translated: neither at once nor never (the
      // time left is real here, so a loaded machine shaves some off).
      EXPECT_THAT(o.out, ContainsRegex("posix_abs left_ms=2[0-9][0-9] sleep=-1 errno=4 fired=1 "));
      EXPECT_THAT(o.out, ContainsRegex("timerfd_abs left_ms=1[0-9][0-9] read=8 expirations=1\n"));
    }
  }
}

TEST(TimersTest, PythonSetitimer) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "SKIPPED: no /usr/bin/python3";
  const char* script =
      "import signal, time\n"
      "hits = []\n"
      "signal.signal(signal.SIGALRM, lambda *a: hits.append(time.monotonic()))\n"
      "t = time.monotonic()\n"
      "signal.setitimer(signal.ITIMER_REAL, 0.25, 0.25)\n"
      "while len(hits) < 3: signal.pause()\n"
      "signal.setitimer(signal.ITIMER_REAL, 0)\n"
      "print([round(h - t, 3) for h in hits], signal.getitimer(signal.ITIMER_REAL))\n";
  EXPECT_EQ(Twice({kStart}, {"/usr/bin/python3", "-c", script}),
            "[0.251, 0.501, 0.751] (0.0, 0.0)\n");
}

TEST(TimersTest, TimeoutKillsAWaitingCommand) {
  // timeout(1) arms a POSIX timer and waits for its child; `sleep
  // infinity` blocks in every mode, so the timer fires through the
  // real-time fallback and timeout kills it.
  for (const char* mode : {"--clock=step", "--clock=frozen", "--clock=real"}) {
    Output o = Detrun({kStart, mode, "--", "timeout", "0.3", "sleep", "infinity"}, "", 30);
    EXPECT_EQ(o.exit_code, 124) << mode << o.err;
    EXPECT_LT(o.seconds, 10) << mode;
  }
  // In real mode a finite sleep is killed too. (In step mode `sleep 5`
  // takes no real time and moves only its own clock: it completes, a
  // documented limit.)
  Output o = Detrun({kStart, "--clock=real", "--", "timeout", "0.3", "sleep", "5"}, "", 30);
  EXPECT_EQ(o.exit_code, 124) << o.err;
  EXPECT_LT(o.seconds, 4);
}

}  // namespace
}  // namespace detrun::testing
