#include "determinism/time_module.h"

#include <linux/kcmp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <ctime>
#include <iterator>

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
      real_start_ns_(RealMonotonicNs()),
      // Every read is an event of the trace: --record keeps them all
      // coming to the supervisor.
      page_clocks_(config.clock == ClockMode::kStep && !config.record_path) {}

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
  if (page_clocks_) {
    // The clock page's bookkeeping: a thread that leaves gives its slot
    // back before its tid can be reused; the last notification of a
    // process and a wait for a child bring the clock up to date.
    registry.Notify(
        SYS_exit,
        [this](SyscallContext& ctx) {
          LeavePage(ctx, ClockOf(ctx.thread));
          return Response::Continue();
        },
        "a thread's in-process clock slot is freed");
    registry.Notify(
        SYS_exit_group,
        [this](SyscallContext& ctx) {
          ClockOf(ctx.thread);  // reads the slot back (pull_pending)
          return Response::Continue();
        },
        "the process's final clock is read from its page");
    auto wait = [this](SyscallContext& ctx) {
      ClockOf(ctx.thread).sync_next_read = true;
      return Response::Continue();
    };
    registry.Notify(SYS_wait4, wait, "the next clock read absorbs a reaped child's clock");
    registry.Notify(SYS_waitid, wait, "the next clock read absorbs a reaped child's clock");
  }
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

TimeModule::VirtualClock& TimeModule::RawClockOf(const ThreadState& thread) const {
  return *static_cast<VirtualClock*>(thread.module_state[slot_].get());
}

TimeModule::VirtualClock& TimeModule::ClockOf(const ThreadState& thread) const {
  VirtualClock& clock = RawClockOf(thread);
  if (clock.pull_pending) {
    clock.pull_pending = false;
    PullFromPage(current_, clock);
  }
  return clock;
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
  // A trap stop, not a call: the thread may have read clocks in-process.
  PullFromPage(nullptr, ClockOf(thread));
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
  pages_.erase(process.pid);
  for (const ThreadState* t : threads) {
    rewrites_.erase(t->tid);
    asleep_cpu_ns_.erase(t->tid);
    restarted_waits_.erase(t->tid);
  }
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
  current_ = &ctx;
  // The slot is read back when the clock is first used (ClockOf), which
  // most notifications never do.
  VirtualClock& unread = RawClockOf(ctx.thread);
  unread.pull_pending = unread.in_page;
  unread.sync_next_read = false;
  FinishWait(ctx);
  auto it = unabsorbed_.find(ctx.thread.process->pid);
  if (it == unabsorbed_.end()) return;
  VirtualClock& clock = ClockOf(ctx.thread);
  std::vector<ExitedChild>& children = it->second;
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
  // The step-mode vDSO stub's call (vdso_patch.h StepClockGettimeStub):
  // the time goes back as the return value and the stub stores it.
  const bool from_stub = config_.clock == ClockMode::kStep && a[2] == kStepClockMagic[0] &&
                         a[3] == kStepClockMagic[1];
  if (from_stub && a[4] == kStepStubSetupDone) return FinishPageSetup(ctx);
  const int64_t id = static_cast<int32_t>(a[0]);
  if ((id & 7) == 3 && id < 0) return std::nullopt;  // a posix clock fd (PTP): the kernel's
  std::optional<int64_t> now = Read(ctx.thread, id);
  if (!now) return Response::Errno(EINVAL);
  bool set_up = false;
  if (from_stub && page_clocks_ && a[4] == 0) {
    ClockPage& page = ResolvePage(ctx);
    if (page.state == ClockPage::kAbsent) {
      page.state = ClockPage::kSettingUp;
      set_up = true;
    } else if (page.state == ClockPage::kReady && !ClockOf(ctx.thread).in_page) {
      RegisterInPage(ctx, page);
    }
  }
  if (from_stub && *now >= 0 && !set_up) return Response::Value(*now);
  KernelTimespec ts = ToTimespec(*now);
  std::optional<Response> written = WriteOut(ctx, a[1], &ts, sizeof ts, 0);
  if (from_stub && written->kind == Response::Kind::kValue) {
    return Response::Value(set_up ? kStepStubSetup : kStepStubWrote);
  }
  return written;
}

// --- The clock page (time_module.h) ------------------------------------

TimeModule::ClockPage& TimeModule::ResolvePage(SyscallContext& ctx) {
  const pid_t tgid = ctx.thread.process->pid;
  ClockPage& page = pages_[tgid];
  if (page.state != ClockPage::kUnknown) return page;
  const Notification& n = ctx.notification;
  // A process that shares its memory with its parent (vfork, CLONE_VM)
  // shares the parent's page too, slots and all: it never gets one.
  auto shares_memory_with = [tgid](pid_t other) {
    return other > 0 && syscall(SYS_kcmp, tgid, other, KCMP_VM, 0, 0) == 0;
  };
  ClockPageHeader header{};
  absl::Status read = ctx.memory.Read(n.id, n.tid, kClockPageAddr, &header, sizeof header);
  if (absl::IsOutOfRange(read)) {
    page.state =
        shares_memory_with(ctx.thread.process->ppid) ? ClockPage::kUnusable : ClockPage::kAbsent;
  } else if (!read.ok() || header.magic != kClockPageMagic) {
    page.state = ClockPage::kUnusable;  // gone, or the program's own memory
  } else if (header.owner == static_cast<uint64_t>(tgid)) {
    page.state = ClockPage::kReady;
  } else if (shares_memory_with(static_cast<pid_t>(header.owner))) {
    page.state = ClockPage::kUnusable;
  } else {
    // A fork's copy of its parent's page: take it over, without the
    // parent's slots. (Its threads cannot have read from those: a slot
    // answers only the tid it names, each a live thread of the parent's
    // when the fork copied it; one of the fork's own threads could only
    // match after that thread exited and the pid namespace's tids wrapped
    // around pid_max, before this first read.)
    header.owner = static_cast<uint64_t>(tgid);
    static const std::vector<uint8_t> kNoSlots(kClockPageSlots * sizeof(ClockPageSlot), 0);
    const bool ok = ctx.memory
                        .Write(n.id, n.tid, kClockPageAddr + kClockPageSlotsOffset, kNoSlots.data(),
                               kNoSlots.size())
                        .ok() &&
                    ctx.memory
                        .Write(n.id, n.tid, kClockPageAddr + offsetof(ClockPageHeader, owner),
                               &header.owner, sizeof header.owner)
                        .ok();
    page.state = ok ? ClockPage::kReady : ClockPage::kUnusable;
  }
  return page;
}

Response TimeModule::FinishPageSetup(SyscallContext& ctx) {
  const Notification& n = ctx.notification;
  ClockPage& page = pages_[ctx.thread.process->pid];
  if (page.state != ClockPage::kSettingUp) return Response::Value(0);
  page.state = ClockPage::kUnusable;
  if (n.args[5] != kClockPageAddr) return Response::Value(0);  // mmap failed: taken
  ClockPageHeader header{};
  header.magic = kClockPageMagic;
  header.owner = static_cast<uint64_t>(ctx.thread.process->pid);
  header.tick_ns = tick_ns_;
  for (int id = 0; id < static_cast<int>(std::size(header.base_ns)); ++id) {
    std::optional<int64_t> base = Base(id);
    if (!base) continue;
    header.id_mask |= uint64_t{1} << id;
    header.base_ns[id] = *base;
  }
  // The flag is the byte after the stub's code, which ends with the plain
  // clock_gettime call: anything else is not our stub's flag.
  const uint64_t flag = n.args[1];
  const std::vector<uint8_t> plain = SyscallStub(SYS_clock_gettime);
  std::vector<uint8_t> before(plain.size() + 1);
  if (flag < before.size() - 1 ||
      !ctx.memory.Read(n.id, n.tid, flag - plain.size(), before.data(), before.size()).ok() ||
      !std::equal(plain.begin(), plain.end(), before.begin()) || before.back() != 0) {
    return Response::Value(0);
  }
  if (!ctx.memory.Write(n.id, n.tid, kClockPageAddr, &header, sizeof header).ok()) {
    return Response::Value(0);
  }
  // The vDSO text is read-only: through /proc/PID/mem, as its patch was.
  ProcMem mem(n.tid);
  const uint8_t one = 1;
  if (!ctx.memory.IsValid(n.id) || !mem.Write(flag, &one, 1).ok()) return Response::Value(0);
  page.state = ClockPage::kReady;
  RegisterInPage(ctx, page);
  return Response::Value(0);
}

void TimeModule::RegisterInPage(SyscallContext& ctx, ClockPage& page) {
  VirtualClock& clock = ClockOf(ctx.thread);
  // The stub finds its slot by gettid, which answers in the program's own
  // pid namespace.
  const std::optional<pid_t> own_tid = OwnTidOf(ctx.thread.tid);
  if (!own_tid || *own_tid <= 0) return;
  pid_t& owner = page.owners[ClockPageSlotIndex(*own_tid)];
  if (owner != 0) return;  // another thread's (tids equal mod 128): marked reads
  const ClockPageSlot slot{*own_tid, clock.elapsed_ns, PageLimit(clock), 0};
  const Notification& n = ctx.notification;
  if (!ctx.memory.Write(n.id, n.tid, ClockPageSlotAddr(*own_tid), &slot, sizeof slot).ok()) return;
  owner = *own_tid;
  clock.in_page = true;
  clock.own_tid = *own_tid;
  clock.page_elapsed_ns = slot.elapsed_ns;
  clock.page_limit_ns = slot.limit_ns;
}

int64_t TimeModule::PageLimit(const VirtualClock& clock) const {
  if (clock.wait_start_ns >= 0 || clock.sync_next_read || rewrites_.contains(clock.tid)) {
    return INT64_MIN;
  }
  return clock.next_timer_ns;
}

namespace {

// The slot fields at `offset` of thread `tid` (as detrun sees it; `own_tid`
// as the program does), by one process_vm_readv or _writev (the page is
// ordinary writable memory).
bool SlotIo(pid_t tid, pid_t own_tid, size_t offset, int64_t* fields, size_t count, bool write) {
  iovec local{fields, count * sizeof *fields};
  iovec remote{reinterpret_cast<void*>(ClockPageSlotAddr(own_tid) + offset), local.iov_len};
  const ssize_t n = write ? process_vm_writev(tid, &local, 1, &remote, 1, 0)
                          : process_vm_readv(tid, &local, 1, &remote, 1, 0);
  return n == static_cast<ssize_t>(local.iov_len);
}

}  // namespace

void TimeModule::PullFromPage(SyscallContext* ctx, VirtualClock& clock) const {
  int64_t elapsed = 0;
  if (!clock.in_page || !SlotIo(clock.tid, clock.own_tid, offsetof(ClockPageSlot, elapsed_ns),
                                &elapsed, 1, /*write=*/false)) {
    return;
  }
  // Checked after the read: what was read is that thread's, still waiting.
  if (ctx != nullptr && !ctx->memory.IsValid(ctx->notification.id)) return;
  clock.elapsed_ns = clock.page_elapsed_ns = elapsed;
}

void TimeModule::AfterNotification(SyscallContext& ctx) {
  current_ = nullptr;
  VirtualClock& clock = RawClockOf(ctx.thread);
  // Not read back: nothing used the clock, and the slot's elapsed time is
  // newer than ours; only the limit may have changed (sync_next_read).
  const bool used = !clock.pull_pending;
  clock.pull_pending = false;
  PushToPage(&ctx, clock, /*with_elapsed=*/used);
}

void TimeModule::PushToPage(SyscallContext* ctx, VirtualClock& clock, bool with_elapsed) {
  if (!clock.in_page) return;
  int64_t fields[2] = {clock.elapsed_ns, PageLimit(clock)};
  if (fields[0] == clock.page_elapsed_ns && fields[1] == clock.page_limit_ns) return;
  if (ctx != nullptr && !ctx->memory.IsValid(ctx->notification.id)) return;
  if (!with_elapsed) {
    if (SlotIo(clock.tid, clock.own_tid, offsetof(ClockPageSlot, limit_ns), &fields[1], 1,
               /*write=*/true)) {
      clock.page_limit_ns = fields[1];
    }
    return;
  }
  if (SlotIo(clock.tid, clock.own_tid, offsetof(ClockPageSlot, elapsed_ns), fields, 2,
             /*write=*/true)) {
    clock.page_elapsed_ns = fields[0];
    clock.page_limit_ns = fields[1];
  }
}

void TimeModule::LeavePage(SyscallContext& ctx, VirtualClock& clock) {
  if (!clock.in_page) return;
  clock.in_page = false;
  auto it = pages_.find(ctx.thread.process->pid);
  if (it == pages_.end()) return;
  pid_t& owner = it->second.owners[ClockPageSlotIndex(clock.own_tid)];
  if (owner != clock.own_tid) return;
  owner = 0;
  const int64_t free_tid = 0;
  const Notification& n = ctx.notification;
  ctx.memory.Write(n.id, n.tid, ClockPageSlotAddr(clock.own_tid), &free_tid, sizeof free_tid)
      .IgnoreError();
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
