#include "replay/trace_diff.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/trace_writer.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A trace written from parts, as the recorder would.
struct Spec {
  TraceHeader header;
  std::vector<TraceEvent> events;
  TraceEnd end;
};

TraceEvent Call(std::string thread, std::string name, std::string out_hex = "",
                std::string module = "") {
  TraceEvent e;
  e.thread = std::move(thread);
  e.syscall = std::move(name);
  e.answer = TraceEvent::Answer::kValue;
  e.module = std::move(module);
  if (!out_hex.empty()) e.out = {out_hex.size() / 2, out_hex, ""};
  return e;
}

TraceEvent Start(std::string process, std::string parent) {
  TraceEvent e;
  e.kind = TraceEvent::Kind::kStart;
  e.thread = std::move(process);
  e.parent = std::move(parent);
  return e;
}

Spec Base() {
  Spec s;
  s.header.detrun_version = "0.1.0";
  s.header.recorded_at = "2026-01-01T00:00:00Z";
  s.header.config.record_path = "a.trace";
  s.header.argv = {"prog"};
  s.header.path = "/bin/prog";
  s.header.cwd = "/tmp";
  s.header.env_xxh3 = "0000000000000001";
  s.header.env = {{"HOME", "0000000000000002"}, {"PATH", "0000000000000003"}};
  s.events = {Start("1", ""), Call("1", "clock_gettime", "01", "time"),
              Call("1", "getrandom", "aa", "random"), Call("1", "uname", "", "uts"),
              Start("1.1", "1"), Call("1.1", "clock_gettime", "02", "time")};
  s.end.wait_status = 0;
  s.end.stdout_record = {true, "", false, 5, "00000000000000aa"};
  s.end.stderr_record = {true, "", false, 0, "00000000000000bb"};
  return s;
}

class DiffTest : public ::testing::Test {
 protected:
  std::string Write(const Spec& s) {
    const char* dir = getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : getenv("TMPDIR");
    std::string path = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/trace_diff_test.XXXXXX";
    close(mkstemp(path.data()));
    std::unique_ptr<TraceWriter> w = *TraceWriter::Create(path);
    w->WriteHeader(s.header);
    for (const TraceEvent& e : s.events) w->WriteEvent(e);
    EXPECT_TRUE(w->Finish(s.end).ok());
    paths_.push_back(path);
    return path;
  }
  ~DiffTest() override {
    for (const std::string& p : paths_) unlink(p.c_str());
  }

  DiffResult Diff(const Spec& a, const Spec& b, DiffOptions options = {}) {
    absl::StatusOr<DiffResult> r = DiffTraces(Write(a), Write(b), options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : DiffResult();
  }

  std::vector<std::string> paths_;
};

TEST_F(DiffTest, IdenticalRunsDiffClean) {
  Spec b = Base();
  // The time of recording and the trace's own path never count.
  b.header.recorded_at = "2030-12-31T23:59:59Z";
  b.header.config.record_path = "b.trace";
  b.header.config.verbose = true;
  b.header.config.explicitly_set = {"seed"};
  DiffResult r = Diff(Base(), b);
  EXPECT_TRUE(r.identical) << r.report;
  EXPECT_THAT(r.report, HasSubstr("identical: 6 events in 2 processes"));
}

// The leak reports never make a difference; when the runs differ they
// are noted, once when both runs leaked the same.
TEST_F(DiffTest, LeakReportsAreNotedOnlyWhenTheRunsDiffer) {
  LeakReport leaks(false);
  leaks.Record(LeakCategory::kProc, ThreadIdentity{ProcessIdentity::Root(), 0}, "openat",
               "/proc/self/stat");
  Spec a = Base();
  a.end.leaks = leaks.Summary();
  Spec b = a;
  b.header.config.strict = false;
  DiffResult same = Diff(a, b);
  EXPECT_TRUE(same.identical) << same.report;
  EXPECT_THAT(same.report, Not(HasSubstr("leak")));
  // Other examples, same events: still identical.
  LeakReport other(false);
  other.Record(LeakCategory::kProc, ThreadIdentity{ProcessIdentity::Root(), 0}, "openat",
               "/proc/[pid]/stat");
  b.end.leaks = other.Summary();
  EXPECT_TRUE(Diff(a, b).identical);

  b.end.leaks = a.end.leaks;
  b.end.stdout_record.xxh3 = "00000000000000cc";
  DiffResult output = Diff(a, b);
  EXPECT_FALSE(output.identical);
  EXPECT_THAT(output.report,
              HasSubstr("note: host facts detrun does not control reached the command (leak "
                        "report of both): proc 1 (e.g. openat /proc/self/stat [1])\n"));
  b.end.leaks = LeakSummary{};
  DiffResult one_side = Diff(a, b);
  EXPECT_THAT(one_side.report, HasSubstr("(leak report of A): proc 1"));
  EXPECT_THAT(one_side.report, Not(HasSubstr("leak report of B")));
  // --strict changes answers: a configuration difference.
  b.header.config.strict = true;
  EXPECT_THAT(Diff(a, b).report, HasSubstr("strict: no vs yes"));
}

TEST_F(DiffTest, ASeedChangeIsClassifiedAtTheFirstCallWhoseAnswerDiffers) {
  Spec b = Base();
  b.header.config.seed = 2;
  b.events[2].out.hex = "bb";
  b.end.stdout_record.xxh3 = "00000000000000cc";
  DiffResult r = Diff(Base(), b);
  EXPECT_FALSE(r.identical);
  EXPECT_THAT(r.report, HasSubstr("configuration:\n  seed: 0 vs 2\n"));
  EXPECT_THAT(r.report, HasSubstr("process 1: diverges at event #3 of thread 1"));
  EXPECT_THAT(r.report, HasSubstr("classification: random (getrandom answered differently)"));
  EXPECT_THAT(r.report, HasSubstr("output: stdout differs"));
  EXPECT_THAT(r.report, Not(HasSubstr("process 1.1")));
  // Configuration comes first.
  EXPECT_LT(r.report.find("seed"), r.report.find("process 1"));
}

TEST_F(DiffTest, ContextShowsTheEventsBeforeTheDivergence) {
  Spec b = Base();
  b.events[3].detail = "nodename=other";
  b.events[3].out = {2, "ffff", ""};
  DiffResult r = Diff(Base(), b);
  EXPECT_THAT(r.report, HasSubstr("    both #2  1       clock_gettime() = 0  [1 bytes 01]  (time)\n"));
  EXPECT_THAT(r.report, HasSubstr("    both #3  1       getrandom() = 0"));
  EXPECT_THAT(r.report, HasSubstr("    A    #4  1       uname() = 0  (uts)\n"));
  EXPECT_THAT(r.report, HasSubstr("    B    #4  1       uname() = 0  nodename=other  (uts)\n"));
  EXPECT_THAT(r.report, HasSubstr("classification: hostname (uname answered differently)"));
}

TEST_F(DiffTest, ADescriptionAloneIsNotADifference) {
  Spec b = Base();
  b.events[1].detail = "described differently";
  EXPECT_TRUE(Diff(Base(), b).identical);
}

TEST_F(DiffTest, SameEventsInAnotherOrderIsScheduling) {
  Spec a = Base();
  a.events.push_back(Call("1:1", "clock_gettime", "10", "time"));
  a.events.push_back(Call("1:2", "getrandom", "20", "random"));
  Spec b = Base();
  b.events.push_back(Call("1:1", "getrandom", "20", "random"));
  b.events.push_back(Call("1:2", "clock_gettime", "10", "time"));
  DiffResult r = Diff(a, b);
  EXPECT_FALSE(r.identical);
  EXPECT_THAT(r.report, HasSubstr("classification: scheduling (same events, different order)"));
  EXPECT_THAT(r.report, HasSubstr("2 threads diverge"));
}

TEST_F(DiffTest, AnotherPathWithTheSameAnswersIsTheEnvironment) {
  Spec b = Base();
  b.events[3] = Call("1", "sched_getaffinity", "", "cpus");
  DiffResult r = Diff(Base(), b);
  EXPECT_THAT(r.report, HasSubstr("classification: environment (the command took another path here"));
  b.header.env_xxh3 = "0000000000000009";
  b.header.env[1].second = "0000000000000009";
  b.header.env.push_back({"LANG", "000000000000000a"});
  r = Diff(Base(), b);
  EXPECT_THAT(r.report, HasSubstr("environment (a note; differences only count through what the "
                                  "command did):\n  different values: PATH\n  only in B: LANG\n"));
  EXPECT_THAT(r.report, HasSubstr("its environment differs"));
}

TEST_F(DiffTest, AnEnvironmentDifferenceAloneIsANoteNotADifference) {
  Spec b = Base();
  b.header.env_xxh3 = "0000000000000009";
  b.header.env.push_back({"OLDPWD", "000000000000000a"});
  DiffResult r = Diff(Base(), b);
  EXPECT_TRUE(r.identical) << r.report;
  EXPECT_THAT(r.report, HasSubstr("only in B: OLDPWD"));
}

TEST_F(DiffTest, OutputAloneDiffersWhenEveryAnswerWasTheSame) {
  Spec b = Base();
  b.end.stdout_record.xxh3 = "00000000000000ff";
  DiffResult r = Diff(Base(), b);
  EXPECT_FALSE(r.identical);
  EXPECT_THAT(r.report, HasSubstr("classification: output (every process got the same answers"));
}

TEST_F(DiffTest, AChildFollowsItsParentsDivergence) {
  Spec b = Base();
  b.header.config.seed = 7;
  b.events[2].out.hex = "bb";
  b.events[5] = Call("1.1", "uname", "", "uts");
  DiffResult r = Diff(Base(), b);
  EXPECT_THAT(r.report, HasSubstr("process 1.1: diverges"));
  EXPECT_THAT(r.report,
              HasSubstr("classification: random (follows from process 1, which diverged first)"));
}

TEST_F(DiffTest, ExecExitAndProcessesOnOneSide) {
  Spec a = Base();
  TraceEvent exec;
  exec.kind = TraceEvent::Kind::kExec;
  exec.thread = "1.1";
  exec.path = "/bin/true";
  exec.argv = {"true"};
  a.events.push_back(exec);
  TraceEvent exit;
  exit.kind = TraceEvent::Kind::kExit;
  exit.thread = "1";
  exit.wait_status = 0;
  a.events.push_back(exit);
  a.events.push_back(Start("1.2", "1"));
  Spec b = Base();
  exec.argv = {"true", "x"};
  b.events.push_back(exec);
  exit.wait_status = 1 << 8;
  b.events.push_back(exit);
  b.end.wait_status = 1 << 8;
  b.end.exit_code = 1;
  DiffResult r = Diff(a, b);
  EXPECT_THAT(r.report, HasSubstr("classification: exec (a different program or arguments)"));
  EXPECT_THAT(r.report, HasSubstr("classification: exit status (exited 0 vs exited 1)"));
  EXPECT_THAT(r.report, HasSubstr("processes:\n  only in A: 1.2\n"));
  EXPECT_THAT(r.report, HasSubstr("exit status: exited 0 vs exited 1 (detrun exit 0 vs 1)"));
}

TEST_F(DiffTest, OutputsNotCapturedOnOneSideAreNotCompared) {
  Spec b = Base();
  b.end.stdout_record = {false, "terminal", false, 0, ""};
  DiffResult r = Diff(Base(), b);
  EXPECT_TRUE(r.identical) << r.report;
  EXPECT_THAT(r.report, HasSubstr("note: stdout not compared"));
}

TEST_F(DiffTest, CommandDifferencesCount) {
  Spec b = Base();
  b.header.argv = {"prog", "--fast"};
  b.header.cwd = "/home";
  DiffResult r = Diff(Base(), b);
  EXPECT_FALSE(r.identical);
  EXPECT_THAT(r.report, HasSubstr("command:\n  argv: prog vs prog --fast\n  cwd: /tmp vs /home\n"));
}

TEST_F(DiffTest, ManyDivergingProcessesAreSummarised) {
  Spec a = Base(), b = Base();
  for (int i = 2; i < 8; ++i) {
    const std::string p = "1." + std::to_string(i);
    a.events.push_back(Start(p, "1"));
    b.events.push_back(Start(p, "1"));
    a.events.push_back(Call(p, "clock_gettime", "01", "time"));
    b.events.push_back(Call(p, "clock_gettime", "02", "time"));
  }
  DiffOptions options;
  options.max_detailed = 2;
  DiffResult r = Diff(a, b, options);
  EXPECT_THAT(r.report, HasSubstr("4 more processes diverge: 1.4 (time), 1.5 (time), 1.6 (time), 1.7 (time)"));
  EXPECT_THAT(r.report, HasSubstr("different: 6 processes diverge"));
}

TEST_F(DiffTest, BadTracesAreErrorsNamingTheFile) {
  const std::string good = Write(Base());
  const std::string bad = Write(Base()) + ".missing";
  absl::StatusOr<DiffResult> r = DiffTraces(good, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(bad + ": cannot open"));
}

}  // namespace
}  // namespace detrun
