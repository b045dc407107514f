// try_syscall NR [ARG...]: makes raw syscall NR with up to six integer
// arguments (decimal or 0x hex) and prints what came back:
//   "ret=N" on success, "errno=NAME" on failure.
// Used to check that each denied syscall fails with its documented errno
// (bubblewrap's try-syscall idea).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 8) {
    fprintf(stderr, "usage: try_syscall NR [ARG...]\n");
    return 2;
  }
  long nr = strtol(argv[1], NULL, 0);
  long a[6] = {0};
  for (int i = 2; i < argc; ++i) a[i - 2] = strtol(argv[i], NULL, 0);
  errno = 0;
  long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (r == -1) {
    const char* name = strerrorname_np(errno);
    printf("errno=%s\n", name ? name : "?");
  } else {
    printf("ret=%ld\n", r);
  }
  return 0;
}
