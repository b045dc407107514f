// Prints what the time-stamp counter reads (--tsc): "rdtsc A B C" (three
// reads), "rdtscp V aux X", and with an argument:
//   segv      dereferences NULL: must still die of SIGSEGV
//   handler   installs a SIGSEGV handler and raises SIGSEGV: "handled 11"
//   prctl     tries to turn the trap off: "prctl PR_SET_TSC: errno N"
//   threads   four threads each print their first rdtsc
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static uint64_t rdtscp(uint32_t* aux) {
  uint32_t lo, hi;
  __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(*aux));
  return ((uint64_t)hi << 32) | lo;
}

static void on_segv(int sig) {
  char line[32];
  int n = snprintf(line, sizeof line, "handled %d\n", sig);
  (void)!write(1, line, (size_t)n);
  _exit(0);
}

static void* thread_main(void* arg) {
  (void)arg;
  uint64_t v = rdtsc();
  return (void*)(uintptr_t)v;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "segv") == 0) {
    volatile int* volatile p = NULL;
    return *p;
  }
  if (strcmp(mode, "handler") == 0) {
    signal(SIGSEGV, on_segv);
    raise(SIGSEGV);
    return 1;
  }
  if (strcmp(mode, "prctl") == 0) {
    int r = prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
    printf("prctl PR_SET_TSC: %s\n", r == 0 ? "allowed" : strerror(errno));
    return 0;
  }
  if (strcmp(mode, "threads") == 0) {
    // Started and joined one after another: each thread's clock starts
    // from its creator's, so the values are a function of the order.
    for (int i = 0; i < 4; ++i) {
      pthread_t t;
      void* v;
      pthread_create(&t, NULL, thread_main, NULL);
      pthread_join(t, &v);
      printf("thread %d %llu\n", i, (unsigned long long)(uintptr_t)v);
    }
    return 0;
  }
  uint64_t a = rdtsc(), b = rdtsc(), c = rdtsc();
  uint32_t aux = 12345;
  uint64_t d = rdtscp(&aux);
  printf("rdtsc %llu %llu %llu\nrdtscp %llu aux %u\n", (unsigned long long)a,
         (unsigned long long)b, (unsigned long long)c, (unsigned long long)d, aux);
  return 0;
}
