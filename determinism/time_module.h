// TimeModule: a virtual clock per thread, started at --time.
//
// Every thread has its own elapsed-time counter (VirtualClock below). A new
// thread or process starts from its creator's counter as it was at the
// clone (Module::SnapshotForClone), so parallel children see the same
// values whatever the OS scheduling, and a runtime's background threads
// reading the clock do not shift what the main thread reads. Limit: a
// thread that hands time values to another thread (a shared timestamp) is
// not ordered by this; programs whose logic depends on cross-thread clock
// comparisons still see each thread's own deterministic sequence.
//
// Every clock id reads the same counter from a fixed base:
//   REALTIME, REALTIME_COARSE, REALTIME_ALARM  --time + elapsed
//   TAI                                         --time + 37 s + elapsed
//   MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE,
//   BOOTTIME, BOOTTIME_ALARM                    kUptimeAtStart + elapsed
//   PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID and
//   other processes' CPU clocks                 elapsed
// so REALTIME - MONOTONIC is constant within a run.
//
// A parent that reaps a child moves its clock to max(own, child's), so
// `sleep 5; date` in a shell prints a time 5 s later. The child's final
// clock is noted when it exits; the parent absorbs it at its first
// notification after the child was reaped (its pidfd then says ESRCH). The
// thread making that notification is the one moved (exact for the usual
// single-threaded waiter). Children auto-reaped because the parent ignores
// SIGCHLD are absorbed whenever that is noticed; threads joining threads do
// not move each other's clocks.
//
// Modes (--clock):
//   step    every read returns the current value, then advances the thread's
//           counter by --tick; sleeps return at once and move the counter to
//           their deadline.
//   frozen  every read returns the start exactly; sleeps return at once and
//           the clock never moves (a program waiting for time to pass by
//           polling the clock waits forever: use step).
//   real    start + real elapsed time; relative sleeps really sleep.
//
// The vDSO entry points are redirected to the syscalls by the vdso module,
// so this module sees every read.
//
// Accounting calls answer from the same counter (never the host's figures):
//   times(buf)        returns the MONOTONIC uptime (kUptimeAtStart +
//                     elapsed) in clock ticks (USER_HZ = 100, what
//                     sysconf(_SC_CLK_TCK) says on x86-64); tms_utime is the
//                     process CPU time (elapsed, as the CPU-time clocks
//                     read) in ticks; tms_stime = 0. tms_cutime and
//                     tms_cstime read 0: reaped children's CPU time is not
//                     accumulated (a parent's clock absorbs a child's, but
//                     the "children" figures stay 0). times() is a clock
//                     read: in step mode it advances the thread's counter
//                     by one tick, like clock_gettime, so a loop waiting
//                     for times() to move terminates. NULL buf allowed.
//   getrusage(who)    RUSAGE_SELF and RUSAGE_THREAD: ru_utime = the CPU
//                     time (what CLOCK_PROCESS_CPUTIME_ID would read, without
//                     advancing), ru_stime = 0, and EVERY other field 0 --
//                     ru_maxrss, page faults (minflt/majflt), block I/O and
//                     context switches (nvcsw/nivcsw) read 0 under detrun:
//                     the host's figures are not deterministic, and a
//                     program that prints them prints zeros.
//                     RUSAGE_CHILDREN: all zeros (as tms_cutime). Any other
//                     `who` (including glibc's RUSAGE_BOTH): EINVAL.
//                     wait4/waitid's rusage argument is not rewritten (yet):
//                     it still carries the host's figures for the child.
//   sysinfo(info)     uptime = the virtual MONOTONIC uptime in seconds,
//                     rounded up as the kernel does; loads 0; the fixed
//                     machine figures of SysinfoFigures below. Not a clock
//                     read: it never advances the counter.
// Every one of them fails with EFAULT on a bad pointer, as the kernel does.
#ifndef DETRUN_DETERMINISM_TIME_MODULE_H_
#define DETRUN_DETERMINISM_TIME_MODULE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/config.h"
#include "core/module.h"
#include "core/unique_fd.h"
#include "determinism/kernel_time.h"
#include "vdso/vdso_patch.h"

namespace detrun {

// The machine sysinfo(2) describes under detrun: fixed, host-independent
// figures, the one place they are defined. The procfs module's
// /proc/meminfo (MemTotal, MemFree, Buffers, Shmem, SwapTotal, SwapFree,
// HighTotal, HighFree) must be derived from these, so that `free` and a
// program calling sysinfo() agree. With mem_unit = 1 every figure is in
// bytes.
struct SysinfoFigures {
  static constexpr uint64_t kTotalRam = uint64_t{8} << 30;  // 8 GiB
  static constexpr uint64_t kFreeRam = uint64_t{4} << 30;   // 4 GiB
  static constexpr uint64_t kSharedRam = 0;
  static constexpr uint64_t kBufferRam = 0;
  static constexpr uint64_t kTotalSwap = 0;
  static constexpr uint64_t kFreeSwap = 0;
  static constexpr uint16_t kProcs = 1;  // the kernel counts threads system-wide
  static constexpr uint64_t kTotalHigh = 0;
  static constexpr uint64_t kFreeHigh = 0;
  static constexpr uint32_t kMemUnit = 1;
  // Load averages (loads[0..2]) are all 0.
};

class TimeModule : public Module {
 public:
  // Monotonic and boot-time clocks read this much at the start of a run:
  // not 0, which some programs take for "unset".
  static constexpr int64_t kUptimeAtStartNs = 100'000'000'000;  // 100 s
  static constexpr int64_t kTaiOffsetNs = 37'000'000'000;
  // Clock ticks per second of times(2) and struct tms: the kernel's USER_HZ
  // on x86-64 (sysconf(_SC_CLK_TCK)).
  static constexpr int64_t kUserHz = 100;

  explicit TimeModule(const Config& config);

  std::string_view name() const override { return "time"; }
  void Register(Registry& registry) override;
  std::unique_ptr<ModuleState> SnapshotForClone(const ThreadState& creator) override;
  std::unique_ptr<ModuleState> NewThreadState(const ThreadState& thread,
                                              const ModuleState* inherited) override;

  // In --clock=frozen, what each clock id reads, for the vDSO to answer
  // clock_gettime, gettimeofday and time in-process (exact: a frozen clock
  // is the same constant for every thread); nullopt in the other modes.
  std::optional<ConstantClocks> FrozenVdsoClocks() const;
  // In --clock=real, each clock id as host CLOCK_MONOTONIC + an offset, for
  // the vDSO to answer clock_gettime in-process (exact: real mode has no
  // per-thread state); nullopt in the other modes.
  std::optional<OffsetClocks> RealVdsoClocks() const;

  // --tsc=emulate|trap: a trapped rdtsc/rdtscp reads the thread's
  // CLOCK_MONOTONIC as a 1 GHz counter. In step mode each read is one tick
  // past the thread's previous one (so a loop waiting for the counter to
  // move ends) but does not move the clocks themselves: glibc's loader
  // reads the counter 8 times per exec, and a program's first clock read
  // must still be one tick after the start.
  std::optional<uint64_t> ReadTsc(const ThreadState& thread) override;

  // The value of `clock_id` for `thread` without advancing it; nullopt for
  // an invalid clock id (what times/getrusage/sysinfo report).
  std::optional<int64_t> Peek(const ThreadState& thread, int64_t clock_id) const;

 private:
  struct VirtualClock : ModuleState {
    ~VirtualClock() override;
    // Set for a live thread's clock (not for clone snapshots): the timers
    // it drives find it through owner->clocks_.
    TimeModule* owner = nullptr;
    pid_t tid = 0;
    int64_t elapsed_ns = 0;  // virtual time this thread has seen pass
    // The last value a trapped rdtsc read (ReadTsc); INT64_MIN: none yet.
    int64_t tsc_ns = INT64_MIN;
    // The earliest deadline of the timers this thread's clock drives
    // (time_timers.cc); INT64_MAX: none.
    int64_t next_timer_ns = INT64_MAX;
    // A timed wait the kernel is running for this thread (step mode; see
    // time_waits.cc): wait_timeout_ns of real time from wait_start_ns
    // (host CLOCK_MONOTONIC; -1: none), when the thread had been on a CPU
    // or waiting for one for wait_start_cpu_ns (/proc/TID/schedstat; -1:
    // unknown). If it then slept the whole timeout, its clock moves to
    // wait_virtual_deadline_ns when it is next seen.
    int64_t wait_start_ns = -1;
    int64_t wait_timeout_ns = 0;
    int64_t wait_start_cpu_ns = -1;
    int64_t wait_virtual_deadline_ns = 0;
    // In-process step clock (see "The clock page" below): this thread has
    // its slot in its process's page, and what the slot held when last
    // read or written by the supervisor.
    bool in_page = false;
    pid_t own_tid = 0;  // the tid the program knows the thread by (its slot's key)
    int64_t page_elapsed_ns = 0;
    int64_t page_limit_ns = 0;
    // Set by a wait for a child: the next read must come to the supervisor,
    // which absorbs the reaped child's clock first (BeforeNotification).
    bool sync_next_read = false;
    // Set while this thread waits in the notification being handled and
    // its slot has not been read back yet: ClockOf() reads it at first use
    // (most notifications, a stat or an open, never use the clock; each
    // read back is a process_vm_readv and a validity check, about 1.5 µs).
    bool pull_pending = false;
  };
  // An absolute deadline rewritten in the child's memory in host terms for
  // the kernel, to be put back when the thread is next seen.
  struct Rewrite {
    pid_t tgid;
    uint64_t addr;
    KernelTimespec original;
    KernelTimespec written;
    uint64_t seq;  // tells this rewrite from a later one of the same thread
    // Interrupted, the call restarts with the deadline the kernel copied
    // (FUTEX_WAIT_BITSET's restart block), never reading the struct again.
    bool restart_keeps_deadline;
  };
  // The thread's clock, read back from its slot first if that is pending
  // (pull_pending): what every use of the clock goes through.
  VirtualClock& ClockOf(const ThreadState& thread) const;
  // The same without the read back, for its flags only (never elapsed_ns).
  VirtualClock& RawClockOf(const ThreadState& thread) const;
  std::optional<int64_t> Base(int64_t clock_id) const;
  // Reads `clock_id` (advancing the clock in step mode).
  std::optional<int64_t> Read(const ThreadState& thread, int64_t clock_id);
  int64_t Elapsed(const VirtualClock& clock) const;

  std::optional<Response> ClockGettime(SyscallContext& ctx);
  std::optional<Response> Gettimeofday(SyscallContext& ctx);
  std::optional<Response> Time(SyscallContext& ctx);
  std::optional<Response> ClockGetres(SyscallContext& ctx);
  std::optional<Response> Nanosleep(SyscallContext& ctx);
  std::optional<Response> ClockNanosleep(SyscallContext& ctx);
  std::optional<Response> Times(SyscallContext& ctx);
  std::optional<Response> Getrusage(SyscallContext& ctx);
  std::optional<Response> Sysinfo(SyscallContext& ctx);
  // adjtimex(buf) and clock_adjtime(CLOCK_REALTIME, buf) at `buf`: a read
  // answers an unsynchronized clock at the virtual time; an adjustment is
  // refused.
  std::optional<Response> Adjtimex(SyscallContext& ctx, uint64_t buf);
  std::optional<Response> ClockAdjtime(SyscallContext& ctx);
  // Moves the clock forward to `elapsed` (step mode) for a sleep.
  void SleepUntil(const ThreadState& thread, int64_t elapsed);
  // A step-mode sleep of the calling thread to `target` (elapsed terms):
  // returns at once, unless a timer this thread drives expires first with
  // a signal that interrupts it (then EINTR at the timer's deadline, with
  // the time left written to `rem_addr` when non-zero).
  Response SleepTo(SyscallContext& ctx, int64_t target, uint64_t rem_addr);

  // Timers (time_timers.cc).
  struct VirtualTimer;
  struct TimerKey {
    pid_t tgid;
    int kind;  // VirtualTimer::Kind
    int64_t id;
    bool operator==(const TimerKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const TimerKey& k) {
      return H::combine(std::move(h), k.tgid, k.kind, k.id);
    }
  };
  void RegisterTimers(Registry& registry);
  std::optional<Response> Alarm(SyscallContext& ctx);
  std::optional<Response> Setitimer(SyscallContext& ctx);
  std::optional<Response> Getitimer(SyscallContext& ctx);
  std::optional<Response> TimerCreate(SyscallContext& ctx);
  std::optional<Response> TimerSettime(SyscallContext& ctx);
  std::optional<Response> TimerGettime(SyscallContext& ctx);
  std::optional<Response> TimerGetoverrun(SyscallContext& ctx);
  std::optional<Response> TimerDelete(SyscallContext& ctx);
  std::optional<Response> TimerfdSettime(SyscallContext& ctx);
  std::optional<Response> TimerfdGettime(SyscallContext& ctx);
  // The POSIX timer `id` of the calling process, or null.
  std::shared_ptr<VirtualTimer> PosixTimer(SyscallContext& ctx, int64_t id);
  // The timer behind the caller's timerfd `fd`; an errno when `fd` is not
  // a timerfd.
  std::shared_ptr<VirtualTimer> Timerfd(SyscallContext& ctx, int fd, int* error);
  // Arms (value > 0) or disarms `timer` from the caller's point of view:
  // `value_ns` is relative, or absolute on the timer's clock.
  void Arm(SyscallContext& ctx, VirtualTimer& timer, int64_t value_ns, bool absolute,
           int64_t interval_ns);
  // What the caller reads for `timer`: {time left (0: disarmed), interval}.
  std::pair<int64_t, int64_t> Remaining(const ThreadState& thread, const VirtualTimer& timer) const;
  // Fires the timers `clock` drives whose deadline it has reached.
  void FireDue(VirtualClock& clock);
  // Fires `timer` at virtual time `now` (at its deadline when `forced`
  // and `now` is earlier): counts expirations, re-arms, delivers after
  // the current answer.
  void FireTimer(const std::shared_ptr<VirtualTimer>& timer, int64_t now, bool forced);
  // Schedules the real-time fallback: the timer fires when as much real
  // time has passed as virtual time was left, if nothing moved the virtual
  // clock there first (a program blocked in pause(), read(timerfd), ...).
  void ScheduleFallback(const std::shared_ptr<VirtualTimer>& timer);
  void RecomputeNextTimer(pid_t driver);
  // The virtual "now" a timer is measured against: its driving thread's.
  int64_t TimerNow(const VirtualTimer& timer) const;
  void DropTimersOf(pid_t tgid, bool exec_only);
  absl::Status OnExecStop(ExecStop& stop) override;
  bool WantsExecStop() const override { return true; }

  absl::flat_hash_map<TimerKey, std::shared_ptr<VirtualTimer>> timers_;
  // Timerfds by (process, its fd number), pointing at the key above.
  absl::flat_hash_map<std::pair<pid_t, int>, TimerKey> timerfd_index_;
  absl::flat_hash_map<pid_t, int64_t> next_posix_timer_id_;  // by process
  absl::flat_hash_map<pid_t, VirtualClock*> clocks_;         // live threads, by tid
  Scheduler* scheduler_ = nullptr;                           // the run's, once seen
  uint64_t timer_generation_ = 0;

  // Timed waits (time_waits.cc).
  void RegisterWaits(Registry& registry);
  // The kernel waits `timeout_ns` of real time; note where the clock goes
  // if it times out.
  std::optional<Response> RelativeWait(SyscallContext& ctx, int64_t timeout_ns);
  // The kernel waits until the absolute deadline at `addr` on `clock`
  // (CLOCK_REALTIME or CLOCK_MONOTONIC), which is in virtual terms.
  // `fail_if_past`: a deadline already reached fails with ETIMEDOUT
  // without running the call.
  // `restart_keeps_deadline`: see Rewrite.
  std::optional<Response> AbsoluteWait(SyscallContext& ctx, uint64_t addr, int64_t clock,
                                       bool fail_if_past = false,
                                       bool restart_keeps_deadline = false);
  std::optional<Response> Futex(SyscallContext& ctx);
  // The thread is back from its previous call: apply a timeout, put back a
  // rewritten deadline.
  void FinishWait(SyscallContext& ctx);
  // Notes a wait of `timeout_ns` real time whose deadline is
  // `virtual_deadline` (elapsed terms), started at host CLOCK_MONOTONIC
  // `start_ns` (-1: now).
  void NoteWait(SyscallContext& ctx, int64_t timeout_ns, int64_t virtual_deadline,
                int64_t start_ns = -1);
  // Puts a rewritten deadline back as soon as the kernel has read it (the
  // thread sleeps in the call), polling with back-off from `attempt`.
  void RestoreWhenBlocked(Scheduler& scheduler, pid_t tid, uint64_t seq, int attempt);
  // Puts rewrite `seq` of `tid` back if it is still pending (then true)
  // and the struct still holds what we wrote. Safe only while the thread
  // cannot run: stopped, or blocked in an intercepted call; or asleep, at
  // the risk RestoreWhenBlocked describes.
  bool PutBack(pid_t tid, uint64_t seq);
  // The same while the thread is blocked in notification `id`.
  bool PutBack(pid_t tid, uint64_t seq, const ChildMemory& memory, uint64_t id);
  // PutBack at a ptrace stop that interrupted the thread's wait.
  void PutBackInStop(Scheduler& scheduler, pid_t tid, uint64_t seq);
  // Retakes the asleep snapshot once the restarted wait sleeps.
  void SnapshotWhenBackAsleep(Scheduler& scheduler, pid_t tid, uint64_t seq, int attempt);
  // Threads whose wait a stop restarted, until they sleep in it again:
  // the rewrite's seq.
  absl::flat_hash_map<pid_t, uint64_t> restarted_waits_;
  void ScheduleRestore(Scheduler& scheduler, pid_t tid, uint64_t seq, int attempt);
  // By tid.
  absl::flat_hash_map<pid_t, Rewrite> rewrites_;
  uint64_t rewrite_seq_ = 0;
  // For a thread in a rewritten (absolute) wait: its schedstat sum when
  // the supervisor first saw it asleep in the wait (RestoreWhenBlocked).
  // Then it woke at about "now less what it has been on a CPU or runnable
  // since", whatever delayed it before it slept (FinishWait).
  absl::flat_hash_map<pid_t, int64_t> asleep_cpu_ns_;

  void BeforeNotification(SyscallContext& ctx) override;
  void AfterNotification(SyscallContext& ctx) override;

  // The clock page (--clock=step without --record): each process that
  // reads its clocks gets a page at kClockPageAddr (vdso/vdso_patch.h)
  // with one slot per thread, and the vDSO stub answers reads from the
  // slot without a round trip to the supervisor. The slot is the truth
  // while the thread runs; the supervisor reads it back (PullFromPage) in
  // a notification of the thread that uses the clock, at that first use
  // (ClockOf; pull_pending), and writes it (PushToPage) before it answers
  // (only the limit where the clock was not used). `limit_ns` in the slot is
  // where in-process answers stop (PageLimit): the next timer deadline,
  // or at once while the supervisor must see the next read (a timed wait
  // to finish, a rewritten deadline to put back, a reaped child to
  // absorb). Set up lazily: the first read of a process that has no page
  // asks the stub to map it (kStepStubSetup).
  struct ClockPage {
    enum State {
      kUnknown,    // not looked at yet
      kAbsent,     // nothing mapped there: may be set up
      kSettingUp,  // the stub was asked to map it
      kReady,      // ours and this process's: slots may be handed out
      kUnusable,   // shared with another process (vfork, CLONE_VM), or
                   // the program's own memory, or setup failed
    };
    State state = kUnknown;
    std::array<pid_t, kClockPageSlots> owners{};  // tid per slot; 0: free
  };
  ClockPage& ResolvePage(SyscallContext& ctx);
  // Hands `thread` its slot when the page is ready and the slot is free.
  void RegisterInPage(SyscallContext& ctx, ClockPage& page);
  // The step stub reported its mmap (kStepStubSetupDone).
  Response FinishPageSetup(SyscallContext& ctx);
  // Reads `clock`'s slot back, when it has one; `ctx`: the notification its thread waits
  // in (checked still pending after the read), or nullptr at a ptrace
  // stop or for a thread that is not stopped.
  void PullFromPage(SyscallContext* ctx, VirtualClock& clock) const;
  // Writes what changed in the slot: the limit, and with `with_elapsed`
  // the elapsed time too, which only a thread that is not answering from
  // its slot meanwhile may have written (stopped in `ctx`, the
  // notification checked still pending first, or blocked). A thread that
  // may be running (timers driven by another thread) gets the limit only.
  void PushToPage(SyscallContext* ctx, VirtualClock& clock, bool with_elapsed);
  int64_t PageLimit(const VirtualClock& clock) const;
  // Frees the slot of a thread that is leaving (exit).
  void LeavePage(SyscallContext& ctx, VirtualClock& clock);
  absl::flat_hash_map<pid_t, ClockPage> pages_;  // by process
  void OnProcessExit(const ProcessState& process,
                     const std::vector<const ThreadState*>& threads) override;
  struct ExitedChild {
    UniqueFd pidfd;  // -1 when it was already reaped at exit time
    int64_t final_elapsed_ns;
  };
  // By parent pid: children that exited and whose clocks the parent has not
  // absorbed yet.
  absl::flat_hash_map<pid_t, std::vector<ExitedChild>> unabsorbed_;
  // Processes whose main thread we know and that have not exited.
  absl::flat_hash_set<pid_t> live_processes_;

  const Config config_;
  const int64_t start_ns_;
  const int64_t tick_ns_;
  const int64_t real_start_ns_;  // CLOCK_MONOTONIC when the run began
  const bool page_clocks_;       // the clock page is in use
  int slot_ = -1;                // this module's index in module_state
  // The notification being handled, between BeforeNotification and
  // AfterNotification (for ClockOf's deferred read back); else nullptr.
  SyscallContext* current_ = nullptr;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_TIME_MODULE_H_
