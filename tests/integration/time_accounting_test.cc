// Accounting calls agree with the virtual clock, on real programs: times(),
// getrusage() and sysinfo() (and clock(), which reads the CPU-time clock)
// print exact, run-independent figures under detrun in every --clock mode;
// the same probe natively varies and shows a real maxrss.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;

// What every line after the first times() reads when the clock is frozen
// or, for the parts that do not depend on it, in every mode.
std::string Usage(const std::string& who, const std::string& utime) {
  return who + "_utime " + utime + "\n" + who + "_stime 0.000000\n" + who + "_maxrss 0\n" + who +
         "_minflt 0\n" + who + "_majflt 0\n" + who + "_nvcsw 0\n" + who + "_nivcsw 0\n";
}

const char kMachine[] =
    "sysinfo_loads 0 0 0\n"
    "sysinfo_totalram 8589934592\n"
    "sysinfo_freeram 4294967296\n"
    "sysinfo_sharedram 0\n"
    "sysinfo_bufferram 0\n"
    "sysinfo_totalswap 0\n"
    "sysinfo_freeswap 0\n"
    "sysinfo_procs 1\n"
    "sysinfo_totalhigh 0\n"
    "sysinfo_freehigh 0\n"
    "sysinfo_mem_unit 1\n";

const char kFailures[] =
    "getrusage_bad_who EINVAL\n"
    "getrusage_both EINVAL\n"
    "getrusage_efault EFAULT\n"
    "times_efault EFAULT\n"
    "sysinfo_efault EFAULT\n";

// The probe's full output under --time=2020-01-01 --clock=frozen: uptime
// 100 s = 10000 ticks, no CPU time, no host figures.
std::string FrozenExpected() {
  return std::string("clk_tck 100\n"
                     "times 10000\n"
                     "tms_utime 0\n"
                     "tms_stime 0\n"
                     "tms_cutime 0\n"
                     "tms_cstime 0\n") +
         Usage("self", "0.000000") + Usage("thread", "0.000000") +
         Usage("children", "0.000000") + "sysinfo_uptime 100\n" + kMachine + "clock 0\n" +
         kFailures +
         "times_null 10000\n"
         "times_end 10000 utime 0\n";
}

// Runs the probe under detrun with `flags`, expecting success.
std::string RunProbe(std::vector<std::string> flags) {
  flags.push_back("--");
  flags.push_back(Probe("cpu_times"));
  Output o = Detrun(flags);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  return o.out;
}

// "name value..." lines by name (the rest of the line as the value).
std::map<std::string, std::string> Fields(const std::string& out) {
  std::map<std::string, std::string> fields;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    fields[line.substr(0, space)] = line.substr(space + 1);
  }
  return fields;
}

long Num(const std::map<std::string, std::string>& fields, const std::string& name) {
  auto it = fields.find(name);
  if (it == fields.end()) {
    ADD_FAILURE() << "no line " << name;
    return -1;
  }
  return std::strtol(it->second.c_str(), nullptr, 10);
}

TEST(TimeAccountingTest, FrozenExactOutput) {
  EXPECT_EQ(RunProbe({kStart, "--clock=frozen"}), FrozenExpected());
  // The start time does not enter these figures: only uptime does.
  EXPECT_EQ(RunProbe({"--time=@0", "--clock=frozen"}), FrozenExpected());
}

TEST(TimeAccountingTest, StepExactOutput) {
  // Reads that advance (tick 250 ms): times, clock(), the EFAULT times,
  // times(NULL), the last times. getrusage and sysinfo only look.
  std::string expected = std::string("clk_tck 100\n"
                                     "times 10000\n"  // 100 s; then 0.25 s elapsed
                                     "tms_utime 0\n"
                                     "tms_stime 0\n"
                                     "tms_cutime 0\n"
                                     "tms_cstime 0\n") +
                         Usage("self", "0.250000") + Usage("thread", "0.250000") +
                         Usage("children", "0.000000") +
                         "sysinfo_uptime 101\n"  // 100.25 s, rounded up as the kernel does
                         + kMachine +
                         "clock 250000\n"  // CLOCKS_PER_SEC = 1e6; then 0.5 s
                         + kFailures +     // the EFAULT times() is a read: 0.75 s
                         "times_null 10075\n"        // then 1 s
                         "times_end 10100 utime 100\n";
  EXPECT_EQ(RunProbe({kStart, "--clock=step", "--tick=250ms"}), expected);
}

TEST(TimeAccountingTest, StepTwiceIdentical) {
  std::string a = RunProbe({kStart});
  std::string b = RunProbe({kStart});
  EXPECT_EQ(a, b) << "two runs differ";
  EXPECT_THAT(a, HasSubstr("times 10000\n"));
  EXPECT_THAT(a, HasSubstr(Usage("self", "0.001000")));
  EXPECT_THAT(a, HasSubstr(kMachine));
  EXPECT_THAT(a, HasSubstr(kFailures));
}

TEST(TimeAccountingTest, RealClockIsSane) {
  Output o = Detrun({kStart, "--clock=real", "--", Probe("cpu_times")});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto f = Fields(o.out);
  // Real elapsed time since the start of the run: well under a minute.
  const long ticks = Num(f, "times");
  EXPECT_GE(ticks, 10000);
  EXPECT_LT(ticks, 10000 + 60 * 100);
  EXPECT_GE(Num(f, "tms_utime"), 0);
  EXPECT_LE(Num(f, "tms_utime"), ticks - 10000);
  EXPECT_EQ(Num(f, "tms_stime"), 0);
  EXPECT_EQ(Num(f, "tms_cutime"), 0);
  EXPECT_EQ(Num(f, "tms_cstime"), 0);
  EXPECT_THAT(f["self_utime"], ::testing::MatchesRegex("[0-9]+\\.[0-9]{6}"));
  EXPECT_LT(std::strtod(f["self_utime"].c_str(), nullptr), 60.0);
  EXPECT_EQ(f["self_stime"], "0.000000");
  EXPECT_EQ(Num(f, "self_maxrss"), 0);
  EXPECT_THAT(o.out, HasSubstr(Usage("children", "0.000000")));
  EXPECT_GE(Num(f, "sysinfo_uptime"), 100);
  EXPECT_LT(Num(f, "sysinfo_uptime"), 160);
  EXPECT_THAT(o.out, HasSubstr(kMachine));
  EXPECT_GE(Num(f, "clock"), 0);
  EXPECT_LT(Num(f, "clock"), 60'000'000);
  EXPECT_THAT(o.out, HasSubstr(kFailures));
  // The clock moves forward, never back.
  EXPECT_GE(Num(f, "times_null"), ticks);
  EXPECT_GE(Num(f, "times_end"), Num(f, "times_null"));
}

TEST(TimeAccountingTest, NativelyTheFiguresAreTheHosts) {
  // Shows the exact expectations above can fail: natively the same probe
  // reports a real maxrss, and its uptime and CPU figures move between runs.
  Output a = RunProgram({Probe("cpu_times")});
  Output b = RunProgram({Probe("cpu_times")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(a.out != b.out || Num(Fields(a.out), "self_maxrss") != 0) << a.out;
  EXPECT_NE(Num(Fields(a.out), "self_maxrss"), 0);
  EXPECT_NE(a.out, FrozenExpected());
}

TEST(TimeAccountingTest, Python) {
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) GTEST_SKIP() << "SKIPPED: no " << python;
  const std::string script =
      "import os, resource\n"
      "t = os.times()\n"
      "print(t.user, t.system, t.children_user, t.children_system, t.elapsed)\n"
      "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n";
  Output a = Detrun({kStart, "--", python, "-c", script});
  Output b = Detrun({kStart, "--", python, "-c", script});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out) << "two runs differ";
  EXPECT_THAT(a.out, ::testing::EndsWith("\n0\n"));
  Output frozen = Detrun({kStart, "--clock=frozen", "--", python, "-c", script});
  EXPECT_EQ(frozen.out, "0.0 0.0 0.0 0.0 100.0\n0\n") << frozen.err;
  // Natively maxrss is the host's (never 0 for a running interpreter).
  Output native = RunProgram({python, "-c", script});
  EXPECT_EQ(native.exit_code, 0) << native.err;
  EXPECT_THAT(native.out, ::testing::Not(::testing::EndsWith("\n0\n")));
}

}  // namespace
}  // namespace detrun::testing
