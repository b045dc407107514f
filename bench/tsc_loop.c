// tsc_loop N: executes rdtsc N times and prints a checksum so the loop
// cannot be optimised away. bench/run.sh times `tsc_loop N` against
// `tsc_loop 0` with --tsc=emulate and --tsc=native, side by side, and
// reports the difference per instruction.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    sum += ((uint64_t)hi << 32) | lo;
  }
  printf("%llu\n", (unsigned long long)sum);
  return 0;
}
