// Calls sched_yield(2) N times (argv[1], default 100) and prints how many
// calls succeeded: the calls --chaos may hold, one after another, from
// one thread (identity "1" as the command).
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 100;
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += sched_yield() == 0;
  printf("yields %d of %d\n", ok, n);
  return ok == n ? 0 : 1;
}
