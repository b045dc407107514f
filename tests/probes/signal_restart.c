// signal_restart [CALL...]: a signal with a handler reaches the process
// while it is blocked in a call, with SA_RESTART and without; prints what
// the call returned, one line per case:
//   CALL FLAGS SENDER: ret=R errno=NAME handler=N
// CALLs (all when none is named):
//   read      read() of an empty pipe (never intercepted by detrun)
//   wait      waitpid() for a child that waits forever (never intercepted)
//   futex     FUTEX_WAIT with no timeout (never intercepted)
//   poll      poll() of an empty pipe with a one-day timeout (intercepted
//             in --clock=step, then run by the kernel)
//   sleep     nanosleep() of 200 years (held by detrun's supervisor in
//             --clock=step and frozen, as any sleep of over 100 years;
//             run by the kernel in --clock=real)
//   abssleep  clock_nanosleep(MONOTONIC, TIMER_ABSTIME) 200 years ahead
//             (held in every --clock mode)
//   pause     pause()
//   mtsleep   sleep, while a second thread, which blocks every signal,
//             waits in a read: the process's signal can only go to the
//             sleeping thread
// FLAGS: restart (SA_RESTART) or norestart. SENDER: process (a child sees
// the caller blocked, in /proc/PID/stat, then sends SIGUSR1) or timer
// (setitimer ITIMER_REAL of 100 ms: SIGALRM).
// The handler makes the call able to complete if the kernel restarts it:
// it writes a byte into the pipe (read, poll), kills the child (wait) and
// changes the futex word (futex). So a restarted read returns 1, a
// restarted waitpid the child's pid, a restarted FUTEX_WAIT EAGAIN; a call
// that is not restarted fails with EINTR. Natively the kernel's signal(7)
// rules decide which; under detrun the output must be the same.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_pipe[2];
static volatile pid_t g_child;
static volatile uint32_t g_futex;
static volatile sig_atomic_t g_handled;

static void Handler(int sig) {
  (void)sig;
  const int saved = errno;
  ++g_handled;
  const char byte = 'x';
  if (write(g_pipe[1], &byte, 1) != 1) _exit(3);
  if (g_child > 0) kill(g_child, SIGKILL);
  g_futex = 1;
  errno = saved;
}

static const char* ErrnoName(int e) {
  switch (e) {
    case 0:
      return "0";
    case EINTR:
      return "EINTR";
    case EAGAIN:
      return "EAGAIN";
    default:
      return strerror(e);
  }
}

// State letter of host pid `pid` (from /proc/PID/stat), or 0.
static char StateOf(const char* host_pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", host_pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* paren = strrchr(buf, ')');
  return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

static void WaitMs(int ms) { poll(NULL, 0, ms); }

// The sender: once the parent has been blocked (S, or D: a call detrun
// holds waits killably) for two looks 20 ms apart, SIGUSR1 it.
static void Sender(const char* parent_host_pid, pid_t parent) {
  int blocked = 0;
  for (int i = 0; i < 2000 && blocked < 2; ++i) {
    const char s = StateOf(parent_host_pid);
    blocked = (s == 'S' || s == 'D') ? blocked + 1 : 0;
    WaitMs(blocked ? 20 : 2);
  }
  kill(parent, SIGUSR1);
  _exit(0);
}

// The second thread of mt* calls: blocks every signal, says so, and waits
// for a byte on `arg` (a pipe's read end). The caller waits for it to
// block them before a signal can come: in --clock=step the timer's signal
// is sent as soon as the sleep starts, and a worker that has not blocked
// it yet could take it.
static sem_t g_worker_blocked;
static void* BlockedWorker(void* arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  sem_post(&g_worker_blocked);
  char c;
  if (read(*(int*)arg, &c, 1) != 1) _exit(4);
  return NULL;
}

static long Call(const char* call) {
  if (strcmp(call, "read") == 0) {
    char c;
    return read(g_pipe[0], &c, 1);
  }
  if (strcmp(call, "wait") == 0) return waitpid(g_child, NULL, 0);
  if (strcmp(call, "futex") == 0) {
    return syscall(SYS_futex, &g_futex, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  }
  if (strcmp(call, "poll") == 0) {
    struct pollfd p = {g_pipe[0], POLLIN, 0};
    return poll(&p, 1, 86400 * 1000);
  }
  if (strcmp(call, "sleep") == 0) {
    struct timespec ts = {200LL * 365 * 86400, 0};
    return nanosleep(&ts, NULL);
  }
  if (strcmp(call, "abssleep") == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 200LL * 365 * 86400;
    const int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    errno = err;
    return err == 0 ? 0 : -1;
  }
  if (strcmp(call, "pause") == 0) return pause();
  fprintf(stderr, "unknown call %s\n", call);
  exit(2);
}

static void RunCase(const char* call, int restart, int use_timer, const char* host_pid) {
  if (pipe2(g_pipe, O_CLOEXEC) != 0) exit(1);
  g_handled = 0;
  g_futex = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = Handler;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  g_child = 0;
  if (strcmp(call, "wait") == 0) {
    const pid_t c = fork();
    if (c == 0) {
      for (;;) pause();
    }
    g_child = c;
  }
  int worker_pipe[2] = {-1, -1};
  pthread_t worker;
  if (strncmp(call, "mt", 2) == 0) {
    if (pipe2(worker_pipe, O_CLOEXEC) != 0 ||
        sem_init(&g_worker_blocked, 0, 0) != 0 ||
        pthread_create(&worker, NULL, BlockedWorker, &worker_pipe[0]) != 0) {
      exit(1);
    }
    while (sem_wait(&g_worker_blocked) != 0) {
    }
  }
  pid_t sender = 0;
  if (use_timer) {
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
  } else {
    const pid_t parent = getpid();
    sender = fork();
    if (sender == 0) Sender(host_pid, parent);
  }
  errno = 0;
  const long ret = Call(worker_pipe[0] >= 0 ? call + 2 : call);
  const int err = ret < 0 ? errno : 0;
  // A call that returned on its own (it should not: nothing else ends it)
  // would show as handler=0.
  const char* shown = ret < 0 ? "-1" : ret == 0 ? "0" : "1";
  if (strcmp(call, "wait") == 0 && ret > 0) shown = ret == g_child ? "child" : "other";
  printf("%s %s %s: ret=%s errno=%s handler=%d\n", call, restart ? "restart" : "norestart",
         use_timer ? "timer" : "process", shown, ErrnoName(err), (int)g_handled);
  fflush(stdout);
  // Clean up: the signal may still come (a sender that did not see the
  // call block); wait for it, then undo everything.
  if (sender > 0) waitpid(sender, NULL, 0);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  if (g_child > 0) {
    kill(g_child, SIGKILL);
    waitpid(g_child, NULL, 0);
    g_child = 0;
  }
  if (worker_pipe[0] >= 0) {
    if (write(worker_pipe[1], "x", 1) != 1) exit(1);
    pthread_join(worker, NULL);
    close(worker_pipe[0]);
    close(worker_pipe[1]);
  }
  signal(SIGUSR1, SIG_IGN);
  signal(SIGALRM, SIG_IGN);
  close(g_pipe[0]);
  close(g_pipe[1]);
}

int main(int argc, char** argv) {
  static const char* kAll[] = {"read",  "wait",     "futex", "poll",
                               "sleep", "abssleep", "pause", "mtsleep"};
  const char** calls = kAll;
  int count = sizeof kAll / sizeof kAll[0];
  if (argc > 1) {
    calls = (const char**)argv + 1;
    count = argc - 1;
  }
  // The host's pid of this process: /proc is the host's under detrun too.
  char host_pid[32];
  ssize_t n = readlink("/proc/self", host_pid, sizeof host_pid - 1);
  if (n <= 0) return 1;
  host_pid[n] = '\0';
  for (int i = 0; i < count; ++i) {
    for (int restart = 1; restart >= 0; --restart) {
      for (int use_timer = 0; use_timer <= 1; ++use_timer) {
        RunCase(calls[i], restart, use_timer, host_pid);
      }
    }
  }
  return 0;
}
