// clocks: prints what every time source says, through libc (so through the
// vDSO where glibc uses it): time(), gettimeofday(), clock_gettime() for each
// clock id, clock_getres(), and how far MONOTONIC moved across a 1 s
// nanosleep. Under detrun all of it is a function of --time/--clock/--tick.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static void show(const char* name, clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) {
    printf("%s error\n", name);
    return;
  }
  printf("%s %lld.%09ld\n", name, (long long)ts.tv_sec, ts.tv_nsec);
}

int main(void) {
  time_t t = time(NULL);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  printf("time %lld\n", (long long)t);
  printf("gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
  show("REALTIME", CLOCK_REALTIME);
  show("REALTIME_COARSE", CLOCK_REALTIME_COARSE);
  show("TAI", CLOCK_TAI);
  show("MONOTONIC", CLOCK_MONOTONIC);
  show("MONOTONIC_RAW", CLOCK_MONOTONIC_RAW);
  show("MONOTONIC_COARSE", CLOCK_MONOTONIC_COARSE);
  show("BOOTTIME", CLOCK_BOOTTIME);
  show("PROCESS_CPUTIME", CLOCK_PROCESS_CPUTIME_ID);
  show("THREAD_CPUTIME", CLOCK_THREAD_CPUTIME_ID);
  struct timespec res;
  clock_getres(CLOCK_MONOTONIC, &res);
  printf("res_MONOTONIC %lld.%09ld\n", (long long)res.tv_sec, res.tv_nsec);
  struct timespec a, b, one = {1, 0};
  clock_gettime(CLOCK_MONOTONIC, &a);
  nanosleep(&one, NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long slept = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  printf("slept_ms %lld\n", slept / 1000000);
  return 0;
}
