// clock_page [N]: CLOCK_MONOTONIC read in the patterns that --clock=step
// answers from the process's clock page (time_module.h), each printed in
// a fixed order, so that a run answered in-process and one answered by
// the supervisor (--record) can be compared line by line:
//   main      N reads in a loop
//   threads   3 threads of N reads each, joined (each starts from the
//             clock of the thread that made it)
//   fork      a child of N reads; the parent reads after reaping it (it
//             takes the child's clock when that is later)
//   spawn     vfork + exec of this program as "child" (shares the
//             parent's memory until the exec), then waited for
//   sleep     nanosleep 10 ms moves the clock to its end
//   alarm     ITIMER_REAL 500 ms; reads until its SIGALRM handler (which
//             reads the clock too) ran
//   timedwait pthread_cond_timedwait to now + 5 ms, which times out
//   respawn   a thread that exits, then a new one
//   ids       REALTIME, BOOTTIME, the coarse ones, TAI, this thread's CPU
//   call      N reads, then a call the supervisor answers that does not
//             use the clock (getrandom), then one more read, which goes
//             on from the last read, not from where the supervisor last
//             looked at the page
// N defaults to 300 (more than any limit the page could stop at).
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long Now(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int n = 300;

// Reads n times; returns the first and last values through `out`.
static void Loop(long long out[2]) {
  out[0] = Now(CLOCK_MONOTONIC);
  for (int i = 1; i < n; ++i) out[1] = Now(CLOCK_MONOTONIC);
}

static void* Thread(void* arg) {
  Loop((long long*)arg);
  return NULL;
}

static volatile sig_atomic_t fired = 0;
static volatile long long in_handler = 0;
static void OnAlarm(int sig) {
  (void)sig;
  in_handler = Now(CLOCK_MONOTONIC);
  fired = 1;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    long long a = Now(CLOCK_MONOTONIC);
    long long b = Now(CLOCK_MONOTONIC);
    printf("spawned child %lld %lld\n", a, b);
    return 0;
  }
  if (argc > 1) n = atoi(argv[1]);
  long long v[2];

  Loop(v);
  printf("main %lld %lld\n", v[0], v[1]);

  pthread_t t[3];
  long long tv[3][2];
  for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, Thread, tv[i]);
  for (int i = 0; i < 3; ++i) pthread_join(t[i], NULL);
  for (int i = 0; i < 3; ++i) printf("thread%d %lld %lld\n", i, tv[i][0], tv[i][1]);
  printf("after threads %lld\n", Now(CLOCK_MONOTONIC));

  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    Loop(v);
    printf("fork child %lld %lld\n", v[0], v[1]);
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  printf("after fork %lld\n", Now(CLOCK_MONOTONIC));

  fflush(stdout);
  pid_t spawned = vfork();
  if (spawned == 0) {
    execl("/proc/self/exe", argv[0], "child", (char*)NULL);
    _exit(127);
  }
  waitpid(spawned, &status, 0);
  printf("after spawn %lld status %d\n", Now(CLOCK_MONOTONIC), status);

  struct timespec ten_ms = {0, 10000000};
  nanosleep(&ten_ms, NULL);
  printf("after sleep %lld\n", Now(CLOCK_MONOTONIC));

  signal(SIGALRM, OnAlarm);
  // 500 ms of virtual time: 500 reads, which take well under 500 ms of
  // real time even as round trips (--record), so the timer fires at the
  // read that reaches it, never by detrun's real-time fallback.
  struct itimerval it = {{0, 0}, {0, 500000}};
  setitimer(ITIMER_REAL, &it, NULL);
  int reads = 0;
  while (!fired) {
    Now(CLOCK_MONOTONIC);
    ++reads;
  }
  printf("alarm after %d reads, handler read %lld, then %lld\n", reads, in_handler,
         Now(CLOCK_MONOTONIC));

  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_t cond;
  pthread_cond_init(&cond, &attr);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  long long deadline = Now(CLOCK_MONOTONIC) + 5000000;
  struct timespec abs = {deadline / 1000000000, deadline % 1000000000};
  pthread_mutex_lock(&mu);
  int rc = pthread_cond_timedwait(&cond, &mu, &abs);
  pthread_mutex_unlock(&mu);
  printf("timedwait rc %d then %lld\n", rc, Now(CLOCK_MONOTONIC));

  pthread_create(&t[0], NULL, Thread, tv[0]);
  pthread_join(t[0], NULL);
  pthread_create(&t[1], NULL, Thread, tv[1]);
  pthread_join(t[1], NULL);
  printf("respawn %lld %lld %lld %lld then %lld\n", tv[0][0], tv[0][1], tv[1][0], tv[1][1],
         Now(CLOCK_MONOTONIC));

  const clockid_t ids[] = {CLOCK_REALTIME,          CLOCK_BOOTTIME,          CLOCK_REALTIME_COARSE,
                           CLOCK_MONOTONIC_COARSE,  CLOCK_MONOTONIC_RAW,     CLOCK_TAI,
                           CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; ++i) {
    printf("id %d %lld\n", (int)ids[i], Now(ids[i]));
  }

  Loop(v);
  char random_bytes[8];
  if (getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes) return 1;
  printf("call %lld %lld then %lld\n", v[0], v[1], Now(CLOCK_MONOTONIC));
  return 0;
}
