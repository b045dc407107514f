// NotificationWait: the supervisor's thread waits for the next seccomp
// notification inside SECCOMP_IOCTL_NOTIF_RECV itself, not in epoll_wait.
//
// Why: with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+) a notifying
// task wakes the thread blocked in RECV on the task's own CPU and hands it
// that CPU as it blocks: no inter-processor wakeup, no idle CPU to bring
// back (in a virtual machine, a halted vCPU). A thread that waits in
// epoll_wait is woken through epoll's callback, which drops that hint: it
// is woken like any other, often on the other CPU. Measured on the 2-core
// VM with bench/notify_floor (a bare supervisor, no detrun; two runs each),
// with the child working about 5.5 µs between calls (`notify_floor 5000
// recv|epoll 20000`): 4.4 to 5.7 µs per notification beyond the child's
// work when the supervisor waits in RECV, 18 to 22 µs when it waits in
// epoll_wait; with 25 µs of work (100000), 4.3 to 8.1 µs against 18 to
// 22 µs. Back-to-back calls differ less: 4.2 to 4.8 µs against 4.6 to
// 5.9 µs.
//
// Signals the supervisor waits for are caught by a handler that
// interrupts RECV (CatchSignal). Everything else (exit pidfds, the hold
// timer, modules' descriptors) stays in its epoll set; a signalfd does
// not belong there, as any signal wakes a signalfd's pollers. A helper
// thread, the waker, waits on that set; when it becomes ready, the waker
// sets `woken` and sends WakeSignal() to the supervisor's thread. The
// signal interrupts RECV (kernels before 6.6 fail it with EINTR; later
// ones ask for a restart, and the handler turns that into -EINTR as
// below), and the supervisor drains the epoll set with a zero timeout, as
// its loop did before, then calls Rearm(). The waker touches nothing
// else: all state stays the supervisor thread's.
//
// The lost wakeup (the signal handled after the supervisor checked
// `woken` but before it entered RECV, which would then sleep until the
// next notification) is closed like a restartable sequence: the check and
// the syscall instruction are one short assembly sequence, and the
// signal's handler moves an rip that lies between them to an exit that
// returns -EINTR (InterruptedBeforeSyscall; a restart puts rip back on
// the syscall instruction, which counts as before it). Outside Wait() the signals
// stay blocked in the supervisor's thread, so no other call of it is ever
// interrupted: a restarted SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND would have the task's call return 0 (the kernel
// marks the call answered when the request is queued; seen as git reading
// "/dev/urandom" from descriptor 0 forever).
//
// Life: Start() after the supervisor's signal mask is set (the waker
// blocks every signal but the synchronous ones) and after SupervisorTscTrap (the waker inherits the
// trap, so it switches CPUs with the command without rewriting CR4); the
// destructor stops and joins the waker, takes a kick still pending and
// restores WakeSignal()'s action.
// One NotificationWait per process at a time.
#ifndef DETRUN_CORE_NOTIFICATION_WAIT_H_
#define DETRUN_CORE_NOTIFICATION_WAIT_H_

#include <linux/seccomp.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "core/unique_fd.h"

namespace detrun {

void OnWakeSignal(int sig, siginfo_t* info, void* context);

class NotificationWait {
 public:
  // Starts the waker on `epoll_fd` (which must outlive this object).
  static absl::StatusOr<std::unique_ptr<NotificationWait>> Start(int epoll_fd);
  ~NotificationWait();
  NotificationWait(const NotificationWait&) = delete;
  NotificationWait& operator=(const NotificationWait&) = delete;

  enum class Result {
    kNotification,  // `req` holds a received notification
    kWoken,         // the epoll set is ready (or a signal came): drain it
    kGone,          // the notifying task died before it was received
  };
  // Blocks in RECV on `listener` until a notification arrives or the epoll
  // set is ready. Errors: RECV's other failures. After every return the
  // caller drains the epoll set (and TakeCaught()), then calls Rearm().
  absl::StatusOr<Result> Wait(int listener, seccomp_notif* req);

  // The epoll set was drained: the waker may wait on it again.
  void Rearm();

  // Signal `sig` (e.g. SIGCHLD) interrupts Wait() directly, without the
  // waker's hop: its handler notes it and wakes the wait like WakeSignal()
  // does. It is blocked in the caller's thread except inside Wait(), and
  // stays blocked after ReleaseSignals() or the destructor, which put its
  // previous action back unless that would discard one already pending
  // (SIGCHLD's default action, "ignore"; the handler then stays, harmless
  // while the signal is blocked).
  absl::Status CatchSignal(int sig);
  // Whether `sig` came since the last call (CatchSignal).
  bool TakeCaught(int sig);
  // Blocks the CatchSignal signals again and restores their actions (the
  // destructor does it too): a TakeCaught() after it sees every one that
  // was handled; later ones stay pending for a signalfd.
  void ReleaseSignals();

  // The signal the waker sends (a real-time signal glibc leaves free).
  static int WakeSignal();

  // For tests: the window between the check of `woken` and the syscall
  // instruction. When `rip` lies in it, returns where a handler must move
  // it (the sequence's -EINTR exit); otherwise returns `rip`.
  static uint64_t InterruptedBeforeSyscall(uint64_t rip);

  // ioctl(fd, cmd, arg) unless *flag is nonzero, in which case -EINTR
  // without a syscall; otherwise the raw syscall's result (-errno on
  // failure). The sequence the signal handler knows.
  static long IoctlUnlessSet(int fd, unsigned long cmd, void* arg,
                             const std::atomic<uint32_t>* flag);

 private:
  NotificationWait();
  void WakerLoop();

  friend void OnWakeSignal(int, siginfo_t*, void*);

  const pid_t supervisor_tid_;
  // Nonzero when Wait() must return: which of these set it.
  static constexpr uint32_t kWokenBySignal = 1;  // a CatchSignal signal
  static constexpr uint32_t kWokenByWaker = 2;   // the epoll set is ready
  std::atomic<uint32_t> woken_{0};
  std::atomic<uint64_t> caught_{0};  // bit `sig` per CatchSignal signal
  std::atomic<uint32_t> acks_{0};    // a futex word: bumped by Rearm()
  bool drain_pending_ = false;       // Wait() took `woken`; Rearm() acks it
  std::atomic<bool> stop_{false};
  UniqueFd waker_epoll_;  // the supervisor's epoll set and stop_fd_
  UniqueFd stop_fd_;      // an eventfd
  sigset_t wait_set_;     // taken only inside Wait()
  bool wake_was_blocked_ = false;  // WakeSignal()'s state before Start()
  bool installed_ = false;         // WakeSignal()'s handler is ours
  struct sigaction previous_action_ {};
  struct CaughtSignal {
    int sig;
    struct sigaction previous;  // put back by ReleaseSignals() where safe
  };
  std::vector<CaughtSignal> caught_signals_;
  std::thread waker_;
};

}  // namespace detrun

#endif  // DETRUN_CORE_NOTIFICATION_WAIT_H_
