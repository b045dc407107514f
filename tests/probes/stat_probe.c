// stat_probe DIR [FILE...]: prints what the stat family says about a file
// it writes in DIR, one line per way of asking, all through raw syscall():
//   stat, lstat (of a symlink to it), fstat, newfstatat relative to a
//   directory descriptor (followed, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH on
//   the file's descriptor), statx (by path and by descriptor, with the
//   birth time), and stat through /dev/fd/N and /proc/self/fd/N;
// each as "NAME ino=... size=... mode=... atime=S.N mtime=S.N ctime=S.N"
// (statx adds btime). Then the errors, one "NAME errno=E" line each: a
// missing file, a bad path pointer, a bad buffer, bad descriptors, bad
// flags, a file used as a directory, a symlink loop. Then "stat FILE ..."
// for every extra FILE argument.
// Under --fs-times=clamp every time written in the run reads as --time;
// natively and under --fs-times=real they are the host's; the error lines
// are the same everywhere.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show_stat(const char* name, long rc, const struct stat* st) {
  if (rc != 0) {
    printf("%s errno=%s\n", name, strerrorname_np(errno));
    return;
  }
  printf("%s ino=%lu size=%ld mode=%o atime=%lld.%09ld mtime=%lld.%09ld ctime=%lld.%09ld\n", name,
         (unsigned long)st->st_ino, (long)st->st_size, st->st_mode,
         (long long)st->st_atim.tv_sec, st->st_atim.tv_nsec, (long long)st->st_mtim.tv_sec,
         st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static void show_statx(const char* name, long rc, const struct statx* sx) {
  if (rc != 0) {
    printf("%s errno=%s\n", name, strerrorname_np(errno));
    return;
  }
  printf("%s ino=%llu size=%llu mode=%o atime=%lld.%09u mtime=%lld.%09u ctime=%lld.%09u",
         name, (unsigned long long)sx->stx_ino, (unsigned long long)sx->stx_size,
         sx->stx_mode, (long long)sx->stx_atime.tv_sec, sx->stx_atime.tv_nsec,
         (long long)sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec,
         (long long)sx->stx_ctime.tv_sec, sx->stx_ctime.tv_nsec);
  if (sx->stx_mask & STATX_BTIME) {
    printf(" btime=%lld.%09u", (long long)sx->stx_btime.tv_sec, sx->stx_btime.tv_nsec);
  }
  printf("\n");
}

static void show_errno(const char* name, long rc) {
  if (rc == 0) {
    printf("%s ok\n", name);
  } else {
    printf("%s errno=%s\n", name, strerrorname_np(errno));
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: stat_probe DIR [FILE...]\n");
    return 2;
  }
  const char* dir = argv[1];
  char file[4096], link[4096], loop_a[4096], loop_b[4096];
  snprintf(file, sizeof file, "%s/probe_file", dir);
  snprintf(link, sizeof link, "%s/probe_link", dir);
  snprintf(loop_a, sizeof loop_a, "%s/loop_a", dir);
  snprintf(loop_b, sizeof loop_b, "%s/loop_b", dir);
  int fd = open(file, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, "hello", 5) != 5 || symlink("probe_file", link) != 0 ||
      symlink("loop_b", loop_a) != 0 || symlink("loop_a", loop_b) != 0) {
    perror("stat_probe: set-up");
    return 1;
  }
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    perror("stat_probe: open DIR");
    return 1;
  }
  struct stat st;
  struct statx sx;
  char path[4096];

  show_stat("stat", syscall(SYS_stat, file, &st), &st);
  show_stat("lstat", syscall(SYS_lstat, link, &st), &st);
  show_stat("stat_link", syscall(SYS_stat, link, &st), &st);
  show_stat("fstat", syscall(SYS_fstat, fd, &st), &st);
  show_stat("fstatat", syscall(SYS_newfstatat, dirfd, "probe_file", &st, 0), &st);
  show_stat("fstatat_nofollow",
            syscall(SYS_newfstatat, dirfd, "probe_link", &st, AT_SYMLINK_NOFOLLOW), &st);
  show_stat("fstatat_empty_path", syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH), &st);
  show_stat("fstatat_dir", syscall(SYS_newfstatat, dirfd, "", &st, AT_EMPTY_PATH), &st);
  show_statx("statx",
             syscall(SYS_statx, AT_FDCWD, file, 0, STATX_BASIC_STATS | STATX_BTIME, &sx), &sx);
  show_statx("statx_nofollow",
             syscall(SYS_statx, dirfd, "probe_link", AT_SYMLINK_NOFOLLOW,
                     STATX_BASIC_STATS | STATX_BTIME, &sx),
             &sx);
  show_statx("statx_empty_path",
             syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx),
             &sx);
  snprintf(path, sizeof path, "/dev/fd/%d", fd);
  show_stat("stat_dev_fd", syscall(SYS_stat, path, &st), &st);
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  show_stat("stat_proc_self_fd", syscall(SYS_stat, path, &st), &st);

  snprintf(path, sizeof path, "%s/missing", dir);
  show_errno("stat_missing", syscall(SYS_stat, path, &st));
  show_errno("stat_bad_pointer", syscall(SYS_stat, (const char*)1, &st));
  show_errno("stat_null", syscall(SYS_stat, NULL, &st));
  show_errno("stat_empty", syscall(SYS_stat, "", &st));
  show_errno("stat_bad_buffer", syscall(SYS_stat, file, (struct stat*)1));
  show_errno("stat_missing_bad_buffer", syscall(SYS_stat, path, (struct stat*)1));
  snprintf(path, sizeof path, "%s/probe_file/x", dir);
  show_errno("stat_not_a_directory", syscall(SYS_stat, path, &st));
  show_errno("stat_loop", syscall(SYS_stat, loop_a, &st));
  show_errno("lstat_loop", syscall(SYS_lstat, loop_a, &st));
  show_errno("fstat_bad_fd", syscall(SYS_fstat, 999, &st));
  show_errno("fstat_bad_buffer", syscall(SYS_fstat, fd, (struct stat*)1));
  show_errno("fstatat_bad_fd", syscall(SYS_newfstatat, 999, "probe_file", &st, 0));
  show_errno("fstatat_bad_fd_empty_path", syscall(SYS_newfstatat, 999, "", &st, AT_EMPTY_PATH));
  show_errno("fstatat_file_as_dirfd", syscall(SYS_newfstatat, fd, "x", &st, 0));
  show_errno("fstatat_bad_flags", syscall(SYS_newfstatat, dirfd, "probe_file", &st, 0x10000000));
  show_errno("fstatat_empty_without_flag", syscall(SYS_newfstatat, fd, "", &st, 0));
  show_errno("statx_bad_flags",
             syscall(SYS_statx, dirfd, "probe_file", AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
                     STATX_BASIC_STATS, &sx));
  show_errno("statx_reserved_mask", syscall(SYS_statx, dirfd, "probe_file", 0, 0x80000000u, &sx));
  show_errno("statx_bad_fd", syscall(SYS_statx, 999, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
  show_errno("statx_bad_pointer",
             syscall(SYS_statx, AT_FDCWD, (const char*)1, 0, STATX_BASIC_STATS, &sx));

  for (int i = 2; i < argc; ++i) {
    snprintf(path, sizeof path, "stat %s", argv[i]);
    show_stat(path, syscall(SYS_stat, argv[i], &st), &st);
  }
  return 0;
}
