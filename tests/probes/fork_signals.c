// fork_signals [N]: forks N children (default 40) one after another while
// another child keeps sending this process SIGUSR1, so that some of the
// forks meet a pending signal and are restarted (fork's -ERESTARTNOINTR,
// or the seccomp notification's wait interrupted): the same fork is then
// seen twice before it makes a child. Each child makes one intercepted
// call (getrandom), so that detrun identifies it, and exits; the parent
// reaps it before the next fork. The signalling child is the first child.
// Prints "forked N".
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

static void OnSignal(int sig) { (void)sig; }

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 40;
  struct sigaction sa = {0};
  sa.sa_handler = OnSignal;
  // SA_RESTART: under detrun a signal that interrupts the fork's
  // notification before it is answered fails the fork with EINTR unless
  // the handler restarts calls (a known difference: README, Known limits).
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  const pid_t parent = getpid();
  const pid_t storm = fork();
  if (storm < 0) return 1;
  if (storm == 0) {
    // About one signal a millisecond natively (a busy loop: a sleep is
    // virtual under detrun and would return at once).
    for (;;) {
      kill(parent, SIGUSR1);
      for (volatile int i = 0; i < 1000000; ++i) {
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    pid_t child = fork();
    if (child < 0) {
      perror("fork");
      return 1;
    }
    if (child == 0) {
      char b[8];
      _exit(getrandom(b, sizeof b, 0) == (ssize_t)sizeof b ? 0 : 1);
    }
    int status;
    while (waitpid(child, &status, 0) < 0) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child %d: wait status %#x\n", i, status);
      return 1;
    }
  }
  kill(storm, SIGKILL);
  waitpid(storm, NULL, 0);
  printf("forked %d\n", n);
  return 0;
}
