#include "determinism/time_module.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include <cerrno>
#include <algorithm>
#include <ctime>

#include "core/child_memory.h"
#include "core/process_table.h"

namespace detrun {

struct TimeModule::VirtualClock : ModuleState {
  int64_t elapsed_ns = 0;  // virtual time this thread has seen pass
};

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

// Kernel ABI structs (64-bit).
struct KernelTimespec {
  int64_t tv_sec;
  int64_t tv_nsec;
};
struct KernelTimeval {
  int64_t tv_sec;
  int64_t tv_usec;
};

KernelTimespec ToTimespec(int64_t ns) {
  // Floor division, so times before 1970 keep 0 <= tv_nsec < 1e9.
  int64_t sec = ns / kNsPerSec;
  int64_t rem = ns % kNsPerSec;
  if (rem < 0) {
    rem += kNsPerSec;
    --sec;
  }
  return {sec, rem};
}

int64_t RealMonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

// Writes `value` to the child; EFAULT if it cannot.
std::optional<Response> WriteOut(SyscallContext& ctx, uint64_t addr, const void* value,
                                 size_t size, int64_t result) {
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid, addr, value, size);
  if (!s.ok()) return Response::Errno(ErrnoForMemoryStatus(s));
  return Response::Value(result);
}

// Reads a timespec argument; nullopt with the errno set in `error`.
std::optional<KernelTimespec> ReadTimespec(SyscallContext& ctx, uint64_t addr, int* error) {
  KernelTimespec ts;
  absl::Status s =
      ctx.memory.Read(ctx.notification.id, ctx.notification.tid, addr, &ts, sizeof ts);
  if (!s.ok()) {
    *error = ErrnoForMemoryStatus(s);
    return std::nullopt;
  }
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) {
    *error = EINVAL;
    return std::nullopt;
  }
  return ts;
}

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
}

std::unique_ptr<ModuleState> TimeModule::SnapshotForClone(const ThreadState& creator) {
  auto copy = std::make_unique<VirtualClock>();
  copy->elapsed_ns = ClockOf(creator).elapsed_ns;
  return copy;
}

std::unique_ptr<ModuleState> TimeModule::NewThreadState(const ThreadState&,
                                                        const ModuleState* inherited) {
  auto clock = std::make_unique<VirtualClock>();
  if (inherited != nullptr) {
    clock->elapsed_ns = static_cast<const VirtualClock*>(inherited)->elapsed_ns;
  }
  return clock;
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

std::optional<int64_t> TimeModule::Peek(const ThreadState& thread, int64_t id) const {
  std::optional<int64_t> base = Base(id);
  if (!base) return std::nullopt;
  return *base + Elapsed(ClockOf(thread));
}

std::optional<int64_t> TimeModule::Read(const ThreadState& thread, int64_t id) {
  std::optional<int64_t> value = Peek(thread, id);
  if (value && config_.clock == ClockMode::kStep) ClockOf(thread).elapsed_ns += tick_ns_;
  return value;
}

void TimeModule::OnProcessExit(const ProcessState& process,
                               const std::vector<const ThreadState*>& threads) {
  int64_t final_elapsed = 0;
  for (const ThreadState* t : threads) final_elapsed = std::max(final_elapsed, ClockOf(*t).elapsed_ns);
  // A zombie still has a pidfd; one already reaped does not (ESRCH), and is
  // absorbed at the parent's next notification.
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, process.pid, 0)));
  unabsorbed_[process.ppid].push_back(ExitedChild{std::move(fd), final_elapsed});
  unabsorbed_.erase(process.pid);  // its own children no longer matter
}

void TimeModule::BeforeNotification(ThreadState& thread) {
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
}

void TimeModule::SleepUntil(const ThreadState& thread, int64_t elapsed) {
  VirtualClock& clock = ClockOf(thread);
  if (config_.clock == ClockMode::kStep && elapsed > clock.elapsed_ns) clock.elapsed_ns = elapsed;
}

std::optional<Response> TimeModule::ClockGettime(SyscallContext& ctx) {
  const int64_t id = static_cast<int32_t>(ctx.notification.args[0]);
  if ((id & 7) == 3 && id < 0) return std::nullopt;  // a posix clock fd (PTP): the kernel's
  std::optional<int64_t> now = Read(ctx.thread, id);
  if (!now) return Response::Errno(EINVAL);
  KernelTimespec ts = ToTimespec(*now);
  return WriteOut(ctx, ctx.notification.args[1], &ts, sizeof ts, 0);
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
  const int64_t duration = req->tv_sec * kNsPerSec + req->tv_nsec;
  SleepUntil(ctx.thread, ClockOf(ctx.thread).elapsed_ns + duration);
  return Response::Value(0);
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
  const int64_t value = req->tv_sec * kNsPerSec + req->tv_nsec;
  if (config_.clock == ClockMode::kReal) {
    // Relative sleeps really sleep. An absolute deadline is in virtual
    // terms, which the kernel cannot read; until deadlines are translated
    // (a held notification answered by a timer), a deadline already passed
    // returns at once and a later one sleeps its remaining real time as a
    // relative sleep would -- which needs the call rewritten, so it is not
    // done yet: the kernel gets the call as is.
    if (absolute && *base + Elapsed(ClockOf(ctx.thread)) >= value) return Response::Value(0);
    return Response::Continue();
  }
  // Never written back: the caller's struct is input only (a
  // `deadline += period` loop must keep its own deadline).
  const int64_t target = absolute ? value - *base : ClockOf(ctx.thread).elapsed_ns + value;
  SleepUntil(ctx.thread, target);
  return Response::Value(0);
}

}  // namespace detrun
