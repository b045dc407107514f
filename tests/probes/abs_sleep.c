// abs_sleep CLOCK: the periodic-task idiom `deadline += period;
// clock_nanosleep(TIMER_ABSTIME, &deadline)` for 5 periods of 250 ms on
// REALTIME or MONOTONIC. Prints the clock after each wake-up (relative to
// the first deadline) and whether the deadline struct was left untouched.
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char** argv) {
  clockid_t id = (argc > 1 && strcmp(argv[1], "REALTIME") == 0) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
  struct timespec start, deadline, now;
  clock_gettime(id, &start);
  deadline = start;
  for (int i = 1; i <= 5; ++i) {
    deadline.tv_nsec += 250000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_nsec -= 1000000000;
      deadline.tv_sec += 1;
    }
    struct timespec copy = deadline;
    int r = clock_nanosleep(id, TIMER_ABSTIME, &deadline, NULL);
    clock_gettime(id, &now);
    long long late = (now.tv_sec - deadline.tv_sec) * 1000000000LL + (now.tv_nsec - deadline.tv_nsec);
    printf("period %d ret=%d untouched=%d on_time=%d\n", i, r,
           memcmp(&copy, &deadline, sizeof copy) == 0, late >= 0 && late < 100000000);
  }
  return 0;
}
