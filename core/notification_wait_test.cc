#include "core/notification_wait.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "gtest/gtest.h"

// The sequence itself (notification_wait.cc).
extern "C" long detrun_ioctl_unless_set(int, unsigned long, void*, const uint32_t*);

namespace detrun {
namespace {

TEST(NotificationWaitTest, IoctlUnlessSetSkipsTheSyscallWhenTheFlagIsSet) {
  std::atomic<uint32_t> flag{1};
  int value = 0;
  // Descriptor -1: the syscall, had it run, would have failed with EBADF.
  EXPECT_EQ(NotificationWait::IoctlUnlessSet(-1, FIONREAD, &value, &flag), -EINTR);
  flag.store(0);
  EXPECT_EQ(NotificationWait::IoctlUnlessSet(-1, FIONREAD, &value, &flag), -EBADF);
}

// The handler's rule against the sequence's own bytes: from the flag check
// up to and including the syscall instruction, rip moves to an exit that
// loads -EINTR; before the check and after the syscall, it stays.
TEST(NotificationWaitTest, OnlyAnRipBeforeTheSyscallIsMovedToTheExit) {
  const auto* code = reinterpret_cast<const uint8_t*>(&detrun_ioctl_unless_set);
  const auto start = reinterpret_cast<uint64_t>(code);
  size_t syscall_at = 0;
  for (size_t i = 0; i + 1 < 32; ++i) {
    if (code[i] == 0x0f && code[i + 1] == 0x05) {
      syscall_at = i;
      break;
    }
  }
  ASSERT_NE(syscall_at, 0u) << "no syscall instruction in the sequence";
  ASSERT_EQ(code[0], 0xb8) << "the sequence starts with mov $SYS_ioctl, %eax";
  const uint64_t check = start + 5;  // after the 5-byte mov
  const uint64_t exit = NotificationWait::InterruptedBeforeSyscall(check);
  ASSERT_NE(exit, check);
  // mov $-4, %rax; ret
  const uint8_t kExit[] = {0x48, 0xc7, 0xc0, 0xfc, 0xff, 0xff, 0xff, 0xc3};
  EXPECT_EQ(memcmp(reinterpret_cast<const void*>(exit), kExit, sizeof kExit), 0);
  for (uint64_t rip = check; rip <= start + syscall_at; ++rip) {
    EXPECT_EQ(NotificationWait::InterruptedBeforeSyscall(rip), exit) << "offset " << rip - start;
  }
  EXPECT_EQ(NotificationWait::InterruptedBeforeSyscall(start), start);
  EXPECT_EQ(NotificationWait::InterruptedBeforeSyscall(start + syscall_at + 2),
            start + syscall_at + 2);
  EXPECT_EQ(NotificationWait::InterruptedBeforeSyscall(exit), exit);
}

// A child whose getppid() calls notify a listener this process takes from
// it (pidfd_getfd). The child makes one call per byte written to `go_`.
class NotifyingChild {
 public:
  NotifyingChild() {
    int go[2], ready[2];
    EXPECT_EQ(pipe2(go, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(ready, O_CLOEXEC), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(go[1]);  // so that the parent's close ends the read loop below
      close(ready[0]);
      sock_filter code[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      sock_fprog prog = {sizeof code / sizeof code[0], code};
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      const int listener = static_cast<int>(
          syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
      if (listener < 0 || write(ready[1], &listener, sizeof listener) != sizeof listener) _exit(3);
      char byte;
      while (read(go[0], &byte, 1) == 1) syscall(SYS_getppid);
      _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    go_ = go[1];
    int child_listener = -1;
    if (read(ready[0], &child_listener, sizeof child_listener) == sizeof child_listener) {
      UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
      listener_ = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), child_listener, 0));
    }
    close(ready[0]);
  }
  ~NotifyingChild() {
    close(go_);  // the child's read sees EOF and it exits
    if (listener_ >= 0) close(listener_);
    waitpid(pid_, nullptr, 0);
  }
  int listener() const { return listener_; }
  void Call() { ASSERT_EQ(write(go_, "x", 1), 1); }
  void Answer(const seccomp_notif& req) {
    seccomp_notif_resp resp{};
    resp.id = req.id;
    resp.val = 42;
    EXPECT_EQ(ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &resp), 0);
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  int listener_ = -1;
};

struct EpollWithEventfd {
  EpollWithEventfd() {
    epoll.reset(epoll_create1(EPOLL_CLOEXEC));
    event.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, event.get(), &ev);
  }
  void Signal() {
    const uint64_t one = 1;
    ASSERT_EQ(write(event.get(), &one, sizeof one), 8);
  }
  uint64_t Drain() {
    uint64_t count = 0;
    return read(event.get(), &count, sizeof count) == 8 ? count : 0;
  }
  UniqueFd epoll;
  UniqueFd event;
};

// A child that notifies, an epoll set with an eventfd, and a wait on both.
class WaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(child_.listener(), 0);
    absl::StatusOr<std::unique_ptr<NotificationWait>> wait =
        NotificationWait::Start(set_.epoll.get());
    ASSERT_TRUE(wait.ok()) << wait.status();
    wait_ = std::move(*wait);
  }
  absl::StatusOr<NotificationWait::Result> Wait(seccomp_notif* req) {
    return wait_->Wait(child_.listener(), req);
  }

  NotifyingChild child_;
  EpollWithEventfd set_;
  std::unique_ptr<NotificationWait> wait_;
};

TEST_F(WaitTest, ReturnsNotificationsAndWakesForTheEpollSet) {
  child_.Call();
  seccomp_notif req{};
  absl::StatusOr<NotificationWait::Result> r = Wait(&req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, NotificationWait::Result::kNotification);
  EXPECT_EQ(req.data.nr, SYS_getppid);
  child_.Answer(req);

  // Blocked in RECV with no call coming: the set's readiness wakes it.
  std::thread signaller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    set_.Signal();
  });
  memset(&req, 0, sizeof req);
  r = Wait(&req);
  signaller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, NotificationWait::Result::kWoken);
  EXPECT_EQ(set_.Drain(), 1u);
  wait_->Rearm();
  // Outside Wait() the wake signal is blocked: no other call is interrupted.
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, NotificationWait::WakeSignal()), 1);
}

// A caught signal wakes the wait directly; outside Wait() it waits, blocked,
// for the next one; after ReleaseSignals() it stays pending (for a signalfd).
TEST_F(WaitTest, CaughtSignalsWakeTheWaitAndAreNeverLost) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  {
    ASSERT_TRUE(wait_->CatchSignal(SIGUSR1).ok());
    std::thread sender([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(getpid(), SIGUSR1);
    });
    seccomp_notif req{};
    absl::StatusOr<NotificationWait::Result> r = Wait(&req);
    sender.join();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, NotificationWait::Result::kWoken);
    EXPECT_TRUE(wait_->TakeCaught(SIGUSR1));
    EXPECT_FALSE(wait_->TakeCaught(SIGUSR1));
    wait_->Rearm();
    // Sent between waits: held until the next one, which returns at once.
    kill(getpid(), SIGUSR1);
    EXPECT_FALSE(wait_->TakeCaught(SIGUSR1));
    r = Wait(&req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, NotificationWait::Result::kWoken);
    EXPECT_TRUE(wait_->TakeCaught(SIGUSR1));
    wait_->Rearm();
    wait_->ReleaseSignals();
    kill(getpid(), SIGUSR1);
    EXPECT_FALSE(wait_->TakeCaught(SIGUSR1));
    wait_.reset();
  }
  // Its previous action is back (here the default: the end of the process).
  struct sigaction now {};
  sigaction(SIGUSR1, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 1);
  int sig = 0;
  sigwait(&usr1, &sig);
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
}

// Many wake-ups at every moment of the loop: none may be lost. A lost one
// would leave the loop asleep in RECV; the signaller notices (no drain
// within 5 s), stops, and makes the child call, which ends the wait.
TEST_F(WaitTest, NoWakeUpIsLost) {
  constexpr int kWakes = 3000;
  std::atomic<int> drained{0};
  std::atomic<int> lost{0};
  std::atomic<bool> done{false};
  std::thread signaller([&] {
    for (int i = 0; i < kWakes; ++i) {
      set_.Signal();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (drained.load() <= i && std::chrono::steady_clock::now() < deadline) {
        // Vary the moment of the next signal against the loop.
        if (i % 3 == 0) std::this_thread::yield();
      }
      if (drained.load() <= i) {
        lost.fetch_add(1);
        break;
      }
    }
    done.store(true);
    if (lost.load() > 0) child_.Call();  // ends the lost wait
  });
  while (!(done.load() && lost.load() > 0)) {
    seccomp_notif req{};
    absl::StatusOr<NotificationWait::Result> r = Wait(&req);
    ASSERT_TRUE(r.ok()) << r.status();
    if (*r == NotificationWait::Result::kNotification) child_.Answer(req);
    drained.fetch_add(static_cast<int>(set_.Drain()));
    wait_->Rearm();
    if (drained.load() >= kWakes) break;
  }
  signaller.join();
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(drained.load(), kWakes);
}

// Released, SIGCHLD keeps the handler: putting back its default action
// ("ignore") would discard one already pending, which the supervisor then
// reads from its signalfd.
TEST_F(WaitTest, ReleasedSigchldStaysPending) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, nullptr);
  struct sigaction before {};
  sigaction(SIGCHLD, nullptr, &before);
  ASSERT_EQ(before.sa_handler, SIG_DFL);
  ASSERT_TRUE(wait_->CatchSignal(SIGCHLD).ok());
  kill(getpid(), SIGCHLD);  // pending: blocked outside Wait()
  wait_->ReleaseSignals();
  wait_.reset();
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGCHLD), 1);
  const timespec zero{};
  EXPECT_EQ(sigtimedwait(&chld, nullptr, &zero), SIGCHLD);
  sigaction(SIGCHLD, &before, nullptr);
  pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
}

}  // namespace
}  // namespace detrun
