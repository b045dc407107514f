// notify_loop N: makes N getrandom(16) syscalls and prints the mean cost of
// one in nanoseconds, timed with CLOCK_MONOTONIC. Under
// `detrun --clock=real` the two clock reads are intercepted too but read
// real elapsed time, so the figure is the round trip of one notification
// answered by the supervisor (receive, write 16 bytes into the child, send).
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  if (n <= 0) n = 20000;
  unsigned char buf[16];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; ++i) {
    if (getrandom(buf, sizeof buf, 0) != (ssize_t)sizeof buf) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
  printf("%.0f ns per getrandom(16)\n", ns);
  return 0;
}
