// clock_random_threads THREADS CALLS: THREADS threads, each making CALLS
// clock_gettime(CLOCK_MONOTONIC) reads through libc (so through the vDSO,
// which detrun patches) and CALLS getrandom syscalls of 16 bytes, all at
// once (a barrier starts them together).
//
// Prints one line per thread, in creation order:
//   thread K clock_ok=N first=NS last=NS increasing=yes|no equal=yes|no random_ok=N
// where clock_ok and random_ok count the calls that succeeded (16 bytes
// for getrandom), increasing says whether each of the thread's readings
// was strictly greater than its previous one, equal whether all were the
// same. Then one line for the process:
//   random_xor=HEX random_sum=HEX
// the XOR and the sum (mod 2^64) of every 8-byte word getrandom returned,
// in any thread: a function of the multiset of blocks drawn, not of which
// thread drew which, so it is the same on every run where the process's
// random stream is (detrun: one stream per process, shared by its threads;
// which thread gets which block depends on scheduling, the multiset does
// not). Exit status 0 when every call succeeded.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct Result {
  long clock_ok;
  long random_ok;
  long long first;
  long long last;
  int increasing;
  int equal;
  uint64_t xor_words;
  uint64_t sum_words;
};

static long g_calls;
static pthread_barrier_t g_start;

static void* Work(void* arg) {
  struct Result* r = arg;
  r->increasing = 1;
  r->equal = 1;
  pthread_barrier_wait(&g_start);
  long long prev = 0;
  for (long i = 0; i < g_calls; ++i) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
      ++r->clock_ok;
      const long long ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
      if (i == 0) {
        r->first = ns;
      } else {
        if (ns <= prev) r->increasing = 0;
        if (ns != prev) r->equal = 0;
      }
      prev = ns;
      r->last = ns;
    }
    uint64_t words[2];
    if (syscall(SYS_getrandom, words, sizeof words, 0) == (long)sizeof words) {
      ++r->random_ok;
      r->xor_words ^= words[0] ^ words[1];
      r->sum_words += words[0] + words[1];
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: clock_random_threads THREADS CALLS\n");
    return 2;
  }
  const int n = atoi(argv[1]);
  g_calls = atol(argv[2]);
  if (n <= 0 || g_calls <= 0) return 2;
  pthread_t* threads = calloc(n, sizeof *threads);
  struct Result* results = calloc(n, sizeof *results);
  pthread_barrier_init(&g_start, NULL, n);
  for (int i = 0; i < n; ++i) {
    int err = pthread_create(&threads[i], NULL, Work, &results[i]);
    if (err != 0) {
      fprintf(stderr, "pthread_create: %s\n", strerror(err));
      return 1;
    }
  }
  int failed = 0;
  uint64_t xor_all = 0, sum_all = 0;
  for (int i = 0; i < n; ++i) {
    pthread_join(threads[i], NULL);
    const struct Result* r = &results[i];
    printf("thread %d clock_ok=%ld first=%lld last=%lld increasing=%s equal=%s random_ok=%ld\n", i,
           r->clock_ok, r->first, r->last, r->increasing ? "yes" : "no", r->equal ? "yes" : "no",
           r->random_ok);
    if (r->clock_ok != g_calls || r->random_ok != g_calls) failed = 1;
    xor_all ^= r->xor_words;
    sum_all += r->sum_words;
  }
  printf("random_xor=%016llx random_sum=%016llx\n", (unsigned long long)xor_all,
         (unsigned long long)sum_all);
  return failed;
}
