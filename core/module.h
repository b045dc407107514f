// Modules: how determinism features plug into the confinement core.
//
// A Module (time, random, dirs, ...) declares, once at start-up, which
// syscalls it wants to see (with argument conditions, so the filter keeps
// every other case in the kernel) and a handler for each. The core merges
// all registrations into one seccomp policy and one dispatch table indexed
// by syscall number; modules never talk to each other.
//
// Life of a run:
//   1. The runner creates the modules in their fixed order and calls
//      Register() on each with a Registry.
//   2. Registry::BuildPolicy() yields the filter; Registry::BuildDispatch()
//      the table. Two modules may claim the same syscall: they are asked in
//      module order, and the first that returns a Response answers.
//   3. For each notification the supervisor calls the handlers; every
//      answer is also handed to the AnswerObservers (the recorder).
//   4. Per-process and per-thread state: a module may keep state for each
//      process/thread in the slot the core gives it (ProcessState /
//      ThreadState below); the core creates it with NewThreadState when a
//      thread is first seen and drops it when the thread exits.
#ifndef DETRUN_CORE_MODULE_H_
#define DETRUN_CORE_MODULE_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/path_pattern.h"
#include "core/process_identity.h"
#include "core/syscall_policy.h"
#include "core/unique_fd.h"

namespace detrun {

class ChildMemory;
class ProcMem;
struct OpenCall;
class LeakReport;
struct ProcessState;
struct ThreadState;

// One syscall held by the kernel until the supervisor answers it.
struct Notification {
  uint64_t id = 0;
  pid_t tid = 0;  // in detrun's pid namespace
  int nr = -1;
  uint64_t instruction_pointer = 0;
  std::array<uint64_t, 6> args{};
};

// The supervisor's answer to a Notification.
struct Response {
  enum class Kind {
    kContinue,  // let the kernel run the syscall as the child asked
    kValue,     // the syscall returns `value` without running
    kErrno,     // the syscall fails with `error` without running
    kInjectFd,  // install `fd` (ours) in the child; the syscall returns
                // its number there (SECCOMP_ADDFD_FLAG_SEND)
  };
  Kind kind = Kind::kContinue;
  int64_t value = 0;
  int error = 0;
  int fd = -1;                 // kInjectFd: our descriptor (we keep ownership)
  uint32_t fd_flags = 0;       // kInjectFd: O_CLOEXEC for the child's copy
  // >= 0: hold the call and send this answer only when the host's
  // CLOCK_MONOTONIC reaches this many nanoseconds (a sleep the supervisor
  // times, e.g. an absolute deadline the kernel could not read). The loop
  // goes on meanwhile. A signal to the held thread cancels the
  // notification; the kernel then restarts the call (a new notification)
  // or fails it with EINTR, as for any interrupted sleep.
  int64_t hold_until_ns = -1;
  // kInjectFd made by InjectOwnedFd: holds `fd` open for as long as the
  // Response (or a copy) lives, i.e. until the supervisor has sent it, and
  // closes it then. Handlers that make a descriptor for one answer use it.
  std::shared_ptr<const UniqueFd> owned_fd;

  static Response Continue() { return {}; }
  static Response Value(int64_t v) { return {Kind::kValue, v, 0, -1, 0}; }
  static Response Errno(int e) { return {Kind::kErrno, 0, e, -1, 0}; }
  static Response InjectFd(int fd, uint32_t flags) {
    return {Kind::kInjectFd, 0, 0, fd, flags};
  }
  // kInjectFd of a descriptor this Response owns (see owned_fd).
  static Response InjectOwnedFd(UniqueFd fd, uint32_t flags) {
    Response r = InjectFd(fd.get(), flags);
    r.owned_fd = std::make_shared<const UniqueFd>(std::move(fd));
    return r;
  }
  // `answer`, sent at `until_ns` (an injected fd stays open until then
  // only when it is owned).
  static Response HeldUntil(int64_t until_ns, Response answer) {
    answer.hold_until_ns = until_ns;
    return answer;
  }
};

// Runs module code later, on the supervisor's loop (so never concurrently
// with a handler).
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Calls `fn` once, when the host's CLOCK_MONOTONIC reaches `at_ns` (at
  // once if it has). Pending calls are dropped when the run ends.
  virtual void At(int64_t at_ns, std::function<void()> fn) = 0;
  // Calls `fn` with the ready events whenever `fd` (ours) is ready for
  // `events` (EPOLLIN/EPOLLOUT, level-triggered; EPOLLHUP/EPOLLERR always);
  // `fn` returns false to stop watching (the caller then closes fd).
  virtual void Watch(int fd, uint32_t events, std::function<bool(uint32_t)> fn) = 0;
  // Calls `fn` once, at thread `tid`'s next ptrace stop, which the thread
  // is made to enter now (PTRACE_INTERRUPT): while `fn` runs, the thread
  // runs nothing. A call it was blocked in is interrupted as by a signal
  // without a handler: restarted (a timed futex wait with the deadline
  // the kernel already holds), or failed with EINTR where the kernel
  // restarts nothing (epoll_wait, poll, ...). False, and `fn` dropped,
  // where detrun does not trace the thread (only --tsc=emulate|trap
  // traces every thread); `fn` is dropped if the thread ends first.
  virtual bool AtNextStop(pid_t /*tid*/, std::function<void()> /*fn*/) { return false; }
};

// Everything a handler may use to answer one notification.
struct SyscallContext {
  const Notification& notification;
  ThreadState& thread;
  ProcessState& process;
  ChildMemory& memory;
  const Config& config;
  Scheduler* scheduler = nullptr;  // null in unit tests of single handlers
  // An open-family call, decoded once for every handler of this
  // notification: DecodeOpenCall(SyscallContext&), core/child_open.h.
  std::shared_ptr<const absl::StatusOr<OpenCall>> open_call;
};

// Returns a Response to answer, or nullopt to let the next module (and
// finally the kernel: Continue) decide.
using SyscallHandler = std::function<std::optional<Response>(SyscallContext&)>;

// The content of a virtual file (Registry::ProvideFile), computed each time
// the file is opened, in the context of the open call (so /proc/uptime can
// read the opening thread's clock). An error fails that open with EIO.
using FileProvider = std::function<absl::StatusOr<std::string>(SyscallContext&)>;
// The content of one file of a family (Registry::ProvideFilePattern), given
// the canonical path the command opened ("/proc/42/status"). An error
// carrying an errno (ErrnoError, core/child_path.h) fails the open with
// that errno, as ENOENT for a process that has gone; any other with EIO.
using PatternFileProvider =
    std::function<absl::StatusOr<std::string>(SyscallContext&, const std::string& path)>;

// One entry of a directory listing (Registry::EditDirectory): what
// getdents64 reports of it.
struct DirectoryEntry {
  uint64_t ino = 0;
  uint8_t type = 0;  // DT_DIR, DT_REG, ... (DT_UNKNOWN where the file system says so)
  std::string name;
  bool operator==(const DirectoryEntry&) const = default;
};
// Edits a listing in place: given the file system's entries ("." and ".."
// included) in the file system's order, leaves the entries the command is
// to see. Where an entry stays, or is added, is the order --dirs=native
// shows; sorted and shuffle then order the result as any listing.
using DirectoryEditor = std::function<void(std::vector<DirectoryEntry>& entries)>;

// A device the command opens (/dev/urandom): a descriptor of ours to
// install for this open, given the open's flags (O_NONBLOCK, access mode).
using DeviceProvider =
    std::function<absl::StatusOr<UniqueFd>(SyscallContext&, uint64_t open_flags)>;

// A process stopped right after a successful exec, before the new image
// runs its first instruction (a ptrace PTRACE_EVENT_EXEC stop). The place to
// patch the fresh vDSO and seed AT_RANDOM.
struct ExecStop {
  pid_t pid;  // the process (thread-group id) in the stop
  ThreadState& thread;
  ProcessState& process;
  const Config& config;
  // The process's memory and auxv, shared by every module at this stop.
  ProcMem& mem;
};

// Opaque per-thread state of one module; the module downcasts it.
class ModuleState {
 public:
  virtual ~ModuleState() = default;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string_view name() const = 0;
  virtual void Register(class Registry& registry) = 0;

  // A copy of what a thread created by `creator` inherits, taken when the
  // clone is notified (so it does not depend on when the new thread is first
  // seen). nullptr: nothing to inherit.
  virtual std::unique_ptr<ModuleState> SnapshotForClone(const ThreadState& creator) {
    (void)creator;
    return nullptr;
  }

  // State for a thread first seen by the supervisor. `inherited` is this
  // module's SnapshotForClone of the clone that created it, or nullptr for
  // the run's first thread and for threads whose creation was not matched.
  virtual std::unique_ptr<ModuleState> NewThreadState(
      const ThreadState& thread, const ModuleState* inherited) {
    (void)thread;
    (void)inherited;
    return nullptr;
  }

  // Called for every notification, before any handler, with the thread
  // that made it (e.g. to apply what happened to its process meanwhile, or
  // to finish what its previous call left pending: the thread has
  // returned from that call).
  virtual void BeforeNotification(SyscallContext& ctx) { (void)ctx; }

  // Called for every notification after its handler chose the answer, just
  // before the supervisor sends (or holds) it: the thread is still stopped
  // in the call, so state the process keeps in its own memory can be
  // written back here (the step clock's page, time_module.h).
  virtual void AfterNotification(SyscallContext& ctx) { (void)ctx; }

  // A process exited (it is a zombie or already reaped); `threads` are the
  // states of its threads as they last were. Called before they are dropped.
  virtual void OnProcessExit(const ProcessState& process,
                             const std::vector<const ThreadState*>& threads) {
    (void)process;
    (void)threads;
  }

  // --tsc=emulate|trap: what a trapped rdtsc/rdtscp of `thread` reads
  // (core/tsc_trap.h); nullopt: not this module's business. The first
  // module with an answer gives it.
  virtual std::optional<uint64_t> ReadTsc(const ThreadState& thread) {
    (void)thread;
    return std::nullopt;
  }

  // Modules that return true get OnExecStop after every successful exec of
  // every process; the supervisor only pays for the ptrace stop when one
  // does.
  virtual bool WantsExecStop() const { return false; }
  // An error ends the run (exit 125 with the message): a process must never
  // run on unpatched when a module needed the stop.
  virtual absl::Status OnExecStop(ExecStop& stop) {
    (void)stop;
    return absl::OkStatus();
  }
};

// Sees every answer the supervisor gives (the trace recorder, --verbose).
// The hooks below OnAnswer are optional; for one process they come in its
// order: OnProcessStart, then its calls (OnChildWrite for each write a
// handler made into the child, then OnAnswer), OnExec after each successful
// exec, and OnProcessExit.
class AnswerObserver {
 public:
  virtual ~AnswerObserver() = default;
  virtual void OnAnswer(const ThreadState& thread,
                        const Notification& notification,
                        const Response& response,
                        std::string_view module) = 0;

  // A handler of `notification` wrote `len` bytes at `addr` in the child
  // (ChildMemory::Write): the payload of its answer, such as the time value
  // or the random bytes. Only writes made by the handlers themselves, before
  // OnAnswer of the same notification; a Continue answer's writes rewrite
  // arguments for the kernel (translated deadlines), not what it answers.
  virtual void OnChildWrite(const Notification& notification, uint64_t addr,
                            const void* data, size_t len) {
    (void)notification;
    (void)addr;
    (void)data;
    (void)len;
  }
  // A process was first seen (its first notified call, before its answer).
  virtual void OnProcessStart(const ProcessState& process) { (void)process; }
  // A process exec'd successfully and is stopped before its first
  // instruction; `argv` is its new command line (/proc/PID/cmdline).
  virtual void OnExec(const ThreadState& thread, const std::vector<std::string>& argv) {
    (void)thread;
    (void)argv;
  }
  // A process exited; `wait_status` as wait(2) reports it, when known
  // (core/process_table.h ExitWaitStatus).
  virtual void OnProcessExit(const ProcessState& process, std::optional<int> wait_status) {
    (void)process;
    (void)wait_status;
  }
};

// Collects module registrations; see the life cycle at the top of the file.
class Registry {
 public:
  struct Entry {
    int module_index;
    std::string module_name;
    std::vector<ArgMatcher> when;  // notify only when all hold (empty: always)
    SyscallHandler handler;
  };

  // Called by the runner before each module's Register().
  void BeginModule(int module_index, std::string module_name);

  // The index of the module being registered: its slot in
  // ThreadState::module_state.
  int current_module_index() const { return current_module_; }

  // The current module wants syscall `nr` (x86-64 number) when `when` holds.
  void Notify(int nr, std::vector<ArgMatcher> when, SyscallHandler handler,
              std::string reason);
  void Notify(int nr, SyscallHandler handler, std::string reason) {
    Notify(nr, {}, std::move(handler), std::move(reason));
  }

  // Syscall `nr` runs in the kernel, unnotified, when `when` holds: an
  // exception ahead of every module's Notify rule for it (the escape
  // denials still win). For calls detrun's own code makes in the child,
  // recognisable by their arguments (e.g. the vDSO stubs' own clock read).
  void Allow(int nr, std::vector<ArgMatcher> when, std::string reason);
  // Syscall `nr` fails with `error` in the kernel (the filter's own
  // SECCOMP_RET_ERRNO), never reaching the supervisor: for an answer that
  // never varies, a notification round trip saved per call. Ahead of every
  // module's Notify rule for it, like Allow.
  void Refuse(int nr, int error, std::string reason);
  // Virtual files: the current module owns the file at `canonical_path`
  // (absolute, as the kernel would name it once resolved: no "//", no "."
  // or ".." parts, no trailing '/'). Whenever the command opens that file,
  // under any name that resolves to it (relative, through symlinks, ...),
  // the core answers the open itself with a read-only descriptor holding
  // what `provider` returns at that moment (core/virtual_files.h). The
  // core registers its open handlers only when some module provides a
  // file. A malformed or twice-provided path is a programming error and
  // aborts.
  struct ProvidedFile {
    std::string path;
    std::string module_name;
    FileProvider provider;
    std::string reason;
    DeviceProvider device;  // set instead of `provider` by ProvideDevice
  };
  void ProvideFile(std::string canonical_path, FileProvider provider, std::string reason);
  // Like ProvideFile, for a character device whose content is a stream
  // (/dev/urandom): each open installs the descriptor `device` returns.
  // Unlike a file, it may be opened for writing.
  void ProvideDevice(std::string canonical_path, DeviceProvider device, std::string reason);
  const std::vector<ProvidedFile>& provided_files() const { return files_; }

  // Like ProvideFile, for every canonical path `pattern` matches
  // (core/path_pattern.h: "/proc/%d/status"); `provider` is given the path
  // opened. A file provided by its own path (ProvideFile) wins over a
  // pattern; among patterns, the first registered. A malformed or
  // twice-provided pattern is a programming error and aborts.
  struct ProvidedPattern {
    PathPattern pattern;
    std::string module_name;
    PatternFileProvider provider;
    std::string reason;
  };
  void ProvideFilePattern(std::string_view pattern, PatternFileProvider provider,
                          std::string reason);
  const std::vector<ProvidedPattern>& provided_patterns() const { return patterns_; }

  // Directory listings: the current module edits what getdents64/getdents
  // report for the directory at `canonical_path` (as for ProvideFile),
  // whatever name or descriptor the command lists it through (the
  // directory is recognised by its device and inode). The dirs module
  // (determinism/dirs_module.h) applies the edits under every --dirs mode,
  // and takes them when it registers: a module that edits directories
  // must register before it (cli/run.cc BuildModules), and one that calls
  // this after that is a programming error and aborts. Only the listing
  // changes: stat, open and the like still reach the real directory.
  struct EditedDirectory {
    std::string path;
    std::string module_name;
    DirectoryEditor editor;
    std::string reason;
  };
  void EditDirectory(std::string canonical_path, DirectoryEditor editor, std::string reason);
  // The edits registered so far; from now on EditDirectory aborts.
  const std::vector<EditedDirectory>& TakeEditedDirectories();

  // The run's leak report (core/leak_report.h), or nullptr when the run
  // does not ask for one (no --report-leaks, --strict or --record). A
  // module that lets the command observe a host fact outside a syscall
  // keeps the pointer and reports each occurrence: e.g. a trapped rdtsc,
  //   if (leaks_) leaks_->Record(LeakCategory::kRdtsc, thread.id, "rdtsc", "");
  // and, when leaks_->strict(), refuses it (then leaks_->CountRefused()).
  // Set by the supervisor before any module registers.
  LeakReport* leaks() const { return leaks_; }
  void set_leaks(LeakReport* leaks) { leaks_ = leaks; }

  // Denials and notify rules merged into one policy: `base` (escape
  // denials, --no-network) first, so a denial always wins.
  SyscallPolicy BuildPolicy(SyscallPolicy base) const;

  // Dispatch table indexed by syscall number (kMaxSyscall entries), each
  // listing the entries in module order.
  static constexpr int kMaxSyscall = 1024;
  std::vector<std::vector<Entry>> BuildDispatch() const;

 private:
  struct Pending {
    int nr;
    Entry entry;
    std::string reason;
  };
  std::vector<Pending> pending_;
  std::vector<Pending> allowed_;  // handler unused
  struct Refusal {
    int nr;
    int error;
    std::string reason;  // with the module's name
  };
  std::vector<Refusal> refused_;
  std::vector<ProvidedFile> files_;
  std::vector<ProvidedPattern> patterns_;
  std::vector<EditedDirectory> edited_directories_;
  std::string edits_taken_by_;  // the module that took them, once taken
  int current_module_ = -1;
  std::string current_name_;
  LeakReport* leaks_ = nullptr;
};

}  // namespace detrun

#endif  // DETRUN_CORE_MODULE_H_
