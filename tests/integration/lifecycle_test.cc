// Life of a run: exit codes, standard streams, signals, cleanup of what the
// command leaves behind, process identities, nesting.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(ExitCodeTest, CommandStatusPassesThrough) {
  EXPECT_EQ(Detrun({"sh", "-c", "exit 0"}).exit_code, 0);
  EXPECT_EQ(Detrun({"sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(Detrun({"--", "sh", "-c", "exit 255"}).exit_code, 255);
}

TEST(ExitCodeTest, KilledBySignalIs128PlusN) {
  Output o = Detrun({"sh", "-c", "kill -9 $$"});
  EXPECT_EQ(o.exit_code, 137) << o.err;
  EXPECT_EQ(Detrun({"sh", "-c", "kill -SEGV $$"}).exit_code, 128 + SIGSEGV);
}

TEST(ExitCodeTest, CommandNotFoundIs127) {
  Output o = Detrun({"--", "no-such-command-detrun-test"});
  EXPECT_EQ(o.exit_code, 127);
  EXPECT_THAT(o.err, HasSubstr("no-such-command-detrun-test"));
  EXPECT_THAT(o.err, HasSubstr("not found"));
  o = Detrun({"/no/such/path/prog"});
  EXPECT_EQ(o.exit_code, 127);
  EXPECT_THAT(o.err, HasSubstr("/no/such/path/prog"));
}

TEST(ExitCodeTest, UnsearchablePathDirectoryIsSkipped) {
  // A PATH entry we may not enter is not a reason for 126: the command is
  // still looked up in the rest of PATH, and missing means 127.
  std::string dir = MakeTempDir();
  RunProgram({"mkdir", "-m", "0", dir + "/locked"});
  Output o = RunProgram({"env", "PATH=" + dir + "/locked:/usr/bin:/bin", DetrunBin(), "--",
                         "no-such-command-detrun-test"});
  EXPECT_EQ(o.exit_code, 127) << o.err;
  Output found = RunProgram({"env", "PATH=" + dir + "/locked:/usr/bin:/bin", DetrunBin(), "--",
                             "true"});
  EXPECT_EQ(found.exit_code, 0) << found.err;
  RemoveTree(dir);
}

TEST(ExitCodeTest, NotExecutableIs126) {
  std::string dir = MakeTempDir();
  std::string file = dir + "/data.txt";
  RunProgram({"sh", "-c", "echo hello > " + file});
  Output o = Detrun({file});
  EXPECT_EQ(o.exit_code, 126);
  EXPECT_THAT(o.err, HasSubstr(file));
  o = Detrun({dir});  // a directory
  EXPECT_EQ(o.exit_code, 126);
  EXPECT_THAT(o.err, HasSubstr("directory"));
  RemoveTree(dir);
}

TEST(ExitCodeTest, ScriptWithoutShebangRunsUnderSh) {
  std::string dir = MakeTempDir();
  std::string script = dir + "/script";
  RunProgram({"sh", "-c", "printf 'echo from-script; exit 4\\n' > " + script + "; chmod +x " + script});
  Output o = Detrun({script});
  EXPECT_EQ(o.exit_code, 4) << o.err;
  EXPECT_EQ(o.out, "from-script\n");
  RemoveTree(dir);
}

TEST(ExitCodeTest, MissingInterpreterIs127) {
  std::string dir = MakeTempDir();
  std::string script = dir + "/script";
  RunProgram({"sh", "-c", "printf '#!/no/such/interpreter\\n' > " + script + "; chmod +x " + script});
  Output o = Detrun({script});
  EXPECT_EQ(o.exit_code, 127);
  EXPECT_THAT(o.err, HasSubstr(script));
  RemoveTree(dir);
}

TEST(StreamsTest, StdinStdoutStderrPassThrough) {
  Output o = Detrun({"sh", "-c", "cat; echo to-stderr >&2"}, "line one\nline two\n");
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "line one\nline two\n");
  EXPECT_EQ(o.err, "to-stderr\n");
}

TEST(StreamsTest, FiftyMegabytesThroughAPipe) {
  // Not all zeros, so a lost or reordered block would show.
  std::string input(50 * 1024 * 1024, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : input) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  Output o = Detrun({"cat"}, input, 120);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.size(), input.size());
  EXPECT_TRUE(o.out == input);
}

TEST(SignalTest, SigtermEndsTheCommandAndDetrunExits143) {
  // --clock=real: in the default step mode the sleep would return at once.
  Running r = Start({DetrunBin(), "--clock=real", "--", "sleep", "100"});
  usleep(300 * 1000);
  kill(r.pid, SIGTERM);
  Output o = Wait(r, 10);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.exit_code, 143) << o.err;
  EXPECT_LT(o.seconds, 5.0);
}

TEST(SignalTest, SigintAndSighupAreForwarded) {
  for (int sig : {SIGINT, SIGHUP}) {
    Running r = Start({DetrunBin(), "--clock=real", "--", "sleep", "100"});
    usleep(300 * 1000);
    kill(r.pid, sig);
    Output o = Wait(r, 10);
    EXPECT_EQ(o.exit_code, 128 + sig) << sig << " " << o.err;
  }
}

// The supervisor sleeps while the command waits. Here the shell's children
// have exited and the shell blocks in read(), a call detrun does not
// intercept, before it makes any intercepted call again: the supervisor
// has nothing to do, and must not poll. (A copy of an exited child's pidfd,
// kept until its parent's next intercepted call, once left the pidfd in the
// supervisor's epoll set, level-triggered and readable: a busy loop that
// lasted as long as the shell's wait.)
TEST(IdleTest, SupervisorSleepsWhileTheCommandWaits) {
  const std::string dir = MakeTempDir();
  const std::string fifo = dir + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Read and write: opening it does not block, and the shell's open of it
  // for reading finds a writer.
  const int writer = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  Running r = Start({DetrunBin(), "--", "sh", "-c",
                     absl::StrCat("exec 3<", fifo, "; ", Probe("static_true"),
                                  " & /bin/true & wait; echo ready; read x <&3; echo done")});
  // Supervisor CPU time so far, in seconds (/proc/PID/schedstat: ns on the CPU).
  auto cpu = [&] {
    std::ifstream in(absl::StrCat("/proc/", r.pid, "/schedstat"));
    double ns = -1;
    in >> ns;
    return ns / 1e9;
  };
  usleep(700 * 1000);  // the children start and end; the shell reaches read
  const double before = cpu();
  usleep(1000 * 1000);
  const double after = cpu();
  ASSERT_EQ(write(writer, "x\n", 2), 2);
  close(writer);
  Output o = Wait(r, 30);
  RemoveTree(dir);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "ready\ndone\n");
  ASSERT_GE(before, 0);
  // Idle is well under a millisecond of CPU a second; a busy loop is the
  // whole second. The bound leaves room for a loaded machine's noise.
  EXPECT_LT(after - before, 0.2) << "the supervisor used CPU while the command waited";
}

TEST(CleanupTest, BackgroundChildrenDoNotOutliveTheRun) {
  // A background job in the same group, one in its own session, and one
  // double-forked away from its parent: all must be gone when detrun
  // returns.
  // --clock=real, so the sleeps really last (in step mode they return at
  // once and there would be nothing left to end).
  // Each job prints its pid as the host sees it (readlink /proc/self: the
  // host's /proc), with and without the pid namespace.
  for (const char* pidns : {"--pid-namespace=auto", "--pid-namespace=off"}) {
    const std::string job = "sh -c 'readlink /proc/self; exec sleep 1000'";
    Output o = Detrun({"--clock=real", pidns, "sh", "-c",
                       job + " & " + "setsid " + job + " & (" + job + " &) ; sleep 0.5; exit 3"});
    EXPECT_EQ(o.exit_code, 3) << o.err;
    std::vector<pid_t> pids;
    size_t pos = 0;
    while (pos < o.out.size()) {
      size_t nl = o.out.find('\n', pos);
      pids.push_back(std::atoi(o.out.substr(pos, nl - pos).c_str()));
      pos = nl + 1;
    }
    ASSERT_EQ(pids.size(), 3u) << o.out;
    for (pid_t p : pids) {
      ASSERT_GT(p, 1);
      EXPECT_FALSE(ProcessExists(p)) << "pid " << p << " survived the run " << pidns;
    }
  }
}

// In the pid namespace the command is pid 2 (under detrun's init, pid 1),
// and a sequential program's children get the same pids on every run.
TEST(PidNamespaceTest, PidsAreTheSameOnEveryRun) {
  const std::string out =
      Twice({}, {"sh", "-c", "echo $$ $PPID; sh -c 'echo $$'; sh -c 'echo $$'"});
  EXPECT_EQ(out, "2 1\n3\n4\n");
  if (access("/usr/bin/python3", X_OK) == 0) {
    EXPECT_EQ(Twice({}, {"/usr/bin/python3", "-c", "import os; print(os.getpid())"}), "2\n");
  }
  // Off: the host's pids, different each run.
  Output a = Detrun({"--pid-namespace=off", "sh", "-c", "echo $$"});
  Output b = Detrun({"--pid-namespace=off", "sh", "-c", "echo $$"});
  EXPECT_NE(a.out, b.out);
  // Exit status and signals pass through the init unchanged.
  EXPECT_EQ(Detrun({"sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(Detrun({"sh", "-c", "kill -TERM $$"}).exit_code, 128 + SIGTERM);
  EXPECT_EQ(Detrun({"--pid-namespace=bogus", "true"}).exit_code, 125);
}

// /proc/PID/status numbers processes as the namespace does, as getpid()
// does, and shows no tracer (detrun traces every task under --tsc=emulate).
TEST(PidNamespaceTest, ProcStatusShowsTheNamespacesPids) {
  const char* lines = "^(Tgid|Pid|PPid|TracerPid|NStgid|NSpid|NSpgid):";
  EXPECT_EQ(Twice({}, {"sh", "-c", absl::StrCat("grep -E '", lines, "' /proc/self/status; echo $$")}),
            "Tgid:\t3\nPid:\t3\nPPid:\t2\nTracerPid:\t0\nNStgid:\t3\nNSpid:\t3\nNSpgid:\t1\n2\n");
  // Off: the host's.
  Output off = Detrun({"--pid-namespace=off", "grep", "^TracerPid:", "/proc/self/status"});
  EXPECT_NE(off.out, "TracerPid:\t0\n") << off.err;
}

TEST(CleanupTest, DetrunReturnsWhenTheCommandExitsEvenIfChildrenHoldStdout) {
  // A background child keeps stdout open; detrun must still return (and end
  // it), not wait for EOF.
  Output o = Detrun({"--clock=real", "sh", "-c", "sleep 1000 & echo started"}, "", 20);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "started\n");
  EXPECT_LT(o.seconds, 10.0);
}

// Every exec line of --verbose: identity -> program.
std::vector<std::pair<std::string, std::string>> Execs(const std::string& log) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::vector<std::string>& m :
       RegexMatches(log, R"re(detrun: \[([0-9.:]+)\] execve\([^)]*\) continue[^"]*"([^"]+)")re")) {
    out.emplace_back(m[1], m[2]);
  }
  return out;
}

TEST(IdentityTest, ChildrenAreNamedByForkOrderNotByScheduling) {
  // The first child execs last (it sleeps first), yet it is "1.1".
  for (int run = 0; run < 3; ++run) {
    Output o = Detrun({"--verbose", "--", "/bin/sh", "-c",
                       "/bin/sh -c 'sleep 0.3; exec /bin/true' & "
                       "/bin/sh -c 'exec /bin/false' & wait"});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    auto execs = Execs(o.err);
    std::map<std::string, std::string> last_exec;
    for (auto& [id, prog] : execs) last_exec[id] = prog;
    EXPECT_EQ(last_exec["1"], "/bin/sh") << o.err;
    EXPECT_EQ(last_exec["1.1"], "/bin/true") << o.err;
    EXPECT_EQ(last_exec["1.2"], "/bin/false") << o.err;
    EXPECT_THAT(last_exec["1.1.1"], MatchesRegex(".*/sleep")) << o.err;
  }
}

TEST(IdentityTest, ThreadThatExecsBecomesTheProcess) {
  // A thread other than the leader execs while the leader and a third
  // thread live: the new program keeps the process's pid and identity, the
  // other two threads end (their exits come from waitpid where detrun
  // traces every thread, from pidfds under --tsc=native), and the new
  // program's children are named after it as usual.
  for (const char* tsc : {"--tsc=emulate", "--tsc=native"}) {
    SCOPED_TRACE(tsc);
    for (int run = 0; run < 2; ++run) {
      Output o = Detrun({tsc, "--verbose", "--", Probe("thread_exec"), "/bin/sh", "-c",
                         "echo \"after $$\"; /bin/true; /bin/sh -c 'echo child $$'"});
      ASSERT_EQ(o.exit_code, 0) << o.err;
      EXPECT_EQ(o.out, "before 2\nafter 2\nchild 6\n") << o.err;
      auto execs = Execs(o.err);
      std::map<std::string, std::string> last_exec;
      for (auto& [id, prog] : execs) last_exec[id] = prog;
      EXPECT_EQ(last_exec["1:2"], "/bin/sh") << o.err;  // the thread that exec'd
      EXPECT_EQ(last_exec["1.1"], "/bin/true") << o.err;
      EXPECT_EQ(last_exec["1.2"], "/bin/sh") << o.err;
    }
  }
}

TEST(IdentityTest, ForksRestartedBySignalsDoNotShiftTheNumbering) {
  // A fork that meets a pending signal is seen twice (its notification,
  // then the restarted call's) but makes one child: the children are
  // numbered 1.2 to 1.41 however many restarts a run had (1.1 sends the
  // signals; the parent's own getrandom is left out). Only where detrun traces every process, which
  // is where it learns that a fork made a child (README, Known limits).
  std::vector<std::string> expected;
  for (int i = 2; i <= 41; ++i) expected.push_back(absl::StrCat("1.", i));
  for (int run = 0; run < 3; ++run) {
    Output o = Detrun({"--verbose", "--", Probe("fork_signals")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out, "forked 40\n");
    std::vector<std::string> ids;
    for (const std::vector<std::string>& m :
         RegexMatches(o.err, "detrun: \\[(1\\.[0-9]+)\\] getrandom\\(")) {
      ids.push_back(m[1]);
    }
    EXPECT_EQ(ids, expected) << o.err;
  }
}

TEST(ExecStopTest, CommandTracedBySomeoneElseEndsTheRunClearly) {
  // strace -f traces detrun's child first, so detrun cannot stop it after
  // exec to patch its vDSO: it must refuse, not run it unpatched.
  if (access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "SKIPPED: strace is not installed";
  Output o = RunProgram({"/usr/bin/strace", "-f", "-o", "/dev/null", DetrunBin(), "--", "sh",
                         "-c", "echo ran"});
  EXPECT_EQ(o.exit_code, 125) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_THAT(o.err, HasSubstr("already traced"));
}

TEST(NativeTest, NativeRunsWithoutInterception) {
  Output o = Detrun({"--native", "--", "sh", "-c", "echo hi; exit 9"});
  EXPECT_EQ(o.exit_code, 9) << o.err;
  EXPECT_EQ(o.out, "hi\n");
  // No filter: the i386 entry point works natively (when IA32 emulation is
  // on) instead of killing the probe.
  Output probe = Detrun({"--native", "--", Probe("int80")});
  EXPECT_NE(probe.exit_code, 128 + SIGSYS);
}

TEST(NestingTest, NestedInterceptionFailsClearly) {
  // The kernel allows one seccomp listener per process (EBUSY for a
  // second), so an inner detrun cannot intercept; it must say so.
  Output o = Detrun({"--", DetrunBin(), "--", "sh", "-c", "echo inner; exit 3"});
  EXPECT_EQ(o.exit_code, 125) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_THAT(o.err, HasSubstr("already running under detrun"));
}

TEST(NestingTest, NestedNativeRunsUnderTheOuterFilter) {
  Output o = Detrun({"--", DetrunBin(), "--native", "--", "sh", "-c", "echo inner; exit 3"});
  EXPECT_EQ(o.exit_code, 3) << o.err;
  EXPECT_EQ(o.out, "inner\n");
  // The outer filter still applies to the inner command.
  Output probe = Detrun({"--", DetrunBin(), "--native", "--", Probe("int80")});
  EXPECT_EQ(probe.exit_code, 128 + SIGSYS) << probe.err;
}

}  // namespace
}  // namespace detrun::testing
