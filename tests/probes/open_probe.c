// open_probe [-C DIR] [-d DIR] [-x] CALL PATH [FLAG...]: opens PATH with one
// open-family call and prints what it observes, one "name: value" line each:
//   open       "ok", or "errno=NAME" (and nothing more)
//   content    what read() returns, with newlines written as \n
//   size       fstat's st_size; type "regular" or another; mode (octal)
//   accmode    RDONLY/WRONLY/RDWR/PATH from fcntl(F_GETFL); nonblock 0/1
//   cloexec    1 when F_GETFD has FD_CLOEXEC; fdinfo_cloexec: the same
//              from /proc/self/fdinfo/N's "flags:" octal (02000000)
//   pread      4 bytes at offset 1; mmap: the first 4 bytes through a
//              read-only shared mapping; write: what write() says, tried
//              only on a read-only descriptor (the probe never writes to a
//              file it could change)
//   exec_sees  with -x: "yes" when a program exec'd after the open can
//              read the descriptor (/proc/self/fd/N), "no" when O_CLOEXEC
//              closed it
// CALL is open, openat, openat2 or creat. -C DIR: chdir(DIR) first. -d DIR:
// the dirfd of openat/openat2 is DIR opened O_PATH (default AT_FDCWD).
// FLAGs: O_RDONLY O_WRONLY O_RDWR O_CREAT O_EXCL O_TRUNC O_APPEND O_CLOEXEC
// O_NOFOLLOW O_DIRECTORY O_PATH O_NONBLOCK, and for openat2
// RESOLVE_BENEATH RESOLVE_IN_ROOT RESOLVE_NO_SYMLINKS.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
  const char* name;
  long value;
  int resolve;
} kFlags[] = {
    {"O_RDONLY", O_RDONLY, 0},     {"O_WRONLY", O_WRONLY, 0},
    {"O_RDWR", O_RDWR, 0},         {"O_CREAT", O_CREAT, 0},
    {"O_EXCL", O_EXCL, 0},         {"O_TRUNC", O_TRUNC, 0},
    {"O_APPEND", O_APPEND, 0},     {"O_CLOEXEC", O_CLOEXEC, 0},
    {"O_NOFOLLOW", O_NOFOLLOW, 0}, {"O_DIRECTORY", O_DIRECTORY, 0},
    {"O_PATH", O_PATH, 0},         {"O_NONBLOCK", O_NONBLOCK, 0},
    {"RESOLVE_BENEATH", RESOLVE_BENEATH, 1},
    {"RESOLVE_IN_ROOT", RESOLVE_IN_ROOT, 1},
    {"RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS, 1},
};

static void print_escaped(const char* label, const char* p, ssize_t n) {
  printf("%s: ", label);
  for (ssize_t i = 0; i < n; ++i) {
    if (p[i] == '\n') {
      fputs("\\n", stdout);
    } else {
      putchar(p[i]);
    }
  }
  putchar('\n');
}

static void print_errno(const char* label) { printf("%s: errno=%s\n", label, strerrorname_np(errno)); }

static int usage(void) {
  fprintf(stderr, "usage: open_probe [-C DIR] [-d DIR] [-x] open|openat|openat2|creat PATH [FLAG...]\n");
  return 2;
}

int main(int argc, char** argv) {
  int dirfd = AT_FDCWD, exec_check = 0, i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (strcmp(argv[i], "-x") == 0) {
      exec_check = 1;
    } else if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
      if (chdir(argv[++i]) != 0) return perror("chdir"), 1;
    } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
      dirfd = open(argv[++i], O_PATH | O_CLOEXEC);  // may be a file, to see ENOTDIR
      if (dirfd < 0) return perror("open dir"), 1;
    } else {
      return usage();
    }
  }
  if (argc - i < 2) return usage();
  const char* call = argv[i];
  const char* path = argv[i + 1];
  long flags = 0;
  long resolve = 0;
  for (int k = i + 2; k < argc; ++k) {
    size_t f = 0;
    for (; f < sizeof kFlags / sizeof kFlags[0]; ++f) {
      if (strcmp(argv[k], kFlags[f].name) == 0) break;
    }
    if (f == sizeof kFlags / sizeof kFlags[0]) return usage();
    if (kFlags[f].resolve) {
      resolve |= kFlags[f].value;
    } else {
      flags |= kFlags[f].value;
    }
  }

  long fd;
  if (strcmp(call, "open") == 0) {
    fd = syscall(SYS_open, path, flags, 0644);
  } else if (strcmp(call, "openat") == 0) {
    fd = syscall(SYS_openat, dirfd, path, flags, 0644);
  } else if (strcmp(call, "openat2") == 0) {
    struct open_how how = {.flags = (unsigned long long)flags,
                           .mode = (flags & O_CREAT) ? 0644 : 0,
                           .resolve = (unsigned long long)resolve};
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } else if (strcmp(call, "creat") == 0) {
    fd = syscall(SYS_creat, path, 0644);
  } else {
    return usage();
  }
  if (fd < 0) {
    print_errno("open");
    return 0;
  }
  printf("open: ok\n");

  const int getfl = fcntl((int)fd, F_GETFL);
  const int is_path = (getfl & O_PATH) != 0;
  if (!is_path) {
    char buf[4096];
    ssize_t n = read((int)fd, buf, sizeof buf);
    if (n < 0) {
      print_errno("content");
    } else {
      print_escaped("content", buf, n);
    }
  }
  struct stat st;
  if (fstat((int)fd, &st) == 0) {
    printf("size: %lld\n", (long long)st.st_size);
    printf("type: %s\n", S_ISREG(st.st_mode) ? "regular" : "other");
    printf("mode: %04o\n", (unsigned)(st.st_mode & 07777));
  } else {
    print_errno("fstat");
  }
  const int acc = getfl & O_ACCMODE;
  printf("accmode: %s\n", is_path ? "PATH" : acc == O_RDONLY ? "RDONLY" : acc == O_WRONLY ? "WRONLY" : "RDWR");
  printf("nonblock: %d\n", (getfl & O_NONBLOCK) != 0);
  printf("cloexec: %d\n", (fcntl((int)fd, F_GETFD) & FD_CLOEXEC) != 0);
  char info_path[64], info[512];
  snprintf(info_path, sizeof info_path, "/proc/self/fdinfo/%ld", fd);
  FILE* fi = fopen(info_path, "re");
  if (fi != NULL) {
    while (fgets(info, sizeof info, fi) != NULL) {
      unsigned long octal;
      if (sscanf(info, "flags: %lo", &octal) == 1) {
        printf("fdinfo_cloexec: %d\n", (octal & 02000000) != 0);
      }
    }
    fclose(fi);
  }
  if (!is_path) {
    char four[4];
    ssize_t n = pread((int)fd, four, sizeof four, 1);
    if (n < 0) {
      print_errno("pread");
    } else {
      print_escaped("pread", four, n);
    }
    if (st.st_size > 0) {
      void* p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, (int)fd, 0);
      if (p == MAP_FAILED) {
        print_errno("mmap");
      } else {
        print_escaped("mmap", p, st.st_size < 4 ? st.st_size : 4);
        munmap(p, 4096);
      }
    }
    // Only on a read-only descriptor, where it must fail: this probe
    // never changes a file it opened for writing.
    if ((getfl & O_ACCMODE) == O_RDONLY) {
      if (write((int)fd, "x", 1) < 0) {
        print_errno("write");
      } else {
        printf("write: ok\n");
      }
    }
  }
  if (exec_check) {
    fflush(stdout);
    char target[64];
    snprintf(target, sizeof target, "/proc/self/fd/%ld", fd);
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execl("/bin/cat", "cat", target, (char*)NULL);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("exec_sees: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
  }
  return 0;
}
