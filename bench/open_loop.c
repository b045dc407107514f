// open_loop N PATH: opens PATH read-only and closes it N times and prints
// the mean cost of one open+close in nanoseconds, timed with
// CLOCK_MONOTONIC. Under detrun every open is notified to the supervisor
// once a module provides a file (core/virtual_files.h), so
//   compare_commands R 'detrun --native -- open_loop N PATH' 'detrun -- open_loop N PATH'
// shows what that costs per open for PATH: an ordinary file (answered by
// the kernel after the supervisor's look), a symlink (resolved in full) or
// a virtual file (answered by the supervisor). Under detrun's default
// --clock=step the printed figure is virtual time; use --clock=real for the
// in-process figure, or compare wall times with compare_commands.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3 || atol(argv[1]) <= 0) {
    fprintf(stderr, "usage: open_loop N PATH\n");
    return 2;
  }
  const long n = atol(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; ++i) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      perror(argv[2]);
      return 1;
    }
    close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
  printf("%.0f ns per open+close of %s\n", ns, argv[2]);
  return 0;
}
