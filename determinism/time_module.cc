#include "determinism/time_module.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <time.h>

#include <cerrno>
#include <algorithm>
#include <cstddef>
#include <ctime>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/kernel_time.h"

namespace detrun {

namespace {

// Kernel ABI structs (64-bit); timespec and timeval are in kernel_time.h.

// times(2): four clock_t (long) in USER_HZ ticks.
struct KernelTms {
  int64_t tms_utime;
  int64_t tms_stime;
  int64_t tms_cutime;
  int64_t tms_cstime;
};
static_assert(sizeof(KernelTms) == sizeof(struct tms));
static_assert(offsetof(KernelTms, tms_cstime) == offsetof(struct tms, tms_cstime));

// getrusage(2): two timevals, then 14 longs (maxrss ... nivcsw).
struct KernelRusage {
  KernelTimeval ru_utime;
  KernelTimeval ru_stime;
  int64_t ru_maxrss, ru_ixrss, ru_idrss, ru_isrss, ru_minflt, ru_majflt, ru_nswap, ru_inblock,
      ru_oublock, ru_msgsnd, ru_msgrcv, ru_nsignals, ru_nvcsw, ru_nivcsw;
};
static_assert(sizeof(KernelRusage) == sizeof(struct rusage));
static_assert(offsetof(KernelRusage, ru_maxrss) == offsetof(struct rusage, ru_maxrss));
static_assert(offsetof(KernelRusage, ru_nivcsw) == offsetof(struct rusage, ru_nivcsw));

// sysinfo(2), 64-bit layout, with its padding spelled out so that every
// byte written to the child is defined (the trailing _f[] is empty on
// 64-bit).
struct KernelSysinfo {
  int64_t uptime;
  uint64_t loads[3];
  uint64_t totalram;
  uint64_t freeram;
  uint64_t sharedram;
  uint64_t bufferram;
  uint64_t totalswap;
  uint64_t freeswap;
  uint16_t procs;
  uint16_t pad;
  uint32_t pad2;  // implicit alignment padding in the kernel's struct
  uint64_t totalhigh;
  uint64_t freehigh;
  uint32_t mem_unit;
  uint32_t pad3;  // tail padding in the kernel's struct
};
static_assert(sizeof(KernelSysinfo) == sizeof(struct sysinfo));
static_assert(offsetof(KernelSysinfo, procs) == offsetof(struct sysinfo, procs));
static_assert(offsetof(KernelSysinfo, totalhigh) == offsetof(struct sysinfo, totalhigh));
static_assert(offsetof(KernelSysinfo, mem_unit) == offsetof(struct sysinfo, mem_unit));

// Nanoseconds (>= 0) to times(2) clock ticks, truncated as the kernel's
// nsec_to_clock_t does.
constexpr int64_t kNsPerTick = 1'000'000'000 / TimeModule::kUserHz;
int64_t ToTicks(int64_t ns) { return ns / kNsPerTick; }

bool IsCpuClock(int64_t id) {
  return id == CLOCK_PROCESS_CPUTIME_ID || id == CLOCK_THREAD_CPUTIME_ID ||
         (id < 0 && (id & 7) != 3);  // CPU clock of another pid/tid (not CLOCKFD)
}

}  // namespace

TimeModule::TimeModule(const Config& config)
    : config_(config),
      start_ns_(absl::ToUnixNanos(config.start_time)),
      tick_ns_(absl::ToInt64Nanoseconds(config.tick)),
      real_start_ns_(RealMonotonicNs()) {}

void TimeModule::Register(Registry& registry) {
  slot_ = registry.current_module_index();
  auto bind = [this](auto method) {
    return [this, method](SyscallContext& ctx) { return (this->*method)(ctx); };
  };
  registry.Notify(SYS_clock_gettime, bind(&TimeModule::ClockGettime), "virtual clocks");
  registry.Notify(SYS_gettimeofday, bind(&TimeModule::Gettimeofday), "virtual clocks");
  registry.Notify(SYS_time, bind(&TimeModule::Time), "virtual clocks");
  registry.Notify(SYS_clock_getres, bind(&TimeModule::ClockGetres), "virtual clocks");
  registry.Notify(SYS_nanosleep, bind(&TimeModule::Nanosleep), "sleeps move the virtual clock");
  registry.Notify(SYS_clock_nanosleep, bind(&TimeModule::ClockNanosleep),
                  "sleeps move the virtual clock");
  registry.Notify(SYS_times, bind(&TimeModule::Times),
                  "uptime and CPU time in ticks from the virtual clock");
  registry.Notify(SYS_getrusage, bind(&TimeModule::Getrusage),
                  "CPU time from the virtual clock; no host usage figures");
  registry.Notify(SYS_sysinfo, bind(&TimeModule::Sysinfo),
                  "virtual uptime and fixed machine figures");
  // The host's clock: its NTP state and time (adjtimex reads both) are
  // answered as a never-synchronized clock at the virtual time; setting it
  // is refused, as sethostname is (as root it would set the machine's).
  registry.Notify(
      SYS_adjtimex,
      [this](SyscallContext& ctx) { return Adjtimex(ctx, ctx.notification.args[0]); },
      "the virtual clock, never synchronized; adjustments refused");
  registry.Notify(SYS_clock_adjtime, bind(&TimeModule::ClockAdjtime),
                  "the virtual clock, never synchronized; adjustments refused");
  registry.Refuse(SYS_settimeofday, EPERM, "the host's clock is not the command's to set");
  registry.Refuse(SYS_clock_settime, EPERM, "the host's clock is not the command's to set");
  RegisterWaits(registry);
  RegisterTimers(registry);
}

std::unique_ptr<ModuleState> TimeModule::SnapshotForClone(const ThreadState& creator) {
  auto copy = std::make_unique<VirtualClock>();
  copy->elapsed_ns = ClockOf(creator).elapsed_ns;
  copy->tsc_ns = ClockOf(creator).tsc_ns;
  return copy;
}

std::unique_ptr<ModuleState> TimeModule::NewThreadState(const ThreadState& thread,
                                                        const ModuleState* inherited) {
  if (thread.process != nullptr && thread.tid == thread.process->pid) {
    live_processes_.insert(thread.process->pid);
  }
  auto clock = std::make_unique<VirtualClock>();
  if (inherited != nullptr) {
    clock->elapsed_ns = static_cast<const VirtualClock*>(inherited)->elapsed_ns;
    clock->tsc_ns = static_cast<const VirtualClock*>(inherited)->tsc_ns;
  }
  clock->owner = this;
  clock->tid = thread.tid;
  clocks_[thread.tid] = clock.get();
  return clock;
}

TimeModule::VirtualClock::~VirtualClock() {
  if (owner == nullptr) return;
  auto it = owner->clocks_.find(tid);
  if (it != owner->clocks_.end() && it->second == this) owner->clocks_.erase(it);
}

TimeModule::VirtualClock& TimeModule::ClockOf(const ThreadState& thread) const {
  return *static_cast<VirtualClock*>(thread.module_state[slot_].get());
}

int64_t TimeModule::Elapsed(const VirtualClock& clock) const {
  switch (config_.clock) {
    case ClockMode::kFrozen: return 0;
    case ClockMode::kReal: return RealMonotonicNs() - real_start_ns_;
    case ClockMode::kStep: return clock.elapsed_ns;
  }
  return 0;
}

std::optional<int64_t> TimeModule::Base(int64_t id) const {
  switch (id) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_REALTIME_ALARM:
      return start_ns_;
    case CLOCK_TAI:
      return start_ns_ + kTaiOffsetNs;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM:
      return kUptimeAtStartNs;
  }
  if (IsCpuClock(id)) return 0;
  return std::nullopt;
}

std::optional<ConstantClocks> TimeModule::FrozenVdsoClocks() const {
  if (config_.clock != ClockMode::kFrozen) return std::nullopt;
  ConstantClocks clocks;
  for (int id = 0; id < ConstantClocks::kIds; ++id) {
    if (std::optional<int64_t> base = Base(id)) {
      const KernelTimespec ts = ToTimespec(*base);
      clocks.by_id[id] = ConstantClocks::Value{ts.tv_sec, ts.tv_nsec};
    }
  }
  return clocks;
}

std::optional<OffsetClocks> TimeModule::RealVdsoClocks() const {
  if (config_.clock != ClockMode::kReal) return std::nullopt;
  OffsetClocks clocks;
  // Peek: Base(id) + (host monotonic - real_start_ns_).
  for (int id = 0; id < OffsetClocks::kIds; ++id) {
    if (std::optional<int64_t> base = Base(id)) clocks.offset_ns[id] = *base - real_start_ns_;
  }
  return clocks;
}

std::optional<int64_t> TimeModule::Peek(const ThreadState& thread, int64_t id) const {
  std::optional<int64_t> base = Base(id);
  if (!base) return std::nullopt;
  return SatAdd(*base, Elapsed(ClockOf(thread)));
}

std::optional<int64_t> TimeModule::Read(const ThreadState& thread, int64_t id) {
  std::optional<int64_t> value = Peek(thread, id);
  if (value && config_.clock == ClockMode::kStep) {
    VirtualClock& clock = ClockOf(thread);
    clock.elapsed_ns += tick_ns_;
    if (clock.elapsed_ns >= clock.next_timer_ns) FireDue(clock);
  }
  return value;
}

std::optional<uint64_t> TimeModule::ReadTsc(const ThreadState& thread) {
  std::optional<int64_t> ns = Peek(thread, CLOCK_MONOTONIC);
  if (!ns || *ns < 0) return std::nullopt;
  VirtualClock& clock = ClockOf(thread);
  if (config_.clock == ClockMode::kStep && clock.tsc_ns != INT64_MIN) {
    *ns = std::max(*ns, SatAdd(clock.tsc_ns, tick_ns_));
  }
  clock.tsc_ns = *ns;
  return static_cast<uint64_t>(*ns);
}

void TimeModule::OnProcessExit(const ProcessState& process,
                               const std::vector<const ThreadState*>& threads) {
  int64_t final_elapsed = 0;
  for (const ThreadState* t : threads) final_elapsed = std::max(final_elapsed, ClockOf(*t).elapsed_ns);
  live_processes_.erase(process.pid);
  for (const ThreadState* t : threads) rewrites_.erase(t->tid);
  DropTimersOf(process.pid, /*exec_only=*/false);
  unabsorbed_.erase(process.pid);  // its own children no longer matter
  // Only a parent that is still here can reap and absorb; recording a
  // child of a parent already gone (or of detrun, for orphans) would hold
  // its pidfd forever.
  if (!live_processes_.contains(process.ppid)) return;
  // A zombie still has a pidfd; one already reaped does not (ESRCH), and is
  // absorbed at the parent's next notification. A new pidfd, not a copy of
  // the table's: the loop's epoll watches that file, and a copy would keep
  // it registered, and readable, after the table closes it.
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, process.pid, 0)));
  unabsorbed_[process.ppid].push_back(ExitedChild{std::move(fd), final_elapsed});
}

void TimeModule::BeforeNotification(SyscallContext& ctx) {
  if (ctx.scheduler != nullptr) scheduler_ = ctx.scheduler;
  FinishWait(ctx);
  ThreadState& thread = ctx.thread;
  auto it = unabsorbed_.find(thread.process->pid);
  if (it == unabsorbed_.end()) return;
  std::vector<ExitedChild>& children = it->second;
  VirtualClock& clock = ClockOf(thread);
  std::erase_if(children, [&](ExitedChild& c) {
    // Signal 0 to a zombie succeeds; once reaped the pidfd answers ESRCH.
    if (c.pidfd.ok() && syscall(SYS_pidfd_send_signal, c.pidfd.get(), 0, nullptr, 0) == 0) {
      return false;  // not reaped yet
    }
    clock.elapsed_ns = std::max(clock.elapsed_ns, c.final_elapsed_ns);
    return true;
  });
  if (children.empty()) unabsorbed_.erase(it);
  if (config_.clock == ClockMode::kStep && clock.elapsed_ns >= clock.next_timer_ns) {
    FireDue(clock);
  }
}

void TimeModule::SleepUntil(const ThreadState& thread, int64_t elapsed) {
  VirtualClock& clock = ClockOf(thread);
  if (config_.clock != ClockMode::kStep || elapsed <= clock.elapsed_ns) return;
  clock.elapsed_ns = elapsed;
  if (clock.elapsed_ns >= clock.next_timer_ns) FireDue(clock);
}

std::optional<Response> TimeModule::ClockGettime(SyscallContext& ctx) {
  const auto& a = ctx.notification.args;
  const int64_t id = static_cast<int32_t>(a[0]);
  if ((id & 7) == 3 && id < 0) return std::nullopt;  // a posix clock fd (PTP): the kernel's
  std::optional<int64_t> now = Read(ctx.thread, id);
  if (!now) return Response::Errno(EINVAL);
  // The step-mode vDSO stub's call (vdso_patch.h StepClockGettimeStub):
  // the time goes back as the return value and the stub stores it.
  const bool from_stub = config_.clock == ClockMode::kStep && a[2] == kStepClockMagic[0] &&
                         a[3] == kStepClockMagic[1];
  if (from_stub && *now >= 0) return Response::Value(*now);
  KernelTimespec ts = ToTimespec(*now);
  std::optional<Response> written = WriteOut(ctx, a[1], &ts, sizeof ts, 0);
  if (from_stub && written->kind == Response::Kind::kValue) return Response::Value(kStepStubWrote);
  return written;
}

std::optional<Response> TimeModule::Adjtimex(SyscallContext& ctx, uint64_t buf) {
  const Notification& n = ctx.notification;
  uint32_t modes = 0;
  if (absl::Status s = ctx.memory.Read(n.id, n.tid, buf, &modes, sizeof modes); !s.ok()) {
    return Response::Errno(ErrnoForMemoryStatus(s));
  }
  // Only a read (no mode, or ADJ_OFFSET_SS_READ) is answered: any
  // adjustment is what an unprivileged caller gets, EPERM.
  if (modes != 0 && modes != ADJ_OFFSET_SS_READ) return Response::Errno(EPERM);
  // The kernel's figures for a clock no NTP daemon ever disciplined
  // (kernel/time/ntp.c: ntp_clear), at the virtual time in microseconds.
  struct timex tx {};
  tx.maxerror = 16'000'000;  // NTP_PHASE_LIMIT, in µs
  tx.esterror = 16'000'000;
  tx.status = STA_UNSYNC;
  tx.constant = 2;             // the kernel's initial time constant
  tx.precision = 1;
  tx.tolerance = 32'768'000;   // MAXFREQ_SCALED >> 16: 500 ppm
  tx.tick = 1'000'000 / 100;   // USER_HZ
  tx.tai = 37;                 // CLOCK_TAI runs 37 s ahead (README, Time)
  KernelTimespec now = ToTimespec(*Read(ctx.thread, CLOCK_REALTIME));
  tx.time.tv_sec = now.tv_sec;
  tx.time.tv_usec = now.tv_nsec / 1000;
  return WriteOut(ctx, buf, &tx, sizeof tx, TIME_ERROR);
}

std::optional<Response> TimeModule::ClockAdjtime(SyscallContext& ctx) {
  const int64_t id = static_cast<int32_t>(ctx.notification.args[0]);
  if ((id & 7) == 3 && id < 0) return std::nullopt;  // a posix clock fd (PTP): the kernel's
  if (id == CLOCK_REALTIME) return Adjtimex(ctx, ctx.notification.args[1]);
  // The kernel adjusts no other clock (EOPNOTSUPP), and knows ids 0..11.
  if (Read(ctx.thread, id).has_value()) return Response::Errno(EOPNOTSUPP);
  return Response::Errno(EINVAL);
}

std::optional<Response> TimeModule::Gettimeofday(SyscallContext& ctx) {
  const uint64_t tv_addr = ctx.notification.args[0];
  const uint64_t tz_addr = ctx.notification.args[1];
  if (tz_addr != 0) {
    // UTC, no DST: what the kernel reports unless someone set sys_tz.
    const int32_t tz[2] = {0, 0};
    if (std::optional<Response> r = WriteOut(ctx, tz_addr, tz, sizeof tz, 0);
        r->kind == Response::Kind::kErrno) {
      return r;
    }
  }
  if (tv_addr == 0) return Response::Value(0);
  KernelTimespec ts = ToTimespec(*Read(ctx.thread, CLOCK_REALTIME));
  KernelTimeval tv{ts.tv_sec, ts.tv_nsec / 1000};
  return WriteOut(ctx, tv_addr, &tv, sizeof tv, 0);
}

std::optional<Response> TimeModule::Time(SyscallContext& ctx) {
  KernelTimespec ts = ToTimespec(*Read(ctx.thread, CLOCK_REALTIME));
  if (ctx.notification.args[0] != 0) {
    return WriteOut(ctx, ctx.notification.args[0], &ts.tv_sec, sizeof ts.tv_sec, ts.tv_sec);
  }
  return Response::Value(ts.tv_sec);
}

std::optional<Response> TimeModule::ClockGetres(SyscallContext& ctx) {
  const int64_t id = static_cast<int32_t>(ctx.notification.args[0]);
  if ((id & 7) == 3 && id < 0) return std::nullopt;
  if (!Base(id)) return Response::Errno(EINVAL);
  // Fixed, host-independent answers: 1 ns for high-resolution clocks, one
  // 250 Hz jiffy for the coarse ones.
  const bool coarse = id == CLOCK_REALTIME_COARSE || id == CLOCK_MONOTONIC_COARSE;
  KernelTimespec res{0, coarse ? 4'000'000 : 1};
  if (ctx.notification.args[1] == 0) return Response::Value(0);
  return WriteOut(ctx, ctx.notification.args[1], &res, sizeof res, 0);
}

std::optional<Response> TimeModule::Nanosleep(SyscallContext& ctx) {
  int error = 0;
  std::optional<KernelTimespec> req = ReadTimespec(ctx, ctx.notification.args[0], &error);
  if (!req) return Response::Errno(error);
  if (config_.clock == ClockMode::kReal) return Response::Continue();
  return SleepTo(ctx, SatAdd(ClockOf(ctx.thread).elapsed_ns, ToNs(*req)), ctx.notification.args[1]);
}

std::optional<Response> TimeModule::ClockNanosleep(SyscallContext& ctx) {
  const int64_t id = static_cast<int32_t>(ctx.notification.args[0]);
  const bool absolute = (ctx.notification.args[1] & TIMER_ABSTIME) != 0;
  // The kernel refuses sleeping on the calling thread's own CPU clock.
  if (id == CLOCK_THREAD_CPUTIME_ID) return Response::Errno(EINVAL);
  std::optional<int64_t> base = Base(id);
  if (!base) return Response::Errno(EINVAL);
  int error = 0;
  std::optional<KernelTimespec> req = ReadTimespec(ctx, ctx.notification.args[2], &error);
  if (!req) return Response::Errno(error);
  const int64_t value = ToNs(*req);
  if (config_.clock == ClockMode::kReal) {
    // Relative sleeps really sleep. An absolute deadline is in virtual
    // terms, which the kernel cannot read: the supervisor holds the call
    // and answers it when the deadline comes (never rewriting the
    // caller's struct).
    if (!absolute) return Response::Continue();
    const int64_t remaining = value - (*base + Elapsed(ClockOf(ctx.thread)));
    if (remaining <= 0) return Response::Value(0);
    return Response::HeldUntil(SatAdd(RealMonotonicNs(), remaining), Response::Value(0));
  }
  // Never written back: the caller's struct is input only (a
  // `deadline += period` loop must keep its own deadline).
  const int64_t target = absolute ? value - *base : SatAdd(ClockOf(ctx.thread).elapsed_ns, value);
  return SleepTo(ctx, target, absolute ? 0 : ctx.notification.args[3]);
}

std::optional<Response> TimeModule::Times(SyscallContext& ctx) {
  // One clock read: the uptime and the CPU time are of the same instant.
  const int64_t uptime = *Read(ctx.thread, CLOCK_MONOTONIC);
  const int64_t result = ToTicks(uptime);
  const uint64_t buf = ctx.notification.args[0];
  if (buf == 0) return Response::Value(result);
  // Reaped children's CPU time is not accumulated: cutime/cstime stay 0.
  const KernelTms tms{ToTicks(uptime - kUptimeAtStartNs), 0, 0, 0};
  return WriteOut(ctx, buf, &tms, sizeof tms, result);
}

std::optional<Response> TimeModule::Getrusage(SyscallContext& ctx) {
  const int32_t who = static_cast<int32_t>(ctx.notification.args[0]);
  if (who != RUSAGE_SELF && who != RUSAGE_THREAD && who != RUSAGE_CHILDREN) {
    return Response::Errno(EINVAL);
  }
  // Every host figure (maxrss, faults, I/O, context switches) reads 0.
  KernelRusage usage{};
  if (who != RUSAGE_CHILDREN) {
    // The process and thread CPU clocks both read the calling thread's
    // counter, so SELF and THREAD agree.
    const KernelTimespec cpu = ToTimespec(*Peek(ctx.thread, CLOCK_PROCESS_CPUTIME_ID));
    usage.ru_utime = {cpu.tv_sec, cpu.tv_nsec / 1000};
  }
  return WriteOut(ctx, ctx.notification.args[1], &usage, sizeof usage, 0);
}

std::optional<Response> TimeModule::Sysinfo(SyscallContext& ctx) {
  const KernelTimespec uptime = ToTimespec(*Peek(ctx.thread, CLOCK_MONOTONIC));
  KernelSysinfo info{};
  // Rounded up to the next second, as the kernel's do_sysinfo does.
  info.uptime = uptime.tv_sec + (uptime.tv_nsec != 0 ? 1 : 0);
  info.totalram = SysinfoFigures::kTotalRam;
  info.freeram = SysinfoFigures::kFreeRam;
  info.sharedram = SysinfoFigures::kSharedRam;
  info.bufferram = SysinfoFigures::kBufferRam;
  info.totalswap = SysinfoFigures::kTotalSwap;
  info.freeswap = SysinfoFigures::kFreeSwap;
  info.procs = SysinfoFigures::kProcs;
  info.totalhigh = SysinfoFigures::kTotalHigh;
  info.freehigh = SysinfoFigures::kFreeHigh;
  info.mem_unit = SysinfoFigures::kMemUnit;
  return WriteOut(ctx, ctx.notification.args[0], &info, sizeof info, 0);
}

}  // namespace detrun
