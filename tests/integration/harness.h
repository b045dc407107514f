// Harness for integration tests: runs real programs (usually the real
// detrun binary) as child processes, feeds stdin, collects stdout/stderr
// and the exit status, with a timeout so a hang fails instead of wedging
// the suite.
//
// Paths: the detrun binary is $DETRUN_BIN (default: the build tree's), the
// probes live in $DETRUN_PROBES_DIR, the examples in $DETRUN_EXAMPLES_DIR
// (default: the source tree's examples/); tests/run_unprivileged.sh sets
// all three when it re-runs this suite as an ordinary user. The functions
// below return them as absolute paths, so a test may run them from any
// directory (under Bazel the defaults are relative to the runfiles root).
//
// Every program runs with PYTHONDONTWRITEBYTECODE=1 (a test that wants a
// bytecode cache unsets it and gives Python its own PYTHONPYCACHEPREFIX).
// Under --fs-times=clamp a .pyc records the clamped source time, which
// depends on --time: a written cache would carry one run (or test) into the
// next, so that two runs of the same command differ, and as root it would
// rewrite the system's __pycache__.
#ifndef DETRUN_TESTS_INTEGRATION_HARNESS_H_
#define DETRUN_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace detrun::testing {

struct Output {
  int exit_code = -1;    // 128+N for signal N; -1 on timeout
  bool timed_out = false;
  std::string out;
  std::string err;
  double seconds = 0;
};

std::string DetrunBin();
std::string Probe(const std::string& name);
// A path under examples/, e.g. Example("flaky/random_test.py").
std::string Example(const std::string& path);

// argv[0] is looked up in PATH when it has no '/'.
Output RunProgram(const std::vector<std::string>& argv, const std::string& input = "",
           double timeout_seconds = 60);

// Runs detrun with `args` (options, "--", command...).
Output Detrun(const std::vector<std::string>& args, const std::string& input = "",
              double timeout_seconds = 60);

// Runs `command` under detrun twice with `flags` (options before "--"),
// expects both runs to succeed with identical stdout (gtest failures
// otherwise), and returns that output.
std::string Twice(std::vector<std::string> flags, const std::vector<std::string>& command);

// {"/usr/bin/java", "-XX:-UsePerfData", args...}. Under detrun every run's
// pids are the same (the JVM is pid 2 in its pid namespace), and the JVM
// names its perf-data file /tmp/hsperfdata_USER/PID: two runs at once (ctest
// -j, Twice) find each other's locked file and the JVM prints a warning to
// stdout. The README's "Known limits" says the same to users.
std::vector<std::string> Java(std::vector<std::string> args);

// Builds the Go program `main_go` (a file) into `output` with /usr/bin/go,
// its caches under `dir` so that nothing outside it is touched.
Output GoBuild(const std::string& dir, const std::string& main_go, const std::string& output);

// A started process whose output is collected by Wait().
struct Running {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
  double started = 0;
};
Running Start(const std::vector<std::string>& argv);
Output Wait(Running& running, double timeout_seconds = 60);

// In a forked child before it execs a program under test: every signal's
// action back to the default and none blocked, whatever the test runner
// inherited. A shell without job control starts background commands with
// SIGINT and SIGQUIT ignored, nohup ignores SIGHUP, and an ignored signal
// stays ignored across exec: Python would then not even install its
// KeyboardInterrupt handler, and a ^C on a terminal would do nothing.
void ResetSignalsForExec();

// A fresh directory under $TMPDIR (or /tmp), removed by the caller's
// RemoveTree.
std::string MakeTempDir();
void RemoveTree(const std::string& path);

bool ProcessExists(pid_t pid);

// A file's bytes ("" when it cannot be read), and a file written with
// `text` (created or replaced).
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);

// `path` names an executable file (tests that need a tool skip without it).
bool IsExecutable(const std::string& path);
// `path` names anything stat(2) finds.
bool Exists(const std::string& path);

// Regular expressions for the tests' checks: POSIX extended syntax
// (regex(7)), line by line (REG_NEWLINE: `.` and `[^...]` never match a
// newline; `^` and `$` match at each line's start and end). Not std::regex:
// libstdc++ instantiates its whole engine in every file that uses it, about
// 13 s more compile time per file under ASan.
//
// Every match of `pattern` in `text`, left to right, none overlapping: each
// is the whole match, then its parenthesized groups ("" for a group that
// took no part). A pattern that does not compile fails the test.
std::vector<std::vector<std::string>> RegexMatches(const std::string& text,
                                                   const std::string& pattern);
// The first match, as above; empty when there is none.
std::vector<std::string> RegexSearch(const std::string& text, const std::string& pattern);
// The match of `pattern` that is all of `text` (as above), or empty.
std::vector<std::string> RegexFullMatch(const std::string& text, const std::string& pattern);
// `text` with every match of `pattern` replaced by `replacement`, as is.
std::string RegexReplace(const std::string& text, const std::string& pattern,
                         const std::string& replacement);

// The virtual start time most tests run at: 2020-01-01T00:00:00Z, which is
// 1577836800 seconds after the epoch.
inline constexpr char kStart[] = "--time=2020-01-01";

}  // namespace detrun::testing

#endif  // DETRUN_TESTS_INTEGRATION_HARNESS_H_
