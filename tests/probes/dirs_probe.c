// dirs_probe: exercises directory listing the way real programs do, and
// prints what it saw. Usage: dirs_probe DIR SECTION...
//
// DIR is an empty scratch directory; `setup` fills it (a/, b/, t/, u/).
// Sections:
//   setup    the fixture (names created in a scrambled order)
//   plain    readdir of a/ and b/
//   reuse    read part of a/, close without reaching the end, open b/ (the
//            same descriptor number), list it whole
//   rewind   readdir part of a/, rewinddir, list it whole
//   seekdir  telldir before every entry, then seekdir back to each (last
//            to first) and check readdir returns that entry; end positions
//   lseek0   raw getdents64 part of a/, lseek(fd, 0, SEEK_SET), list whole
//   dup      part of a/ through fd, the rest through dup(fd), fd at the end
//   fork     part of a/, fork, the child reads the rest, then the parent
//            is at the end (the description is shared)
//   threads  8 threads list a/ at once, each through its own descriptor
//            with small buffers
//   small    1-byte, 0-byte, 23-byte and >INT_MAX-byte buffers: EINVAL; at
//            the end: 0
//   efault   NULL buffer: EFAULT; a buffer whose tail is unmapped: the
//            records that fit, and the rest continues from there
//   types    d_type of a FIFO, a socket, a symlink, a directory, a file and
//            (root only) a character device, through getdents64 and the
//            old getdents
//   nonutf8  names that are not UTF-8
//   old      a/ through the old getdents (struct linux_dirent)
//   offsets  every d_off of a/ (under detrun: 1, 2, 3, ...)
//   big      100000 files: count, uniqueness, order
//   proc     /proc, /proc/self/fd, /proc/sys/kernel, /sys and
//            /sys/devices/system/cpu list, with seekdir round trips
//
// Line kinds, so a test can compare a native run with one under detrun:
//   "list LABEL: N1 N2 ..."  names in the order listed (bytes outside
//                            0x21..0x7e and '\' written as \xHH);
//                            natively in the file system's order
//   "sorted LABEL: yes|no"   whether a listing was in bytewise order
//   "offsets LABEL: ..."     d_off values (the file system's natively)
//   anything else            the same natively and under detrun
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* scratch;

static void die(const char* what) {
  fprintf(stderr, "dirs_probe: %s: %s\n", what, strerror(errno));
  exit(2);
}

// One buffer per thread: the "threads" section calls this from 8 threads at
// once, and glibc's snprintf stores a NUL at buf[0] before it writes, so a
// shared buffer let one thread open another's half-written path (ENOENT).
static char* path_of(const char* rel) {
  static _Thread_local char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", scratch, rel);
  return buf;
}

// ---- a growable list of names

struct names {
  char** v;
  size_t n, cap;
};

static void push(struct names* ns, const char* name) {
  if (ns->n == ns->cap) {
    ns->cap = ns->cap ? ns->cap * 2 : 64;
    ns->v = realloc(ns->v, ns->cap * sizeof *ns->v);
    if (!ns->v) die("realloc");
  }
  ns->v[ns->n++] = strdup(name);
}

static void clear(struct names* ns) {
  for (size_t i = 0; i < ns->n; ++i) free(ns->v[i]);
  free(ns->v);
  memset(ns, 0, sizeof *ns);
}

static int bytewise(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);  // strcmp compares unsigned bytes
}

static int is_sorted(const struct names* ns) {
  for (size_t i = 1; i < ns->n; ++i) {
    if (strcmp(ns->v[i - 1], ns->v[i]) >= 0) return 0;
  }
  return 1;
}

static int unique(const struct names* ns) {
  struct names copy = {0};
  for (size_t i = 0; i < ns->n; ++i) push(&copy, ns->v[i]);
  qsort(copy.v, copy.n, sizeof *copy.v, bytewise);
  int ok = 1;
  for (size_t i = 1; i < copy.n; ++i) {
    if (strcmp(copy.v[i - 1], copy.v[i]) == 0) ok = 0;
  }
  clear(&copy);
  return ok;
}

static int contains(const struct names* ns, const char* name) {
  for (size_t i = 0; i < ns->n; ++i) {
    if (strcmp(ns->v[i], name) == 0) return 1;
  }
  return 0;
}

static void print_escaped(const char* name) {
  for (const unsigned char* p = (const unsigned char*)name; *p; ++p) {
    if (*p > 0x20 && *p < 0x7f && *p != '\\') {
      putchar(*p);
    } else {
      printf("\\x%02x", *p);
    }
  }
}

static void print_list(const char* label, const struct names* ns) {
  printf("list %s:", label);
  for (size_t i = 0; i < ns->n; ++i) {
    putchar(' ');
    print_escaped(ns->v[i]);
  }
  putchar('\n');
}

static const char* errname(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "?";
}

// ---- raw getdents64

struct dirent64_raw {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static long raw_getdents64(int fd, void* buf, size_t count) {
  return syscall(SYS_getdents64, fd, buf, count);
}

// Appends the names of `len` bytes of records.
static void collect(struct names* ns, const char* buf, long len) {
  for (long at = 0; at < len;) {
    const struct dirent64_raw* d = (const void*)(buf + at);
    push(ns, d->d_name);
    at += d->d_reclen;
  }
}

// Reads fd to the end with `count`-byte buffers.
static void read_rest(int fd, struct names* ns, size_t count) {
  char* buf = malloc(count);
  for (;;) {
    long n = raw_getdents64(fd, buf, count);
    if (n < 0) die("getdents64");
    if (n == 0) break;
    collect(ns, buf, n);
  }
  free(buf);
}

// Reads at least one record (a buffer of 64 bytes holds one or two).
static void read_some(int fd, struct names* ns) {
  char buf[64];
  long n = raw_getdents64(fd, buf, sizeof buf);
  if (n <= 0) die("getdents64 (some)");
  collect(ns, buf, n);
}

static int open_dir(const char* path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die(path);
  return fd;
}

static void list_path(const char* path, struct names* ns) {
  DIR* d = opendir(path);
  if (!d) die(path);
  struct dirent* e;
  while ((e = readdir(d)) != NULL) push(ns, e->d_name);
  closedir(d);
}

// ---- the fixture

static void touch(const char* rel) {
  int fd = open(path_of(rel), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) die(rel);
  close(fd);
}

static const char* const kA[] = {"delta", "alpha", "echo", "charlie", "bravo", "zulu", "0zero",
                                 "Mike", "-dash", "kilo", "juliet", "india", "hotel", "golf",
                                 "foxtrot", "lima"};

static void setup(void) {
  if (mkdir(path_of("a"), 0755) || mkdir(path_of("b"), 0755) || mkdir(path_of("t"), 0755) ||
      mkdir(path_of("u"), 0755)) {
    die("mkdir");
  }
  char rel[64];
  for (size_t i = 0; i < sizeof kA / sizeof *kA; ++i) {
    snprintf(rel, sizeof rel, "a/%s", kA[i]);
    touch(rel);
  }
  touch("b/x3");
  touch("b/x1");
  touch("b/x2");
  touch("u/plain");
  touch("u/\xff\xfe");
  touch("u/caf\xe9");
  touch("u/a\x80" "b");
  touch("u/caf\xc3\xa9");
  touch("u/sp ace");
  touch("u/back\\slash");
  printf("setup: done\n");
}

// ---- sections

static void plain(void) {
  struct names a = {0}, b = {0};
  list_path(path_of("a"), &a);
  list_path(path_of("b"), &b);
  print_list("plain-a", &a);
  print_list("plain-b", &b);
  printf("sorted plain-a: %s\n", is_sorted(&a) ? "yes" : "no");
  clear(&a);
  clear(&b);
}

static void reuse(void) {
  struct names part = {0}, b = {0};
  int fd = open_dir(path_of("a"));
  read_some(fd, &part);
  close(fd);
  int again = open_dir(path_of("b"));
  printf("reuse: same descriptor number: %s\n", again == fd ? "yes" : "no");
  read_rest(again, &b, 4096);
  close(again);
  print_list("reuse-b", &b);
  clear(&part);
  clear(&b);
}

static void rewind_section(void) {
  DIR* d = opendir(path_of("a"));
  if (!d) die("opendir");
  for (int i = 0; i < 3; ++i) {
    if (!readdir(d)) die("readdir");
  }
  rewinddir(d);
  struct names all = {0};
  struct dirent* e;
  while ((e = readdir(d)) != NULL) push(&all, e->d_name);
  closedir(d);
  print_list("rewind", &all);
  clear(&all);
}

static void seekdir_round_trips(const char* label, const char* path) {
  DIR* d = opendir(path);
  if (!d) die(path);
  struct names ns = {0};
  long pos[4096];
  size_t n = 0;
  for (;;) {
    long here = telldir(d);
    struct dirent* e = readdir(d);
    if (!e) break;
    if (n < sizeof pos / sizeof *pos) {
      pos[n++] = here;
      push(&ns, e->d_name);
    }
  }
  long end = telldir(d);
  size_t bad = 0;
  for (size_t i = n; i-- > 0;) {
    seekdir(d, pos[i]);
    struct dirent* e = readdir(d);
    if (!e || strcmp(e->d_name, ns.v[i]) != 0) ++bad;
  }
  seekdir(d, end);
  int at_end = readdir(d) == NULL;
  // After a round trip the listing continues to the end in order.
  seekdir(d, pos[n / 2]);
  size_t rest = 0, rest_bad = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (n / 2 + rest >= n || strcmp(e->d_name, ns.v[n / 2 + rest]) != 0) ++rest_bad;
    ++rest;
  }
  closedir(d);
  printf("seekdir %s: %zu entries, %zu mismatches, end position reads the end: %s, "
         "from the middle: %zu entries, %zu mismatches\n",
         label, n, bad, at_end ? "yes" : "no", rest, rest_bad);
  clear(&ns);
}

static void lseek0(void) {
  int fd = open_dir(path_of("a"));
  struct names part = {0}, all = {0};
  read_some(fd, &part);
  if (lseek(fd, 0, SEEK_SET) != 0) die("lseek");
  read_rest(fd, &all, 4096);
  close(fd);
  print_list("lseek0", &all);
  clear(&part);
  clear(&all);
}

static void dup_section(void) {
  int fd = open_dir(path_of("a"));
  struct names all = {0};
  read_some(fd, &all);
  size_t first = all.n;
  int twin = dup(fd);
  read_rest(twin, &all, 128);
  char buf[4096];
  long after = raw_getdents64(fd, buf, sizeof buf);
  close(twin);
  close(fd);
  print_list("dup", &all);
  printf("dup: first part %s, original after the dup read the rest: %ld, unique: %s\n",
         first > 0 ? "read" : "empty", after, unique(&all) ? "yes" : "no");
  clear(&all);
}

static void fork_section(void) {
  int fd = open_dir(path_of("a"));
  struct names all = {0};
  read_some(fd, &all);
  int pipefd[2];
  if (pipe(pipefd) != 0) die("pipe");
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    struct names rest = {0};
    read_rest(fd, &rest, 128);
    for (size_t i = 0; i < rest.n; ++i) {
      if (write(pipefd[1], rest.v[i], strlen(rest.v[i]) + 1) < 0) _exit(3);
    }
    _exit(0);
  }
  close(pipefd[1]);
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die("child");
  }
  char buf[65536];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(pipefd[0], buf + got, sizeof buf - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  for (size_t at = 0; at < got; at += strlen(buf + at) + 1) push(&all, buf + at);
  close(pipefd[0]);
  char dbuf[4096];
  long after = raw_getdents64(fd, dbuf, sizeof dbuf);
  close(fd);
  print_list("fork", &all);
  printf("fork: parent after the child read the rest: %ld, unique: %s, count: %zu\n", after,
         unique(&all) ? "yes" : "no", all.n);
  clear(&all);
}

enum { kThreads = 8 };
static struct names thread_lists[kThreads];

static void* list_in_thread(void* arg) {
  struct names* ns = arg;
  int fd = open_dir(path_of("a"));
  read_rest(fd, ns, 64);
  close(fd);
  return NULL;
}

static void threads(void) {
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    if (pthread_create(&t[i], NULL, list_in_thread, &thread_lists[i]) != 0) die("pthread_create");
  }
  for (int i = 0; i < kThreads; ++i) pthread_join(t[i], NULL);
  int same = 1;
  for (int i = 1; i < kThreads; ++i) {
    if (thread_lists[i].n != thread_lists[0].n) same = 0;
    for (size_t k = 0; same && k < thread_lists[0].n; ++k) {
      if (strcmp(thread_lists[i].v[k], thread_lists[0].v[k]) != 0) same = 0;
    }
  }
  printf("threads: %d listings of %zu entries, identical: %s\n", kThreads, thread_lists[0].n,
         same ? "yes" : "no");
  print_list("threads", &thread_lists[0]);
  for (int i = 0; i < kThreads; ++i) clear(&thread_lists[i]);
}

static void show(const char* what, long r) {
  if (r < 0) {
    printf("%s: %s\n", what, errname(errno));
  } else {
    printf("%s: %ld\n", what, r);
  }
}

static void small(void) {
  int fd = open_dir(path_of("a"));
  char buf[4096];
  show("small 1 byte", raw_getdents64(fd, buf, 1));
  show("small 0 bytes", raw_getdents64(fd, buf, 0));
  // No name of a/ fits in 23 bytes (the smallest record is 24).
  show("small 23 bytes", raw_getdents64(fd, buf, 23));
  show("small count 0x80000000", syscall(SYS_getdents64, fd, buf, 0x80000000ul));
  // Natively ext4 has moved to a hash position even though it refused.
  printf("offsets small-after-refusals: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
  struct names all = {0};
  read_rest(fd, &all, 4096);
  printf("small: then the whole listing: %zu entries\n", all.n);
  show("small 1 byte at the end", raw_getdents64(fd, buf, 1));
  show("small 0 bytes at the end", raw_getdents64(fd, buf, 0));
  close(fd);
  show("small closed descriptor", raw_getdents64(fd, buf, sizeof buf));
  int file = open(path_of("a/alpha"), O_RDONLY | O_CLOEXEC);
  show("small regular file", raw_getdents64(file, buf, sizeof buf));
  close(file);
  int opath = open(path_of("a"), O_PATH | O_CLOEXEC);
  show("small O_PATH descriptor", raw_getdents64(opath, buf, sizeof buf));
  close(opath);
  clear(&all);
}

static void efault(void) {
  int fd = open_dir(path_of("a"));
  show("efault NULL", raw_getdents64(fd, NULL, 4096));
  long page = sysconf(_SC_PAGESIZE);
  char* mem = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  if (mprotect(mem + page, page, PROT_NONE) != 0) die("mprotect");
  show("efault unmapped", raw_getdents64(fd, mem + page, 4096));
  printf("offsets efault-after-refusals: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
  // 64 writable bytes, then the hole: at least one record fits.
  char* edge = mem + page - 64;
  long n = raw_getdents64(fd, edge, 4096);
  struct names all = {0};
  if (n > 0) collect(&all, edge, n);
  printf("efault tail unmapped: %s\n", n > 0 && n <= 64 ? "the records that fit" : "other");
  read_rest(fd, &all, 4096);
  printf("efault then the rest: %zu entries, unique: %s\n", all.n, unique(&all) ? "yes" : "no");
  munmap(mem, 2 * page);
  close(fd);
  clear(&all);
}

static const char* type_name(unsigned t) {
  switch (t) {
    case DT_FIFO: return "FIFO";
    case DT_CHR: return "CHR";
    case DT_DIR: return "DIR";
    case DT_BLK: return "BLK";
    case DT_REG: return "REG";
    case DT_LNK: return "LNK";
    case DT_SOCK: return "SOCK";
    case DT_UNKNOWN: return "UNKNOWN";
    default: return "?";
  }
}

struct typed {
  char name[32];
  unsigned type;
};

// The old getdents: struct linux_dirent, d_type in the record's last byte.
struct dirent_old_raw {
  unsigned long d_ino;
  unsigned long d_off;
  unsigned short d_reclen;
  char d_name[];
};

static size_t read_types(const char* path, int old, struct typed* out, size_t max) {
  int fd = open_dir(path);
  char buf[4096];
  size_t n = 0;
  for (;;) {
    long len = syscall(old ? SYS_getdents : SYS_getdents64, fd, buf, sizeof buf);
    if (len < 0) die("getdents (types)");
    if (len == 0) break;
    for (long at = 0; at < len;) {
      const char* name;
      unsigned type;
      unsigned short reclen;
      if (old) {
        const struct dirent_old_raw* d = (const void*)(buf + at);
        name = d->d_name;
        reclen = d->d_reclen;
        type = (unsigned char)buf[at + reclen - 1];
      } else {
        const struct dirent64_raw* d = (const void*)(buf + at);
        name = d->d_name;
        reclen = d->d_reclen;
        type = d->d_type;
      }
      if (n < max) {
        snprintf(out[n].name, sizeof out[n].name, "%s", name);
        out[n].type = type;
        ++n;
      }
      at += reclen;
    }
  }
  close(fd);
  return n;
}

static void types(void) {
  if (mkfifo(path_of("t/fifo"), 0644) != 0) die("mkfifo");
  if (symlink("file", path_of("t/symlink")) != 0) die("symlink");
  if (mkdir(path_of("t/dir"), 0755) != 0) die("mkdir");
  touch("t/file");
  // Bound by a relative name: the scratch path may be longer than sun_path.
  int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0 || chdir(path_of("t")) != 0) die("chdir");
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "socket"};
  if (s < 0 || bind(s, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  close(s);
  if (fchdir(cwd) != 0) die("fchdir");
  close(cwd);
  const char* names[] = {".", "..", "dir", "fifo", "file", "socket", "symlink", "chardev"};
  size_t count = sizeof names / sizeof *names;
  if (geteuid() != 0) {
    printf("types: character device skipped (not root)\n");
    --count;
  } else if (mknod(path_of("t/chardev"), S_IFCHR | 0600, makedev(1, 3)) != 0) {
    printf("types: character device skipped (mknod: %s)\n", errname(errno));
    --count;
  }
  for (int old = 0; old <= 1; ++old) {
    struct typed got[32];
    size_t n = read_types(path_of("t"), old, got, 32);
    printf("types %s: %zu entries:", old ? "getdents" : "getdents64", n);
    for (size_t k = 0; k < count; ++k) {
      const char* type = "missing";
      for (size_t i = 0; i < n; ++i) {
        if (strcmp(got[i].name, names[k]) == 0) type = type_name(got[i].type);
      }
      printf(" %s=%s", names[k], type);
    }
    printf("\n");
  }
}

static void nonutf8(void) {
  struct names u = {0};
  list_path(path_of("u"), &u);
  print_list("nonutf8", &u);
  printf("sorted nonutf8: %s\n", is_sorted(&u) ? "yes" : "no");
  clear(&u);
}

static void old(void) {
  int fd = open_dir(path_of("a"));
  char buf[256];  // several calls
  struct names ns = {0};
  for (;;) {
    long len = syscall(SYS_getdents, fd, buf, sizeof buf);
    if (len < 0) die("getdents");
    if (len == 0) break;
    for (long at = 0; at < len;) {
      const struct dirent_old_raw* d = (const void*)(buf + at);
      push(&ns, d->d_name);
      at += d->d_reclen;
    }
  }
  show("old 1 byte", syscall(SYS_getdents, fd, buf, 1));
  if (lseek(fd, 0, SEEK_SET) != 0) die("lseek");
  show("old 1 byte at the start", syscall(SYS_getdents, fd, buf, 1));
  close(fd);
  print_list("old", &ns);
  clear(&ns);
}

static void offsets(void) {
  int fd = open_dir(path_of("a"));
  char buf[4096];
  printf("offsets a:");
  for (;;) {
    long len = raw_getdents64(fd, buf, sizeof buf);
    if (len <= 0) break;
    for (long at = 0; at < len;) {
      const struct dirent64_raw* d = (const void*)(buf + at);
      printf(" %lld", (long long)d->d_off);
      at += d->d_reclen;
    }
  }
  printf("\n");
  close(fd);
}

static void big(void) {
  enum { kCount = 100000 };
  if (mkdir(path_of("big"), 0755) != 0) die("mkdir big");
  int dir = open_dir(path_of("big"));
  char name[32];
  for (int i = 0; i < kCount; ++i) {
    // A scrambled creation order: 7919 is prime, so every number appears.
    snprintf(name, sizeof name, "n%06d", (int)((long)i * 7919 % kCount));
    int fd = openat(dir, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) die("openat big");
    close(fd);
  }
  close(dir);
  struct names ns = {0};
  list_path(path_of("big"), &ns);
  printf("big: %zu entries, unique: %s, has n000000 and n099999: %s\n", ns.n,
         unique(&ns) ? "yes" : "no",
         contains(&ns, "n000000") && contains(&ns, "n099999") ? "yes" : "no");
  printf("sorted big: %s\n", is_sorted(&ns) ? "yes" : "no");
  clear(&ns);
}

static void proc_one(const char* label, const char* path, const char* must_have) {
  struct names ns = {0};
  list_path(path, &ns);
  printf("proc %s: more than 2 entries: %s, has %s: %s\n", label, ns.n > 2 ? "yes" : "no",
         must_have, contains(&ns, must_have) ? "yes" : "no");
  printf("sorted %s: %s\n", label, is_sorted(&ns) ? "yes" : "no");
  clear(&ns);
}

static void proc(void) {
  proc_one("/proc", "/proc", "self");
  proc_one("/proc/self/fd", "/proc/self/fd", "2");
  proc_one("/proc/sys/kernel", "/proc/sys/kernel", "hostname");
  proc_one("/sys", "/sys", "devices");
  proc_one("/sys/devices/system/cpu", "/sys/devices/system/cpu", "cpu0");
  seekdir_round_trips("/proc/self", "/proc/self");
  seekdir_round_trips("/sys/devices/system/cpu", "/sys/devices/system/cpu");
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: dirs_probe DIR SECTION...\n");
    return 2;
  }
  scratch = argv[1];
  for (int i = 2; i < argc; ++i) {
    const char* s = argv[i];
    if (!strcmp(s, "setup")) setup();
    else if (!strcmp(s, "plain")) plain();
    else if (!strcmp(s, "reuse")) reuse();
    else if (!strcmp(s, "rewind")) rewind_section();
    else if (!strcmp(s, "seekdir")) seekdir_round_trips("a", path_of("a"));
    else if (!strcmp(s, "lseek0")) lseek0();
    else if (!strcmp(s, "dup")) dup_section();
    else if (!strcmp(s, "fork")) fork_section();
    else if (!strcmp(s, "threads")) threads();
    else if (!strcmp(s, "small")) small();
    else if (!strcmp(s, "efault")) efault();
    else if (!strcmp(s, "types")) types();
    else if (!strcmp(s, "nonutf8")) nonutf8();
    else if (!strcmp(s, "old")) old();
    else if (!strcmp(s, "offsets")) offsets();
    else if (!strcmp(s, "big")) big();
    else if (!strcmp(s, "proc")) proc();
    else {
      fprintf(stderr, "dirs_probe: unknown section %s\n", s);
      return 2;
    }
    fflush(stdout);
  }
  return 0;
}
