#include "core/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <optional>
#include <queue>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/leak_checks.h"
#include "core/linux_compat.h"
#include "core/notification_wait.h"
#include "core/syscall_table.h"
#include "core/tsc_trap.h"
#include "core/virtual_files.h"

namespace detrun {
namespace {

// Signals detrun forwards to the command's process group.
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

// epoll tags: the kind in the top byte, an id (pid/tid) below.
enum Tag : uint64_t {
  kTagSignal = 2,
  kTagExecStatus = 3,
  kTagProcessExit = 4,
  kTagThreadExit = 5,
  kTagHoldTimer = 6,
  kTagModuleFd = 7,
};
uint64_t MakeTag(Tag kind, uint64_t id = 0) { return (uint64_t{kind} << 56) | id; }
Tag TagKind(uint64_t tag) { return static_cast<Tag>(tag >> 56); }
pid_t TagId(uint64_t tag) { return static_cast<pid_t>(tag & 0xffffffffu); }

std::string DescribeResponse(const Response& r) {
  switch (r.kind) {
    case Response::Kind::kContinue: return "continue";
    case Response::Kind::kValue: return absl::StrCat("= ", r.value);
    case Response::Kind::kErrno: return absl::StrCat("= -1 ", strerrorname_np(r.error));
    case Response::Kind::kInjectFd: return "= injected fd";
  }
  return "?";
}

// --verbose: one line per answer on stderr.
class VerboseLog : public AnswerObserver {
 public:
  void OnAnswer(const ThreadState& thread, const Notification& n,
                const Response& response, std::string_view module) override {
    std::string line = absl::StrFormat(
        "detrun: [%s] %s(%#x, %#x, %#x) %s%s", thread.id.ToString(),
        SyscallName(n.nr), n.args[0], n.args[1], n.args[2],
        DescribeResponse(response),
        module.empty() ? "" : absl::StrCat(" (", std::string(module), ")"));
    if (n.nr == SYS_execve || n.nr == SYS_execveat) {
      absl::StrAppend(&line, " \"", thread.process->last_exec, "\"");
    }
    line += '\n';
    ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
  }
};

// Hands what handlers write into a child to the observers (the trace);
// installed only while the handlers of one notification run.
class ObserverTap : public ChildMemory::WriteTap {
 public:
  ObserverTap(const std::vector<AnswerObserver*>& observers, const Notification& n)
      : observers_(observers), n_(n) {}
  void OnWrite(uint64_t addr, const void* data, size_t len) override {
    for (AnswerObserver* o : observers_) o->OnChildWrite(n_, addr, data, len);
  }

 private:
  const std::vector<AnswerObserver*>& observers_;
  const Notification& n_;
};

// The command line of a process, from /proc/PID/cmdline (NUL-separated).
std::vector<std::string> ReadCmdline(pid_t pid) {
  std::vector<std::string> argv;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return argv;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  close(fd);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    argv.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

bool IsDigits(const char* s) {
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

// Fields 3 (state), 4 (ppid) and 9 (flags) of /proc/PID/stat, read after
// the parenthesised command name, which may itself contain ") ".
struct ProcStat {
  char state = '?';
  int ppid = -1;
  unsigned flags = 0;
};
std::optional<ProcStat> ReadProcStat(const char* pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  const char* close_paren = strrchr(buf, ')');
  if (close_paren == nullptr) return std::nullopt;
  ProcStat st;
  int pgrp, session, tty, tpgid;
  if (sscanf(close_paren + 1, " %c %d %d %d %d %d %u", &st.state, &st.ppid, &pgrp, &session, &tty,
             &tpgid, &st.flags) != 7) {
    return std::nullopt;
  }
  return st;
}

// The parent pid of `pid`, or -1.
pid_t ParentOf(const char* pid) {
  std::optional<ProcStat> st = ReadProcStat(pid);
  return st ? st->ppid : -1;
}

// Whether process `pid` is gone or on its way out (PF_EXITING, include/
// linux/sched.h): e.g. killed with the rest of the run while detrun was
// patching it in its exec stop.
bool ProcessIsExiting(pid_t pid) {
  constexpr unsigned kPfExiting = 0x00000004;
  const std::string name = std::to_string(pid);
  std::optional<ProcStat> st = ReadProcStat(name.c_str());
  return !st || st->state == 'Z' || st->state == 'X' || (st->flags & kPfExiting) != 0;
}

// A thread whose held call is answered early because a signal waits.
constexpr int64_t kHeldSignalPollNs = 10'000'000;  // 10 ms
// The kernel's "interrupted; restart unless a handler ran" code
// (include/linux/errno.h, not exported to user space).
constexpr int kErestartNoHand = 514;

// Whether thread `tid` has a signal pending that it does not block: one
// sent to the thread, or one sent to its process, whatever its number of
// threads. A thread whose call is held cannot take either until it is
// answered, and the kernel may well have chosen it for a process's signal
// (it prefers a thread that does not block the signal and has none
// pending, the thread group leader first, as it would natively): woken,
// it goes back to its killable wait with the signal still pending, so no
// other thread is woken for it. Answering when another thread takes the
// signal first costs only a restart: ERESTARTNOHAND with no handler run
// in this thread re-issues the call, which is held again.
bool SignalPendingFor(pid_t tid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  auto field = [&](const char* name) -> uint64_t {
    const char* at = strstr(buf, name);
    return at == nullptr ? 0 : strtoull(at + strlen(name), nullptr, 16);
  };
  const uint64_t pending = field("SigPnd:") | field("ShdPnd:");
  return (pending & ~field("SigBlk:")) != 0;
}

}  // namespace

void KillAllDescendants() {
  const pid_t self = getpid();
  for (;;) {
    pid_t r = waitpid(-1, nullptr, WNOHANG | __WALL);
    if (r < 0 && errno == ECHILD) return;
    if (r > 0) continue;
    // Children remain: kill every one we can see. Their own children are
    // re-parented to us (subreaper) and caught on a later round.
    if (DIR* proc = opendir("/proc")) {
      while (dirent* e = readdir(proc)) {
        if (IsDigits(e->d_name) && ParentOf(e->d_name) == self) {
          kill(atoi(e->d_name), SIGKILL);
        }
      }
      closedir(proc);
    }
    r = waitpid(-1, nullptr, WNOHANG | __WALL);
    if (r == 0) usleep(1000);
  }
}

Supervisor::Supervisor(const Config& config, std::vector<Module*> modules)
    : config_(config), modules_(std::move(modules)) {
  sigemptyset(&original_mask_);
  RegisterCore(registry_);
  // Leak checks (leak_checks.h): ahead of every module, to see what they
  // answer too; opens after the virtual files, to see only the others.
  if (config_.leak_checks()) {
    leaks_ = std::make_unique<LeakReport>(config_.strict);
    RegisterLeakChecks(registry_, *leaks_);
    registry_.set_leaks(leaks_.get());
  }
  for (size_t i = 0; i < modules_.size(); ++i) {
    registry_.BeginModule(static_cast<int>(i), std::string(modules_[i]->name()));
    modules_[i]->Register(registry_);
  }
  // One open handler for the files the modules provide (virtual_files.h).
  VirtualFiles::Install(registry_, config_);
  if (leaks_) RegisterLeakOpenChecks(registry_, *leaks_);
  dispatch_ = registry_.BuildDispatch();
  for (Module* m : modules_) wants_exec_stop_ |= m->WantsExecStop();
  keep_traced_ = !config_.native && config_.tsc != TscMode::kNative;
  wants_exec_stop_ |= keep_traced_;
  ProcessTable::Hooks hooks = ProcessTable::DefaultHooks();
  // Observers (the trace) see each process begin and end.
  hooks.on_process_start = [this](const ProcessState& p) {
    for (AnswerObserver* o : observers_) o->OnProcessStart(p);
  };
  hooks.on_process_exit = [this](const ProcessState& p) {
    if (observers_.empty()) return;
    const std::optional<int> status = ExitWaitStatus(p);
    for (AnswerObserver* o : observers_) o->OnProcessExit(p, status);
  };
  table_ = std::make_unique<ProcessTable>(modules_, std::move(hooks));
  // Every clone that makes a task stops in its ptrace event where detrun
  // traces every process: a clone call without one made none.
  table_->ConfirmClones(keep_traced_);
  if (config_.verbose) {
    verbose_log_ = std::make_unique<VerboseLog>();
    observers_.push_back(verbose_log_.get());
  }
}

Supervisor::~Supervisor() = default;

void Supervisor::RegisterCore(Registry& registry) {
  registry.BeginModule(-1, "process");
  // Clone family: record the creation so the new process or thread gets its
  // identity from the fork tree (process_table.h). The kernel then runs the
  // call as asked.
  auto on_clone = [this](uint64_t flags, SyscallContext& ctx) {
    table_->OnClone(ctx.thread, flags);
    return std::optional<Response>();
  };
  registry.Notify(SYS_clone,
                  [on_clone](SyscallContext& ctx) {
                    return on_clone(ctx.notification.args[0], ctx);
                  },
                  "process identity: records each child and thread created");
  registry.Notify(SYS_clone3,
                  [on_clone](SyscallContext& ctx) {
                    // struct clone_args begins with the 64-bit flags.
                    uint64_t flags = 0;
                    if (!ctx.memory
                             .Read(ctx.notification.id, ctx.notification.tid,
                                   ctx.notification.args[0], &flags, sizeof flags)
                             .ok()) {
                      return std::optional<Response>();  // the kernel reports EFAULT
                    }
                    return on_clone(flags, ctx);
                  },
                  "process identity: records each child and thread created");
  registry.Notify(SYS_fork,
                  [on_clone](SyscallContext& ctx) { return on_clone(0, ctx); },
                  "process identity: records each child created");
  registry.Notify(SYS_vfork,
                  [on_clone](SyscallContext& ctx) {
                    return on_clone(CLONE_VM | CLONE_VFORK, ctx);
                  },
                  "process identity: records each child created");
  // Exec family: remember what each process runs (for --verbose and, later,
  // the trace and the post-exec vDSO patch).
  auto on_exec = [this](int path_arg) {
    return [this, path_arg](SyscallContext& ctx) {
      absl::StatusOr<std::string> path = ctx.memory.ReadString(
          ctx.notification.id, ctx.notification.tid,
          ctx.notification.args[path_arg], 4096);
      if (path.ok()) ctx.process.last_exec = *path;
      // Without the stop the new image would run unpatched: refuse the exec
      // (the run then ends with the reason, see SeizeForExec).
      if (wants_exec_stop_ && !SeizeForExec(ctx.notification.tid)) {
        return std::optional<Response>(Response::Errno(EPERM));
      }
      return std::optional<Response>();
    };
  };
  registry.Notify(SYS_execve, on_exec(0), "process identity: what each process runs");
  registry.Notify(SYS_execveat, on_exec(1), "process identity: what each process runs");
}

void Supervisor::Fail(absl::Status status) {
  if (run_error_.ok()) run_error_ = std::move(status);
}

bool Supervisor::SeizeForExec(pid_t tid) {
  // Already seized: an earlier exec attempt of this thread failed (a PATH
  // search tries several), and the stop is still to come.
  if (seized_.contains(tid)) return true;
  // EXITKILL: if detrun dies, a process it holds in the stop dies too
  // instead of running on unpatched.
  long options = PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
  if (keep_traced_) options |= PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
  if (ptrace(PTRACE_SEIZE, tid, nullptr, options) != 0) {
    Fail(absl::FailedPreconditionError(absl::StrCat(
        "cannot stop process ", tid, " after exec to patch it (ptrace: ",
        strerror(errno),
        "); is it already traced, e.g. by strace or gdb?")));
    return false;
  }
  seized_.insert(tid);
  return true;
}

bool Supervisor::InterruptForStop(pid_t tid, std::function<void()> fn) {
  if (!keep_traced_ || !seized_.contains(tid)) return false;
  auto [it, first] = at_stop_.try_emplace(tid);
  if (first && ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    at_stop_.erase(it);
    return false;
  }
  it->second.push_back(std::move(fn));
  return true;
}

void Supervisor::OnTraceStop(pid_t pid, int status) {
  const int event = status >> 16;
  // Whatever the stop, the thread runs nothing until it is continued.
  if (auto node = at_stop_.extract(pid); !node.empty()) {
    for (std::function<void()>& fn : node.mapped()) fn();
  }
  if (event == PTRACE_EVENT_EXEC) {
    // A non-leader thread that execs takes over the leader's pid; the
    // message names the tid it had.
    unsigned long former = 0;
    ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &former);
    seized_.erase(static_cast<pid_t>(former));
    at_stop_.erase(static_cast<pid_t>(former));  // that tid is gone
    // Its tid is never reported as an exit: the exec gave it the leader's
    // (whose thread the pidfd of `former` then names, released at once).
    if (static_cast<pid_t>(former) != pid) {
      if (auto node = exits_by_wait_.extract(static_cast<pid_t>(former)); !node.empty()) {
        table_->OnExitReady(node.key(), node.mapped());
      }
    }
    if (keep_traced_) {
      seized_.insert(pid);
    } else {
      seized_.erase(pid);
    }
    ThreadState* thread = table_->Identify(pid);
    if (thread == nullptr) {
      Fail(absl::InternalError(absl::StrCat("process ", pid, " vanished in its exec stop")));
      return;
    }
    // Kills the stopped process; fails the run unless it was dying anyway
    // (the run ending, a SIGKILL): such a process cannot be patched and
    // will never run, which is not the run's failure.
    auto fail_stop = [&](const std::string& what, const absl::Status& s) {
      const bool dying = ProcessIsExiting(pid);
      kill(pid, SIGKILL);
      if (dying) return;
      Fail(absl::InternalError(absl::StrCat(what, "process ", thread->id.ToString(), " (",
                                            thread->process->last_exec, "): ", s.message())));
    };
    ProcMem mem(pid);
    for (Module* m : modules_) {
      if (!m->WantsExecStop()) continue;
      ExecStop stop{pid, *thread, *thread->process, config_, mem};
      if (absl::Status s = m->OnExecStop(stop); !s.ok()) {
        fail_stop(absl::StrCat(std::string(m->name()), ": "), s);
        return;
      }
    }
    if (config_.tsc == TscMode::kEmulate && keep_traced_) {
      // The loader's rdtsc sites learned so far: patched out of this
      // process (core/loader_tsc.h).
      absl::StatusOr<ProcessAuxv> auxv = ReadAuxv(mem);
      absl::StatusOr<LoaderText> text =
          auxv.ok() ? loader_tsc_.OnExec(mem, auxv->interpreter_base)
                    : absl::StatusOr<LoaderText>(auxv.status());
      if (!text.ok()) {
        fail_stop("rdtsc sites of the loader of ", text.status());
        return;
      }
      thread->process->loader_text = *text;
    }
    if (!observers_.empty()) {
      const std::vector<std::string> argv = ReadCmdline(pid);
      for (AnswerObserver* o : observers_) o->OnExec(*thread, argv);
    }
    ptrace(keep_traced_ ? PTRACE_CONT : PTRACE_DETACH, pid, nullptr, nullptr);
    return;
  }
  if (keep_traced_) {
    switch (event) {
      case PTRACE_EVENT_FORK:
      case PTRACE_EVENT_VFORK:
      case PTRACE_EVENT_CLONE: {
        // The kernel attached the new process or thread; its own first
        // stop (PTRACE_EVENT_STOP) may come before or after this one.
        unsigned long child = 0;
        if (ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &child) == 0) {
          seized_.insert(static_cast<pid_t>(child));
        }
        table_->Confirmed(pid);
        ptrace(PTRACE_CONT, pid, nullptr, nullptr);
        return;
      }
      case PTRACE_EVENT_STOP: {
        // A group stop reports its stop signal, the first stop of an
        // attached child (and PTRACE_INTERRUPT) SIGTRAP.
        seized_.insert(pid);
        const int sig = WSTOPSIG(status);
        const bool group_stop =
            sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
        ptrace(group_stop ? PTRACE_LISTEN : PTRACE_CONT, pid, nullptr, nullptr);
        return;
      }
      case 0: {
        // A signal about to be delivered.
        const int sig = WSTOPSIG(status);
        const bool answered = sig == SIGSEGV && EmulateTsc(pid);
        ptrace(PTRACE_CONT, pid, nullptr,
               reinterpret_cast<void*>(static_cast<uintptr_t>(answered ? 0 : sig)));
        return;
      }
      default:
        ptrace(PTRACE_CONT, pid, nullptr, nullptr);
        return;
    }
  }
  // Any other stop of a seized thread: its exec failed (the exec stop would
  // have come first) and a signal or a group stop arrived. Let go of it,
  // delivering the signal; a group stop stays in force.
  const int signal = event == 0 ? WSTOPSIG(status) : 0;
  ptrace(PTRACE_DETACH, pid, nullptr, reinterpret_cast<void*>(static_cast<uintptr_t>(signal)));
  seized_.erase(pid);
}

bool Supervisor::EmulateTsc(pid_t tid) {
  ThreadState* thread = table_->Identify(tid);
  auto answer = [&](const TscTrap& trap) -> TscAnswer {
    if (thread == nullptr) return {};
    // The loader's own timing reads (core/loader_tsc.h): answered as the
    // patch answers them, the virtual counter untouched. Not under
    // --tsc=trap, which reports every read.
    if (config_.tsc == TscMode::kEmulate && trap.instruction == TscInstruction::kRdtsc &&
        loader_tsc_.Learn(thread->process->loader_text, trap.rip)) {
      return TscAnswer{.clear_eax_only = true};
    }
    for (Module* m : modules_) {
      if (std::optional<uint64_t> v = m->ReadTsc(*thread)) return TscAnswer{.value = *v};
    }
    return {};
  };
  absl::StatusOr<std::optional<TscTrap>> trap = EmulateTrappedTsc(tid, answer);
  if (!trap.ok() || !trap->has_value()) return false;
  if (config_.tsc == TscMode::kTrap) {
    const std::string program = thread != nullptr ? thread->process->last_exec : std::string("?");
    ++tsc_traps_[program];
    // In the leak report too when there is one. Never refused, not even
    // under --strict: the answer is the virtual counter, and glibc's
    // loader reads it in every dynamic program.
    if (leaks_ && thread != nullptr) {
      leaks_->Record(LeakCategory::kRdtsc, thread->id,
                     (*trap)->instruction == TscInstruction::kRdtsc ? "rdtsc" : "rdtscp",
                     program);
    }
  }
  return true;
}

std::vector<std::string> Supervisor::TscTrapNotes() const {
  std::vector<std::string> notes;
  // With a leak report the tally is its rdtsc section instead.
  if (config_.tsc != TscMode::kTrap || leaks_) return notes;
  std::vector<std::pair<std::string, uint64_t>> by_program(tsc_traps_.begin(), tsc_traps_.end());
  std::sort(by_program.begin(), by_program.end());
  uint64_t total = 0;
  for (const auto& [program, count] : by_program) total += count;
  notes.push_back(absl::StrCat("--tsc=trap: ", total, " rdtsc/rdtscp read the virtual counter",
                               total == 0 ? "" : ":"));
  for (const auto& [program, count] : by_program) {
    notes.push_back(absl::StrCat("  ", count, " in ", program.empty() ? "?" : program));
  }
  return notes;
}

absl::StatusOr<bpf::Program> Supervisor::BuildFilter() const {
  SyscallPolicy base;
  AddEscapeDenials(base);
  if (keep_traced_) {
    // PR_TSC_ENABLE would turn the trap off (core/tsc_trap.h).
    base.Add(__NR_prctl, SyscallRule{{ArgMatcher::Eq32(0, PR_SET_TSC)},
                                     SyscallAction::Errno(EPERM),
                                     "--tsc: the time-stamp counter stays trapped"});
  }
  if (config_.no_network) AddNoNetworkRules(base);
  return registry_.BuildPolicy(std::move(base)).Compile();
}

absl::StatusOr<sigset_t> Supervisor::PrepareParent() {
  sigset_t block;
  sigemptyset(&block);
  for (int s : kForwardedSignals) sigaddset(&block, s);
  sigaddset(&block, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &block, &original_mask_) != 0) {
    return absl::ErrnoToStatus(errno, "sigprocmask");
  }
  // Orphans of the run are re-parented to detrun, so none can outlive it.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return absl::ErrnoToStatus(errno, "PR_SET_CHILD_SUBREAPER");
  }
  return original_mask_;
}

// One run of the event loop; see supervisor.h.
class Supervisor::Loop {
 public:
  Loop(Supervisor& s, Launched& launched, const ResolvedCommand& command)
      : s_(s), launched_(launched), command_(command), memory_(launched.listener.get()) {}

  absl::StatusOr<RunResult> Run() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kForwardedSignals) sigaddset(&set, sig);
    sigaddset(&set, SIGCHLD);
    signal_fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_.ok()) return absl::ErrnoToStatus(errno, "signalfd");
    Watch(launched_.exec_status.get(), MakeTag(kTagExecStatus));
    hold_timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!hold_timer_.ok()) return absl::ErrnoToStatus(errno, "timerfd_create");
    Watch(hold_timer_.get(), MakeTag(kTagHoldTimer));
    const int listener = launched_.listener.get();
    if (listener >= 0) {
      // Wake the supervisor's thread on the notifying task's CPU, which
      // only a thread blocked in RECV gets (core/notification_wait.h;
      // Linux 6.6+, older kernels just run slower).
      ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
      seccomp_notif_sizes sizes{};
      if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
        return absl::ErrnoToStatus(errno, "SECCOMP_GET_NOTIF_SIZES");
      }
      request_.resize(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
      response_.resize(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp)));
      s_.table_->SetRoot(launched_.command_pid);
    }
    for (auto& [fd, on_ready] : s_.watched_fds_) {
      scheduler_.Watch(fd, EPOLLIN, [&on_ready](uint32_t) {
        on_ready();
        return true;  // closing fd ends the watch (Supervisor::WatchFd)
      });
    }
    RaiseFdLimit();
    // The command's tasks trap rdtsc; the supervisor's thread too, so that
    // switching between them does not rewrite CR4 (core/tsc_trap.h).
    std::optional<SupervisorTscTrap> tsc_trap;
    if (s_.keep_traced_) tsc_trap.emplace();
    // After the trap, which the waker inherits.
    std::unique_ptr<NotificationWait> wait;
    if (listener >= 0) {
      absl::StatusOr<std::unique_ptr<NotificationWait>> started =
          NotificationWait::Start(epoll_.get());
      if (!started.ok()) return started.status();
      wait = std::move(*started);
      // Ptrace stops and exits of children, and the signals to forward,
      // wake the loop directly. The signalfd joins the epoll set only once
      // the wait is gone: in the set it would wake the waker on every
      // signal (a signalfd wakes its pollers on any signal), and with
      // SIGCHLD in its mask the waker sent its own signal after each
      // SIGCHLD, a second signal and a round trip of the waker per ptrace
      // stop and exit.
      for (int sig : kForwardedSignals) {
        if (absl::Status st = wait->CatchSignal(sig); !st.ok()) return st;
      }
      if (absl::Status st = wait->CatchSignal(SIGCHLD); !st.ok()) return st;
    } else {
      Watch(signal_fd_.get(), MakeTag(kTagSignal));
    }
    if (absl::Status st = Go(launched_); !st.ok()) return st;

    epoll_event events[64];
    auto* req = reinterpret_cast<seccomp_notif*>(request_.data());
    while (!root_done_) {
      // Blocks in RECV, or in epoll_wait where there is no listener
      // (--native).
      bool received = false;
      bool child_signal = false;
      const bool block_in_epoll = wait == nullptr;  // this round's, before any reset
      if (wait != nullptr) {
        memset(request_.data(), 0, request_.size());
        absl::StatusOr<NotificationWait::Result> r = wait->Wait(listener, req);
        if (!r.ok()) return r.status();
        received = *r == NotificationWait::Result::kNotification;
        // Every filtered task is gone (RECV then fails at once with
        // ENOENT): the root's exit follows; wait for it in epoll_wait,
        // with the signals back on the signalfd (which, added to the set,
        // is ready at once for one that came after ReleaseSignals).
        const bool gone = *r == NotificationWait::Result::kGone && ListenerHungUp();
        if (gone) wait->ReleaseSignals();
        child_signal = wait->TakeCaught(SIGCHLD);
        for (int sig : kForwardedSignals) {
          if (wait->TakeCaught(sig)) Forward(sig);
        }
        if (gone) {
          wait.reset();
          Watch(signal_fd_.get(), MakeTag(kTagSignal));
        }
      }
      // Exits first: a pid may be reused only after its owner exited, so
      // handling exits before notifications keeps identities straight. The
      // set is drained on every notification for that reason.
      int n;
      do {
        n = epoll_wait(epoll_.get(), events, 64, block_in_epoll ? -1 : 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return absl::ErrnoToStatus(errno, "epoll_wait");
      bool deferred_ready = false;
      for (int i = 0; i < n; ++i) {
        uint64_t tag = events[i].data.u64;
        switch (TagKind(tag)) {
          case kTagSignal: HandleSignals(); break;
          case kTagExecStatus: HandleExecStatus(); break;
          case kTagProcessExit: s_.table_->OnExitReady(TagId(tag), false); break;
          case kTagThreadExit: s_.table_->OnExitReady(TagId(tag), true); break;
          case kTagHoldTimer: deferred_ready = true; break;
          case kTagModuleFd:
            RunWatcher(TagId(tag), events[i].events);
            break;
        }
      }
      if (child_signal) ReapChildren();
      if (wait != nullptr) wait->Rearm();
      // Once received, a call is answered even if the root ended meanwhile:
      // it cannot be taken back, and the thread may outlive the root.
      if (received) HandleReceived();
      if (deferred_ready && !root_done_) {
        if (absl::Status st = RunDeferred(); !st.ok()) return st;
      }
      // A fatal problem (e.g. a process that could not be patched): end
      // the run; the root's exit then arrives through SIGCHLD.
      if (!s_.run_error_.ok() && !killed_for_error_) {
        killed_for_error_ = true;
        kill(-launched_.pid, SIGKILL);
        kill(launched_.pid, SIGKILL);
      }
    }
    if (wait != nullptr) {
      // The waker stops before the clean-up. A SIGCHLD the handler took
      // after the last round is not lost: KillAllDescendants reaps all.
      wait.reset();
    }
    DrainExits(events);
    KillAllDescendants();
    RestoreTerminal(launched_);
    RunResult result;
    result.wait_status = root_status_;
    if (launched_.command_status.ok()) {
      // Our child was the pid namespace's init; it reported the command's
      // status before it exited. Nothing there: it was killed first (e.g.
      // detrun ended the run), and its own status stands.
      int status;
      if (read(launched_.command_status.get(), &status, sizeof status) == sizeof status) {
        result.wait_status = status;
      }
    }
    // The exec-status pipe is at EOF or holds the failure record now that
    // the first process is gone.
    absl::StatusOr<bool> exec = ReadLaunchFailure(launched_, command_);
    if (!exec.ok()) result.launch_error = exec.status();
    result.run_error = s_.run_error_;
    result.end_notes = s_.TscTrapNotes();
    return result;
  }

 private:
  void Watch(int fd, uint64_t tag) {
    if (fd < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }

  bool ListenerHungUp() const {
    pollfd p{launched_.listener.get(), POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
  }

  // Raised after the fork, so the command keeps detrun's original limit:
  // detrun holds a pidfd per live process and thread.
  static void RaiseFdLimit() {
    rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
      r.rlim_cur = r.rlim_max;
      setrlimit(RLIMIT_NOFILE, &r);
    }
  }

  // Exits that became ready along with the root's, not yet handled (the
  // loop stops at the root's): handled now, so that observers (the trace)
  // see the end of every process that ended before the command did.
  void DrainExits(epoll_event (&events)[64]) {
    for (;;) {
      const int n = epoll_wait(epoll_.get(), events, 64, 0);
      int handled = 0;
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (TagKind(tag) == kTagProcessExit || TagKind(tag) == kTagThreadExit) {
          s_.table_->OnExitReady(TagId(tag), TagKind(tag) == kTagThreadExit);
          ++handled;
        }
      }
      if (handled == 0) return;
    }
  }

  void HandleExecStatus() {
    // Only stop watching; the record (if any) is read once the root exits.
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, launched_.exec_status.get(), nullptr);
  }

  void HandleSignals() {
    // Several per read: a read returns as many as are pending, up to its
    // buffer, so a short one means none is left. Reading one at a time
    // took one more read per SIGCHLD, which failed with EAGAIN (about
    // four per exec of a short-lived program). The descriptor is level
    // triggered in epoll: a signal that comes after the last read wakes
    // the loop again.
    signalfd_siginfo infos[8];
    bool child = false;
    for (;;) {
      const ssize_t n = read(signal_fd_.get(), infos, sizeof infos);
      if (n <= 0) break;
      const size_t count = static_cast<size_t>(n) / sizeof infos[0];
      for (size_t i = 0; i < count; ++i) {
        if (infos[i].ssi_signo == SIGCHLD) {
          child = true;
        } else {
          Forward(static_cast<int>(infos[i].ssi_signo));
        }
      }
      if (count < std::size(infos)) break;
    }
    if (child) ReapChildren();
  }

  // To the command's process group (its pgid is its pid).
  void Forward(int sig) { kill(-launched_.pid, sig); }

  void ReapChildren() {
    // A SIGCHLD for a change this round collects (a stop; the stop of a
    // traced parent that the release of its child's exit causes) would
    // wake the loop once more for nothing: taken here, with one more
    // round, a syscall instead of a wake-up. SIGCHLD is blocked here.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    const timespec now{};
    do {
      ReapOnce();
    } while (!root_done_ && sigtimedwait(&chld, nullptr, &now) == SIGCHLD);
  }

  void ReapOnce() {
    siginfo_t si{};
    // Peek without reaping, so the group id stays reserved while we kill
    // the rest of the group.
    // (A ptraced child's stops are reported even without WSTOPPED, so the
    // code must say it ended.)
    if (waitid(P_PID, launched_.pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
        si.si_pid == launched_.pid &&
        (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)) {
      kill(-launched_.pid, SIGKILL);
      int status = 0;
      if (waitpid(launched_.pid, &status, 0) == launched_.pid) {
        root_status_ = status;
        root_done_ = true;
      }
    }
    // Orphans re-parented to us (subreaper), and ptrace stops of the
    // processes seized for their exec stop.
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG | __WALL);
      if (p <= 0) break;
      if (WIFSTOPPED(status)) {
        s_.OnTraceStop(p, status);
        continue;
      }
      s_.seized_.erase(p);
      s_.at_stop_.erase(p);
      if (auto node = s_.exits_by_wait_.extract(p); !node.empty()) {
        s_.table_->OnExitReady(p, node.mapped(), status);
      }
      if (p == launched_.pid) {
        root_status_ = status;
        root_done_ = true;
      }
    }
  }

  // Receives one notification that poll() says is waiting, and answers it.
  absl::Status ReceiveAndHandle() {
    memset(request_.data(), 0, request_.size());
    if (ioctl(launched_.listener.get(), SECCOMP_IOCTL_NOTIF_RECV, request_.data()) != 0) {
      // ENOENT: the task died before we received it; EINTR: retry later.
      if (errno == ENOENT || errno == EINTR) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "SECCOMP_IOCTL_NOTIF_RECV");
    }
    HandleReceived();
    return absl::OkStatus();
  }

  // Answers the notification in request_.
  void HandleReceived() {
    const auto* req = reinterpret_cast<const seccomp_notif*>(request_.data());
    Notification n;
    n.id = req->id;
    n.tid = static_cast<pid_t>(req->pid);
    n.nr = req->data.nr;
    n.instruction_pointer = req->data.instruction_pointer;
    for (int i = 0; i < 6; ++i) n.args[i] = req->data.args[i];

    Response response = Response::Continue();
    std::string_view module;
    ThreadState* thread = s_.table_->Identify(n.tid);
    s_.table_->DrainNewPidfds([this](int fd, pid_t id, bool is_thread) {
      // Traced (and so seized before its first notification, except the
      // command's first process, seized in its execve's): its exit comes
      // with the tracer's SIGCHLD (Supervisor::exits_by_wait_).
      if (s_.keep_traced_ && s_.seized_.contains(id)) {
        s_.exits_by_wait_[id] = is_thread;
        return;
      }
      Watch(fd, MakeTag(is_thread ? kTagThreadExit : kTagProcessExit, id));
    });
    if (thread != nullptr && n.nr >= 0 && n.nr < Registry::kMaxSyscall) {
      SyscallContext ctx{n, *thread, *thread->process, memory_, s_.config_, &scheduler_};
      for (Module* m : s_.modules_) m->BeforeNotification(ctx);
      ObserverTap tap(s_.observers_, n);
      if (!s_.observers_.empty()) memory_.set_write_tap(&tap);
      for (const Registry::Entry& e : s_.dispatch_[n.nr]) {
        bool applies = true;
        for (const ArgMatcher& m : e.when) {
          if (!m.Matches(n.args.data())) {
            applies = false;
            break;
          }
        }
        if (!applies) continue;
        if (std::optional<Response> r = e.handler(ctx)) {
          response = *r;
          module = e.module_name;
          break;
        }
      }
      memory_.set_write_tap(nullptr);
      for (Module* m : s_.modules_) m->AfterNotification(ctx);
      for (AnswerObserver* o : s_.observers_) o->OnAnswer(*thread, n, response, module);
    }
    if (response.hold_until_ns >= 0) {
      Hold(n, response);
    } else {
      Send(n, response);
    }
  }

  // Deferred work (held answers, module callbacks), earliest first, run
  // by the hold timer.
  struct Deferred {
    int64_t at_ns;
    uint64_t order;  // FIFO among equal times
    std::function<void()> fn;
    bool operator>(const Deferred& o) const {
      return at_ns != o.at_ns ? at_ns > o.at_ns : order > o.order;
    }
  };

  class LoopScheduler : public Scheduler {
   public:
    explicit LoopScheduler(Loop& loop) : loop_(loop) {}
    void At(int64_t at_ns, std::function<void()> fn) override {
      loop_.deferred_.push(Deferred{at_ns, loop_.deferred_order_++, std::move(fn)});
      loop_.ArmHoldTimer();
    }
    void Watch(int fd, uint32_t events, std::function<bool(uint32_t)> fn) override {
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = MakeTag(kTagModuleFd, static_cast<uint64_t>(fd));
      if (epoll_ctl(loop_.epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0) {
        loop_.watchers_[fd] = std::move(fn);
      }
    }
    bool AtNextStop(pid_t tid, std::function<void()> fn) override {
      return loop_.s_.InterruptForStop(tid, std::move(fn));
    }

   private:
    Loop& loop_;
  };

  // A module's descriptor is ready (Scheduler::Watch).
  void RunWatcher(int fd, uint32_t events) {
    auto it = watchers_.find(fd);
    if (it == watchers_.end()) return;
    if (!it->second(events)) {
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      watchers_.erase(fd);  // `it` may be stale: the callback may watch more
    }
  }

  // A system call, not the vDSO: the vDSO's clock reads the time-stamp
  // counter, which the supervisor's thread traps during the run.
  static int64_t MonotonicNs() {
    timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000 + ts.tv_nsec;
  }

  // A held answer: sent at its time, or earlier with `interrupted` when
  // the thread has a signal to take (the wait is only killable once we
  // received the call, so the kernel itself would not interrupt it).
  struct HeldCall {
    Notification notification;
    Response answer;
  };

  void Hold(const Notification& n, Response r) {
    const int64_t until = r.hold_until_ns;
    r.hold_until_ns = -1;
    if (until <= MonotonicNs()) {
      Send(n, r);
      return;
    }
    held_[n.id] = HeldCall{n, r};
    scheduler_.At(until, [this, id = n.id] {
      auto it = held_.find(id);
      if (it == held_.end()) return;  // answered early
      // A thread interrupted meanwhile makes the send fail with ENOENT.
      Send(it->second.notification, it->second.answer);
      held_.erase(it);
    });
    ArmHeldPoll();
  }

  // One PollHeld pending at most. (Arming it whenever held_ became
  // non-empty started a second chain when the first's timer was still
  // pending, and chains only end when they find held_ empty, so under
  // --chaos, which holds calls often, they could pile up.)
  void ArmHeldPoll() {
    if (held_poll_armed_ || held_.empty()) return;
    held_poll_armed_ = true;
    scheduler_.At(MonotonicNs() + kHeldSignalPollNs, [this] {
      held_poll_armed_ = false;
      PollHeld();
    });
  }

  // While calls are held: answer those whose thread has a signal pending
  // that it does not block, with ERESTARTNOHAND, as the kernel's own
  // interrupted sleeps do: the handler runs, then the call fails with
  // EINTR (or restarts when the signal is ignored or stops the process).
  void PollHeld() {
    absl::erase_if(held_, [this](const auto& entry) {
      const Notification& n = entry.second.notification;
      if (!SignalPendingFor(n.tid)) return false;
      Send(n, Response::Errno(kErestartNoHand));
      return true;
    });
    ArmHeldPoll();
  }

  void ArmHoldTimer() {
    itimerspec spec{};
    if (!deferred_.empty()) {
      // 0 would disarm: the earliest possible instant is 1 ns.
      const int64_t at = std::max<int64_t>(deferred_.top().at_ns, 1);
      spec.it_value.tv_sec = at / 1'000'000'000;
      spec.it_value.tv_nsec = at % 1'000'000'000;
    }
    timerfd_settime(hold_timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  absl::Status RunDeferred() {
    uint64_t expirations;
    ssize_t ignored = read(hold_timer_.get(), &expirations, sizeof expirations);
    (void)ignored;
    // Receive the calls already waiting first: deferred work may signal
    // their threads, and a call the kernel has not handed to us yet is
    // still interruptible (a clock read would fail with EINTR).
    for (;;) {
      pollfd p{launched_.listener.get(), POLLIN, 0};
      if (p.fd < 0 || poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) break;
      if (absl::Status st = ReceiveAndHandle(); !st.ok()) return st;
    }
    const int64_t now = MonotonicNs();
    while (!deferred_.empty() && deferred_.top().at_ns <= now) {
      std::function<void()> fn = std::move(const_cast<Deferred&>(deferred_.top()).fn);
      deferred_.pop();
      fn();  // may schedule more
    }
    ArmHoldTimer();
    return absl::OkStatus();
  }

  void Send(const Notification& n, const Response& r) {
    const int listener = launched_.listener.get();
    if (r.kind == Response::Kind::kInjectFd) {
      seccomp_notif_addfd addfd{};
      addfd.id = n.id;
      addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
      addfd.srcfd = static_cast<uint32_t>(r.fd);
      addfd.newfd_flags = r.fd_flags;
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) >= 0) return;
      if (errno == ENOENT) return;  // the task is gone
      // Could not install the fd (e.g. the child hit RLIMIT_NOFILE): fail
      // the call the way the kernel would have.
      SendErrno(n, errno == EMFILE ? EMFILE : ENOMEM);
      return;
    }
    auto* resp = reinterpret_cast<seccomp_notif_resp*>(response_.data());
    memset(response_.data(), 0, response_.size());
    resp->id = n.id;
    switch (r.kind) {
      case Response::Kind::kContinue: resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; break;
      case Response::Kind::kValue: resp->val = r.value; break;
      case Response::Kind::kErrno: resp->error = -r.error; break;
      case Response::Kind::kInjectFd: break;
    }
    // ENOENT: the task died while we held its call; nothing to answer.
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
  }

  void SendErrno(const Notification& n, int error) { Send(n, Response::Errno(error)); }

  Supervisor& s_;
  Launched& launched_;
  const ResolvedCommand& command_;
  ChildMemory memory_;
  UniqueFd epoll_;
  UniqueFd signal_fd_;
  UniqueFd hold_timer_;
  std::priority_queue<Deferred, std::vector<Deferred>, std::greater<Deferred>> deferred_;
  uint64_t deferred_order_ = 0;
  LoopScheduler scheduler_{*this};
  absl::flat_hash_map<uint64_t, HeldCall> held_;  // by notification id
  bool held_poll_armed_ = false;                  // a PollHeld is scheduled
  absl::flat_hash_map<int, std::function<bool(uint32_t)>> watchers_;  // by fd
  std::vector<char> request_;
  std::vector<char> response_;
  bool root_done_ = false;
  bool killed_for_error_ = false;
  int root_status_ = 0;
};

absl::StatusOr<RunResult> Supervisor::Run(Launched& launched,
                                          const ResolvedCommand& command) {
  // Other processes of the same user must not be able to ptrace detrun,
  // read its memory or take its listener (/proc/PID/mem, pidfd_getfd).
  // Nested detrun is refused this call by the outer filter; that is fine.
  prctl(PR_SET_DUMPABLE, 0);
  Loop loop(*this, launched, command);
  return loop.Run();
}

absl::StatusOr<RunResult> Supervisor::RunNative(Launched& launched,
                                                const ResolvedCommand& command) {
  Loop loop(*this, launched, command);
  return loop.Run();
}

}  // namespace detrun
