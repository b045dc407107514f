// thread_exec PROGRAM [ARG...]: a thread other than the leader execs
// PROGRAM while the leader and a third thread are alive. The kernel ends
// the other two and gives the exec'ing thread the leader's pid, so the
// exec'ing thread's own tid is never reported as an exit (ptrace(2),
// "execve(2) under ptrace"). Every thread first makes an intercepted call
// (getrandom), so that detrun knows all three before the exec.
// Prints "before PID" first; PROGRAM then prints what it prints.
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

static char** exec_argv;
static sem_t known;

static void Touch(void) {
  char b[8];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
    perror("getrandom");
    _exit(1);
  }
}

static void* Sleeper(void* arg) {
  (void)arg;
  Touch();
  sem_post(&known);
  for (;;) pause();
  return NULL;
}

static void* Execer(void* arg) {
  (void)arg;
  Touch();
  execv(exec_argv[0], exec_argv);
  perror("execv");
  _exit(127);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: thread_exec PROGRAM [ARG...]\n");
    return 2;
  }
  exec_argv = argv + 1;
  Touch();
  printf("before %d\n", (int)getpid());
  fflush(stdout);
  sem_init(&known, 0, 0);
  pthread_t sleeper, execer;
  if (pthread_create(&sleeper, NULL, Sleeper, NULL) != 0) return 1;
  sem_wait(&known);
  if (pthread_create(&execer, NULL, Execer, NULL) != 0) return 1;
  for (;;) pause();
}
