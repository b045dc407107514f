#include "core/notification_wait.h"

#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "absl/status/status.h"

// long detrun_ioctl_unless_set(int fd, unsigned long cmd, void* arg,
//                              const uint32_t* flag);
// The check of *flag and the syscall instruction, with the labels the
// signal handler compares rip with. System V arguments rdi, rsi, rdx, rcx;
// the syscall takes rdi, rsi, rdx and clobbers rcx (read before it) and r11.
extern "C" long detrun_ioctl_unless_set(int fd, unsigned long cmd, void* arg, const uint32_t* flag);
extern "C" const char detrun_ioctl_window_begin[];
extern "C" const char detrun_ioctl_window_syscall[];
extern "C" const char detrun_ioctl_window_skipped[];
asm(R"(
    .text
    .globl detrun_ioctl_unless_set
    .type detrun_ioctl_unless_set, @function
    .hidden detrun_ioctl_window_begin, detrun_ioctl_window_syscall, detrun_ioctl_window_skipped
detrun_ioctl_unless_set:
    mov $16, %eax                    # SYS_ioctl
detrun_ioctl_window_begin:
    cmpl $0, (%rcx)
    jne detrun_ioctl_window_skipped
detrun_ioctl_window_syscall:
    syscall
    ret
detrun_ioctl_window_skipped:
    mov $-4, %rax                    # -EINTR
    ret
    .size detrun_ioctl_unless_set, . - detrun_ioctl_unless_set
)");

namespace detrun {
namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free &&
              std::atomic<uint64_t>::is_always_lock_free);

// The one live NotificationWait, for the signal handler.
std::atomic<NotificationWait*> active{nullptr};

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, value,
                 nullptr, nullptr, 0);
}

// Waker tags in its own epoll set.
constexpr uint64_t kSupervisorSet = 1;
constexpr uint64_t kStop = 2;

}  // namespace

// Async-signal-safe: atomics only.
void OnWakeSignal(int sig, siginfo_t*, void* context) {
  if (NotificationWait* w = active.load(); w != nullptr && sig != NotificationWait::WakeSignal()) {
    w->caught_.fetch_or(uint64_t{1} << sig);
    w->woken_.fetch_or(NotificationWait::kWokenBySignal);
  }
  auto* uc = static_cast<ucontext_t*>(context);
  greg_t& rip = uc->uc_mcontext.gregs[REG_RIP];
  rip = static_cast<greg_t>(NotificationWait::InterruptedBeforeSyscall(static_cast<uint64_t>(rip)));
}

int NotificationWait::WakeSignal() { return SIGRTMIN + 4; }

uint64_t NotificationWait::InterruptedBeforeSyscall(uint64_t rip) {
  const auto begin = reinterpret_cast<uint64_t>(detrun_ioctl_window_begin);
  const auto syscall_at = reinterpret_cast<uint64_t>(detrun_ioctl_window_syscall);
  // rip == syscall_at: the syscall has not run, or the kernel rewound rip
  // to restart it; either way the flag must be looked at again first.
  if (rip >= begin && rip <= syscall_at) {
    return reinterpret_cast<uint64_t>(detrun_ioctl_window_skipped);
  }
  return rip;
}

long NotificationWait::IoctlUnlessSet(int fd, unsigned long cmd, void* arg,
                                      const std::atomic<uint32_t>* flag) {
  return detrun_ioctl_unless_set(fd, cmd, arg, reinterpret_cast<const uint32_t*>(flag));
}

NotificationWait::NotificationWait() : supervisor_tid_(gettid()) {}

absl::StatusOr<std::unique_ptr<NotificationWait>> NotificationWait::Start(int epoll_fd) {
  std::unique_ptr<NotificationWait> w(new NotificationWait());
  NotificationWait* expected = nullptr;
  if (!active.compare_exchange_strong(expected, w.get())) {
    return absl::FailedPreconditionError("a NotificationWait is already running");
  }
  w->stop_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!w->stop_fd_.ok()) return absl::ErrnoToStatus(errno, "eventfd");
  w->waker_epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!w->waker_epoll_.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");
  // An epoll descriptor is itself pollable: readable while its set has a
  // ready descriptor.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kSupervisorSet;
  if (epoll_ctl(w->waker_epoll_.get(), EPOLL_CTL_ADD, epoll_fd, &ev) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl (the supervisor's set)");
  }
  ev.data.u64 = kStop;
  if (epoll_ctl(w->waker_epoll_.get(), EPOLL_CTL_ADD, w->stop_fd_.get(), &ev) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl (eventfd)");
  }

  // Blocked in the supervisor's thread except inside Wait() (and in the
  // waker always); taken by the handler while it waits.
  sigemptyset(&w->wait_set_);
  sigaddset(&w->wait_set_, WakeSignal());
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &w->wait_set_, &previous);
  w->wake_was_blocked_ = sigismember(&previous, WakeSignal()) == 1;
  struct sigaction action {};
  action.sa_sigaction = OnWakeSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(WakeSignal(), &action, &w->previous_action_) != 0) {
    return absl::ErrnoToStatus(errno, "sigaction");
  }
  w->installed_ = true;
  // Every signal but the synchronous ones: a fault with its signal blocked
  // ends the process, and the waker inherits the supervisor's rdtsc trap,
  // whose SIGSEGV the handler of core/tsc_trap.h answers (the sanitizer's
  // allocator reads the vDSO clock in a new thread).
  sigset_t all;
  sigfillset(&all);
  for (int sync : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) sigdelset(&all, sync);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  w->waker_ = std::thread([p = w.get()] { p->WakerLoop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return w;
}

NotificationWait::~NotificationWait() {
  if (waker_.joinable()) {
    stop_.store(true);
    const uint64_t one = 1;
    ssize_t ignored = write(stop_fd_.get(), &one, sizeof one);
    (void)ignored;
    acks_.fetch_add(1);
    Futex(&acks_, FUTEX_WAKE, 1);
    waker_.join();
  }
  ReleaseSignals();
  if (installed_) {
    // A kick still pending (blocked) would take the previous action, by
    // default the end of the process: taken here first.
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, WakeSignal());
    const timespec zero{};
    while (sigtimedwait(&wake, nullptr, &zero) == WakeSignal()) {
    }
    sigaction(WakeSignal(), &previous_action_, nullptr);
    if (!wake_was_blocked_) pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
  }
  NotificationWait* self = this;
  active.compare_exchange_strong(self, nullptr);
}

absl::Status NotificationWait::CatchSignal(int sig) {
  if (sig <= 0 || sig >= 64 || sig == WakeSignal()) {
    return absl::InvalidArgumentError("CatchSignal: bad signal");
  }
  struct sigaction action {};
  action.sa_sigaction = OnWakeSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct sigaction previous {};
  if (sigaction(sig, &action, &previous) != 0) return absl::ErrnoToStatus(errno, "sigaction");
  caught_signals_.push_back(CaughtSignal{sig, previous});
  sigaddset(&wait_set_, sig);
  return absl::OkStatus();
}

namespace {

// Whether making `action` the action of `sig` discards an instance of it
// that is pending: an action of "ignore", explicit or by default (POSIX;
// Linux flushes it).
bool DiscardsPending(int sig, const struct sigaction& action) {
  if (action.sa_flags & SA_SIGINFO) return false;
  if (action.sa_handler == SIG_IGN) return true;
  return action.sa_handler == SIG_DFL &&
         (sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH);
}

}  // namespace

void NotificationWait::ReleaseSignals() {
  // Blocked already (outside Wait()): one that comes from now on stays
  // pending, for a signalfd. The previous action comes back unless it
  // would discard one already pending (SIGCHLD's default, "ignore"); a
  // blocked signal never runs the handler that then stays.
  for (const CaughtSignal& c : caught_signals_) {
    sigdelset(&wait_set_, c.sig);
    if (!DiscardsPending(c.sig, c.previous)) sigaction(c.sig, &c.previous, nullptr);
  }
  caught_signals_.clear();
}

bool NotificationWait::TakeCaught(int sig) {
  const uint64_t bit = uint64_t{1} << sig;
  return (caught_.fetch_and(~bit) & bit) != 0;
}

void NotificationWait::WakerLoop() {
  epoll_event events[2];
  while (!stop_.load()) {
    const int n = epoll_wait(waker_epoll_.get(), events, 2, -1);
    if (n <= 0 || stop_.load()) continue;  // EINTR; or stopping
    const uint32_t seen = acks_.load();
    woken_.fetch_or(kWokenByWaker);
    syscall(SYS_tgkill, getpid(), supervisor_tid_, WakeSignal());
    // Until the supervisor has drained its set: the set stays ready (level
    // triggered) until then, and waiting on it again would spin.
    while (acks_.load() == seen && !stop_.load()) Futex(&acks_, FUTEX_WAIT, seen);
  }
}

absl::StatusOr<NotificationWait::Result> NotificationWait::Wait(int listener, seccomp_notif* req) {
  // The signals are taken only here: any other call of the supervisor's
  // thread runs to its end. (An interrupted SECCOMP_IOCTL_NOTIF_ADDFD with
  // SECCOMP_ADDFD_FLAG_SEND, restarted, has already marked the call
  // answered: the task's call returned 0 instead of the new descriptor.)
  // Signals that came meanwhile run their handler as they are unblocked.
  pthread_sigmask(SIG_UNBLOCK, &wait_set_, nullptr);
  long r = -EINTR;
  if (woken_.load() == 0) r = IoctlUnlessSet(listener, SECCOMP_IOCTL_NOTIF_RECV, req, &woken_);
  pthread_sigmask(SIG_BLOCK, &wait_set_, nullptr);
  if (r == 0) return Result::kNotification;  // `woken` stays for the next call
  if (r == -EINTR) {
    // Cleared before the caller drains, so that whatever comes during the
    // drain sets it again and the next Wait() returns at once. Only the
    // waker waits for Rearm(): a caught signal alone needs no ack.
    if (woken_.exchange(0) & kWokenByWaker) drain_pending_ = true;
    return Result::kWoken;  // or another handled signal: nothing to lose
  }
  if (r == -ENOENT) return Result::kGone;
  return absl::ErrnoToStatus(static_cast<int>(-r), "SECCOMP_IOCTL_NOTIF_RECV");
}

void NotificationWait::Rearm() {
  if (!drain_pending_) return;
  drain_pending_ = false;
  acks_.fetch_add(1);
  Futex(&acks_, FUTEX_WAKE, 1);
}

}  // namespace detrun
