// clock_loop N: reads CLOCK_MONOTONIC N times through clock_gettime (the
// vDSO, or detrun's patched entry point) and prints a checksum so the loop
// cannot be optimised away. bench/run.sh times `clock_loop N` against
// `clock_loop 0` in each --clock mode, side by side, and reports the
// difference per call: the program cannot time itself, since under detrun
// every clock it could read is virtual.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  long long sum = 0;
  struct timespec ts;
  for (long i = 0; i < n; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sum += ts.tv_nsec;
  }
  printf("%lld\n", sum);
  return 0;
}
