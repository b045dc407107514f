// --record, `detrun show`, `detrun diff` and `detrun replay` on real
// programs under the real detrun: identical runs diff clean, runs that
// differ in one option are classified by that option's source at the call
// whose answer changed, broken traces are refused with exit 2, and replay
// notices a command that now behaves differently.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPython[] = "/usr/bin/python3";

// detrun by an absolute path, for commands that change directory first.
std::string AbsoluteDetrunBin() {
  const std::string bin = DetrunBin();
  if (!bin.empty() && bin[0] == '/') return bin;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) != nullptr ? cwd : ".") + "/" + bin;
}

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { RemoveTree(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Records `command` under `flags` into `name`; expects the run to exit
  // with `code`.
  std::string Record(const std::string& name, std::vector<std::string> flags,
                     const std::vector<std::string>& command, int code = 0) {
    const std::string trace = Path(name);
    flags.insert(flags.begin(), "--record=" + trace);
    flags.push_back("--");
    flags.insert(flags.end(), command.begin(), command.end());
    Output o = Detrun(flags);
    EXPECT_EQ(o.exit_code, code) << o.err;
    return trace;
  }

  Output Diff(const std::string& a, const std::string& b) { return Detrun({"diff", a, b}); }

  // Records `command` with `flags_a` and with `flags_b` and diffs them.
  Output RecordTwiceAndDiff(const std::vector<std::string>& flags_a,
                            const std::vector<std::string>& flags_b,
                            const std::vector<std::string>& command) {
    const std::string a = Record("a.trace", flags_a, command);
    const std::string b = Record("b.trace", flags_b, command);
    return Diff(a, b);
  }

  std::string dir_;
};

TEST_F(TraceTest, TwoRecordingsOfTheSameCommandDiffClean) {
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"date"}, {kPython, "-c", "import os, time; print(os.urandom(4).hex(), time.time())"},
        {"sh", "-c", "hostname; nproc; date +%s%N"}}) {
    Output d = RecordTwiceAndDiff({"--seed=5"}, {"--seed=5"}, command);
    EXPECT_EQ(d.exit_code, 0) << command[0] << "\n" << d.out << d.err;
    EXPECT_THAT(d.out, StartsWith("identical: ")) << command[0];
  }
}

TEST_F(TraceTest, RecordingChangesNothingTheCommandSees) {
  const std::vector<std::string> command = {"sh", "-c", "date; hostname; echo err >&2; exit 3"};
  Output plain = Detrun({"--", "sh", "-c", "date; hostname; echo err >&2; exit 3"});
  Output recorded = Detrun({"--record=" + Path("r.trace"), "--", "sh", "-c",
                            "date; hostname; echo err >&2; exit 3"});
  EXPECT_EQ(plain.exit_code, 3);
  EXPECT_EQ(recorded.exit_code, 3);
  EXPECT_EQ(plain.out, recorded.out);
  EXPECT_EQ(plain.err, recorded.err);
  Output show = Detrun({"show", Path("r.trace")});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("end: command exited 3, detrun exit 3; stdout "));
  EXPECT_THAT(show.out, HasSubstr("; stderr 4 bytes xxh3:"));
}

TEST_F(TraceTest, SeedIsClassifiedAsRandomAtGetrandom) {
  ASSERT_TRUE(Exists(kPython));
  Output d = RecordTwiceAndDiff({"--seed=1"}, {"--seed=2"},
                                {kPython, "-c", "import os; print(os.urandom(8).hex())"});
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_THAT(d.out, HasSubstr("configuration:\n  seed: 1 vs 2\n"));
  EXPECT_THAT(d.out, HasSubstr("classification: random (getrandom answered differently)"));
  EXPECT_THAT(d.out, HasSubstr("output: stdout differs"));
  // The first divergence is getrandom, not a set-up step such as AT_RANDOM.
  const size_t first = d.out.find("    A    #");
  ASSERT_NE(first, std::string::npos) << d.out;
  EXPECT_THAT(d.out.substr(first, d.out.find('\n', first) - first), HasSubstr("getrandom("));
}

TEST_F(TraceTest, TimeIsClassifiedAsTimeAtTheClockRead) {
  Output d = RecordTwiceAndDiff({}, {"--time=2020-02-02"}, {"date"});
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_THAT(d.out, HasSubstr("time: 2000-01-01T00:00:00Z vs 2020-02-02T00:00:00Z"));
  EXPECT_THAT(d.out, HasSubstr("classification: time (clock_gettime answered differently)"));
  EXPECT_THAT(d.out, HasSubstr("CLOCK_REALTIME 2020-02-02T00:00:00Z"));
}

TEST_F(TraceTest, HostnameIsClassifiedAsHostnameAtUname) {
  Output d = RecordTwiceAndDiff({"--hostname=alpha"}, {"--hostname=beta"}, {"hostname"});
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_THAT(d.out, HasSubstr("hostname: alpha vs beta"));
  EXPECT_THAT(d.out, HasSubstr("classification: hostname (uname answered differently)"));
  EXPECT_THAT(d.out, HasSubstr("nodename=beta"));
}

TEST_F(TraceTest, CpusAreClassifiedAsCpusAtSchedGetaffinity) {
  Output d = RecordTwiceAndDiff({"--cpus=2"}, {"--cpus=8"}, {"nproc"});
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_THAT(d.out, HasSubstr("cpus: 2 vs 8"));
  EXPECT_THAT(d.out, HasSubstr("classification: cpus (sched_getaffinity answered differently)"));
  EXPECT_THAT(d.out, HasSubstr("8 CPUs"));
}

TEST_F(TraceTest, AMultiProcessBuildDiffsCleanAgainstItself) {
  if (!Exists("/usr/bin/make")) GTEST_SKIP() << "make is not installed";
  const std::string project = Path("project");
  mkdir(project.c_str(), 0755);
  // Each job writes its own file: parallel jobs writing to one stdout
  // would interleave in a real race, which diff reports as an output
  // difference.
  WriteFile(project + "/Makefile",
            ".PHONY: all one two three four\n"
            "all: one two three four\n"
            "one:\n\tdate +%s > one.out\n"
            "two:\n\thostname > two.out\n"
            "three:\n\tsh -c 'echo three; nproc' > three.out\n"
            "four:\n\techo four > four.out\n");
  const std::vector<std::string> command = {"make", "-s", "-j2", "-C", project};
  const std::string a = Record("a.trace", {}, command);
  // The second build starts from the same directory contents (make lists
  // it: the outputs of the first would be a dirs divergence).
  for (const char* out : {"one.out", "two.out", "three.out", "four.out"}) {
    unlink((project + "/" + out).c_str());
  }
  const std::string b = Record("b.trace", {}, command);
  Output d = Diff(a, b);
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  Output show = Detrun({"show", a});
  EXPECT_EQ(show.exit_code, 0);
  for (const char* process : {"\n1.1 ", "\n1.2 ", "\n1.3 ", "\n1.4 ", "\n1.3.1 "}) {
    EXPECT_THAT(show.out, HasSubstr(process)) << show.out;
  }
}

TEST_F(TraceTest, ShowRoundTrips) {
  const std::string trace = Record("t.trace", {"--seed=9"}, {"sh", "-c", "date; hostname; nproc"});
  Output json = Detrun({"show", "--json", trace});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, ReadFile(trace));  // byte for byte, footer included
  WriteFile(Path("again.trace"), json.out);
  EXPECT_EQ(Diff(trace, Path("again.trace")).exit_code, 0);

  Output text = Detrun({"show", trace});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  // One line per event, process identity first, between the header and
  // the end line.
  std::istringstream lines(text.out);
  int events = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] >= '0' && line[0] <= '9') ++events;
  }
  std::istringstream raw(ReadFile(trace));
  int raw_events = 0;
  for (std::string line; std::getline(raw, line);) raw_events += line.rfind("{\"t\":", 0) == 0;
  EXPECT_EQ(events, raw_events);
  EXPECT_THAT(text.out, HasSubstr("config: seed=9 "));
  EXPECT_THAT(text.out, HasSubstr("\n1       exec "));
  EXPECT_THAT(text.out, HasSubstr("uname() = 0  nodename=detrun"));
}

TEST_F(TraceTest, TruncatedAndGarbageTracesAreRefusedWithExit2) {
  const std::string trace = Record("t.trace", {}, {"date"});
  const std::string data = ReadFile(trace);
  WriteFile(Path("cut.trace"), data.substr(0, data.size() / 2));
  WriteFile(Path("nofooter.trace"), data.substr(0, data.rfind("{\"e\":\"footer\"")));
  WriteFile(Path("garbage.trace"), "\x7f" "ELF\x02\x01\x01 not a trace at all\n\x00\xff");
  WriteFile(Path("empty.trace"), "");
  std::string edited = data;
  edited.replace(edited.find("\"seed\":0"), 8, "\"seed\":1");
  WriteFile(Path("edited.trace"), edited);
  const std::pair<const char*, const char*> cases[] = {
      {"cut.trace", "truncated"},
      {"nofooter.trace", "truncated: no footer"},
      {"garbage.trace", "not a detrun trace"},
      {"empty.trace", "empty file"},
      {"edited.trace", "footer's digest does not match"},
      {"missing.trace", "No such file"},
  };
  for (const auto& [name, message] : cases) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"show", Path(name)}, {"show", "--json", Path(name)},
          {"diff", trace, Path(name)}, {"diff", Path(name), trace}, {"replay", Path(name)}}) {
      Output o = Detrun(args);
      EXPECT_EQ(o.exit_code, 2) << args[0] << " " << name;
      EXPECT_THAT(o.err, HasSubstr(message)) << args[0] << " " << name;
      EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
      EXPECT_EQ(o.out, "") << args[0] << " " << name;
    }
  }
}

TEST_F(TraceTest, UsageErrorsExit2) {
  EXPECT_EQ(Detrun({"diff", "only-one"}).exit_code, 2);
  EXPECT_EQ(Detrun({"show"}).exit_code, 2);
  EXPECT_EQ(Detrun({"show", "--bogus", "x"}).exit_code, 2);
  EXPECT_EQ(Detrun({"replay"}).exit_code, 2);
  Output o = Detrun({"--record=/nonexistent/dir/t.trace", "--", "true"});
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_THAT(o.err, HasSubstr("cannot create the trace /nonexistent/dir/t.trace"));
}

TEST_F(TraceTest, ReplayOfAGoodTraceExits0) {
  WriteFile(Path("input.txt"), "one\n");
  // Recorded from the temporary directory, with a relative path: replay
  // must run it there again.
  Output rec = RunProgram({"sh", "-c",
                           "cd \"$1\" && exec \"$2\" --seed=3 --record=t.trace -- sh -c 'cat input.txt; date'",
                           "sh", dir_, AbsoluteDetrunBin()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  Output r = Detrun({"replay", Path("t.trace")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "one\nSat Jan  1 00:00:00 UTC 2000\n");
  EXPECT_THAT(r.err, HasSubstr("identical"));
}

TEST_F(TraceTest, ReplayOfACommandThatNowBehavesDifferentlyExits1) {
  WriteFile(Path("input.txt"), "before\n");
  Output rec = RunProgram({"sh", "-c",
                           "cd \"$1\" && exec \"$2\" --record=t.trace -- cat input.txt", "sh", dir_,
                           AbsoluteDetrunBin()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_EQ(Detrun({"replay", Path("t.trace")}).exit_code, 0);
  WriteFile(Path("input.txt"), "after!\n");
  Output r = Detrun({"replay", Path("t.trace")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("output: stdout differs"));
  EXPECT_THAT(r.err, HasSubstr("classification: output"));
  EXPECT_THAT(r.err, HasSubstr("(the new run's trace: "));
}

TEST_F(TraceTest, AKilledCommandStillLeavesACompleteTrace) {
  const std::string trace = Record("k.trace", {}, {"sh", "-c", "kill -9 $$"}, 137);
  Output show = Detrun({"show", trace});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("end: command killed by SIGKILL, detrun exit 137"));
}

TEST_F(TraceTest, AClosedStdoutIsNotTakenByTheTrace) {
  // detrun started with fd 1 closed: the trace must not become the
  // command's stdout.
  Output o = RunProgram({"sh", "-c", "exec >&-; exec \"$@\"", "sh", DetrunBin(),
                         "--record=" + Path("c.trace"), "--", "echo", "hi"});
  EXPECT_EQ(o.exit_code, 1);  // echo: write error, as without detrun
  Output show = Detrun({"show", Path("c.trace")});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("stdout not captured (closed)"));
}

TEST_F(TraceTest, ATerminalIsNotCapturedButStillRecorded) {
  if (!Exists("/usr/bin/script")) GTEST_SKIP() << "script (util-linux) is not installed";
  // script(1) gives the command a pseudo-terminal as stdout and stderr.
  Output o = RunProgram({"/usr/bin/script", "-qec",
                         DetrunBin() + " --record=" + Path("tty.trace") + " -- echo hi", "/dev/null"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("hi"));
  Output show = Detrun({"show", Path("tty.trace")});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("stdout not captured (terminal); stderr not captured (terminal)"));
}

}  // namespace
}  // namespace detrun::testing
