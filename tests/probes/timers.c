// timers CASE...: arms a timer, waits for it in some way, and prints what
// it observed: results, remaining times and how far CLOCK_MONOTONIC moved
// (in ms, truncated) between arming and the end. Cases:
//   alarm_pause      alarm(1), then pause() until SIGALRM
//   alarm_sleep      alarm(1), then sleep(5): interrupted, 4 s left
//   alarm_left       alarm(10), one clock read, alarm(0) returns 10
//   itimer_periodic  ITIMER_REAL every 100 ms; read the clock until 5 fired
//   getitimer        ITIMER_REAL 5 s; getitimer after one clock read
//   posix_signal     timer_create(SIGUSR1, value 42), 200 ms; sigwaitinfo
//   posix_abs        REALTIME TIMER_ABSTIME deadline now+300 ms, gettime, then
//                    nanosleep(1 s) is interrupted by its SIGUSR2 handler
//   posix_thread     SIGEV_THREAD (glibc's helper thread) after 200 ms
//   timerfd_rel      timerfd 200 ms relative; read blocks until it fires
//   timerfd_abs      timerfd REALTIME absolute now+200 ms; gettime; read
//   timerfd_sleep    timerfd every 100 ms; nanosleep(1 s); read gives 10
//   timerfd_epoll    timerfd 150 ms; epoll_wait(-1) on it
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t fired;
static void OnSignal(int sig) {
  (void)sig;
  fired++;
}

static long long NowNs(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static long long MovedMs(long long before) { return (NowNs(CLOCK_MONOTONIC) - before) / 1000000; }
static long long Ms(struct timespec ts) { return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000; }

static void Handle(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigaction(sig, &sa, NULL);
}

static sem_t thread_fired;
static void OnTimerThread(union sigval v) {
  (void)v;
  sem_post(&thread_fired);
}

static void Run(const char* c) {
  fired = 0;
  long long before = NowNs(CLOCK_MONOTONIC);
  if (strcmp(c, "alarm_pause") == 0) {
    Handle(SIGALRM);
    alarm(1);
    pause();
    printf("%s fired=%d moved_ms=%lld\n", c, (int)fired, MovedMs(before));
  } else if (strcmp(c, "alarm_sleep") == 0) {
    Handle(SIGALRM);
    alarm(1);
    unsigned left = sleep(5);
    printf("%s left=%u fired=%d moved_ms=%lld\n", c, left, (int)fired, MovedMs(before));
  } else if (strcmp(c, "alarm_left") == 0) {
    alarm(10);
    NowNs(CLOCK_MONOTONIC);
    printf("%s previous=%u\n", c, alarm(0));
  } else if (strcmp(c, "itimer_periodic") == 0) {
    Handle(SIGALRM);
    struct itimerval it = {{0, 100000}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (fired < 5) NowNs(CLOCK_MONOTONIC);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%s fired=%d moved_ms=%lld\n", c, (int)fired, MovedMs(before));
  } else if (strcmp(c, "getitimer") == 0) {
    struct itimerval it = {{0, 0}, {5, 0}}, cur;
    setitimer(ITIMER_REAL, &it, NULL);
    NowNs(CLOCK_MONOTONIC);
    getitimer(ITIMER_REAL, &cur);
    setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
    printf("%s left=%ld.%06ld\n", c, (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);
  } else if (strcmp(c, "posix_signal") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 42;
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    struct itimerspec spec = {{0, 0}, {0, 200000000}};
    timer_settime(t, 0, &spec, NULL);
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    printf("%s sig=%d code_timer=%d value=%d overrun=%d moved_ms=%lld\n", c, sig,
           info.si_code == SI_TIMER, info.si_value.sival_int, timer_getoverrun(t),
           MovedMs(before));
    timer_delete(t);
  } else if (strcmp(c, "posix_abs") == 0) {
    Handle(SIGUSR2);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    timer_t t;
    timer_create(CLOCK_REALTIME, &ev, &t);
    long long deadline = NowNs(CLOCK_REALTIME) + 300000000LL;
    struct itimerspec spec = {{0, 0}, {deadline / 1000000000LL, deadline % 1000000000LL}};
    timer_settime(t, TIMER_ABSTIME, &spec, NULL);
    struct itimerspec cur;
    timer_gettime(t, &cur);
    struct timespec req = {1, 0}, rem = {0, 0};
    int r = nanosleep(&req, &rem);
    printf("%s left_ms=%lld sleep=%d errno=%d fired=%d rem_ms=%lld moved_ms=%lld\n", c,
           Ms(cur.it_value), r, r ? errno : 0, (int)fired, Ms(rem), MovedMs(before));
    timer_delete(t);
  } else if (strcmp(c, "posix_thread") == 0) {
    sem_init(&thread_fired, 0, 0);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = OnTimerThread;
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    struct itimerspec spec = {{0, 0}, {0, 200000000}};
    timer_settime(t, 0, &spec, NULL);
    sem_wait(&thread_fired);
    printf("%s fired=1\n", c);
    timer_delete(t);
  } else if (strcmp(c, "timerfd_rel") == 0) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec spec = {{0, 0}, {0, 200000000}};
    timerfd_settime(fd, 0, &spec, NULL);
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    printf("%s read=%zd expirations=%llu moved_ms=%lld\n", c, r, (unsigned long long)n,
           MovedMs(before));
    close(fd);
  } else if (strcmp(c, "timerfd_abs") == 0) {
    int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
    long long deadline = NowNs(CLOCK_REALTIME) + 200000000LL;
    struct itimerspec spec = {{0, 0}, {deadline / 1000000000LL, deadline % 1000000000LL}};
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
    struct itimerspec cur;
    timerfd_gettime(fd, &cur);
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    printf("%s left_ms=%lld read=%zd expirations=%llu\n", c, Ms(cur.it_value), r,
           (unsigned long long)n);
    close(fd);
  } else if (strcmp(c, "timerfd_sleep") == 0) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec spec = {{0, 100000000}, {0, 100000000}};
    timerfd_settime(fd, 0, &spec, NULL);
    struct timespec req = {1, 0};
    nanosleep(&req, NULL);
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, -1);  // the expirations land right after the sleep's answer
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    printf("%s read=%zd expirations=%llu\n", c, r, (unsigned long long)n);
    close(fd);
  } else if (strcmp(c, "timerfd_epoll") == 0) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {EPOLLIN, {.fd = fd}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct itimerspec spec = {{0, 0}, {0, 150000000}};
    timerfd_settime(fd, 0, &spec, NULL);
    int n = epoll_wait(ep, &ev, 1, -1);
    printf("%s ready=%d moved_ms=%lld\n", c, n, MovedMs(before));
    close(ep);
    close(fd);
  } else {
    printf("%s unknown\n", c);
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) Run(argv[i]);
  return 0;
}
