// getrandom_probe: calls the getrandom syscall directly (no libc wrapper,
// no vDSO) and prints what it returns.
//
//   getrandom_probe          sizes, every flag combination, bad arguments
//   getrandom_probe first    the first 16 bytes, as hex
//   getrandom_probe whole    one 116-byte read, as hex
//   getrandom_probe partial  a 200-byte read of which only 100 bytes are
//                            writable (the next page is PROT_NONE), then a
//                            16-byte read: together what `whole` prints
//   getrandom_probe efault   a read into an unmapped page, then 16 bytes
//
// Sizes are summarized by ret, the FNV-1a hash of the bytes and the first
// 16 bytes in hex. The single-purpose modes make their getrandom calls
// before anything is printed: glibc's first malloc (stdio's buffer) takes 8
// bytes of getrandom for its tcache key.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long Getrandom(void* buf, unsigned long len, unsigned long flags) {
  long r = syscall(SYS_getrandom, buf, len, flags);
  return r < 0 ? -errno : r;
}

static uint64_t Fnv1a(const unsigned char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static void PrintHex(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) printf("%02x", p[i]);
}

static void Size(unsigned long n) {
  unsigned char* buf = malloc(n);
  if (buf == NULL) exit(2);
  long r = Getrandom(buf, n, 0);
  printf("size=%lu ret=%ld fnv=%016llx head=", n, r,
         (unsigned long long)Fnv1a(buf, r > 0 ? (size_t)r : 0));
  PrintHex(buf, n < 16 ? n : 16);
  printf("\n");
  free(buf);
}

static void Flags(unsigned long flags) {
  unsigned char buf[16];
  memset(buf, 0xee, sizeof buf);
  long r = Getrandom(buf, sizeof buf, flags);
  printf("flags=0x%lx ret=", flags);
  if (r < 0) {
    printf("-%s", r == -EINVAL ? "EINVAL" : strerror((int)-r));
  } else {
    printf("%ld", r);
  }
  printf(" head=");
  PrintHex(buf, sizeof buf);
  printf("\n");
}

static void Line(const char* name, long r) {
  printf("%s ret=", name);
  if (r == -EFAULT) {
    printf("-EFAULT\n");
  } else if (r < 0) {
    printf("-%s\n", strerror((int)-r));
  } else {
    printf("%ld\n", r);
  }
}

static void Hex16(const char* name) {
  unsigned char b[16];
  long r = Getrandom(b, sizeof b, 0);
  printf("%s ret=%ld ", name, r);
  PrintHex(b, sizeof b);
  printf("\n");
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "all";
  const long page = sysconf(_SC_PAGESIZE);
  if (strcmp(mode, "first") == 0) {
    Hex16("first");
    return 0;
  }
  if (strcmp(mode, "whole") == 0) {
    unsigned char b[116];
    long r = Getrandom(b, sizeof b, 0);
    printf("whole ret=%ld ", r);
    PrintHex(b, sizeof b);
    printf("\n");
    return 0;
  }
  if (strcmp(mode, "partial") == 0) {
    unsigned char* p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + page, page, PROT_NONE) != 0) return 2;
    unsigned char b[16];
    long r1 = Getrandom(p + page - 100, 200, 0);
    long r2 = Getrandom(b, sizeof b, 0);
    printf("partial ret=%ld ", r1);
    PrintHex(p + page - 100, 100);
    PrintHex(b, sizeof b);
    printf(" then ret=%ld\n", r2);
    return 0;
  }
  if (strcmp(mode, "efault") == 0) {
    unsigned char* p = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 2;
    long r = Getrandom(p, 16, 0);
    Hex16("then");
    Line("unmapped", r);
    return 0;
  }

  Size(16);
  Size(4096);
  Size(1024 * 1024 + 1);
  for (unsigned long f = 0; f < 8; ++f) Flags(f);
  Flags(8);
  Flags(0x80000000ul);
  Flags(0x100000000ul | 1);  // only the low 32 bits are flags

  unsigned char keep[4] = {1, 2, 3, 4};
  Line("len0", Getrandom(keep, 0, 0));
  printf("len0 untouched=%d\n", keep[0] == 1 && keep[3] == 4);
  Line("null_len0", Getrandom(NULL, 0, 0));
  Line("null_len16", Getrandom(NULL, 16, 0));
  Line("kernel_len0", Getrandom((void*)0xffff800000000000ul, 0, 0));
  Hex16("after");
  return 0;
}
