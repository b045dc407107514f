// x32_syscall: calls getpid (39) with the x32 ABI bit (0x40000000) set.
// Under detrun the filter fails it with ENOSYS; natively it returns the pid
// when the kernel has x32 support, else ENOSYS.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  long r = syscall(0x40000000L | 39);
  if (r == -1) {
    printf("x32 errno=%s\n", strerrorname_np(errno));
  } else {
    printf("x32 ret=%ld\n", r);
  }
  return 0;
}
