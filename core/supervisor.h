// Supervisor: answers the child's notified syscalls and owns the run's
// lifetime.
//
// Life:
//   Supervisor s(config, modules);        // modules in their fixed order
//   auto filter = s.BuildFilter();         // escape denials, --no-network,
//                                          // clone/exec tracking, modules
//   auto launched = Launch({..., filter});
//   int wait_status = s.Run(launched);     // until the command exits
//
// Post-exec stop: when a module wants it (Module::WantsExecStop), every
// execve notification seizes the thread with ptrace (PTRACE_O_TRACEEXEC,
// PTRACE_O_EXITKILL) before letting the call run; the kernel then stops the
// process at PTRACE_EVENT_EXEC, after the new image and its fresh vDSO are
// mapped but before its first instruction. The modules patch it there and
// the supervisor detaches. A seize that fails, or a module that fails in
// the stop, ends the run with exit 125: nothing runs unpatched silently.
//
// Run() is one single-threaded loop over: the seccomp listener (it waits
// in RECV, core/notification_wait.h), signals (SIGINT/SIGTERM/SIGHUP are
// forwarded to the command's process group; SIGCHLD reaps; caught by a
// handler that interrupts the wait, or read from a signalfd in --native
// runs and once every filtered task is gone), and an epoll set over the
// exec-status pipe and one pidfd per known process/thread (ProcessTable).
// Handlers never block it. A thread that dies
// while its notification is held makes RECV/SEND fail with ENOENT, which
// is expected and ignored, so a dying child can never wedge the loop.
//
// When the command (the run's first process) exits, the supervisor ends
// everything the command left running: SIGKILL to the command's process
// group, then to every remaining descendant (detrun is a child subreaper,
// so orphans are re-parented to it), reaping until none is left. When
// Run() returns, no process of the run is alive.
#ifndef DETRUN_CORE_SUPERVISOR_H_
#define DETRUN_CORE_SUPERVISOR_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/child_memory.h"
#include "core/config.h"
#include "core/launcher.h"
#include "core/leak_report.h"
#include "core/loader_tsc.h"
#include "core/module.h"
#include "core/process_table.h"

namespace detrun {

struct RunResult {
  int wait_status = 0;
  // Set when the command could not be executed (the exit code follows from
  // its status code, see exit_status.h).
  absl::Status launch_error;
  // Set when detrun had to end the run itself (exit 125 with this message).
  absl::Status run_error;
  // Lines for the user once the command has ended (printed "detrun: LINE"
  // on stderr), e.g. the --tsc=trap tally.
  std::vector<std::string> end_notes;
};

class Supervisor {
 public:
  Supervisor(const Config& config, std::vector<Module*> modules);
  ~Supervisor();

  // The seccomp program for this run.
  absl::StatusOr<bpf::Program> BuildFilter() const;

  void AddObserver(AnswerObserver* observer) { observers_.push_back(observer); }

  // Calls `on_ready` from the loop whenever `fd` is readable (or hung up),
  // e.g. to copy the command's output (--record). The caller owns `fd`;
  // closing it stops the watch. Before Run().
  void WatchFd(int fd, std::function<void()> on_ready) {
    watched_fds_.emplace_back(fd, std::move(on_ready));
  }

  // Must be called before Launch(): blocks the forwarded signals (they are
  // read through a signalfd) and makes detrun a child subreaper. Returns
  // the signal mask to restore in the child.
  absl::StatusOr<sigset_t> PrepareParent();

  // Runs the loop until the command exits and every process of the run is
  // gone.
  absl::StatusOr<RunResult> Run(Launched& launched,
                                const ResolvedCommand& command);

  // Runs without a listener (--native): just waits and cleans up.
  absl::StatusOr<RunResult> RunNative(Launched& launched,
                                      const ResolvedCommand& command);

  const ProcessTable& processes() const { return *table_; }

  // The run's leak report, or nullptr when config.leak_checks() is false.
  const LeakReport* leaks() const { return leaks_.get(); }

 private:
  class Loop;
  void RegisterCore(Registry& registry);

  // The post-exec stop (module.h ExecStop): seize at the execve
  // notification with PTRACE_O_TRACEEXEC, run the modules at
  // PTRACE_EVENT_EXEC, detach -- or, with --tsc=emulate|trap, stay: every
  // process and thread of the run is then traced (the command's first exec
  // seizes it with the fork/clone options, the kernel attaches everything
  // it creates), so that trapped rdtsc/rdtscp reach OnTraceStop as SIGSEGV
  // (core/tsc_trap.h). Other signals are delivered as they came; a group
  // stop is kept with PTRACE_LISTEN so SIGCONT still ends it.
  bool SeizeForExec(pid_t tid);  // false: failed, and the run is ending
  void OnTraceStop(pid_t pid, int status);
  // A SIGSEGV stop of a traced thread: true when it was a trapped
  // rdtsc/rdtscp, answered.
  bool EmulateTsc(pid_t tid);
  std::vector<std::string> TscTrapNotes() const;
  void Fail(absl::Status status);

  Config config_;
  std::vector<Module*> modules_;
  bool wants_exec_stop_ = false;
  bool keep_traced_ = false;  // --tsc=emulate|trap
  // Threads detrun has seized (or the kernel attached for it) and not yet
  // seen end.
  absl::flat_hash_set<pid_t> seized_;
  // Traced tasks whose exit the loop learns from waitpid, not from their
  // exit pidfd (by tid; true: a thread that is not its process's leader).
  // A traced task's exit already reaches detrun as the tracer's SIGCHLD
  // and stays a zombie, its pid unused, until detrun reaps it; its pidfd
  // in the epoll set woke the waker thread as well, a second wake-up and
  // signal per exit (500 spawns: 474 -> 454 ms side by side).
  absl::flat_hash_map<pid_t, bool> exits_by_wait_;
  // Scheduler::AtNextStop: what to run at each interrupted thread's stop.
  absl::flat_hash_map<pid_t, std::vector<std::function<void()>>> at_stop_;
  bool InterruptForStop(pid_t tid, std::function<void()> fn);
  // --tsc=trap: how many rdtsc/rdtscp each program (its exec path) ran.
  absl::flat_hash_map<std::string, uint64_t> tsc_traps_;
  // The dynamic loader's rdtsc sites learned in this run (--tsc=emulate).
  LoaderTsc loader_tsc_;
  // Set when the run must end (exit 125): e.g. a process could not be
  // patched after exec.
  absl::Status run_error_;
  std::unique_ptr<LeakReport> leaks_;
  Registry registry_;
  std::vector<std::vector<Registry::Entry>> dispatch_;
  std::unique_ptr<ProcessTable> table_;
  std::vector<AnswerObserver*> observers_;
  std::vector<std::pair<int, std::function<void()>>> watched_fds_;
  std::unique_ptr<AnswerObserver> verbose_log_;
  sigset_t original_mask_;
};

// Kills and reaps every remaining child of detrun (and, through the
// subreaper, their descendants) until none is left.
void KillAllDescendants();

}  // namespace detrun

#endif  // DETRUN_CORE_SUPERVISOR_H_
