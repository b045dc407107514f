// timed_waits CASE...: blocking calls with a 200 ms timeout that nobody
// ends early. For each case prints the call's result and how far the
// clock the deadline was computed on moved across the call, in ms
// (truncated), e.g. "poll ret=0 moved_ms=200". Cases:
//   poll epoll select ppoll sigtimedwait futex     relative timeouts
//   cond_realtime cond_monotonic mq                absolute deadlines
//   cond_signalled   a second thread signals before the deadline: ret=0
//   deadline_kept    the deadline struct passed to pthread_cond_timedwait
//                    reads back unchanged right after the call
//   restored_mid_wait  a second thread sees that struct read back unchanged
//                    while the first still waits (sleeping in the kernel):
//                    "restored_mid_wait ret=110 seen=1"
//   woken_then_busy  poll() with a 200 ms timeout on a pipe that is already
//                    readable returns at once; then the thread computes
//                    (no syscalls) for longer than the timeout: the clock
//                    must not jump, however long the computing took
//   all              every case above, in order
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 200

static long long NowNs(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec In(clockid_t id, long long ms) {
  long long ns = NowNs(id) + ms * 1000000LL;
  struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
  return ts;
}

static void Report(const char* name, long long ret, long long before, clockid_t id) {
  long long moved = (NowNs(id) - before) / 1000000LL;
  printf("%s ret=%lld moved_ms=%lld\n", name, ret, moved);
}

static int CondWait(clockid_t id, int signalled);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static int ready;

// restored_mid_wait: the waiter's deadline, its result, and whether it is back.
static struct timespec mid_wait_deadline;
static int mid_wait_ret;
static int mid_wait_done;

static int mid_wait_started;

// Whether the process's other thread sleeps in futex(2) (proc(5):
// task/TID/stat's state, task/TID/syscall's number). By the host's ids:
// under detrun /proc may be the host's, where gettid()'s id means another
// task, so the other thread is the entry of self/task that is not
// thread-self's.
static int OtherThreadAsleepInFutex(void) {
  char self[64] = "", path[300], buf[512];
  ssize_t len = readlink("/proc/thread-self", self, sizeof self - 1);
  if (len <= 0) return 0;
  self[len] = '\0';
  const char* own = strrchr(self, '/');
  DIR* dir = opendir("/proc/self/task");
  if (dir == NULL || own == NULL) return 0;
  int asleep = 0;
  for (struct dirent* e; (e = readdir(dir)) != NULL;) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, own + 1) == 0) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
    FILE* f = fopen(path, "r");
    if (f == NULL) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* paren = strrchr(buf, ')');
    if (paren == NULL || paren[1] != ' ' || paren[2] != 'S') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
    f = fopen(path, "r");
    if (f == NULL) continue;
    long nr = -1;
    // restart_syscall: the wait resumed after a stop (detrun's put-back
    // under --tsc=emulate stops the thread; the kernel restarts the wait).
    if (fscanf(f, "%ld", &nr) == 1 && (nr == SYS_futex || nr == SYS_restart_syscall)) asleep = 1;
    fclose(f);
  }
  closedir(dir);
  return asleep;
}

static void* MidWaitWaiter(void* arg) {
  (void)arg;
  __atomic_store_n(&mid_wait_started, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&mu);
  mid_wait_ret = pthread_cond_timedwait(&cond, &mu, &mid_wait_deadline);
  pthread_mutex_unlock(&mu);
  __atomic_store_n(&mid_wait_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void* Signaller(void* arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  ready = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&mu);
  return NULL;
}

// Returns pthread_cond_timedwait's result (0 or ETIMEDOUT).
static int CondWait(clockid_t id, int signalled) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, id);
  pthread_cond_init(&cond, &attr);
  ready = 0;
  pthread_t t;
  pthread_mutex_lock(&mu);
  if (signalled) pthread_create(&t, NULL, Signaller, NULL);
  struct timespec deadline = In(id, signalled ? 60000 : TIMEOUT_MS);
  int r = 0;
  while (!ready && r == 0) r = pthread_cond_timedwait(&cond, &mu, &deadline);
  pthread_mutex_unlock(&mu);
  if (signalled) pthread_join(t, NULL);
  pthread_cond_destroy(&cond);
  return r;
}

static void Run(const char* c) {
  long long before = NowNs(CLOCK_MONOTONIC);
  if (strcmp(c, "poll") == 0) {
    Report(c, poll(NULL, 0, TIMEOUT_MS), before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "epoll") == 0) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev;
    before = NowNs(CLOCK_MONOTONIC);
    Report(c, epoll_wait(ep, &ev, 1, TIMEOUT_MS), before, CLOCK_MONOTONIC);
    close(ep);
  } else if (strcmp(c, "select") == 0) {
    struct timeval tv = {0, TIMEOUT_MS * 1000};
    Report(c, select(0, NULL, NULL, NULL, &tv), before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "ppoll") == 0) {
    struct timespec ts = {0, TIMEOUT_MS * 1000000L};
    Report(c, ppoll(NULL, 0, &ts, NULL), before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "sigtimedwait") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct timespec ts = {0, TIMEOUT_MS * 1000000L};
    before = NowNs(CLOCK_MONOTONIC);
    int r = sigtimedwait(&set, NULL, &ts);
    Report(c, r < 0 ? -errno : r, before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "futex") == 0) {
    static uint32_t word = 0;
    struct timespec ts = {0, TIMEOUT_MS * 1000000L};
    long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    Report(c, r < 0 ? -errno : r, before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "cond_realtime") == 0) {
    before = NowNs(CLOCK_REALTIME);
    Report(c, CondWait(CLOCK_REALTIME, 0), before, CLOCK_REALTIME);
  } else if (strcmp(c, "cond_monotonic") == 0) {
    Report(c, CondWait(CLOCK_MONOTONIC, 0), before, CLOCK_MONOTONIC);
  } else if (strcmp(c, "cond_signalled") == 0) {
    int r = CondWait(CLOCK_REALTIME, 1);
    printf("%s ret=%d\n", c, r);
  } else if (strcmp(c, "mq") == 0) {
    char name[64];
    snprintf(name, sizeof name, "/detrun-probe-%d", (int)getpid());
    struct mq_attr attr = {0, 1, 16, 0, {0}};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) {
      printf("%s unavailable errno=%d\n", c, errno);
      return;
    }
    mq_unlink(name);
    char buf[16];
    before = NowNs(CLOCK_REALTIME);
    struct timespec deadline = In(CLOCK_REALTIME, TIMEOUT_MS);
    ssize_t r = mq_timedreceive(q, buf, sizeof buf, NULL, &deadline);
    Report(c, r < 0 ? -errno : r, before, CLOCK_REALTIME);
    mq_close(q);
  } else if (strcmp(c, "woken_then_busy") == 0) {
    int fds[2];
    if (pipe(fds) != 0 || write(fds[1], "x", 1) != 1) return;
    struct pollfd p = {fds[0], POLLIN, 0};
    before = NowNs(CLOCK_MONOTONIC);
    int r = poll(&p, 1, TIMEOUT_MS);
    volatile unsigned long spin = 0;
    for (unsigned long i = 0; i < 600000000UL; ++i) spin += i;
    Report(c, r, before, CLOCK_MONOTONIC);
    close(fds[0]);
    close(fds[1]);
  } else if (strcmp(c, "deadline_kept") == 0) {
    pthread_cond_init(&cond, NULL);
    pthread_mutex_lock(&mu);
    struct timespec deadline = In(CLOCK_REALTIME, TIMEOUT_MS);
    struct timespec copy = deadline;
    int r = pthread_cond_timedwait(&cond, &mu, &deadline);
    int kept = memcmp(&copy, &deadline, sizeof copy) == 0;
    pthread_mutex_unlock(&mu);
    printf("%s ret=%d kept=%d\n", c, r, kept);
  } else if (strcmp(c, "restored_mid_wait") == 0) {
    pthread_cond_init(&cond, NULL);
    mid_wait_deadline = In(CLOCK_REALTIME, TIMEOUT_MS);
    const struct timespec copy = mid_wait_deadline;
    pthread_t waiter;
    pthread_create(&waiter, NULL, MidWaitWaiter, NULL);
    // Once the waiter sleeps in its futex call, detrun has rewritten the
    // struct (before the call went on); then spin (no intercepted call)
    // until it reads as before or the waiter is back.
    while (!__atomic_load_n(&mid_wait_done, __ATOMIC_ACQUIRE) &&
           !(__atomic_load_n(&mid_wait_started, __ATOMIC_ACQUIRE) && OtherThreadAsleepInFutex())) {
      sched_yield();
    }
    int seen = 0;
    while (!__atomic_load_n(&mid_wait_done, __ATOMIC_ACQUIRE)) {
      struct timespec now;
      __atomic_load(&mid_wait_deadline.tv_sec, &now.tv_sec, __ATOMIC_RELAXED);
      __atomic_load(&mid_wait_deadline.tv_nsec, &now.tv_nsec, __ATOMIC_RELAXED);
      if (now.tv_sec == copy.tv_sec && now.tv_nsec == copy.tv_nsec) {
        seen = 1;
        break;
      }
      sched_yield();
    }
    pthread_join(waiter, NULL);
    printf("%s ret=%d seen=%d\n", c, mid_wait_ret, seen);
  } else {
    printf("%s unknown\n", c);
  }
}

int main(int argc, char** argv) {
  static const char* const kAll[] = {"poll", "epoll", "select", "ppoll", "sigtimedwait",
                                     "futex", "cond_realtime", "cond_monotonic",
                                     "cond_signalled", "mq", "deadline_kept", "woken_then_busy"};
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "all") == 0) {
      for (size_t k = 0; k < sizeof kAll / sizeof kAll[0]; ++k) Run(kAll[k]);
    } else {
      Run(argv[i]);
    }
  }
  return 0;
}
