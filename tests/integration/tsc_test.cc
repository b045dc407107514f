// --tsc: rdtsc and rdtscp trapped and answered from the virtual clock
// (core/tsc_trap.h), on real programs: a probe, and Go's map order.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;

struct Reads {
  uint64_t a = 0, b = 0, c = 0, d = 0, aux = 0;
};

Reads Parse(const std::string& out) {
  Reads r;
  std::vector<std::string> w = absl::StrSplit(out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  EXPECT_EQ(w.size(), 8u) << out;
  if (w.size() != 8) return r;
  EXPECT_EQ(w[0], "rdtsc");
  EXPECT_EQ(w[4], "rdtscp");
  EXPECT_TRUE(absl::SimpleAtoi(w[1], &r.a) && absl::SimpleAtoi(w[2], &r.b) &&
              absl::SimpleAtoi(w[3], &r.c) && absl::SimpleAtoi(w[5], &r.d) &&
              absl::SimpleAtoi(w[7], &r.aux))
      << out;
  return r;
}

TEST(TscTest, StepModeCountsVirtualNanoseconds) {
  const Reads r = Parse(Twice({}, {Probe("tsc_probe")}));
  // The monotonic clock starts at 100 s; each read is one 1 ms tick on.
  EXPECT_GE(r.a, 100'000'000'000u);
  EXPECT_LT(r.a, 101'000'000'000u);
  EXPECT_EQ(r.b - r.a, 1'000'000u);
  EXPECT_EQ(r.c - r.b, 1'000'000u);
  EXPECT_EQ(r.d - r.c, 1'000'000u);
  EXPECT_EQ(r.aux, 0u);  // CPU 0, as getcpu says
  // The tick follows --tick.
  const Reads t = Parse(Twice({"--tick=5us"}, {Probe("tsc_probe")}));
  EXPECT_EQ(t.b - t.a, 5'000u);
}

TEST(TscTest, FrozenModeIsOneValue) {
  const Reads r = Parse(Twice({"--clock=frozen"}, {Probe("tsc_probe")}));
  EXPECT_EQ(r.a, 100'000'000'000u);
  EXPECT_EQ(r.b, r.a);
  EXPECT_EQ(r.c, r.a);
  EXPECT_EQ(r.d, r.a);
}

TEST(TscTest, NativeIsTheHostsCounter) {
  Output one = Detrun({"--tsc=native", "--", Probe("tsc_probe")});
  Output two = Detrun({"--tsc=native", "--", Probe("tsc_probe")});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(one.out, two.out);
  EXPECT_GT(Parse(one.out).b, Parse(one.out).a);
}

TEST(TscTest, ThreadsReadTheirOwnClocks) {
  const std::string out = Twice({}, {Probe("tsc_probe"), "threads"});
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << out;
}

TEST(TscTest, OtherSegvsAreDelivered) {
  Output crash = Detrun({"--", Probe("tsc_probe"), "segv"});
  EXPECT_EQ(crash.exit_code, 128 + SIGSEGV) << crash.err;
  Output handled = Detrun({"--", Probe("tsc_probe"), "handler"});
  EXPECT_EQ(handled.exit_code, 0) << handled.err;
  EXPECT_EQ(handled.out, "handled 11\n");
}

TEST(TscTest, TheTrapCannotBeTurnedOff) {
  Output o = Detrun({"--", Probe("tsc_probe"), "prctl"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "prctl PR_SET_TSC: Operation not permitted\n");
  // With --tsc=native nothing is trapped, and nothing refused.
  Output n = Detrun({"--tsc=native", "--", Probe("tsc_probe"), "prctl"});
  EXPECT_EQ(n.out, "prctl PR_SET_TSC: allowed\n");
}

TEST(TscTest, TrapModeNamesTheReaders) {
  Output o = Detrun({"--tsc=trap", "--", Probe("tsc_probe")});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(Parse(o.out).b - Parse(o.out).a, 1'000'000u);
  // The probe's four, and whatever the loader read.
  EXPECT_THAT(o.err, HasSubstr("detrun: --tsc=trap: "));
  EXPECT_THAT(o.err, HasSubstr(" in " + Probe("tsc_probe") + "\n"));
  Output quiet = Detrun({"--", Probe("tsc_probe")});
  EXPECT_EQ(quiet.err, "");
  // With a leak report, they are its rdtsc section; --strict refuses none.
  Output report = Detrun({"--tsc=trap", "--strict", "--report-leaks", "--", Probe("tsc_probe")});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.err, HasSubstr("detrun: leak rdtsc: "));
  EXPECT_THAT(report.err, HasSubstr(Probe("tsc_probe")));
  EXPECT_THAT(report.err, ::testing::Not(HasSubstr("--tsc=trap: ")));
  EXPECT_THAT(report.err, HasSubstr("detrun: strict: 0 calls refused with EPERM"));
}

// The loader's eight timing reads per dynamic program (core/loader_tsc.h):
// the first program learns their sites, later ones run them patched, and
// both read the same values, in every run; natively every read differs.
std::vector<std::string> LoaderStartupTimes(const std::string& err) {
  std::vector<std::string> times;
  for (absl::string_view line : absl::StrSplit(err, '\n')) {
    const size_t at = line.find("total startup time in dynamic loader: ");
    if (at != absl::string_view::npos) times.emplace_back(line.substr(at));
  }
  return times;
}

TEST(TscTest, LoaderReadsAreTheSameLearnedOrPatched) {
  const std::vector<std::string> command = {"/bin/sh", "-c", "/bin/true; /bin/true"};
  auto run = [&](std::vector<std::string> detrun_args) {
    std::vector<std::string> argv = {"/usr/bin/env", "LD_DEBUG=statistics"};
    if (!detrun_args.empty()) {
      argv.push_back(DetrunBin());
      argv.insert(argv.end(), detrun_args.begin(), detrun_args.end());
      argv.push_back("--");
    }
    argv.insert(argv.end(), command.begin(), command.end());
    Output o = RunProgram(argv);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    std::vector<std::string> times = LoaderStartupTimes(o.err);
    // The last three: sh, then each true (a dynamic detrun, as under the
    // sanitizers, prints its own first).
    EXPECT_GE(times.size(), 3u) << o.err;
    if (times.size() > 3) times.erase(times.begin(), times.end() - 3);
    return times;
  };
  const std::vector<std::string> first = run({"--seed=1"});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], first[1]);  // learned (trapped) and patched alike
  EXPECT_EQ(first[1], first[2]);
  EXPECT_EQ(run({"--seed=1"}), first);
  const std::vector<std::string> native = run({});
  ASSERT_EQ(native.size(), 3u);
  EXPECT_FALSE(native[0] == native[1] && native[1] == native[2]);
  // --tsc=trap patches nothing: every read of every program is reported.
  Output trap = Detrun({"--tsc=trap", "--", "/bin/sh", "-c", "/bin/true; /bin/true"});
  ASSERT_EQ(trap.exit_code, 0) << trap.err;
  EXPECT_THAT(trap.err, HasSubstr("detrun:   16 in /bin/true\n")) << trap.err;
}

TEST(TscTest, JobControlStillWorks) {
  // Every process is traced: a stopped child must still be reported
  // stopped and continued to its real parent, and end normally. The child
  // waits on a pipe until the parent is done with it: a sleep would not
  // do, since a step-clock sleep returns at once, and under load the child
  // could exit before the SIGSTOP (it failed so once in a parallel ctest).
  Output o = Detrun({"--", "/usr/bin/python3", "-c", R"py(
import os, signal
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(7)
os.close(r)
os.kill(pid, signal.SIGSTOP)
_, st = os.waitpid(pid, os.WUNTRACED)
print("stopped", os.WIFSTOPPED(st), os.WSTOPSIG(st))
os.kill(pid, signal.SIGCONT)
_, st = os.waitpid(pid, os.WCONTINUED)
print("continued", os.WIFCONTINUED(st))
os.write(w, b"x")
_, st = os.waitpid(pid, 0)
print("exit", os.WEXITSTATUS(st))
)py"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "stopped True 19\ncontinued True\nexit 7\n");
}

// With MAPORDER_LOCK set, main's goroutine is pinned to its thread.
constexpr char kGoMap[] = R"go(package main

import (
	"fmt"
	"os"
	"runtime"
)

func init() {
	if os.Getenv("MAPORDER_LOCK") != "" {
		runtime.LockOSThread()
	}
}

func main() {
	m := map[string]int{}
	for i := 0; i < 32; i++ {
		m[fmt.Sprint("k", i)] = i
	}
	for round := 0; round < 3; round++ {
		for k := range m {
			fmt.Print(k, " ")
		}
		fmt.Println()
	}
}
)go";

TEST(TscTest, GoMapOrderIsAFunctionOfTheSeed) {
  if (access("/usr/bin/go", X_OK) != 0) GTEST_SKIP() << "SKIPPED: Go is not installed";
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/main.go") << kGoMap;
  Output build = GoBuild(dir, dir + "/main.go", dir + "/maporder");
  ASSERT_EQ(build.exit_code, 0) << build.err;
  const std::string program = dir + "/maporder";
  auto first_line = [](const std::string& out) { return out.substr(0, out.find('\n')); };
  // Go seeds each thread's random state from AT_RANDOM and rdtsc, and takes
  // each map's hash seed and each range loop's starting point from the
  // state of the thread the goroutine runs on. The first loop's order is
  // drawn before the program writes anything, on the main thread unless
  // the goroutine moved during the runtime's start-up (three fast fcntl
  // calls): the same in 800 of 800 runs under load.
  const std::string one = first_line(Detrun({"--seed=1", "--", program}).out);
  ASSERT_THAT(one, HasSubstr("k0 "));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(first_line(Detrun({"--seed=1", "--", program}).out), one);
  }
  // Later loops run wherever Go's scheduler has moved the goroutine: when
  // sysmon finds a thread in a slow system call (here, a write descheduled
  // under load), it hands the thread's P to another thread, which may keep
  // the goroutine, and that thread's random state gives another order.
  // That is real time, which detrun does not control (README, Known
  // limits; measured under load: 2 of 200 runs, 3 of 200 with
  // asyncpreemptoff, and 5 of 200 in --clock=frozen). A goroutine pinned
  // to its thread never moves: every loop is exact (200 of 200).
  Twice({"--seed=1"}, {"/usr/bin/env", "MAPORDER_LOCK=1", program});
  // Other seeds, other orders (each of 32 starting points): at least one
  // of three differs.
  std::set<std::string> seeds = {one};
  for (const char* seed : {"--seed=2", "--seed=3", "--seed=4"}) {
    seeds.insert(first_line(Detrun({seed, "--", program}).out));
  }
  EXPECT_GT(seeds.size(), 1u);
  // Natively, and without the trap: rdtsc makes the order vary from run to
  // run.
  std::set<std::string> native;
  std::set<std::string> untrapped;
  for (int i = 0; i < 4; ++i) {
    native.insert(first_line(RunProgram({program}).out));
    untrapped.insert(first_line(Detrun({"--seed=1", "--tsc=native", "--", program}).out));
  }
  EXPECT_GT(native.size(), 1u);
  EXPECT_GT(untrapped.size(), 1u);
  RemoveTree(dir);
}

}  // namespace
}  // namespace detrun::testing
