// Deterministic time, on real programs: each run twice (identical), under
// another --time (different), with exact expected values where the program
// prints them; the same programs natively vary.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(TimeTest, DatePrintsTheRequestedTime) {
  EXPECT_EQ(Twice({kStart}, {"date", "-u", "+%Y-%m-%dT%H:%M:%S"}), "2020-01-01T00:00:00\n");
  EXPECT_EQ(Twice({kStart}, {"date", "+%s"}), "1577836800\n");
  EXPECT_EQ(Twice({"--time=2024-02-29T12:34:56Z"}, {"date", "-u", "+%F %T"}),
            "2024-02-29 12:34:56\n");
  EXPECT_EQ(Twice({"--time=@-86400"}, {"date", "-u", "+%F"}), "1969-12-31\n");
  EXPECT_EQ(Twice({"--time=2020-01-01T02:00:00+02:00"}, {"date", "-u", "+%T"}), "00:00:00\n");
}

// --clock=step answers a process's clock reads from its clock page
// (determinism/time_module.h) instead of a round trip to the supervisor,
// and must answer exactly what the supervisor would. --record keeps every
// read coming to the supervisor, so the two runs are compared line by
// line (threads, fork, vfork + exec, sleep, a timer, a timed wait; see
// the probe), with exact values where the rules fix them; --verbose shows
// which reads still came to the supervisor.
TEST(TimeTest, ClockPageAnswersExactlyAsTheSupervisorWould) {
  const std::string dir = MakeTempDir();
  Output paged = Detrun({kStart, "--verbose", "--", Probe("clock_page")});
  Output supervised =
      Detrun({kStart, "--verbose", "--record=" + dir + "/t.trace", "--", Probe("clock_page")});
  RemoveTree(dir);
  ASSERT_EQ(paged.exit_code, 0) << paged.err;
  ASSERT_EQ(supervised.exit_code, 0) << supervised.err;
  EXPECT_EQ(paged.out, supervised.out);
  // 300 reads per loop, 1 ms apart, from 100 s; threads start from their
  // creator's clock; a parent takes its reaped child's later clock.
  EXPECT_THAT(paged.out, HasSubstr("main 100000000000 100299000000\n"
                                   "thread0 100300000000 100599000000\n"));
  EXPECT_THAT(paged.out, HasSubstr("fork child 100301000000 100600000000\n"
                                   "after fork 100601000000\n"));
  EXPECT_THAT(paged.out, HasSubstr("after spawn 100604000000 status 0\n"
                                   "after sleep 100615000000\n"));
  EXPECT_THAT(paged.out, HasSubstr("timedwait rc 110 "));
  // A call that does not use the clock (the slot is not read back for it)
  // leaves the in-process reads where they were: the next is one tick on.
  const std::vector<std::string> call =
      RegexSearch(paged.out, "\ncall [0-9]+ ([0-9]+) then ([0-9]+)\n");
  ASSERT_EQ(call.size(), 3u) << paged.out;
  int64_t last = 0, then = 0;
  ASSERT_TRUE(absl::SimpleAtoi(call[1], &last) && absl::SimpleAtoi(call[2], &then)) << call[0];
  EXPECT_EQ(then, last + 1000000) << call[0];
  auto reads = [](const std::string& err) { return RegexMatches(err, "clock_gettime\\(").size(); };
  EXPECT_GT(reads(supervised.err), 2000u);
  EXPECT_LT(reads(paged.err), 40u) << paged.err;
}

TEST(TimeTest, NanosecondDateIsIdenticalAcrossRunsAndDiffersAcrossTimes) {
  std::string a = Twice({kStart}, {"date", "+%s%N"});
  EXPECT_THAT(a, StartsWith("1577836800"));
  std::string b = Twice({"--time=2021-06-01"}, {"date", "+%s%N"});
  EXPECT_NE(a, b);
  // Natively the same command varies.
  EXPECT_NE(RunProgram({"date", "+%s%N"}).out, RunProgram({"date", "+%s%N"}).out);
}

TEST(TimeTest, DefaultStartIs2000AndSourceDateEpochIsHonouredAndExported) {
  EXPECT_EQ(Twice({}, {"date", "-u", "+%F %T"}), "2000-01-01 00:00:00\n");
  Output sde = RunProgram({"env", "SOURCE_DATE_EPOCH=1234567890", DetrunBin(), "--", "sh", "-c",
                           "date +%s; echo $SOURCE_DATE_EPOCH"});
  EXPECT_EQ(sde.out, "1234567890\n1234567890\n") << sde.err;
  // --time wins over an inherited SOURCE_DATE_EPOCH for the clock; the
  // user's variable is passed on untouched.
  Output both = RunProgram({"env", "SOURCE_DATE_EPOCH=1234567890", DetrunBin(), kStart, "--",
                            "sh", "-c", "date +%s; echo $SOURCE_DATE_EPOCH"});
  EXPECT_EQ(both.out, "1577836800\n1234567890\n") << both.err;
  // Exported when the user did not set it.
  Output exported = RunProgram({"env", "-u", "SOURCE_DATE_EPOCH", DetrunBin(), kStart, "--",
                                "sh", "-c", "echo $SOURCE_DATE_EPOCH"});
  EXPECT_EQ(exported.out, "1577836800\n");
}

// The host clock's NTP state and time through adjtimex/ntp_gettime: a
// never-synchronized clock at the virtual time; setting the clock refused
// (as root it would set the machine's: never run natively here).
TEST(TimeTest, AdjtimexReadsTheVirtualClockAndTheClockCannotBeSet) {
  const std::string program = R"(
import ctypes, errno, os, time
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(208)  # struct timex
r = libc.adjtimex(buf)
status = int.from_bytes(buf.raw[40:44], "little")
sec = int.from_bytes(buf.raw[72:80], "little", signed=True)
usec = int.from_bytes(buf.raw[80:88], "little", signed=True)
tai = int.from_bytes(buf.raw[160:164], "little", signed=True)
print("adjtimex", r, "status", status, "time", sec, usec, "tai", tai)
buf.raw = (0x0002).to_bytes(4, "little") + bytes(204)  # ADJ_FREQUENCY
print("adjust", libc.adjtimex(buf), errno.errorcode[ctypes.get_errno()])
for what in ("clock_settime", "settimeofday"):
    try:
        if what == "clock_settime":
            time.clock_settime(time.CLOCK_REALTIME, 0)
        else:
            tv = (ctypes.c_long * 2)(0, 0)
            if libc.settimeofday(tv, None) != 0:
                raise OSError(ctypes.get_errno(), what)
        print(what, "ok")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
)";
  EXPECT_EQ(Twice({"--time=2020-01-01", "--clock=frozen"}, {"/usr/bin/python3", "-c", program}),
            "adjtimex 5 status 64 time 1577836800 0 tai 37\n"
            "adjust -1 EPERM\n"
            "clock_settime EPERM\n"
            "settimeofday EPERM\n");
}

TEST(TimeTest, EveryClockFrozen) {
  EXPECT_EQ(Twice({kStart, "--clock=frozen"}, {Probe("clocks")}),
            "time 1577836800\n"
            "gettimeofday 1577836800.000000\n"
            "REALTIME 1577836800.000000000\n"
            "REALTIME_COARSE 1577836800.000000000\n"
            "TAI 1577836837.000000000\n"
            "MONOTONIC 100.000000000\n"
            "MONOTONIC_RAW 100.000000000\n"
            "MONOTONIC_COARSE 100.000000000\n"
            "BOOTTIME 100.000000000\n"
            "PROCESS_CPUTIME 0.000000000\n"
            "THREAD_CPUTIME 0.000000000\n"
            "res_MONOTONIC 0.000000001\n"
            "slept_ms 0\n");
}

TEST(TimeTest, EveryClockStepping) {
  // Each read returns the current value and advances the thread's clock by
  // the tick; the 1 s sleep moves it by 1 s.
  EXPECT_EQ(Twice({kStart, "--tick=1ms"}, {Probe("clocks")}),
            "time 1577836800\n"
            "gettimeofday 1577836800.001000\n"
            "REALTIME 1577836800.002000000\n"
            "REALTIME_COARSE 1577836800.003000000\n"
            "TAI 1577836837.004000000\n"
            "MONOTONIC 100.005000000\n"
            "MONOTONIC_RAW 100.006000000\n"
            "MONOTONIC_COARSE 100.007000000\n"
            "BOOTTIME 100.008000000\n"
            "PROCESS_CPUTIME 0.009000000\n"
            "THREAD_CPUTIME 0.010000000\n"
            "res_MONOTONIC 0.000000001\n"
            "slept_ms 1001\n");
}

TEST(TimeTest, RealClockStartsAtTheRequestedTimeAndMoves) {
  Output o = Detrun({kStart, "--clock=real", "--", Probe("clocks")});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("time 1577836800\n"));
  // A real 1 s sleep (a loaded machine may overshoot it a little).
  EXPECT_THAT(o.out, ContainsRegex("slept_ms 1[0-9][0-9][0-9]\n"));
  EXPECT_GE(o.seconds, 0.9);
}

TEST(TimeTest, SleepFiveSecondsReturnsAtOnceInStepMode) {
  Output o = Detrun({kStart, "--", "sh", "-c", "date +%s; sleep 5; date +%s"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "1577836800\n1577836805\n");
  EXPECT_LT(o.seconds, 2.0);
}

TEST(TimeTest, AbsoluteDeadlineLoops) {
  for (const char* clock : {"REALTIME", "MONOTONIC"}) {
    for (const char* mode : {"--clock=step", "--clock=frozen", "--clock=real"}) {
      std::string expected;
      for (int i = 1; i <= 5; ++i) {
        // Frozen: the deadline is never reached, but the sleep returns.
        expected += "period " + std::to_string(i) + " ret=0 untouched=1 on_time=" +
                    (std::string(mode) == "--clock=frozen" ? "0" : "1") + "\n";
      }
      EXPECT_EQ(Twice({kStart, mode}, {Probe("abs_sleep"), clock}), expected)
          << clock << " " << mode;
    }
  }
  // Real mode really sleeps to each translated deadline: 5 x 250 ms.
  Output o = Detrun({kStart, "--clock=real", "--", Probe("abs_sleep"), "MONOTONIC"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_GE(o.seconds, 1.2);
}

// Blocking calls with a 200 ms timeout (tests/probes/timed_waits.c): they
// really wait (so another thread could wake them), and in step mode the
// clock then reads the deadline: exactly 200 ms after the tick of the
// read that computed it.
TEST(TimeTest, TimedWaitsWaitAndMoveTheClockToTheirDeadline) {
  const std::vector<std::string> cases = {"poll", "epoll", "select", "ppoll", "sigtimedwait",
                                          "futex", "cond_realtime", "cond_monotonic", "mq"};
  const std::vector<std::string> results = {"0", "0", "0", "0", "-11", "-110", "110", "110",
                                            "-110"};
  std::string step, frozen;
  for (size_t i = 0; i < cases.size(); ++i) {
    step += cases[i] + " ret=" + results[i] + " moved_ms=201\n";
    frozen += cases[i] + " ret=" + results[i] + " moved_ms=0\n";
  }
  std::vector<std::string> command = {Probe("timed_waits")};
  command.insert(command.end(), cases.begin(), cases.end());
  EXPECT_EQ(Twice({kStart}, command), step);
  EXPECT_EQ(Twice({kStart, "--clock=frozen"}, command), frozen);
  // They really waited, in every mode.
  for (const char* mode : {"--clock=step", "--clock=real"}) {
    std::vector<std::string> args = {kStart, mode, "--"};
    args.insert(args.end(), command.begin(), command.end());
    Output o = Detrun(args);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_GE(o.seconds, 0.2 * cases.size() - 0.05) << mode;
    if (std::string(mode) == "--clock=real") {
      // Real time: at least the 200 ms timeout, more on a loaded machine.
      const std::string key = "cond_realtime ret=110 moved_ms=";
      const size_t at = o.out.find(key);
      ASSERT_NE(at, std::string::npos) << o.out;
      int moved_ms = 0;
      ASSERT_TRUE(absl::SimpleAtoi(
          absl::string_view(o.out).substr(at + key.size(), o.out.find('\n', at) - at - key.size()),
          &moved_ms))
          << o.out;
      EXPECT_GE(moved_ms, 200) << o.out;
      EXPECT_LT(moved_ms, 5000) << o.out;
    }
  }
}

// A wait woken early by an event does not move the clock, even when the
// thread then computes for longer than the timeout before its next call.
TEST(TimeTest, AWaitWokenEarlyKeepsItsClockHoweverLongTheWorkAfter) {
  Output o = Detrun({kStart, "--", Probe("timed_waits"), "woken_then_busy"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "woken_then_busy ret=1 moved_ms=1\n");
}

// pthread_cond_timedwait with an absolute REALTIME deadline computed from
// the virtual clock neither returns at once nor hangs; a signal before
// the deadline wakes it; the caller's deadline struct reads back as it was.
TEST(TimeTest, CondTimedwaitDeadlinesAreVirtual) {
  for (const char* mode : {"--clock=step", "--clock=frozen", "--clock=real"}) {
    for (const char* time : {"--time=1990-01-01", "--time=2090-01-01"}) {
      Output o = Detrun({time, mode, "--", Probe("timed_waits"), "cond_realtime",
                         "cond_signalled", "deadline_kept"},
                        "", 20);
      EXPECT_EQ(o.exit_code, 0) << o.err;
      EXPECT_THAT(o.out, HasSubstr("cond_realtime ret=110 "));
      EXPECT_THAT(o.out, HasSubstr("cond_signalled ret=0\n"));
      EXPECT_THAT(o.out, HasSubstr("deadline_kept ret=110 kept=1\n"));
      EXPECT_GE(o.seconds, 0.35) << mode << " " << time;
      EXPECT_LT(o.seconds, 10) << mode << " " << time;
    }
  }
}

// The rewritten deadline is put back while the thread still sleeps in the
// kernel, which a second thread sees. With --tsc=emulate (every thread
// traced) the sleeping thread is stopped for it (PTRACE_INTERRUPT) and its
// wait restarts with the deadline the kernel holds: it still times out on
// time. With --tsc=native it is written while the thread sleeps.
TEST(TimeTest, RewrittenDeadlinesAreBackWhileTheThreadStillWaits) {
  for (const char* tsc : {"--tsc=emulate", "--tsc=native"}) {
    for (const char* time : {"--time=1990-01-01", "--time=2090-01-01"}) {
      Output o = Detrun({time, tsc, "--", Probe("timed_waits"), "restored_mid_wait"}, "", 20);
      EXPECT_EQ(o.exit_code, 0) << o.err;
      EXPECT_EQ(o.out, "restored_mid_wait ret=110 seen=1\n") << tsc << " " << time;
      EXPECT_GE(o.seconds, 0.2) << tsc << " " << time;
    }
  }
}

TEST(TimeTest, NodeTimersFireAndMoveTheClock) {
  if (!IsExecutable("/usr/bin/node")) GTEST_SKIP() << "SKIPPED: node is not installed";
  // libuv waits in epoll with the time left to its next timer.
  const std::string script =
      "const t = Date.now();"
      "setTimeout(() => { console.log(Date.now() - t >= 300);"
      "  setTimeout(() => console.log(Date.now() - t >= 500), 200); }, 300);";
  EXPECT_EQ(Twice({kStart}, {"/usr/bin/node", "-e", script}), "true\ntrue\n");
}

TEST(TimeTest, ParallelChildrenSeeTheSameTimesWhateverTheScheduling) {
  // Each child inherits the shell's clock as it was at its fork.
  std::string out = Twice(
      {kStart}, {"sh", "-c", "{ date +%s%N & date +%s%N & date +%s%N; wait; } | sort"});
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
}

TEST(TimeTest, PythonAndPerl) {
  const char* python = "/usr/bin/python3";
  if (IsExecutable(python)) {
    std::string out = Twice({kStart}, {python, "-c",
                                       "import time, datetime\n"
                                       "print(int(time.time()))\n"
                                       "print(datetime.datetime.now(datetime.timezone.utc).year)\n"
                                       "print(time.monotonic() > 0, time.perf_counter() > 0)"});
    EXPECT_EQ(out, "1577836800\n2020\nTrue True\n");
  }
  EXPECT_EQ(Twice({kStart}, {"perl", "-e", "print time, qq(\\n)"}), "1577836800\n");
}

TEST(TimeTest, VdsoClockReadInStartIsVirtual) {
  // No libc: _start reads the vDSO clock before any syscall, so the vDSO
  // must be patched before the first instruction of the new image.
  EXPECT_EQ(Twice({"--time=@1234567890", "--clock=frozen"}, {Probe("vdso_start")}),
            "vdso_realtime=1234567890.000000000\n");
  EXPECT_EQ(Twice({"--time=@1234567890"}, {Probe("vdso_start")}),
            "vdso_realtime=1234567890.000000000\n");
  // Natively it reads the host clock.
  Output native = RunProgram({Probe("vdso_start")});
  EXPECT_EQ(native.exit_code, 0);
  EXPECT_NE(native.out, "vdso_realtime=1234567890.000000000\n");
}

TEST(TimeTest, AtRandomIsSeededPerProcess) {
  // Two runs give the same AT_RANDOM; two processes of one run differ.
  std::string out = Twice({}, {"sh", "-c",
                               Probe("print_at_random") + "; " + Probe("print_at_random")});
  size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_NE(out.substr(0, nl), out.substr(nl + 1, out.size() - nl - 2)) << out;
  EXPECT_NE(RunProgram({Probe("print_at_random")}).out, RunProgram({Probe("print_at_random")}).out);
}

TEST(TimeTest, StaticBusyboxDate) {
  if (!IsExecutable("/bin/busybox")) GTEST_SKIP() << "SKIPPED: busybox-static is not installed";
  EXPECT_EQ(Twice({kStart}, {"/bin/busybox", "date", "-u", "+%s"}), "1577836800\n");
}

TEST(TimeTest, NodeDateNow) {
  if (!IsExecutable("/usr/bin/node")) GTEST_SKIP() << "SKIPPED: node is not installed";
  std::string out = Twice({kStart}, {"/usr/bin/node", "-e", "console.log(Math.floor(Date.now()/1000))"});
  EXPECT_EQ(out, "1577836800\n");
}

// The JVM: many threads reading clocks, Thread.sleep as a timed park
// (pthread_cond_timedwait on an absolute MONOTONIC deadline).
TEST(TimeTest, JavaClocksAndSleep) {
  if (!IsExecutable("/usr/bin/java")) GTEST_SKIP() << "SKIPPED: java is not installed";
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/T.java") << R"java(
public class T {
  public static void main(String[] args) throws Exception {
    System.out.println(java.time.Instant.now().toString().substring(0, 10));
    long t = System.nanoTime();
    Thread.sleep(200);
    System.out.println((System.nanoTime() - t) >= 200_000_000L);
    System.out.println(System.currentTimeMillis() / 100000);
  }
}
)java";
  const std::string out = Twice({kStart}, Java({dir + "/T.java"}));
  EXPECT_EQ(out, "2020-01-01\ntrue\n15778368\n");
  // Natively: today.
  Output native = RunProgram(Java({dir + "/T.java"}));
  EXPECT_EQ(native.exit_code, 0) << native.err;
  EXPECT_NE(native.out, out);
  RemoveTree(dir);
}

}  // namespace
}  // namespace detrun::testing
