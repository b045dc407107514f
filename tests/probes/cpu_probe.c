// cpu_probe: prints what the CPU calls say, one figure per line: getcpu()
// through the raw syscall (each pointer NULL or not, a bad pointer),
// through glibc's getcpu() (the vDSO) and sched_getcpu() (glibc's rseq
// area when registered); then sched_getaffinity() through the raw syscall
// for a range of buffer sizes (what it returns, how many bits it set,
// whether it wrote past its return value), through glibc (CPU_COUNT, the
// rest of the set zero-filled), for another thread and through
// pthread_getattr_np (which grows its buffer on EINVAL); then what
// sched_setaffinity() accepts and that the mask reads the same after it.
// Under detrun all of it is a function of --cpus; natively the CPU numbers
// are whatever the host scheduler picked.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
#include <sys/rseq.h>
#endif

// Prints "NAME ret=N" or "NAME errno=NAME"; returns the raw result.
static long show_raw(const char* name, long ret) {
  if (ret < 0) {
    printf("%s errno=%s\n", name, strerrorname_np(errno));
  } else {
    printf("%s ret=%ld\n", name, ret);
  }
  return ret;
}

static int count_bits(const unsigned char* bytes, long n) {
  int bits = 0;
  for (long i = 0; i < n; ++i) bits += __builtin_popcount(bytes[i]);
  return bits;
}

// Raw sched_getaffinity(0, len, buf) into a 0xaa-filled buffer.
static void raw_affinity(long len) {
  unsigned char buf[512];
  memset(buf, 0xaa, sizeof buf);
  char name[64];
  snprintf(name, sizeof name, "getaffinity_raw_%ld", len);
  long r = syscall(SYS_sched_getaffinity, 0, len, buf);
  if (r < 0) {
    show_raw(name, r);
    return;
  }
  // Bits set in the bytes written, and whether the byte after is intact.
  printf("%s ret=%ld bits=%d next_untouched=%d\n", name, r, count_bits(buf, r),
         buf[r] == 0xaa);
}

// Raw sched_setaffinity(0, len, mask) with only bit `cpu` set (cpu < 0:
// empty).
static void raw_setaffinity(const char* name, long len, int cpu) {
  unsigned char buf[512];
  memset(buf, 0, sizeof buf);
  if (cpu >= 0) buf[cpu / 8] |= (unsigned char)(1u << (cpu % 8));
  show_raw(name, syscall(SYS_sched_setaffinity, 0, len, buf));
}

static int glibc_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

struct thread_result {
  int count;
  unsigned cpu;
  long getcpu_ret;
};

static void* thread_main(void* arg) {
  struct thread_result* r = arg;
  cpu_set_t set;
  // pthread_getaffinity_np: sched_getaffinity on the thread's own tid.
  r->count = pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
  r->cpu = 12345;
  r->getcpu_ret = syscall(SYS_getcpu, &r->cpu, NULL, NULL);
  return NULL;
}

int main(void) {
  unsigned cpu = 12345, node = 12345;
  long r = show_raw("getcpu_raw", syscall(SYS_getcpu, &cpu, &node, NULL));
  if (r == 0) printf("getcpu_raw cpu=%u node=%u\n", cpu, node);
  cpu = 12345;
  r = show_raw("getcpu_cpu_only", syscall(SYS_getcpu, &cpu, NULL, NULL));
  if (r == 0) printf("getcpu_cpu_only cpu=%u\n", cpu);
  node = 12345;
  r = show_raw("getcpu_node_only", syscall(SYS_getcpu, NULL, &node, NULL));
  if (r == 0) printf("getcpu_node_only node=%u\n", node);
  show_raw("getcpu_null", syscall(SYS_getcpu, NULL, NULL, NULL));
  show_raw("getcpu_efault", syscall(SYS_getcpu, (void*)1, NULL, NULL));
  cpu = node = 12345;
  r = show_raw("getcpu_glibc", getcpu(&cpu, &node));  // the vDSO
  if (r == 0) printf("getcpu_glibc cpu=%u node=%u\n", cpu, node);
  printf("sched_getcpu %d\n", sched_getcpu());
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
  printf("rseq_registered %d\n", __rseq_size > 0);
#endif

  static const long kLens[] = {0, 4, 8, 12, 16, 24, 32, 64, 128, 136, 256};
  for (size_t i = 0; i < sizeof kLens / sizeof kLens[0]; ++i) raw_affinity(kLens[i]);
  show_raw("getaffinity_bad_pid", syscall(SYS_sched_getaffinity, -1, 256, (void*)0));
  show_raw("getaffinity_efault", syscall(SYS_sched_getaffinity, 0, 256, (void*)1));
  unsigned char raw[256];
  show_raw("getaffinity_self_pid", syscall(SYS_sched_getaffinity, getpid(), sizeof raw, raw));

  const int n = glibc_count();
  printf("glibc_count %d\n", n);
  cpu_set_t set;
  memset(&set, 0xff, sizeof set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    // glibc zero-fills what the kernel did not write.
    printf("glibc_bits_in_set %d\n", count_bits((unsigned char*)&set, sizeof set));
  }
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    cpu_set_t from_attr;
    int e = pthread_attr_getaffinity_np(&attr, sizeof from_attr, &from_attr);
    printf("getattr_count %d\n", e == 0 ? CPU_COUNT(&from_attr) : -e);
    pthread_attr_destroy(&attr);
  }

  struct thread_result tr = {0, 0, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, thread_main, &tr) == 0 && pthread_join(t, NULL) == 0) {
    printf("thread_count %d\n", tr.count);
    printf("thread_getcpu ret=%ld cpu=%u\n", tr.getcpu_ret, tr.cpu);
  }

  raw_setaffinity("setaffinity_cpu0", 256, 0);
  if (n > 0) raw_setaffinity("setaffinity_last", 256, n - 1);
  if (n > 0 && n < 2048) raw_setaffinity("setaffinity_beyond", 256, n);
  raw_setaffinity("setaffinity_empty", 256, -1);
  raw_setaffinity("setaffinity_short", 1, 0);  // one byte: zero-extended
  raw_setaffinity("setaffinity_len0", 0, 0);   // nothing read: empty
  show_raw("setaffinity_efault", syscall(SYS_sched_setaffinity, 0, 256, (void*)1));
  show_raw("setaffinity_bad_pid", syscall(SYS_sched_setaffinity, -1, 256, raw));
  printf("glibc_count_after_set %d\n", glibc_count());
  return 0;
}
