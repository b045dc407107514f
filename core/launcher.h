// Launcher: starts the command in a confined child process.
//
// Life: ResolveCommand() (PATH search; 127/126 errors before anything is
// forked), then Launch(), which forks and, in the child, runs these steps
// in order, each async-signal-safe (no allocation, no logging; a failure is
// reported as {step, errno} through a CLOEXEC pipe and the child _exits):
//
//   1. new process group (and, when detrun owns the terminal's foreground,
//      hand the foreground to that group so the command can read the tty);
//   2. PR_SET_PDEATHSIG(SIGKILL), so the command dies with detrun;
//   3. restore the signal mask detrun had at start;
//   4. PR_SET_DUMPABLE(1) and personality(ADDR_NO_RANDOMIZE) (intercepted
//      runs; detrun itself is non-dumpable, which a fork would inherit);
//   5. PR_SET_NO_NEW_PRIVS;
//   6. Landlock (when --allow-read/--allow-write were given);
//   7. the seccomp filter, with SECCOMP_FILTER_FLAG_NEW_LISTENER (and
//      WAIT_KILLABLE_RECV where the kernel has it);
//   8. the listener fd is passed to detrun over a socketpair (SCM_RIGHTS);
//   9. wait for detrun's "go" (its supervisor is ready);
//  10. execve (a file without a #! line is run by /bin/sh, like execvp).
//
// With LaunchSpec::pid_namespace, the fork is a clone into a new pid
// namespace (CLONE_NEWPID; without root, together with CLONE_NEWUSER and
// id maps that map only the caller's own uid and gid, written by detrun).
// The child becomes the namespace's pid 1, a small init: after steps 1-2
// it waits for detrun's "ready", forks the command (pid 2), which runs
// steps 2-10, and then reaps orphans until the command ends; it reports the
// command's wait status through a pipe and exits, and the kernel kills
// whatever is left in the namespace (so nothing survives detrun, even
// SIGKILLed). The command's pid as detrun sees it arrives with the
// listener (SCM_CREDENTIALS). When no namespace can be made, the launch
// goes on without one and Launched::pid_namespace_note says why.
//
// Only syscalls the filter allows outright are made after step 7, so the
// child never waits on a supervisor that is not listening yet.
//
// The parent gets a Launched: the child's pid, a pidfd, the listener and
// the exec-status pipe. It calls Go() when ready; the pipe then yields EOF
// when exec succeeded, or a LaunchFailure record when it did not
// (ReadLaunchFailure turns that into a Status whose code maps to 125/126/127,
// see exit_status.h).
#ifndef DETRUN_CORE_LAUNCHER_H_
#define DETRUN_CORE_LAUNCHER_H_

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bpf_program.h"
#include "core/unique_fd.h"

namespace detrun {

struct ResolvedCommand {
  std::string path;                // what execve gets
  std::vector<std::string> argv;   // argv[0] as the user typed it
};

// PATH search as execvp does it. NotFound ("command not found", 127) or
// PermissionDenied (126: a directory, or no execute permission).
absl::StatusOr<ResolvedCommand> ResolveCommand(
    const std::vector<std::string>& argv, const char* path_env);

struct LaunchSpec {
  ResolvedCommand command;
  std::vector<std::string> env;        // KEY=VALUE, in order
  bool intercept = true;               // false for --native
  bpf::Program filter;                 // when intercept
  int landlock_ruleset_fd = -1;        // -1: no Landlock
  bool disable_aslr = true;
  sigset_t child_sigmask;              // the mask detrun started with
  // Run the command as pid 2 of a new pid namespace under a small init of
  // ours (intercepted runs only; see Launch).
  bool pid_namespace = false;
  // PR_SET_TSC(PR_TSC_SIGSEGV) in the command before its exec, so that
  // every rdtsc/rdtscp traps (core/tsc_trap.h). Intercepted runs only.
  bool trap_tsc = false;
  // >= 0: made the command's stdout / stderr (dup2 right after the fork;
  // both may be the same fd). --record interposes pipes here to digest
  // the output. -1: detrun's own, inherited.
  int stdout_fd = -1;
  int stderr_fd = -1;
};

struct Launched {
  pid_t pid = -1;          // our child: the command, or the namespace's init
  pid_t command_pid = -1;  // the command, in detrun's pid namespace
  UniqueFd pidfd;
  UniqueFd listener;      // -1 for --native
  UniqueFd exec_status;   // EOF on successful exec
  UniqueFd go;            // write end: Go() releases the child
  bool took_terminal = false;  // the child's group got the tty foreground
  int tty_fd = -1;
  // In a pid namespace: the init reports the command's wait status here
  // (an int) before it exits.
  bool pid_namespace = false;
  UniqueFd command_status;
  // Why a requested pid namespace could not be made (empty otherwise).
  std::string pid_namespace_note;
};

absl::StatusOr<Launched> Launch(const LaunchSpec& spec);

// Releases the child to exec.
absl::Status Go(Launched& launched);

// Reads the exec-status pipe without blocking. OK(true) once EOF (exec
// succeeded), OK(false) when nothing is there yet, or the failure.
absl::StatusOr<bool> ReadLaunchFailure(Launched& launched,
                                       const ResolvedCommand& command);

// Gives the terminal foreground back to detrun's own process group.
void RestoreTerminal(const Launched& launched);

}  // namespace detrun

#endif  // DETRUN_CORE_LAUNCHER_H_
