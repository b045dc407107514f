// Timers on the virtual clock (the time module's part; see time_module.h):
// alarm, setitimer/getitimer, POSIX timers (timer_create and friends) and
// timerfds.
//
// The kernel never arms these timers: the supervisor keeps them, so they
// expire when the *virtual* deadline is reached and report the time left
// in virtual terms (timer_gettime, timerfd_gettime, getitimer, alarm's
// result, the old value of a settime). Each timer is driven by the clock
// of the thread that armed it (per-thread clocks, time_module.h):
//
//   - when that clock reaches the deadline (a clock read ticking past it, a
//     sleep or a timed-out wait jumping over it, a reaped child's clock
//     absorbed), the timer fires right after the current answer;
//   - a step-mode sleep that would jump over the deadline of a timer whose
//     signal interrupts the thread (not blocked, not ignored) stops at that
//     deadline instead and fails with EINTR, the time left in `rem`, as a
//     real sleep interrupted by the alarm would;
//   - a real-time fallback fires it when as much real time has passed as
//     virtual time was left, so a program that blocks until the timer
//     fires (pause(), sigsuspend(), read() on a timerfd, epoll_wait(-1))
//     is not left waiting forever; in step mode the driving thread's clock
//     then moves to the deadline. In frozen mode this fallback is the only
//     way timers fire (the clock never reaches them); in real mode both
//     ways agree.
//
// Firing:
//   signal timers (alarm/ITIMER_REAL SIGALRM, ITIMER_VIRTUAL SIGVTALRM,
//   ITIMER_PROF SIGPROF; POSIX SIGEV_SIGNAL and SIGEV_THREAD_ID — glibc's
//   SIGEV_THREAD is built on the latter) queue the signal with
//   rt_sigqueueinfo/rt_tgsigqueueinfo and si_code SI_TIMER, si_timerid,
//   si_overrun and the timer's sigev_value, so glibc's SIGEV_THREAD helper
//   finds its timer. (The kernel's own itimer signals say SI_KERNEL, which
//   no process may forge; a handler that checks si_code of SIGALRM sees
//   SI_TIMER under detrun.) SIGEV_NONE timers only count.
//   timerfds: the child keeps its real timerfd (so read, poll and epoll
//   work unchanged); the supervisor holds a duplicate (pidfd_getfd) and
//   adds the expirations with TFD_IOC_SET_TICKS, which wakes readers.
//   Expirations a jump skipped over all count at once (overrun for POSIX
//   timers, the read count for timerfds).
//
// Limits: a timer follows its process's own virtual time, not its
// children's: `timeout 1 sleep 5` completes in step mode (the child's sleep
// takes no real time and moves only the child's clock). POSIX timers are
// deleted at exec as the kernel does; itimers survive it, driven by the
// new image's thread. A timerfd shared with another process (fork, SCM_RIGHTS)
// is found again by comparing open files (kcmp). Nothing is armed in the
// kernel, so the host's timer limits (RLIMIT_SIGPENDING) do not apply.
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/time_module.h"

namespace detrun {

struct TimeModule::VirtualTimer {
  enum Kind { kItimer = 1, kPosix = 2, kTimerfd = 3 };
  TimerKey key;
  pid_t tgid = 0;
  pid_t driver = 0;              // the thread whose clock drives it
  int64_t clock_id = CLOCK_MONOTONIC;
  int64_t deadline = -1;         // elapsed-counter ns; -1: disarmed
  int64_t interval = 0;
  int signo = 0;                 // 0: no signal (SIGEV_NONE, timerfd)
  pid_t target_tid = 0;          // SIGEV_THREAD_ID, else 0 (the process)
  uint64_t sigval = 0;
  int overrun = 0;
  UniqueFd timerfd;              // kTimerfd: our duplicate of the child's
  uint64_t generation = 0;       // invalidates scheduled fallbacks
};

namespace {

constexpr int kSiTimer = -2;  // SI_TIMER
// <linux/timerfd.h> defines this but clashes with <sys/timerfd.h> and
// <fcntl.h>: _IOW('T', 0, __u64).
constexpr unsigned long kTfdIocSetTicks = _IOW('T', 0, uint64_t);

struct KernelItimerval {
  KernelTimeval interval;
  KernelTimeval value;
};
struct KernelItimerspec {
  KernelTimespec interval;
  KernelTimespec value;
};
// struct sigevent (64 bytes): value, signo, notify, then a union whose
// first int is the SIGEV_THREAD_ID target.
struct KernelSigevent {
  uint64_t value;
  int32_t signo;
  int32_t notify;
  int32_t tid;
  int32_t pad[11];
};
static_assert(sizeof(KernelSigevent) == sizeof(struct sigevent));

constexpr int kSigevThreadId = 4;  // SIGEV_THREAD_ID

int64_t SatMul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

bool ValidTimeval(const KernelTimeval& tv) {
  return tv.tv_sec >= 0 && tv.tv_usec >= 0 && tv.tv_usec < 1'000'000 &&
         tv.tv_sec <= kMaxTimespecSeconds;
}
bool ValidTimespec(const KernelTimespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < kNsPerSec &&
         ts.tv_sec <= kMaxTimespecSeconds;
}
int64_t ToNs(const KernelTimeval& tv) { return tv.tv_sec * kNsPerSec + tv.tv_usec * 1000; }
KernelTimeval ToTimeval(int64_t ns) {
  const KernelTimespec ts = ToTimespec(ns);
  return {ts.tv_sec, ts.tv_nsec / 1000};
}

// A "Name:\t<hex>" line of /proc/TID/status.
uint64_t StatusMask(const std::string& status, const char* name) {
  const size_t at = status.find(name);
  if (at == std::string::npos) return 0;
  return strtoull(status.c_str() + at + strlen(name), nullptr, 16);
}

// Whether `signo` sent now would interrupt thread `tid`: it neither blocks
// nor ignores it.
bool WouldInterrupt(pid_t tid, int signo) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string status(4096, '\0');
  ssize_t n = read(fd, status.data(), status.size());
  close(fd);
  if (n <= 0) return false;
  status.resize(static_cast<size_t>(n));
  const uint64_t bit = uint64_t{1} << (signo - 1);
  return (StatusMask(status, "SigBlk:") & bit) == 0 && (StatusMask(status, "SigIgn:") & bit) == 0;
}

// A "name: value" field of our own /proc/self/fdinfo/FD.
std::optional<int64_t> FdinfoField(int fd, const char* name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE* f = fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  char line[256];
  std::optional<int64_t> value;
  const size_t len = strlen(name);
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, name, len) == 0 && line[len] == ':') {
      value = strtoll(line + len + 1, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return value;
}

bool SameFile(pid_t pid1, int fd1, pid_t pid2, int fd2) {
  return syscall(SYS_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2) == 0;
}

}  // namespace

void TimeModule::RegisterTimers(Registry& registry) {
  auto bind = [this](auto method) {
    return [this, method](SyscallContext& ctx) { return (this->*method)(ctx); };
  };
  const char* reason = "timers expire on the virtual clock";
  registry.Notify(SYS_alarm, bind(&TimeModule::Alarm), reason);
  registry.Notify(SYS_setitimer, bind(&TimeModule::Setitimer), reason);
  registry.Notify(SYS_getitimer, bind(&TimeModule::Getitimer), reason);
  registry.Notify(SYS_timer_create, bind(&TimeModule::TimerCreate), reason);
  registry.Notify(SYS_timer_settime, bind(&TimeModule::TimerSettime), reason);
  registry.Notify(SYS_timer_gettime, bind(&TimeModule::TimerGettime), reason);
  registry.Notify(SYS_timer_getoverrun, bind(&TimeModule::TimerGetoverrun), reason);
  registry.Notify(SYS_timer_delete, bind(&TimeModule::TimerDelete), reason);
  registry.Notify(SYS_timerfd_settime, bind(&TimeModule::TimerfdSettime), reason);
  registry.Notify(SYS_timerfd_gettime, bind(&TimeModule::TimerfdGettime), reason);
}

// ---- Arming, reading, firing ----------------------------------------------

int64_t TimeModule::TimerNow(const VirtualTimer& timer) const {
  auto it = clocks_.find(timer.driver);
  if (config_.clock == ClockMode::kStep) {
    return it != clocks_.end() ? it->second->elapsed_ns : std::max<int64_t>(timer.deadline, 0);
  }
  return config_.clock == ClockMode::kReal ? RealMonotonicNs() - real_start_ns_ : 0;
}

void TimeModule::Arm(SyscallContext& ctx, VirtualTimer& timer, int64_t value_ns, bool absolute,
                     int64_t interval_ns) {
  timer.generation = ++timer_generation_;
  timer.overrun = 0;
  const pid_t old_driver = timer.driver;
  timer.driver = ctx.thread.tid;
  if (value_ns == 0) {
    timer.deadline = -1;
    timer.interval = 0;
  } else {
    const int64_t now = Elapsed(ClockOf(ctx.thread));
    // An absolute value on the timer's clock, in elapsed terms; one already
    // past fires at once (the kernel's behaviour too).
    timer.deadline = absolute ? std::max<int64_t>(value_ns - *Base(timer.clock_id), now)
                              : SatAdd(now, value_ns);
    timer.interval = interval_ns;
  }
  if (old_driver != 0 && old_driver != timer.driver) RecomputeNextTimer(old_driver);
  RecomputeNextTimer(timer.driver);
  if (timer.deadline < 0) return;
  auto shared = timers_.find(timer.key);
  if (shared == timers_.end()) return;
  if (config_.clock == ClockMode::kStep && timer.deadline <= ClockOf(ctx.thread).elapsed_ns) {
    FireTimer(shared->second, timer.deadline, /*forced=*/true);
  } else {
    ScheduleFallback(shared->second);
  }
}

std::pair<int64_t, int64_t> TimeModule::Remaining(const ThreadState& thread,
                                                  const VirtualTimer& timer) const {
  if (timer.deadline < 0) return {0, 0};
  // Due but not fired yet (between a deadline and its fallback): the
  // kernel reports 1 ns for such a timer, never 0 (which means disarmed).
  const int64_t left = timer.deadline - Elapsed(ClockOf(thread));
  return {std::max<int64_t>(left, 1), timer.interval};
}

void TimeModule::RecomputeNextTimer(pid_t driver) {
  auto it = clocks_.find(driver);
  if (it == clocks_.end()) return;
  int64_t next = INT64_MAX;
  for (const auto& [key, timer] : timers_) {
    if (timer->driver == driver && timer->deadline >= 0) next = std::min(next, timer->deadline);
  }
  it->second->next_timer_ns = next;
  // The limit only: the thread's own answer writes the rest.
  PushToPage(nullptr, *it->second, /*with_elapsed=*/false);
}

void TimeModule::FireDue(VirtualClock& clock) {
  std::vector<std::shared_ptr<VirtualTimer>> due;
  for (const auto& [key, timer] : timers_) {
    if (timer->driver == clock.tid && timer->deadline >= 0 &&
        timer->deadline <= clock.elapsed_ns) {
      due.push_back(timer);
    }
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->generation < b->generation;
  });
  for (const auto& timer : due) FireTimer(timer, clock.elapsed_ns, /*forced=*/false);
  RecomputeNextTimer(clock.tid);
}

void TimeModule::FireTimer(const std::shared_ptr<VirtualTimer>& timer, int64_t now, bool forced) {
  VirtualTimer& t = *timer;
  if (t.deadline < 0) return;
  if (now < t.deadline) {
    if (!forced) return;
    now = t.deadline;
  }
  int64_t expirations = 1;
  if (t.interval > 0) {
    expirations += (now - t.deadline) / t.interval;
    // Frozen: the clock never reaches a deadline; count from the clock as
    // it is, so the time left keeps reading one interval.
    t.deadline = config_.clock == ClockMode::kFrozen ? TimerNow(t) + t.interval
                                                     : SatAdd(t.deadline, SatMul(expirations, t.interval));
  } else {
    t.deadline = -1;
  }
  t.overrun = static_cast<int>(std::min<int64_t>(expirations - 1, INT32_MAX));
  t.generation = ++timer_generation_;
  RecomputeNextTimer(t.driver);
  if (t.deadline >= 0) ScheduleFallback(timer);

  // Delivered now. The thread whose call is being answered (a clock read,
  // a sleep) cannot be interrupted by it (the run's filter makes a
  // received call's wait killable only), so it takes the signal right
  // after that answer: what it read comes first, then its handler.
  if (t.key.kind == VirtualTimer::kTimerfd) {
    std::optional<int64_t> ticks = FdinfoField(t.timerfd.get(), "ticks");
    uint64_t total = static_cast<uint64_t>(ticks.value_or(0) + expirations);
    ioctl(t.timerfd.get(), kTfdIocSetTicks, &total);
    return;
  }
  if (t.signo == 0) return;
  siginfo_t info{};
  info.si_signo = t.signo;
  info.si_code = kSiTimer;
  info.si_timerid = static_cast<int>(t.key.kind == VirtualTimer::kPosix ? t.key.id : 0);
  info.si_overrun = t.overrun;
  info.si_value.sival_ptr = reinterpret_cast<void*>(t.sigval);
  if (t.target_tid != 0) {
    syscall(SYS_rt_tgsigqueueinfo, t.tgid, t.target_tid, t.signo, &info);
  } else {
    syscall(SYS_rt_sigqueueinfo, t.tgid, t.signo, &info);
  }
}

void TimeModule::ScheduleFallback(const std::shared_ptr<VirtualTimer>& timer) {
  if (scheduler_ == nullptr || timer->deadline < 0) return;
  const int64_t left = std::max<int64_t>(timer->deadline - TimerNow(*timer), 0);
  std::weak_ptr<VirtualTimer> weak = timer;
  const uint64_t generation = timer->generation;
  scheduler_->At(SatAdd(RealMonotonicNs(), left), [this, weak, generation] {
    std::shared_ptr<VirtualTimer> t = weak.lock();
    if (t == nullptr || t->generation != generation || t->deadline < 0) return;
    auto clock = clocks_.find(t->driver);
    if (config_.clock == ClockMode::kStep && clock != clocks_.end()) {
      // The program waited for it in real time: its clock is there now.
      // The thread is blocked (a reading one would have read its way
      // there), so its page slot is written like a stopped thread's, and
      // before the signal that wakes it is sent.
      VirtualClock& c = *clock->second;
      PullFromPage(nullptr, c);
      c.elapsed_ns = std::max(c.elapsed_ns, t->deadline);
      PushToPage(nullptr, c, /*with_elapsed=*/true);
      FireDue(c);
      return;
    }
    FireTimer(t, TimerNow(*t), /*forced=*/true);
  });
}

void TimeModule::DropTimersOf(pid_t tgid, bool exec_only) {
  std::vector<pid_t> drivers;
  absl::erase_if(timers_, [&](const auto& entry) {
    const VirtualTimer& t = *entry.second;
    if (t.tgid != tgid) return false;
    if (exec_only && t.key.kind != VirtualTimer::kPosix) return false;
    drivers.push_back(t.driver);
    return true;
  });
  if (!exec_only) {
    absl::erase_if(timerfd_index_, [&](const auto& e) { return e.first.first == tgid; });
    next_posix_timer_id_.erase(tgid);
  }
  for (pid_t d : drivers) RecomputeNextTimer(d);
}

absl::Status TimeModule::OnExecStop(ExecStop& stop) {
  // POSIX timers do not survive exec; itimers and timerfds do, driven now
  // by the one thread the new image has.
  DropTimersOf(stop.pid, /*exec_only=*/true);
  for (auto& [key, timer] : timers_) {
    if (timer->tgid == stop.pid) timer->driver = stop.thread.tid;
  }
  // A new image: no page yet (the stub maps one at its first read).
  pages_.erase(stop.pid);
  ClockOf(stop.thread).in_page = false;
  RecomputeNextTimer(stop.thread.tid);
  return absl::OkStatus();
}

Response TimeModule::SleepTo(SyscallContext& ctx, int64_t target, uint64_t rem_addr) {
  VirtualClock& clock = ClockOf(ctx.thread);
  if (config_.clock == ClockMode::kStep && target > clock.elapsed_ns &&
      clock.next_timer_ns <= target) {
    // The first signal timer this thread drives that expires in the sleep.
    const VirtualTimer* first = nullptr;
    for (const auto& [key, t] : timers_) {
      if (t->driver == clock.tid && t->deadline >= 0 && t->deadline <= target && t->signo != 0 &&
          (first == nullptr || t->deadline < first->deadline)) {
        first = t.get();
      }
    }
    if (first != nullptr && WouldInterrupt(ctx.thread.tid, first->signo)) {
      const int64_t stop = std::max(first->deadline, clock.elapsed_ns);
      if (rem_addr != 0) {
        const KernelTimespec rem = ToTimespec(target - stop);
        if (!ctx.memory.Write(ctx.notification.id, ctx.notification.tid, rem_addr, &rem, sizeof rem)
                 .ok()) {
          return Response::Errno(EFAULT);
        }
      }
      SleepUntil(ctx.thread, stop);  // fires it (and any due with it)
      return Response::Errno(EINTR);
    }
  }
  if (target - clock.elapsed_ns >= kForeverNs) {
    // `sleep infinity`: never answered, unless a signal comes (the
    // supervisor answers held calls whose thread has one pending).
    return Response::HeldUntil(INT64_MAX, Response::Value(0));
  }
  SleepUntil(ctx.thread, target);
  return Response::Value(0);
}

// ---- alarm, setitimer, getitimer -----------------------------------------

namespace {
int ItimerSignal(int which) {
  return which == ITIMER_REAL ? SIGALRM : which == ITIMER_VIRTUAL ? SIGVTALRM : SIGPROF;
}
}  // namespace

std::optional<Response> TimeModule::Setitimer(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  const int which = static_cast<int32_t>(n.args[0]);
  if (which != ITIMER_REAL && which != ITIMER_VIRTUAL && which != ITIMER_PROF) {
    return Response::Errno(EINVAL);
  }
  KernelItimerval value{};
  // A NULL new value disarms, as the kernel still allows.
  if (n.args[1] != 0) {
    if (!ctx.memory.Read(n.id, n.tid, n.args[1], &value, sizeof value).ok()) {
      return Response::Errno(EFAULT);
    }
    if (!ValidTimeval(value.value) || !ValidTimeval(value.interval)) {
      return Response::Errno(EINVAL);
    }
  }
  const TimerKey key{ctx.process.pid, VirtualTimer::kItimer, which};
  std::shared_ptr<VirtualTimer>& timer = timers_[key];
  if (timer == nullptr) {
    timer = std::make_shared<VirtualTimer>();
    timer->key = key;
    timer->tgid = ctx.process.pid;
    timer->signo = ItimerSignal(which);
    timer->clock_id = which == ITIMER_REAL ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID;
  }
  if (n.args[2] != 0) {
    auto [left, interval] = Remaining(ctx.thread, *timer);
    KernelItimerval old{ToTimeval(interval), ToTimeval(left)};
    // The kernel never reports a running timer as 0 µs left.
    if (left > 0 && old.value.tv_sec == 0 && old.value.tv_usec == 0) old.value.tv_usec = 1;
    if (!ctx.memory.Write(n.id, n.tid, n.args[2], &old, sizeof old).ok()) {
      return Response::Errno(EFAULT);
    }
  }
  Arm(ctx, *timer, ToNs(value.value), false, ToNs(value.interval));
  return Response::Value(0);
}

std::optional<Response> TimeModule::Getitimer(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  const int which = static_cast<int32_t>(n.args[0]);
  if (which != ITIMER_REAL && which != ITIMER_VIRTUAL && which != ITIMER_PROF) {
    return Response::Errno(EINVAL);
  }
  KernelItimerval cur{};
  auto it = timers_.find(TimerKey{ctx.process.pid, VirtualTimer::kItimer, which});
  if (it != timers_.end()) {
    auto [left, interval] = Remaining(ctx.thread, *it->second);
    cur = {ToTimeval(interval), ToTimeval(left)};
    if (left > 0 && cur.value.tv_sec == 0 && cur.value.tv_usec == 0) cur.value.tv_usec = 1;
  }
  return WriteOut(ctx, n.args[1], &cur, sizeof cur, 0);
}

std::optional<Response> TimeModule::Alarm(SyscallContext& ctx) {
  const uint32_t seconds = static_cast<uint32_t>(ctx.notification.args[0]);
  const TimerKey key{ctx.process.pid, VirtualTimer::kItimer, ITIMER_REAL};
  std::shared_ptr<VirtualTimer>& timer = timers_[key];
  if (timer == nullptr) {
    timer = std::make_shared<VirtualTimer>();
    timer->key = key;
    timer->tgid = ctx.process.pid;
    timer->signo = SIGALRM;
  }
  // The previous alarm's seconds left, rounded to the nearest second but
  // never 0 for a running one (the kernel's alarm_setitimer).
  auto [left, interval] = Remaining(ctx.thread, *timer);
  const KernelTimeval old = ToTimeval(left);
  int64_t result = old.tv_sec;
  if ((result == 0 && left > 0) || old.tv_usec >= 500'000) ++result;
  Arm(ctx, *timer, int64_t{seconds} * kNsPerSec, false, 0);
  return Response::Value(result);
}

// ---- POSIX timers ----------------------------------------------------------

std::optional<Response> TimeModule::TimerCreate(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  const int64_t clock_id = static_cast<int32_t>(n.args[0]);
  // The clocks timer_create accepts; MONOTONIC_RAW and the COARSE ones
  // have no timers (EOPNOTSUPP), anything else is EINVAL.
  if (clock_id == CLOCK_MONOTONIC_RAW || clock_id == CLOCK_REALTIME_COARSE ||
      clock_id == CLOCK_MONOTONIC_COARSE) {
    return Response::Errno(EOPNOTSUPP);
  }
  if (!Base(clock_id)) return Response::Errno(EINVAL);
  KernelSigevent event{};
  pid_t target_tid = 0;
  const int64_t id = next_posix_timer_id_[ctx.process.pid];
  if (n.args[1] != 0) {
    if (!ctx.memory.Read(n.id, n.tid, n.args[1], &event, sizeof event).ok()) {
      return Response::Errno(EFAULT);
    }
    switch (event.notify & ~kSigevThreadId) {
      case SIGEV_NONE:
        if (event.notify != SIGEV_NONE) return Response::Errno(EINVAL);
        break;
      case SIGEV_SIGNAL:
        if (event.signo <= 0 || event.signo > SIGRTMAX) return Response::Errno(EINVAL);
        if (event.notify & kSigevThreadId) {
          // The target must be a thread of the caller's process, named as
          // the caller sees it (its pid namespace).
          std::optional<pid_t> host = HostTidOf(ctx.process.pid, event.tid);
          if (event.tid <= 0 || !host) return Response::Errno(EINVAL);
          target_tid = *host;
        }
        break;
      default:
        return Response::Errno(EINVAL);
    }
  } else {
    event.notify = SIGEV_SIGNAL;
    event.signo = SIGALRM;
    event.value = static_cast<uint64_t>(id);
  }
  const int32_t id32 = static_cast<int32_t>(id);
  if (!ctx.memory.Write(n.id, n.tid, n.args[2], &id32, sizeof id32).ok()) {
    return Response::Errno(EFAULT);
  }
  next_posix_timer_id_[ctx.process.pid] = id + 1;
  auto timer = std::make_shared<VirtualTimer>();
  timer->key = TimerKey{ctx.process.pid, VirtualTimer::kPosix, id};
  timer->tgid = ctx.process.pid;
  timer->clock_id = clock_id;
  timer->signo = event.notify == SIGEV_NONE ? 0 : event.signo;
  timer->target_tid = target_tid;
  timer->sigval = event.value;
  timer->driver = ctx.thread.tid;
  timers_[timer->key] = std::move(timer);
  return Response::Value(0);
}

std::shared_ptr<TimeModule::VirtualTimer> TimeModule::PosixTimer(SyscallContext& ctx, int64_t id) {
  auto it = timers_.find(TimerKey{ctx.process.pid, VirtualTimer::kPosix, id});
  return it == timers_.end() ? nullptr : it->second;
}

std::optional<Response> TimeModule::TimerSettime(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  std::shared_ptr<VirtualTimer> timer = PosixTimer(ctx, static_cast<int32_t>(n.args[0]));
  if (timer == nullptr) return Response::Errno(EINVAL);
  if (n.args[2] == 0) return Response::Errno(EINVAL);
  KernelItimerspec value;
  if (!ctx.memory.Read(n.id, n.tid, n.args[2], &value, sizeof value).ok()) {
    return Response::Errno(EFAULT);
  }
  if (!ValidTimespec(value.value) || !ValidTimespec(value.interval)) {
    return Response::Errno(EINVAL);
  }
  if (n.args[3] != 0) {
    auto [left, interval] = Remaining(ctx.thread, *timer);
    const KernelItimerspec old{ToTimespec(interval), ToTimespec(left)};
    if (!ctx.memory.Write(n.id, n.tid, n.args[3], &old, sizeof old).ok()) {
      return Response::Errno(EFAULT);
    }
  }
  Arm(ctx, *timer, ToNs(value.value), (n.args[1] & TIMER_ABSTIME) != 0, ToNs(value.interval));
  return Response::Value(0);
}

std::optional<Response> TimeModule::TimerGettime(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  std::shared_ptr<VirtualTimer> timer = PosixTimer(ctx, static_cast<int32_t>(n.args[0]));
  if (timer == nullptr) return Response::Errno(EINVAL);
  auto [left, interval] = Remaining(ctx.thread, *timer);
  const KernelItimerspec cur{ToTimespec(interval), ToTimespec(left)};
  return WriteOut(ctx, n.args[1], &cur, sizeof cur, 0);
}

std::optional<Response> TimeModule::TimerGetoverrun(SyscallContext& ctx) {
  std::shared_ptr<VirtualTimer> timer =
      PosixTimer(ctx, static_cast<int32_t>(ctx.notification.args[0]));
  if (timer == nullptr) return Response::Errno(EINVAL);
  return Response::Value(timer->overrun);
}

std::optional<Response> TimeModule::TimerDelete(SyscallContext& ctx) {
  std::shared_ptr<VirtualTimer> timer =
      PosixTimer(ctx, static_cast<int32_t>(ctx.notification.args[0]));
  if (timer == nullptr) return Response::Errno(EINVAL);
  timers_.erase(timer->key);
  RecomputeNextTimer(timer->driver);
  return Response::Value(0);
}

// ---- timerfds --------------------------------------------------------------

std::shared_ptr<TimeModule::VirtualTimer> TimeModule::Timerfd(SyscallContext& ctx, int fd,
                                                               int* error) {
  const pid_t tgid = ctx.process.pid;
  const pid_t self = getpid();
  auto indexed = timerfd_index_.find({tgid, fd});
  if (indexed != timerfd_index_.end()) {
    auto it = timers_.find(indexed->second);
    if (it != timers_.end() && SameFile(self, it->second->timerfd.get(), tgid, fd)) {
      return it->second;
    }
    timerfd_index_.erase(indexed);  // closed and reused since
  }
  UniqueFd dup(static_cast<int>(syscall(SYS_pidfd_getfd, ctx.process.pidfd.get(), fd, 0)));
  if (!dup.ok()) {
    *error = errno;
    return nullptr;
  }
  itimerspec probe;
  if (timerfd_gettime(dup.get(), &probe) != 0) {  // not a timerfd
    *error = EINVAL;
    return nullptr;
  }
  // The same timerfd reached through another process or descriptor.
  for (auto& [key, timer] : timers_) {
    if (key.kind == VirtualTimer::kTimerfd && SameFile(self, timer->timerfd.get(), self, dup.get())) {
      timerfd_index_[{tgid, fd}] = key;
      return timer;
    }
  }
  auto timer = std::make_shared<VirtualTimer>();
  timer->key = TimerKey{0, VirtualTimer::kTimerfd, dup.get()};
  timer->tgid = tgid;
  timer->clock_id = FdinfoField(dup.get(), "clockid").value_or(CLOCK_MONOTONIC);
  timer->timerfd = std::move(dup);
  timerfd_index_[{tgid, fd}] = timer->key;
  timers_[timer->key] = timer;
  return timer;
}

std::optional<Response> TimeModule::TimerfdSettime(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  const int fd = static_cast<int32_t>(n.args[0]);
  const uint32_t flags = static_cast<uint32_t>(n.args[1]);
  if ((flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) != 0) {
    return Response::Errno(EINVAL);
  }
  KernelItimerspec value;
  if (!ctx.memory.Read(n.id, n.tid, n.args[2], &value, sizeof value).ok()) {
    return Response::Errno(EFAULT);
  }
  if (!ValidTimespec(value.value) || !ValidTimespec(value.interval)) {
    return Response::Errno(EINVAL);
  }
  int error = 0;
  std::shared_ptr<VirtualTimer> timer = Timerfd(ctx, fd, &error);
  if (timer == nullptr) return Response::Errno(error);
  if (n.args[3] != 0) {
    auto [left, interval] = Remaining(ctx.thread, *timer);
    const KernelItimerspec old{ToTimespec(interval), ToTimespec(left)};
    if (!ctx.memory.Write(n.id, n.tid, n.args[3], &old, sizeof old).ok()) {
      return Response::Errno(EFAULT);
    }
  }
  // A new setting discards expirations not read yet, as the kernel's does:
  // setting the (never armed) kernel timer to zero resets its count.
  const itimerspec zero{};
  timerfd_settime(timer->timerfd.get(), 0, &zero, nullptr);
  timer->tgid = ctx.process.pid;
  Arm(ctx, *timer, ToNs(value.value), (flags & TFD_TIMER_ABSTIME) != 0, ToNs(value.interval));
  return Response::Value(0);
}

std::optional<Response> TimeModule::TimerfdGettime(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  int error = 0;
  std::shared_ptr<VirtualTimer> timer = Timerfd(ctx, static_cast<int32_t>(n.args[0]), &error);
  if (timer == nullptr) return Response::Errno(error);
  auto [left, interval] = Remaining(ctx.thread, *timer);
  const KernelItimerspec cur{ToTimespec(interval), ToTimespec(left)};
  return WriteOut(ctx, n.args[1], &cur, sizeof cur, 0);
}

}  // namespace detrun
