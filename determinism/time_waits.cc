// Timed waits: blocking calls with a timeout (the time module's part; see
// time_module.h for the clocks).
//
// The calls still really wait in the kernel, so another thread or process
// can wake them; only their deadlines are in virtual terms:
//
//   relative timeouts   poll, epoll_wait, epoll_pwait (ms), select (timeval),
//                       pselect6, ppoll, epoll_pwait2, rt_sigtimedwait,
//                       semtimedop, futex FUTEX_WAIT (timespec)
//     The kernel waits that long in real time; nothing to translate. In
//     step mode the supervisor notes the deadline; when the thread is next
//     seen (its next intercepted call, e.g. the clock read that follows)
//     and it slept for the whole timeout (real time less its CPU and
//     run-queue time, from /proc/TID/schedstat), the wait timed out and its
//     clock jumps to the deadline. A thread woken early keeps its clock
//     however long it computes afterwards, so the clock never depends on
//     the host's speed or load. (Limit: a thread woken early that then
//     blocks in a call detrun does not see, longer than the timeout, is
//     taken for timed out.) So a Go or Node timer loop
//     (wait with the time left, read the clock, compare) ends after one
//     wait instead of creeping forward a tick per round. In frozen and real
//     modes relative waits are not even intercepted.
//
//   absolute deadlines  futex FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI,
//                       FUTEX_LOCK_PI2 (MONOTONIC, or REALTIME with
//                       FUTEX_CLOCK_REALTIME), FUTEX_LOCK_PI (REALTIME),
//                       futex_waitv (its clock argument), mq_timedsend and
//                       mq_timedreceive (REALTIME)
//     The deadline was computed from the virtual clock (pthread_cond_timedwait
//     with now + 1 s, a JVM park), so the kernel must not read it as a host
//     time: it would time out at once (a past --time) or wait for years (a
//     future one). The supervisor cannot change a syscall's arguments, so it
//     writes the same deadline in host terms (host clock now + the virtual
//     time left) into the caller's timespec, lets the call run, and puts the
//     original back as soon as the kernel has read it: when the thread is
//     seen asleep in the call (/proc/TID/stat and wchan, polled from 50 µs
//     after the answer with back-off), or at its next intercepted call,
//     whichever comes first. So the usual `deadline += period` after the
//     wait works on the original. A second thread that passes the same
//     struct meanwhile is recognised (it holds a value we wrote) and gets
//     the original. Limit: a wait that returns before it ever sleeps (the
//     futex word already changed) or within the first poll leaves the
//     host-terms deadline in the struct until the thread's next
//     intercepted call (usually its next clock read); a program reading
//     its deadline back in that window sees it. A deadline already past is
//     not rewritten at all for futex waits: the call fails with ETIMEDOUT
//     at once, as the kernel's would. A deadline in read-only memory cannot
//     be rewritten and goes to the kernel as is.
//     In step mode the clock jumps to the deadline on a timeout, as above,
//     with one difference: a host deadline does not wait for a thread that
//     a loaded host delays before it sleeps, so where the supervisor saw
//     the thread asleep (the put-back's poll) the wait timed out if the
//     thread woke (now less its CPU and run-queue time since it was seen
//     asleep) at or after the deadline.
//     Put-back while the thread sleeps (RestoreWhenBlocked): it checks
//     that the thread sleeps, then reads the 16 bytes and writes them back
//     if they still hold what we wrote. A thread woken in that gap can
//     have returned and reused the stack slot, which the write would then
//     corrupt (rare: the gap is a few syscalls of the supervisor, longer if
//     the host preempts it; one unexplained SIGSEGV of an 8-thread Python
//     program, whose GIL waits are such waits, in CI's sanitizer soak is
//     the only sighting that might have been it). So where detrun traces
//     every thread (--tsc=emulate|trap, the default) and the wait is a
//     FUTEX_WAIT_BITSET (pthread_cond_timedwait, sem_timedwait, timed
//     mutex locks, JVM parks), the thread asleep in a futex is interrupted
//     into a ptrace stop (PTRACE_INTERRUPT) and the put-back happens while
//     it is stopped, when it runs nothing. Its wait then restarts through
//     restart_syscall with the host-terms deadline the kernel copied at
//     entry and never reads the struct again. (Cost: a ptrace stop per
//     such wait. A thread that woke in the gap and blocked in epoll_wait,
//     poll or the like would see EINTR, as after SIGSTOP/SIGCONT; that
//     gap is the same few syscalls.) The other absolute waits (the PI lock
//     commands, FUTEX_WAIT_REQUEUE_PI, futex_waitv, mq_timed*) restart by
//     running the call again, which would read the struct, now the
//     original, as a host time: they keep the unstopped put-back and its
//     hazard, as do all waits with --tsc=native. The safe design for those
//     changes the call instead of the memory: SECCOMP_RET_TRACE, the
//     timeout pointer in r10 pointed at a host-terms copy the kernel reads
//     at entry.
//
// Timeouts of 0 (poll) and negative or absent ones (wait forever) are not
// intercepted: the filter checks the arguments, so those stay in the kernel.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/time_module.h"

namespace detrun {
namespace {

constexpr uint32_t kFutexCmdMask = ~static_cast<uint32_t>(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
constexpr uint32_t kSignBit = 0x80000000u;

// How a relative timeout is passed.
enum class TimeoutKind { kMilliseconds, kTimeval, kTimespec };

struct RelativeWaitCall {
  int nr;
  int arg;
  TimeoutKind kind;
};

constexpr RelativeWaitCall kRelativeWaits[] = {
    {SYS_poll, 2, TimeoutKind::kMilliseconds},
    {SYS_epoll_wait, 3, TimeoutKind::kMilliseconds},
    {SYS_epoll_pwait, 3, TimeoutKind::kMilliseconds},
    {SYS_select, 4, TimeoutKind::kTimeval},
    {SYS_pselect6, 4, TimeoutKind::kTimespec},
    {SYS_ppoll, 2, TimeoutKind::kTimespec},
    {SYS_epoll_pwait2, 3, TimeoutKind::kTimespec},
    {SYS_rt_sigtimedwait, 2, TimeoutKind::kTimespec},
    {SYS_semtimedop, 3, TimeoutKind::kTimespec},
};

// The timeout in nanoseconds, or nullopt when the kernel will reject it
// (bad pointer, out-of-range fields): the kernel then reports the error.
std::optional<int64_t> ReadRelativeTimeout(SyscallContext& ctx, const RelativeWaitCall& call) {
  const uint64_t arg = ctx.notification.args[call.arg];
  if (call.kind == TimeoutKind::kMilliseconds) {
    return int64_t{static_cast<int32_t>(arg)} * 1'000'000;
  }
  KernelTimespec ts;
  if (!ctx.memory.Read(ctx.notification.id, ctx.notification.tid, arg, &ts, sizeof ts).ok()) {
    return std::nullopt;
  }
  // timeval and timespec share the layout; only the unit differs.
  const int64_t unit = call.kind == TimeoutKind::kTimeval ? 1000 : 1;
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec * unit >= kNsPerSec ||
      ts.tv_sec > kMaxTimespecSeconds) {
    return std::nullopt;
  }
  return ts.tv_sec * kNsPerSec + ts.tv_nsec * unit;
}

// A polling schedule: attempt k waits first_ns << k, at most max_ns.
struct Backoff {
  int64_t first_ns;
  int64_t max_ns;
  int attempts;
};

// Runs `fn` on the loop after attempt `attempt`'s delay; false (and `fn`
// dropped) once the schedule's attempts are used up.
bool PollLater(Scheduler& scheduler, const Backoff& backoff, int attempt,
               std::function<void()> fn) {
  if (attempt >= backoff.attempts) return false;
  const int64_t delay = std::min(backoff.first_ns << std::min(attempt, 20), backoff.max_ns);
  scheduler.At(RealMonotonicNs() + delay, std::move(fn));
  return true;
}

// Reads /proc/TID/`name` into `buf` (NUL-terminated): its length, or -1
// when it cannot be read (the thread is gone).
ssize_t ReadTaskFile(pid_t tid, const char* name, char* buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", tid, name);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t len = read(fd, buf, size - 1);
  close(fd);
  if (len < 0) return -1;
  buf[len] = '\0';
  return len;
}

// The state letter of /proc/TID/stat ('S', 'D', 'R', ...); 0 when gone,
// '?' when unreadable.
char TaskState(pid_t tid) {
  char buf[512];
  if (ReadTaskFile(tid, "stat", buf, sizeof buf) <= 0) return 0;
  const char* paren = strrchr(buf, ')');
  return paren == nullptr || paren[1] != ' ' ? '?' : paren[2];
}

// Whether thread `tid` sleeps in a syscall other than the seccomp wait
// (so the kernel has read its arguments): nullopt when it is gone.
// `in_futex`, if given: whether the sleep is a futex wait (wchan
// futex_do_wait on 6.x, futex_wait_queue_me before).
std::optional<bool> SleepsInKernel(pid_t tid, bool* in_futex = nullptr) {
  const char state = TaskState(tid);
  if (state == 0 || state == 'Z' || state == 'X') return std::nullopt;
  if (state != 'S' && state != 'D') return false;
  char buf[512];
  const ssize_t len = ReadTaskFile(tid, "wchan", buf, sizeof buf);
  if (len < 0) return std::nullopt;
  if (len == 0) return false;
  // "0" when the kernel hides it; "seccomp_do_user_notification..." while
  // the call still waits for our answer.
  if (in_futex != nullptr) *in_futex = strncmp(buf, "futex", 5) == 0;
  return strcmp(buf, "0") != 0 && strncmp(buf, "seccomp", 7) != 0;
}

// Whether thread `tid` sleeps in restart_syscall (a wait resumed after a
// stop): /proc/TID/stat and /proc/TID/syscall.
bool AsleepInRestartedCall(pid_t tid) {
  char buf[512];
  return TaskState(tid) == 'S' && ReadTaskFile(tid, "syscall", buf, sizeof buf) > 0 &&
         strtol(buf, nullptr, 10) == SYS_restart_syscall;
}

// How long thread `tid` has been on a CPU plus waiting in a run queue, in
// ns (the first two fields of /proc/TID/schedstat); -1 when unknown.
int64_t OnCpuOrRunnableNs(pid_t tid) {
  char buf[128];
  if (ReadTaskFile(tid, "schedstat", buf, sizeof buf) <= 0) return -1;
  unsigned long long run = 0, wait = 0;
  if (sscanf(buf, "%llu %llu", &run, &wait) != 2) return -1;
  return static_cast<int64_t>(run + wait);
}

}  // namespace

void TimeModule::RegisterWaits(Registry& registry) {
  if (config_.clock == ClockMode::kStep) {
    for (const RelativeWaitCall& call : kRelativeWaits) {
      std::vector<ArgMatcher> when;
      if (call.kind == TimeoutKind::kMilliseconds) {
        // > 0: not 0 (no wait) and not negative (forever).
        when = {ArgMatcher::Ne32(call.arg, 0), ArgMatcher::NoBits32(call.arg, kSignBit)};
      } else {
        when = {ArgMatcher::Ne64(call.arg, 0)};  // NULL: forever
      }
      registry.Notify(
          call.nr, std::move(when),
          [this, call](SyscallContext& ctx) -> std::optional<Response> {
            std::optional<int64_t> timeout = ReadRelativeTimeout(ctx, call);
            if (!timeout) return std::nullopt;
            return RelativeWait(ctx, *timeout);
          },
          "a timed-out wait moves the virtual clock to its deadline");
    }
  }
  // futex: only the waiting commands with a timeout; wakes and untimed
  // waits (the hot path of every mutex) stay in the kernel.
  const bool step = config_.clock == ClockMode::kStep;
  for (uint32_t cmd : {FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI,
                       FUTEX_LOCK_PI2}) {
    if (cmd == FUTEX_WAIT && !step) continue;  // relative: nothing to do
    registry.Notify(SYS_futex,
                    {ArgMatcher::MaskedEq32(1, kFutexCmdMask, cmd), ArgMatcher::Ne64(3, 0)},
                    [this](SyscallContext& ctx) { return Futex(ctx); },
                    "timed futex waits: virtual deadlines, timeouts move the clock");
  }
  registry.Notify(SYS_futex_waitv, {ArgMatcher::Ne64(3, 0)},
                  [this](SyscallContext& ctx) {
                    return AbsoluteWait(ctx, ctx.notification.args[3],
                                        static_cast<int32_t>(ctx.notification.args[4]));
                  },
                  "absolute futex_waitv deadlines are virtual");
  for (int nr : {SYS_mq_timedsend, SYS_mq_timedreceive}) {
    registry.Notify(nr, {ArgMatcher::Ne64(4, 0)},
                    [this](SyscallContext& ctx) {
                      return AbsoluteWait(ctx, ctx.notification.args[4], CLOCK_REALTIME);
                    },
                    "absolute message-queue deadlines are virtual");
  }
}

std::optional<Response> TimeModule::Futex(SyscallContext& ctx) {
  const uint32_t op = static_cast<uint32_t>(ctx.notification.args[1]);
  const uint32_t cmd = op & kFutexCmdMask;
  const uint64_t timeout = ctx.notification.args[3];
  if (cmd == FUTEX_WAIT) {
    const RelativeWaitCall call{SYS_futex, 3, TimeoutKind::kTimespec};
    std::optional<int64_t> ns = ReadRelativeTimeout(ctx, call);
    if (!ns) return std::nullopt;
    return RelativeWait(ctx, *ns);
  }
  const bool realtime = cmd == FUTEX_LOCK_PI || (op & FUTEX_CLOCK_REALTIME) != 0;
  // Plain waits whose deadline has passed fail at once; the lock commands
  // still try the lock first, in the kernel.
  const bool fail_if_past = cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAIT_REQUEUE_PI;
  // The lock commands and FUTEX_WAIT_REQUEUE_PI restart by running the
  // call again (-ERESTARTNOINTR), which would read the struct again.
  const bool restart_keeps_deadline = cmd == FUTEX_WAIT_BITSET;
  return AbsoluteWait(ctx, timeout, realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, fail_if_past,
                      restart_keeps_deadline);
}

std::optional<Response> TimeModule::RelativeWait(SyscallContext& ctx, int64_t timeout_ns) {
  if (config_.clock != ClockMode::kStep || timeout_ns <= 0) return std::nullopt;
  NoteWait(ctx, timeout_ns, SatAdd(ClockOf(ctx.thread).elapsed_ns, timeout_ns));
  return Response::Continue();
}

std::optional<Response> TimeModule::AbsoluteWait(SyscallContext& ctx, uint64_t addr,
                                                 int64_t clock_id, bool fail_if_past,
                                                 bool restart_keeps_deadline) {
  if (clock_id != CLOCK_REALTIME && clock_id != CLOCK_MONOTONIC) return std::nullopt;
  const Notification& n = ctx.notification;
  KernelTimespec value;
  if (!ctx.memory.Read(n.id, n.tid, addr, &value, sizeof value).ok()) return std::nullopt;
  // A struct still holding what we wrote for another thread's wait: its
  // deadline is that wait's original.
  const pid_t tgid = ctx.process.pid;
  for (const auto& [tid, r] : rewrites_) {
    if (r.tgid == tgid && r.addr == addr && r.written == value) {
      value = r.original;
      break;
    }
  }
  if (value.tv_sec < 0 || value.tv_nsec < 0 || value.tv_nsec >= kNsPerSec ||
      value.tv_sec > kMaxTimespecSeconds) {
    return std::nullopt;  // the kernel's EINVAL, or a deadline of "never"
  }
  const int64_t base = *Base(clock_id);
  const int64_t deadline = ToNs(value);
  const int64_t left = std::max<int64_t>(0, deadline - (base + Elapsed(ClockOf(ctx.thread))));
  if (left == 0 && fail_if_past) return Response::Errno(ETIMEDOUT);
  // The wait starts (for FinishWait) when the host deadline was computed,
  // not when the answer is ready: the kernel's deadline does not wait for
  // the write below, and under load the supervisor can be preempted in
  // between (seen: a timed-out wait measured 0.2 to 0.4 ms short).
  const int64_t start = RealMonotonicNs();
  const int64_t host_now =
      clock_id == CLOCK_MONOTONIC ? start : HostClockNs(static_cast<clockid_t>(clock_id));
  const KernelTimespec host = ToTimespec(SatAdd(host_now, left));
  if (!ctx.memory.Write(n.id, n.tid, addr, &host, sizeof host).ok()) return std::nullopt;
  const uint64_t seq = ++rewrite_seq_;
  rewrites_[n.tid] = Rewrite{tgid, addr, value, host, seq, restart_keeps_deadline};
  if (ctx.scheduler != nullptr) ScheduleRestore(*ctx.scheduler, n.tid, seq, 0);
  if (config_.clock == ClockMode::kStep) NoteWait(ctx, left, deadline - base, start);
  return Response::Continue();
}

void TimeModule::RestoreWhenBlocked(Scheduler& scheduler, pid_t tid, uint64_t seq,
                                    int attempt) {
  auto it = rewrites_.find(tid);
  if (it == rewrites_.end() || it->second.seq != seq) return;  // already put back
  bool in_futex = false;
  std::optional<bool> asleep = SleepsInKernel(tid, &in_futex);
  if (!asleep) {
    rewrites_.erase(it);  // gone
    return;
  }
  if (!*asleep) {
    ScheduleRestore(scheduler, tid, seq, attempt + 1);
    return;
  }
  // Where detrun traces the thread, it is stopped for the put-back: a
  // thread that woke after the check above cannot reuse the slot in the
  // meantime (see "Put-back" at the top). Its wait restarts with the
  // host-terms deadline the kernel already holds. Interrupted right after
  // the check, before the snapshot, to keep the gap short.
  const bool stopped = it->second.restart_keeps_deadline && in_futex &&
                       scheduler.AtNextStop(tid, [this, &scheduler, tid, seq] {
                         PutBackInStop(scheduler, tid, seq);
                       });
  if (const int64_t cpu = OnCpuOrRunnableNs(tid); cpu >= 0) asleep_cpu_ns_[tid] = cpu;
  if (!stopped) PutBack(tid, seq);
}

void TimeModule::PutBackInStop(Scheduler& scheduler, pid_t tid, uint64_t seq) {
  if (!PutBack(tid, seq)) return;
  // Stopped on its way out of the futex wait, to restart it (still
  // asleep in it as far as the deadline goes): what the stop costs it,
  // the run-queue waits and the CPU to get here and back into the wait,
  // is not time awake after the deadline, which FinishWait measures from
  // the snapshot. So the snapshot is taken again here, and once more when
  // the thread sleeps in the restarted wait. (Under load, leaving them
  // out judged timed-out waits woken early.)
  user_regs_struct regs{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return;
  constexpr int64_t kErestartRestartblock = -516;  // ERESTART_RESTARTBLOCK, kernel-internal
  if (regs.orig_rax != SYS_futex || static_cast<int64_t>(regs.rax) != kErestartRestartblock) {
    return;  // it was back from the wait already
  }
  if (const int64_t cpu = OnCpuOrRunnableNs(tid); cpu >= 0) asleep_cpu_ns_[tid] = cpu;
  restarted_waits_[tid] = seq;
  SnapshotWhenBackAsleep(scheduler, tid, seq, 0);
}

void TimeModule::SnapshotWhenBackAsleep(Scheduler& scheduler, pid_t tid, uint64_t seq,
                                        int attempt) {
  auto it = restarted_waits_.find(tid);
  if (it == restarted_waits_.end() || it->second != seq) return;  // back (FinishWait)
  if (attempt > 0 && AsleepInRestartedCall(tid)) {
    if (const int64_t cpu = OnCpuOrRunnableNs(tid); cpu >= 0) asleep_cpu_ns_[tid] = cpu;
    restarted_waits_.erase(it);
    return;
  }
  // 20 µs, doubling up to 5 ms, 12 tries: until the restarted wait sleeps.
  constexpr Backoff kBackoff{.first_ns = 20'000, .max_ns = 5'000'000, .attempts = 12};
  if (!PollLater(scheduler, kBackoff, attempt, [this, &scheduler, tid, seq, attempt] {
        SnapshotWhenBackAsleep(scheduler, tid, seq, attempt + 1);
      })) {
    restarted_waits_.erase(it);
  }
}

bool TimeModule::PutBack(pid_t tid, uint64_t seq, const ChildMemory& memory, uint64_t id) {
  auto it = rewrites_.find(tid);
  if (it == rewrites_.end() || it->second.seq != seq) return false;  // already put back
  const Rewrite r = it->second;
  rewrites_.erase(it);
  KernelTimespec now;
  // Put the caller's deadline back unless the struct changed meanwhile
  // (the program wrote a new one, or another wait rewrote it).
  if (memory.Read(id, tid, r.addr, &now, sizeof now).ok() && now == r.written) {
    (void)memory.Write(id, tid, r.addr, &r.original, sizeof r.original);
  }
  return true;
}

bool TimeModule::PutBack(pid_t tid, uint64_t seq) {
  // The call is answered, so no notification to check: the pid cannot
  // have been reused while the thread is known alive (asleep, stopped),
  // and the 16 bytes are compared first.
  return PutBack(tid, seq, ChildMemory(-1), 0);
}

void TimeModule::ScheduleRestore(Scheduler& scheduler, pid_t tid, uint64_t seq, int attempt) {
  // 50 µs, doubling up to 20 ms; about 0.6 s in all, then the thread's
  // next call puts it back.
  constexpr Backoff kBackoff{.first_ns = 50'000, .max_ns = 20'000'000, .attempts = 20};
  PollLater(scheduler, kBackoff, attempt, [this, &scheduler, tid, seq, attempt] {
    RestoreWhenBlocked(scheduler, tid, seq, attempt);
  });
}

void TimeModule::NoteWait(SyscallContext& ctx, int64_t timeout_ns, int64_t virtual_deadline,
                          int64_t start_ns) {
  VirtualClock& clock = ClockOf(ctx.thread);
  clock.wait_start_ns = start_ns >= 0 ? start_ns : RealMonotonicNs();
  clock.wait_timeout_ns = timeout_ns;
  clock.wait_start_cpu_ns = OnCpuOrRunnableNs(ctx.thread.tid);
  clock.wait_virtual_deadline_ns = virtual_deadline;
  asleep_cpu_ns_.erase(ctx.thread.tid);
}

void TimeModule::FinishWait(SyscallContext& ctx) {
  if (RawClockOf(ctx.thread).wait_start_ns >= 0) {
    VirtualClock& clock = ClockOf(ctx.thread);
    // Timed out if the thread slept for the whole timeout: the real time
    // since the call, less what it spent on a CPU or waiting for one. A
    // thread woken early by an event keeps its clock however long it
    // computes afterwards, and a loaded host (runnable, not running) does
    // not count as sleep: the clock never depends on the host's speed.
    // Without schedstat, the time the thread is back decides.
    const int64_t now = RealMonotonicNs();
    const int64_t wall = now - clock.wait_start_ns;
    const int64_t cpu = OnCpuOrRunnableNs(ctx.thread.tid);
    // The kernel sleeps at least the timeout; allow for the few
    // microseconds between our answer and the sleep, and the clock reads.
    const int64_t slack = clock.wait_timeout_ns / 50 + 100'000;
    bool timed_out;
    auto seen = asleep_cpu_ns_.find(ctx.thread.tid);
    if (seen != asleep_cpu_ns_.end() && cpu >= 0) {
      // An absolute deadline, and the thread was seen asleep: it woke at
      // about now less its CPU and run-queue time since. (Measuring the
      // sleep instead misses what a loaded host delayed the thread by
      // before it slept, which a host deadline does not wait for: under
      // load, 8 of 180 runs of the clock_page probe kept a timed-out
      // wait's clock.)
      const int64_t woke = now - (cpu - seen->second);
      timed_out = woke + slack >= clock.wait_start_ns + clock.wait_timeout_ns;
    } else {
      const int64_t asleep =
          clock.wait_start_cpu_ns >= 0 && cpu >= 0 ? wall - (cpu - clock.wait_start_cpu_ns) : wall;
      timed_out = asleep + slack >= clock.wait_timeout_ns;
    }
    if (timed_out) SleepUntil(ctx.thread, clock.wait_virtual_deadline_ns);
    clock.wait_start_ns = -1;
    if (seen != asleep_cpu_ns_.end()) asleep_cpu_ns_.erase(seen);
    restarted_waits_.erase(ctx.thread.tid);
  }
  if (auto it = rewrites_.find(ctx.thread.tid); it != rewrites_.end()) {
    PutBack(ctx.thread.tid, it->second.seq, ctx.memory, ctx.notification.id);
  }
}

}  // namespace detrun
