// ProcessTable: which process and thread each notification comes from, as
// deterministic identities (process_identity.h), and the per-thread state
// modules keep.
//
// How a new thread gets its identity. seccomp shows us a clone *before* it
// runs, never the pid it returns, so at each clone notification of process
// P we record a CloneRecord: the creation index (P's k-th child, or P's
// k-th thread) and a watermark, the last pid the kernel had allocated at
// that moment (/proc/sys/kernel/ns_last_pid). The kernel allocates pids in
// increasing order (cyclically, wrapping at pid_max), so the child of
// record k has a pid allocated after watermark k and no later than the
// watermark of P's next clone from the same thread. When a pid X we have
// never seen sends its first notification, we read its thread group and
// parent from /proc/X/status and pick, among the parent's records, the
// latest whose watermark is older than X. For one thread cloning in
// sequence (a shell, make, a thread pool being built) this is exact and
// independent of how the children were scheduled; for several threads of
// one process cloning at the same instant, the order is a real race and
// the identities follow it. A process whose parent exited before it was
// first seen is matched against the records its parent left behind
// (kept for kMaxTombstones exited processes). Never-matched processes get
// identity 0.N (N-th such), and --verbose says so.
//
// Exits: each known process gets a pidfd (and, on Linux >= 6.9, each known
// thread a PIDFD_THREAD pidfd); the supervisor polls them and calls
// OnExitReady when one fires, or, for a task it traces, when waitpid
// reports the task's end (Supervisor::exits_by_wait_).
//
// Life: construct with the modules (for per-thread state slots), SetRoot()
// with the launched pid, then Identify()/OnClone()/OnExitReady() from the
// supervisor loop. Single-threaded: the supervisor owns it.
#ifndef DETRUN_CORE_PROCESS_TABLE_H_
#define DETRUN_CORE_PROCESS_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/loader_tsc.h"
#include "core/module.h"
#include "core/process_identity.h"
#include "core/unique_fd.h"

namespace detrun {

struct CloneRecord {
  uint32_t index;      // 1-based creation index within the creator's process
  pid_t watermark;     // last allocated pid when the clone was notified
  // Per module: what the new thread inherits (Module::SnapshotForClone).
  std::vector<std::shared_ptr<const ModuleState>> inherited;
  // A task was identified as its child (ProcessTable::OnClone drops only
  // records that made none).
  mutable bool used = false;
};

struct ProcessState {
  ProcessIdentity id;
  pid_t pid = 0;   // thread-group id, in detrun's pid namespace
  pid_t ppid = 0;  // parent when first seen
  std::string last_exec;
  uint32_t children_created = 0;
  uint32_t threads_created = 0;
  std::deque<CloneRecord> child_clones;   // oldest first
  std::deque<CloneRecord> thread_clones;  // oldest first
  std::vector<pid_t> threads;             // known tids, main thread included
  UniqueFd pidfd;
  bool exited = false;
  // Its wait(2) status when detrun's own waitpid reported its end (a traced
  // process): an orphan detrun reaped as the subreaper is gone from /proc by
  // the time its exit is handled.
  std::optional<int> wait_status;
  // Where its dynamic loader's text is (--tsc=emulate; set by the
  // supervisor at each exec stop, copied to a forked child, whose memory
  // is a copy).
  LoaderText loader_text;
};

struct ThreadState {
  ThreadIdentity id;
  pid_t tid = 0;
  ProcessState* process = nullptr;
  std::vector<std::unique_ptr<ModuleState>> module_state;  // one per module
  UniqueFd pidfd;  // PIDFD_THREAD, when the kernel supports it and tid != pid
  // Its last clone's record while the clone is not known to have made a
  // task (ProcessTable::ConfirmClones): its index, and whether a thread.
  std::optional<std::pair<uint32_t, bool>> unconfirmed_clone;
};

// What the table needs to know about a live task; injectable for tests.
struct TaskInfo {
  pid_t tgid;
  pid_t ppid;  // parent process of the thread group
  // The task's pidfd when the reading opened one: a process pidfd for a
  // thread-group leader, a PIDFD_THREAD one for any other thread. The
  // table keeps it as the task's exit pidfd instead of opening another.
  UniqueFd pidfd;
};

class ProcessTable {
 public:
  struct Hooks {
    // Reads /proc/TID/status by default.
    std::function<std::optional<TaskInfo>(pid_t tid)> task_info;
    // Reads /proc/sys/kernel/ns_last_pid by default.
    std::function<pid_t()> last_pid;
    // pid_max of detrun's pid namespace.
    pid_t pid_max = 0;
    // Opens exit pidfds (false in unit tests that use fake pids).
    bool open_pidfds = true;
    // Optional: a process was first seen (its identity and main thread are
    // set), and a process exited (called before its state is dropped, its
    // pidfd still open). The supervisor passes them on to its observers.
    std::function<void(const ProcessState&)> on_process_start;
    std::function<void(const ProcessState&)> on_process_exit;
  };
  static Hooks DefaultHooks();

  ProcessTable(std::vector<Module*> modules, Hooks hooks);

  // The launched command's pid; it is identity "1".
  void SetRoot(pid_t pid);

  // The thread for `tid`, created (with its identity) on first sight.
  // Returns nullptr if the task vanished before it could be identified.
  ThreadState* Identify(pid_t tid);

  // A thread asked to clone with `flags` (CLONE_THREAD decides whether a
  // thread or a process is being created).
  void OnClone(ThreadState& creator, uint64_t flags);

  // Where every clone that makes a task is reported (the tracer's
  // PTRACE_EVENT_FORK/VFORK/CLONE stop, --tsc=emulate|trap), a clone call
  // is seen before the kernel runs it and may make no task: refused
  // (EAGAIN), or restarted because a signal came first (fork's
  // -ERESTARTNOINTR, or the notification's wait interrupted), which comes
  // back as a second notification. Then each record stays unconfirmed
  // until Confirmed(); a thread's next clone call drops its unconfirmed
  // record, unless a task was identified with it, and gives its index
  // back when no later one was handed out. Without this, the children
  // after a restarted fork were numbered one higher, depending on when a
  // signal came (a shell's SIGCHLD).
  void ConfirmClones(bool on) { confirm_clones_ = on; }
  // `creator`'s last clone made a task (its ptrace event).
  void Confirmed(pid_t creator);

  // Number of processes / threads currently tracked.
  size_t process_count() const { return processes_.size(); }
  size_t thread_count() const { return threads_.size(); }

  // Calls `fn(fd, is_thread, id)` for every exit pidfd opened since the
  // last call, so the supervisor can start polling it.
  void DrainNewPidfds(const std::function<void(int fd, pid_t id, bool thread)>& fn);

  // A pidfd fired: the thread (or, for a process pidfd, the whole process)
  // exited. Its state is dropped; a process's clone records are kept as a
  // tombstone for late-identified children. `wait_status`: what waitpid
  // reported, when detrun reaped the task itself (ExitWaitStatus).
  void OnExitReady(pid_t id, bool thread, std::optional<int> wait_status = std::nullopt);

  // Processes that could not be matched to a clone record (identity 0.N).
  uint32_t unmatched_count() const { return unmatched_; }

  static constexpr size_t kMaxRecordsPerProcess = 4096;
  static constexpr size_t kMaxTombstones = 256;

 private:
  ProcessState* IdentifyProcess(pid_t pid, pid_t ppid, UniqueFd pidfd = UniqueFd());
  ThreadState* AddThread(ProcessState& process, pid_t tid, uint32_t index,
                         const CloneRecord* record, UniqueFd pidfd = UniqueFd());
  // The record whose child `pid` must be, or nullptr.
  const CloneRecord* Match(const std::deque<CloneRecord>& records, pid_t pid,
                           pid_t now) const;
  const CloneRecord* MatchOrphan(pid_t pid, pid_t now, ProcessIdentity* parent) const;
  void RemoveThread(pid_t tid);

  std::vector<Module*> modules_;
  Hooks hooks_;
  pid_t root_pid_ = 0;
  uint32_t unmatched_ = 0;
  bool confirm_clones_ = false;
  absl::flat_hash_map<pid_t, std::unique_ptr<ProcessState>> processes_;
  absl::flat_hash_map<pid_t, std::unique_ptr<ThreadState>> threads_;
  struct Tombstone {
    ProcessIdentity id;
    std::deque<CloneRecord> child_clones;
  };
  std::deque<Tombstone> tombstones_;
  std::vector<std::tuple<int, pid_t, bool>> new_pidfds_;
};

// The wait(2) status of `process`, which has exited (its pidfd fired, or
// detrun's waitpid reported it): the status waitpid gave, else from
// /proc/PID/stat while it is a zombie, or from its pidfd once reaped
// (PIDFD_INFO_EXIT, Linux 6.15+). nullopt when none can tell (an older
// kernel and the parent reaped it first).
std::optional<int> ExitWaitStatus(const ProcessState& process);

// The thread of process `host_tgid` (a pid as detrun sees it) that calls
// itself `own_tid` in its own pid namespace (a tid a program passes in a
// syscall argument, e.g. SIGEV_THREAD_ID), from the NSpid lines of
// /proc/TGID/task/*/status; nullopt when there is none. Without a pid
// namespace the two numbers are the same.
std::optional<pid_t> HostTidOf(pid_t host_tgid, pid_t own_tid);

// The reverse: what thread `host_tid` calls itself (the last NSpid number
// of /proc/TID/status); nullopt when it is gone.
std::optional<pid_t> OwnTidOf(pid_t host_tid);

}  // namespace detrun

#endif  // DETRUN_CORE_PROCESS_TABLE_H_
