#include "core/launcher.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/landlock.h"
#include "core/linux_compat.h"

namespace detrun {
namespace {

enum Step : int {
  kStepSetpgid = 1,
  kStepPdeathsig,
  kStepSigmask,
  kStepPersonality,
  kStepNoNewPrivs,
  kStepLandlock,
  kStepSeccomp,
  kStepSendListener,
  kStepWaitGo,
  kStepExec,
  kStepForkCommand,
  kStepIdMaps,
  kStepTsc,
};

const char* StepName(int step) {
  switch (step) {
    case kStepSetpgid: return "create a process group";
    case kStepPdeathsig: return "set the parent-death signal";
    case kStepSigmask: return "restore the signal mask";
    case kStepPersonality: return "disable address-space randomization";
    case kStepNoNewPrivs: return "set no_new_privs";
    case kStepLandlock: return "apply the Landlock ruleset";
    case kStepSeccomp: return "install the seccomp filter";
    case kStepSendListener: return "pass the seccomp listener to detrun";
    case kStepWaitGo: return "wait for the supervisor";
    case kStepExec: return "exec";
    case kStepForkCommand: return "start the command in the pid namespace";
    case kStepIdMaps: return "map the user's ids in the new user namespace";
    case kStepTsc: return "trap rdtsc (PR_SET_TSC; use --tsc=native where it is unavailable)";
  }
  return "set up the child";
}

struct LaunchFailure {
  int step;
  int error;
};

// Child side only: report and exit. Async-signal-safe.
[[noreturn]] void ChildFail(int status_fd, int step, int error) {
  LaunchFailure f{step, error};
  ssize_t ignored = write(status_fd, &f, sizeof f);
  (void)ignored;
  _exit(kStepExec == step ? 127 : 125);
}

bool IsExecutableFile(const std::string& path, int* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = errno;
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *error = EISDIR;
    return false;
  }
  if (access(path.c_str(), X_OK) != 0) {
    *error = errno;
    return false;
  }
  return true;
}

int SendFd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

// Receives the fd SendFd sent, and (when the socket has SO_PASSCRED) the
// sender's pid as the kernel translates it into our pid namespace.
int ReceiveFd(int sock, pid_t* sender = nullptr) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(ucred))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return -1;
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
    if (c->cmsg_type == SCM_CREDENTIALS && sender != nullptr) {
      ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
      *sender = cred.pid;
    }
  }
  return fd;
}

// Child side: writes `len` bytes to `path` (an id map of our own user
// namespace); 0 or -1 with errno. Async-signal-safe.
int WriteSelfFile(const char* path, const char* text, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, len);
  int error = errno;
  close(fd);
  if (n == static_cast<ssize_t>(len)) return 0;
  errno = n < 0 ? error : EIO;
  return -1;
}

// fork(), or a clone into a new pid namespace (and, without root, a new
// user namespace that maps only the caller's own ids, which an ordinary
// user may create). Returns the pid, with *flags_used set to what worked.
pid_t ForkIntoNamespace(bool want, int* flags_used, std::string* why_not) {
  *flags_used = 0;
  if (want) {
    for (int flags : {CLONE_NEWPID, CLONE_NEWPID | CLONE_NEWUSER}) {
      pid_t pid = static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
      if (pid >= 0) {
        *flags_used = flags;
        return pid;
      }
      *why_not = strerror(errno);
    }
  }
  return fork();
}

// The command's own steps (3..10 of launcher.h), in the forked child.
// Async-signal-safe; never returns.
[[noreturn]] void RunCommandChild(const LaunchSpec& spec, int sfd, int go_fd, int sock_fd,
                                  const char* path, char* const* argv, char* const* envp,
                                  char* const* sh_argv, const sock_fprog* prog) {
  if (sigprocmask(SIG_SETMASK, &spec.child_sigmask, nullptr) != 0) {
    ChildFail(sfd, kStepSigmask, errno);
  }
  if (spec.intercept) {
    // Dumpable, whatever detrun is (it makes itself non-dumpable): the
    // supervisor must be able to ptrace and write this process, and the
    // filter below refuses PR_SET_DUMPABLE from here on. Under an
    // enclosing detrun the call is refused already; the nested run then
    // fails at the seccomp step with its own clear message.
    prctl(PR_SET_DUMPABLE, 1);
    if (spec.disable_aslr && personality(ADDR_NO_RANDOMIZE) == -1) {
      ChildFail(sfd, kStepPersonality, errno);
    }
    // Before the filter, which refuses PR_SET_TSC. A refusal is reported
    // only once the filter is in: under an enclosing detrun (whose filter
    // refuses it too) the seccomp step fails first, with its own message.
    int tsc_error = 0;
    if (spec.trap_tsc && prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0) tsc_error = errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      ChildFail(sfd, kStepNoNewPrivs, errno);
    }
    if (spec.landlock_ruleset_fd >= 0) {
      int r = RestrictSelfWithLandlock(spec.landlock_ruleset_fd);
      if (r != 0) ChildFail(sfd, kStepLandlock, -r);
    }
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                            SECCOMP_FILTER_FLAG_NEW_LISTENER |
                                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                            prog);
    if (listener < 0 && errno == EINVAL) {
      // Kernels before 5.19 lack WAIT_KILLABLE_RECV.
      listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                         SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
    }
    if (listener < 0) ChildFail(sfd, kStepSeccomp, errno);
    if (tsc_error != 0) ChildFail(sfd, kStepTsc, tsc_error);
    if (SendFd(sock_fd, static_cast<int>(listener)) != 0) {
      ChildFail(sfd, kStepSendListener, errno);
    }
    close(static_cast<int>(listener));
  }
  char go;
  ssize_t n;
  do {
    n = read(go_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ChildFail(sfd, kStepWaitGo, n < 0 ? errno : EPIPE);
  execve(path, argv, envp);
  if (errno == ENOEXEC) execve("/bin/sh", sh_argv, envp);
  ChildFail(sfd, kStepExec, errno);
}

// pid 1 of the run's pid namespace: reaps every process that ends up
// orphaned there, and when the command ends, reports its wait status to
// detrun and exits, which makes the kernel kill whatever is left in the
// namespace. It never gets the command's signals: a namespace's init only
// receives signals it has a handler for (and SIGKILL from outside), so
// SIGINT/SIGTERM sent to the command's process group reach the command
// alone, as they would without the namespace. Async-signal-safe.
[[noreturn]] void RunInit(pid_t command, int command_status_fd, int sfd, int go_fd,
                          int sock_fd) {
  // The command holds its own copies until it execs; ours would keep
  // detrun waiting for a listener or a status that never comes.
  close(sfd);
  close(go_fd);
  close(sock_fd);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(-1, &status, 0);
    if (r == command) {
      ssize_t ignored = write(command_status_fd, &status, sizeof status);
      (void)ignored;
      _exit(0);
    }
    if (r < 0 && errno != EINTR) _exit(0);
  }
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::StatusOr<ResolvedCommand> ResolveCommand(
    const std::vector<std::string>& argv, const char* path_env) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("missing command");
  }
  const std::string& name = argv[0];
  int error = 0;
  if (name.find('/') != std::string::npos) {
    if (IsExecutableFile(name, &error)) return ResolvedCommand{name, argv};
    std::string reason = absl::StrCat(name, ": ", strerror(error));
    if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(reason);
    return absl::PermissionDeniedError(reason);
  }
  // execvp's default when PATH is unset.
  const std::string path = path_env != nullptr ? path_env : "/bin:/usr/bin";
  int first_error = 0;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate =
        absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (IsExecutableFile(candidate, &error)) {
      return ResolvedCommand{candidate, argv};
    }
    // Like the shells: a file that exists but cannot be executed beats "not
    // found"; a PATH directory we cannot search (EACCES on stat) is skipped.
    struct stat st;
    if (first_error == 0 && stat(candidate.c_str(), &st) == 0) first_error = error;
  }
  if (first_error != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(name, ": ", strerror(first_error)));
  }
  return absl::NotFoundError(absl::StrCat(name, ": command not found"));
}

absl::StatusOr<Launched> Launch(const LaunchSpec& spec) {
  // Everything the child touches is built before fork: the child allocates
  // nothing.
  std::vector<std::string> argv_store = spec.command.argv;
  std::vector<std::string> env_store = spec.env;
  std::vector<char*> argv = CStrings(argv_store);
  std::vector<char*> envp = CStrings(env_store);
  // execvp's fallback for an executable without a #! line.
  std::vector<std::string> sh_store = {argv_store[0], spec.command.path};
  sh_store.insert(sh_store.end(), argv_store.begin() + 1, argv_store.end());
  std::vector<char*> sh_argv = CStrings(sh_store);
  const char* path = spec.command.path.c_str();
  sock_fprog prog{static_cast<unsigned short>(spec.filter.size()),
                  const_cast<sock_filter*>(spec.filter.data())};

  int status_pipe[2], go_pipe[2], sock[2], command_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd status_read(status_pipe[0]), status_write(status_pipe[1]);
  if (pipe2(go_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd go_read(go_pipe[0]), go_write(go_pipe[1]);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd sock_parent(sock[0]), sock_child(sock[1]);
  // The pid namespace's init reports the command's wait status here.
  if (pipe2(command_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd command_read(command_pipe[0]), command_write(command_pipe[1]);
  if (spec.intercept) {
    // The command's pid as we see it arrives with the listener.
    int one = 1;
    setsockopt(sock_parent.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  }
  // A new user namespace maps our own ids only (all an ordinary user may
  // map); the child writes them itself, formatted here (it allocates
  // nothing).
  const std::string uid_map = absl::StrCat(getuid(), " ", getuid(), " 1");
  const std::string gid_map = absl::StrCat(getgid(), " ", getgid(), " 1");

  // Hand the terminal to the command only when detrun itself is in the
  // foreground of the terminal on stdin.
  const bool take_terminal = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
  const pid_t parent_pid = getpid();

  int ns_flags = 0;
  std::string ns_error;
  pid_t pid = ForkIntoNamespace(spec.intercept && spec.pid_namespace, &ns_flags, &ns_error);
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    const int sfd = status_write.get();
    if (spec.stdout_fd >= 0) dup2(spec.stdout_fd, STDOUT_FILENO);
    if (spec.stderr_fd >= 0) dup2(spec.stderr_fd, STDERR_FILENO);
    if (setpgid(0, 0) != 0) ChildFail(sfd, kStepSetpgid, errno);
    if (take_terminal) {
      sigset_t ttou;
      sigemptyset(&ttou);
      sigaddset(&ttou, SIGTTOU);
      sigprocmask(SIG_BLOCK, &ttou, nullptr);
      tcsetpgrp(STDIN_FILENO, getpid());
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(sfd, kStepPdeathsig, errno);
    if (ns_flags == 0) {
      if (getppid() != parent_pid) _exit(125);  // detrun already died
      RunCommandChild(spec, sfd, go_read.get(), sock_child.get(), path, argv.data(),
                      envp.data(), sh_argv.data(), &prog);
    }
    // We are pid 1 of a new pid namespace (getppid() is 0 here: the parent
    // is outside; if detrun is already gone, the command's wait for "go"
    // ends at EOF). /proc/self is right even where /proc belongs to an
    // outer namespace.
    if (ns_flags & CLONE_NEWUSER) {
      if (WriteSelfFile("/proc/self/setgroups", "deny", 4) != 0 ||
          WriteSelfFile("/proc/self/uid_map", uid_map.data(), uid_map.size()) != 0 ||
          WriteSelfFile("/proc/self/gid_map", gid_map.data(), gid_map.size()) != 0) {
        ChildFail(sfd, kStepIdMaps, errno);
      }
    }
    const pid_t command = fork();
    if (command < 0) ChildFail(sfd, kStepForkCommand, errno);
    if (command == 0) {
      // Dies with this init (the whole namespace would anyway).
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(sfd, kStepPdeathsig, errno);
      RunCommandChild(spec, sfd, go_read.get(), sock_child.get(), path, argv.data(),
                      envp.data(), sh_argv.data(), &prog);
    }
    RunInit(command, command_write.get(), sfd, go_read.get(), sock_child.get());
  }

  Launched out;
  out.pid = pid;
  out.command_pid = pid;
  setpgid(pid, pid);  // both sides set it, so neither races the other
  command_write.reset();
  if (ns_flags != 0) {
    out.pid_namespace = true;
    out.command_status = std::move(command_read);
  } else if (spec.intercept && spec.pid_namespace) {
    out.pid_namespace_note = absl::StrCat(
        "no pid namespace (clone: ", ns_error, "); pids are the host's");
  }
  if (take_terminal) {
    out.took_terminal = true;
    out.tty_fd = STDIN_FILENO;
  }
  out.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  status_write.reset();
  go_read.reset();
  sock_child.reset();
  out.exec_status = std::move(status_read);
  out.go = std::move(go_write);
  if (spec.intercept) {
    pid_t sender = 0;
    int listener = ReceiveFd(sock_parent.get(), &sender);
    if (listener < 0) {
      // The child failed before it could pass the listener: its record
      // explains why.
      absl::StatusOr<bool> r = ReadLaunchFailure(out, spec.command);
      if (!r.ok()) return r.status();
      return absl::InternalError("the child exited before passing the seccomp listener");
    }
    out.listener.reset(listener);
    if (out.pid_namespace) {
      if (sender <= 0) {
        kill(pid, SIGKILL);
        return absl::InternalError("the command's pid did not come with its listener");
      }
      out.command_pid = sender;
    }
  }
  return out;
}

absl::Status Go(Launched& launched) {
  char byte = 1;
  if (write(launched.go.get(), &byte, 1) != 1) {
    return absl::ErrnoToStatus(errno, "releasing the child");
  }
  launched.go.reset();
  return absl::OkStatus();
}

absl::StatusOr<bool> ReadLaunchFailure(Launched& launched,
                                       const ResolvedCommand& command) {
  if (!launched.exec_status.ok()) return true;
  LaunchFailure f;
  ssize_t n;
  do {
    n = read(launched.exec_status.get(), &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return false;
  launched.exec_status.reset();
  if (n != sizeof f) return true;  // EOF: exec succeeded (CLOEXEC closed it)
  if (f.step == kStepExec) {
    std::string reason = absl::StrCat("cannot execute '", command.path,
                                      "': ", strerror(f.error));
    // A missing ELF interpreter or #! interpreter is ENOENT, as a shell
    // reports it: 127.
    if (f.error == ENOENT) return absl::NotFoundError(reason);
    return absl::PermissionDeniedError(reason);
  }
  if (f.step == kStepSeccomp && f.error == EBUSY) {
    // The kernel allows one seccomp listener per filter chain, and an
    // enclosing detrun (or another supervisor) already holds it.
    return absl::FailedPreconditionError(
        "already running under detrun or another seccomp supervisor: the "
        "kernel allows only one seccomp listener per process, so a nested "
        "detrun cannot intercept (run the command directly, or use --native)");
  }
  return absl::InternalError(absl::StrCat("could not ", StepName(f.step),
                                          " for the command: ",
                                          strerror(f.error)));
}

void RestoreTerminal(const Launched& launched) {
  if (!launched.took_terminal) return;
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, &old);
  tcsetpgrp(launched.tty_fd, getpgrp());
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace detrun
