// The supervisor with test modules, on real programs: the post-exec stop
// happens before the new image's first instruction, modules can write the
// process there, and a module failure ends the run instead of letting the
// process run on unpatched. (Each test runs in its own process under ctest:
// the supervisor blocks signals and becomes a subreaper.)
#include "core/supervisor.h"

#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/exit_status.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

// $DETRUN_PROBES_DIR, as for the integration tests (harness.h).
std::string ProbePath(const std::string& name) {
  const char* dir = getenv("DETRUN_PROBES_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : DETRUN_PROBES_DIR_DEFAULT) + "/" + name;
}

std::map<uint64_t, uint64_t> ReadAuxv(pid_t pid) {
  std::map<uint64_t, uint64_t> out;
  std::ifstream f(absl::StrCat("/proc/", pid, "/auxv"), std::ios::binary);
  uint64_t kv[2];
  while (f.read(reinterpret_cast<char*>(kv), sizeof kv) && kv[0] != AT_NULL) out[kv[0]] = kv[1];
  return out;
}

// Records every exec stop, checks the instruction pointer, and writes a
// recognisable AT_RANDOM.
class ExecStopModule : public Module {
 public:
  std::string_view name() const override { return "test-exec-stop"; }
  void Register(Registry&) override {}
  bool WantsExecStop() const override { return true; }
  absl::Status OnExecStop(ExecStop& stop) override {
    if (fail) return absl::InternalError("refusing on purpose");
    user_regs_struct regs{};
    if (ptrace(PTRACE_GETREGS, stop.pid, nullptr, &regs) != 0) {
      return absl::ErrnoToStatus(errno, "PTRACE_GETREGS");
    }
    std::map<uint64_t, uint64_t> auxv = ReadAuxv(stop.pid);
    stops.push_back({stop.thread.id.ToString(), stop.process.last_exec, regs.rip,
                     auxv[AT_ENTRY], auxv[AT_BASE]});
    unsigned char bytes[16];
    for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(0xa0 + i);
    return WriteProcMem(stop.pid, auxv[AT_RANDOM], bytes, sizeof bytes);
  }
  struct Stop {
    std::string identity, exec;
    uint64_t rip, at_entry, at_base;
  };
  std::vector<Stop> stops;
  bool fail = false;
};

struct Outcome {
  int exit_code;
  absl::Status run_error;
};

Outcome RunUnder(ExecStopModule& module, std::vector<std::string> argv) {
  Config config;
  Supervisor supervisor(config, {&module});
  absl::StatusOr<bpf::Program> filter = supervisor.BuildFilter();
  EXPECT_TRUE(filter.ok()) << filter.status();
  absl::StatusOr<ResolvedCommand> command = ResolveCommand(argv, getenv("PATH"));
  EXPECT_TRUE(command.ok()) << command.status();
  LaunchSpec spec;
  spec.command = *command;
  spec.filter = *filter;
  absl::StatusOr<sigset_t> mask = supervisor.PrepareParent();
  EXPECT_TRUE(mask.ok());
  spec.child_sigmask = *mask;
  absl::StatusOr<Launched> launched = Launch(spec);
  EXPECT_TRUE(launched.ok()) << launched.status();
  absl::StatusOr<RunResult> result = supervisor.Run(*launched, *command);
  EXPECT_TRUE(result.ok()) << result.status();
  return {ExitCodeFromWaitStatus(result->wait_status), result->run_error};
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ExecStopTest, StaticBinaryStopsAtItsEntryPoint) {
  ExecStopModule m;
  Outcome o = RunUnder(m, {ProbePath("static_true")});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(o.run_error.ok()) << o.run_error;
  ASSERT_EQ(m.stops.size(), 1u);
  EXPECT_EQ(m.stops[0].identity, "1");
  // Nothing of the new image has run: the instruction pointer is its entry.
  EXPECT_EQ(m.stops[0].rip, m.stops[0].at_entry);
}

TEST(ExecStopTest, DynamicBinaryStopsAtTheInterpreterEntryAndSeesOurAtRandom) {
  ExecStopModule m;
  char tmpl[] = "/tmp/detrun-exec-stop.XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  std::string out = tmpl;
  Outcome o = RunUnder(m, {"/bin/sh", "-c",
                           ProbePath("print_at_random") + " > " + out + "; " +
                               ProbePath("print_at_random") + " >> " + out});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(Slurp(out),
            "at_random=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
            "at_random=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n");
  unlink(tmpl);
  ASSERT_GE(m.stops.size(), 3u);  // sh, then the probe twice (in children)
  EXPECT_EQ(m.stops[0].identity, "1");
  for (const auto& s : m.stops) {
    // Dynamic: the interpreter's entry, inside ld.so's mapping (above
    // AT_BASE), not yet the program's.
    EXPECT_NE(s.rip, s.at_entry) << s.exec;
    EXPECT_GE(s.rip, s.at_base) << s.exec;
  }
  EXPECT_EQ(m.stops.back().identity, "1.2");
}

TEST(ExecStopTest, ModuleFailureEndsTheRun) {
  ExecStopModule m;
  m.fail = true;
  Outcome o = RunUnder(m, {"/bin/sh", "-c", "exit 0"});
  EXPECT_EQ(o.exit_code, 128 + SIGKILL);
  EXPECT_FALSE(o.run_error.ok());
  EXPECT_NE(o.run_error.message().find("refusing on purpose"), absl::string_view::npos)
      << o.run_error;
}

TEST(ExecStopTest, FailedExecAttemptsBeforeSuccessStillStopOnce) {
  // A PATH search: several execve attempts fail before one succeeds.
  ExecStopModule m;
  Outcome o = RunUnder(m, {"/usr/bin/env", "PATH=/nonexistent1:/nonexistent2:/usr/bin:/bin",
                           "true"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(o.run_error.ok()) << o.run_error;
  ASSERT_EQ(m.stops.size(), 2u);  // env, then true in the same process
  EXPECT_EQ(m.stops[1].identity, "1");
}

}  // namespace
}  // namespace detrun
