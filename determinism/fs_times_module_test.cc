#include "determinism/fs_times_module.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/child_memory.h"
#include "core/process_table.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

constexpr int64_t kStart = 1577836800;  // 2020-01-01T00:00:00Z

TEST(ClampFileTimeTest, LaterTimesReadAsTheStartEarlierOnesStay) {
  const FileTime start{kStart, 500};
  EXPECT_EQ(ClampFileTime({kStart + 1, 0}, start), start);
  EXPECT_EQ(ClampFileTime({kStart, 501}, start), start);
  EXPECT_EQ(ClampFileTime({4102444800, 999999999}, start), start);  // 2100
  EXPECT_EQ(ClampFileTime({kStart, 500}, start), (FileTime{kStart, 500}));
  EXPECT_EQ(ClampFileTime({kStart, 499}, start), (FileTime{kStart, 499}));
  EXPECT_EQ(ClampFileTime({kStart - 1, 999999999}, start), (FileTime{kStart - 1, 999999999}));
  EXPECT_EQ(ClampFileTime({631152000, 0}, start), (FileTime{631152000, 0}));  // 1990
  EXPECT_EQ(ClampFileTime({0, 0}, start), (FileTime{0, 0}));
  // A start before 1970: even the epoch is later.
  EXPECT_EQ(ClampFileTime({0, 0}, {-86400, 0}), (FileTime{-86400, 0}));
  EXPECT_EQ(ClampFileTime({-86401, 5}, {-86400, 0}), (FileTime{-86401, 5}));
}

TEST(ClampFileTimeTest, StartFileTimeKeepsNanosecondsNonNegative) {
  Config c;
  EXPECT_EQ(StartFileTime(c), (FileTime{kDefaultStartEpochSeconds, 0}));
  c.start_time = absl::FromUnixNanos(kStart * 1'000'000'000 + 250'000'000);
  EXPECT_EQ(StartFileTime(c), (FileTime{kStart, 250'000'000}));
  c.start_time = absl::FromUnixNanos(-1'500'000'000);  // @-1.5
  EXPECT_EQ(StartFileTime(c), (FileTime{-2, 500'000'000}));
}

// The handlers run on this very process (the "child" is us: its working
// directory, descriptors and /proc/self are ours), and every answer is
// compared with the same raw syscall made natively, its times clamped.
class FsTimesModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fs_times_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    dirfd_ = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dirfd_, 0);
    Write("future", 2099);
    Write("old", 1990);
    Write("now", 0);
    ASSERT_EQ(symlinkat("future", dirfd_, "link"), 0);
    ASSERT_EQ(symlinkat("nowhere", dirfd_, "dangling"), 0);
    ASSERT_EQ(symlinkat("loop2", dirfd_, "loop1"), 0);
    ASSERT_EQ(symlinkat("loop1", dirfd_, "loop2"), 0);
    ASSERT_EQ(mkdirat(dirfd_, "sub", 0755), 0);
    ASSERT_EQ(symlinkat("..", dirfd_, "sub/up"), 0);
    // chain0 -> chain1 -> ... -> chain40 -> future: 41 links from chain0,
    // one more than the kernel follows.
    for (int i = 0; i <= 40; ++i) {
      const std::string to = i == 40 ? "future" : absl::StrCat("chain", i + 1);
      ASSERT_EQ(symlinkat(to.c_str(), dirfd_, absl::StrCat("chain", i).c_str()), 0);
    }
    file_fd_ = openat(dirfd_, "future", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(file_fd_, 0);
    bad_ = static_cast<char*>(mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(bad_, MAP_FAILED);

    Config config;
    config.start_time = absl::FromUnixSeconds(kStart);
    module_ = std::make_unique<FsTimesModule>(config);
    registry_.BeginModule(0, "fs_times");
    module_->Register(registry_);
    dispatch_ = registry_.BuildDispatch();
    process_.pid = getpid();
    thread_.tid = getpid();
    thread_.process = &process_;
  }

  void TearDown() override {
    close(file_fd_);
    close(dirfd_);
    munmap(bad_, 4096);
    std::string rm = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(rm.c_str()), 0);
  }

  // A file whose times are January 1st of `year` (0: left as now).
  void Write(const char* name, int year) {
    int fd = openat(dirfd_, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "x", 1), 1);
    if (year != 0) {
      absl::Time t = absl::FromCivil(absl::CivilSecond(year, 1, 1, 0, 0, 0), absl::UTCTimeZone());
      timespec times[2] = {absl::ToTimespec(t), absl::ToTimespec(t)};
      ASSERT_EQ(futimens(fd, times), 0);
    }
    close(fd);
  }

  std::string Path(const char* name) const { return dir_ + "/" + name; }

  // Runs syscall `nr` with `args` natively and through the module; the
  // output buffer (stat or statx) is the argument at `buf_index`.
  void Compare(const char* what, int nr, std::vector<uint64_t> args, int buf_index) {
    SCOPED_TRACE(what);
    alignas(16) unsigned char native[272];
    alignas(16) unsigned char handled[272];
    memset(native, 0xa5, sizeof native);
    memset(handled, 0xa5, sizeof handled);
    const bool own_buffer = args[buf_index] == 0;
    args.resize(6);
    if (own_buffer) args[buf_index] = reinterpret_cast<uint64_t>(native);
    errno = 0;
    const long rc = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    const int native_errno = rc < 0 ? errno : 0;
    if (own_buffer) args[buf_index] = reinterpret_cast<uint64_t>(handled);

    Notification n;
    n.id = 1;
    n.tid = getpid();
    n.nr = nr;
    for (int i = 0; i < 6; ++i) n.args[i] = args[i];
    ASSERT_EQ(dispatch_[nr].size(), 1u);
    SyscallContext ctx{n, thread_, process_, memory_, config_};
    std::optional<Response> r = dispatch_[nr][0].handler(ctx);
    ASSERT_TRUE(r.has_value());
    if (native_errno != 0) {
      EXPECT_EQ(r->kind, Response::Kind::kErrno);
      EXPECT_EQ(strerrorname_np(r->error), std::string(strerrorname_np(native_errno)));
      return;
    }
    ASSERT_EQ(r->kind, Response::Kind::kValue) << strerrorname_np(r->error);
    EXPECT_EQ(r->value, 0);
    if (!own_buffer) return;
    const FileTime start{kStart, 0};
    auto clamp = [&](auto* sec, auto* nsec) {
      FileTime t = ClampFileTime({*sec, static_cast<int64_t>(*nsec)}, start);
      *sec = t.sec;
      *nsec = t.nsec;
    };
    size_t size;
    if (nr == SYS_statx) {
      auto* sx = reinterpret_cast<struct statx*>(native);
      for (statx_timestamp* ts : {&sx->stx_atime, &sx->stx_btime, &sx->stx_ctime, &sx->stx_mtime}) {
        clamp(&ts->tv_sec, &ts->tv_nsec);
      }
      size = sizeof(struct statx);
    } else {
      auto* st = reinterpret_cast<struct stat*>(native);
      for (timespec* ts : {&st->st_atim, &st->st_mtim, &st->st_ctim}) {
        clamp(&ts->tv_sec, &ts->tv_nsec);
      }
      size = sizeof(struct stat);
    }
    EXPECT_EQ(0, memcmp(native, handled, size));
    EXPECT_EQ(handled[size], 0xa5) << "wrote past the structure";
  }

  static uint64_t P(const void* p) { return reinterpret_cast<uint64_t>(p); }
  static uint64_t P(const std::string& s) { return reinterpret_cast<uint64_t>(s.c_str()); }

  std::string dir_;
  int dirfd_ = -1;
  int file_fd_ = -1;
  char* bad_ = nullptr;
  Config config_;
  std::unique_ptr<FsTimesModule> module_;
  Registry registry_;
  std::vector<std::vector<Registry::Entry>> dispatch_;
  ChildMemory memory_{-1};
  ProcessState process_;
  ThreadState thread_;
};

TEST_F(FsTimesModuleTest, TimesAreClampedAndEverythingElseIsTheKernels) {
  struct stat st;
  ASSERT_EQ(stat(Path("future").c_str(), &st), 0);
  // Written through the handler: the 2099 times read as the start.
  Notification n;
  n.id = 1;
  n.tid = getpid();
  n.nr = SYS_stat;
  const std::string path = Path("future");
  struct stat out;
  n.args = {P(path), P(&out), 0, 0, 0, 0};
  SyscallContext ctx{n, thread_, process_, memory_, config_};
  std::optional<Response> r = dispatch_[SYS_stat][0].handler(ctx);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->kind, Response::Kind::kValue);
  EXPECT_EQ(out.st_mtim.tv_sec, kStart);
  EXPECT_EQ(out.st_mtim.tv_nsec, 0);
  EXPECT_EQ(out.st_atim.tv_sec, kStart);
  EXPECT_EQ(out.st_ctim.tv_sec, kStart);
  EXPECT_EQ(out.st_ino, st.st_ino);
  EXPECT_EQ(out.st_size, 1);
  // 1990 stays 1990.
  const std::string old = Path("old");
  n.args = {P(old), P(&out), 0, 0, 0, 0};
  r = dispatch_[SYS_stat][0].handler(ctx);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(out.st_mtim.tv_sec, 631152000);
}

TEST_F(FsTimesModuleTest, StatAndLstat) {
  const std::string long_path(PATH_MAX, 'x');
  // PATH_MAX - 1 bytes (the longest the kernel takes) that name a file.
  const std::string longest_ok = dir_ + std::string(PATH_MAX - 1 - dir_.size() - 6, '/') + "future";
  for (const char* name : {"future", "old", "now", "link", "dangling", "loop1", "nowhere",
                           "future/", "sub/", "link/", "sub/up/future", "sub/up/link",
                           "chain0", "chain1", "sub/../future", "/", "/proc/self/cwd",
                           "/dev/stdin"}) {
    const std::string p = name[0] == '/' ? std::string(name) : Path(name);
    Compare(("stat " + p).c_str(), SYS_stat, {P(p), 0}, 1);
    Compare(("lstat " + p).c_str(), SYS_lstat, {P(p), 0}, 1);
  }
  const std::string empty;
  Compare("stat \"\"", SYS_stat, {P(empty), 0}, 1);
  Compare("stat NULL", SYS_stat, {0, 0}, 1);
  Compare("stat bad path", SYS_stat, {P(bad_), 0}, 1);
  Compare("stat (char*)1", SYS_stat, {1, 0}, 1);
  Compare("stat too long", SYS_stat, {P(long_path), 0}, 1);
  Compare("stat PATH_MAX-1", SYS_stat, {P(longest_ok), 0}, 1);
  const std::string future = Path("future");
  const std::string nowhere = Path("nowhere");
  Compare("stat bad buffer", SYS_stat, {P(future), P(bad_)}, 1);
  Compare("stat missing, bad buffer", SYS_stat, {P(nowhere), P(bad_)}, 1);
}

TEST_F(FsTimesModuleTest, RelativePathsStartAtTheWorkingDirectory) {
  char old_cwd[PATH_MAX];
  ASSERT_NE(getcwd(old_cwd, sizeof old_cwd), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  for (std::string p : {"future", "link", "sub/up/link", ".", "..", "sub/..", "chain0"}) {
    Compare(("stat " + p).c_str(), SYS_stat, {P(p), 0}, 1);
    Compare(("statx " + p).c_str(), SYS_statx,
            {static_cast<uint64_t>(AT_FDCWD), P(p), AT_SYMLINK_NOFOLLOW, STATX_ALL, 0}, 4);
  }
  const std::string empty;
  Compare("AT_FDCWD \"\" AT_EMPTY_PATH", SYS_newfstatat,
          {static_cast<uint64_t>(AT_FDCWD), P(empty), 0, AT_EMPTY_PATH}, 2);
  Compare("AT_FDCWD NULL AT_EMPTY_PATH", SYS_newfstatat,
          {static_cast<uint64_t>(AT_FDCWD), 0, 0, AT_EMPTY_PATH}, 2);
  Compare("AT_FDCWD \"\" AT_EMPTY_PATH|bad", SYS_newfstatat,
          {static_cast<uint64_t>(AT_FDCWD), P(empty), 0, AT_EMPTY_PATH | 0x10000000}, 2);
  Compare("statx AT_FDCWD NULL AT_EMPTY_PATH", SYS_statx,
          {static_cast<uint64_t>(AT_FDCWD), 0, AT_EMPTY_PATH, STATX_BASIC_STATS, 0}, 4);
  ASSERT_EQ(chdir(old_cwd), 0);
}

TEST_F(FsTimesModuleTest, Fstat) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  Compare("fstat file", SYS_fstat, {static_cast<uint64_t>(file_fd_), 0}, 1);
  Compare("fstat O_PATH dir", SYS_fstat, {static_cast<uint64_t>(dirfd_), 0}, 1);
  Compare("fstat pipe", SYS_fstat, {static_cast<uint64_t>(pipe_fds[0]), 0}, 1);
  Compare("fstat 9999", SYS_fstat, {9999, 0}, 1);
  Compare("fstat -1", SYS_fstat, {0xffffffffu, 0}, 1);
  Compare("fstat -1 (64 bits)", SYS_fstat, {~uint64_t{0}, 0}, 1);
  Compare("fstat high bits ignored", SYS_fstat,
          {uint64_t{1} << 32 | static_cast<uint64_t>(file_fd_), 0}, 1);
  Compare("fstat bad buffer", SYS_fstat, {static_cast<uint64_t>(file_fd_), P(bad_)}, 1);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST_F(FsTimesModuleTest, NewfstatatFlagsDescriptorsAndErrorOrder) {
  const uint64_t dir = static_cast<uint64_t>(dirfd_);
  const uint64_t file = static_cast<uint64_t>(file_fd_);
  const uint64_t cwd = static_cast<uint64_t>(AT_FDCWD);
  const std::string empty, future = "future", link = "link", abs = Path("future");
  const std::string missing = "nowhere", rel_in_file = "x", loop = "loop1";
  struct Case {
    const char* what;
    uint64_t dirfd;
    uint64_t path;
    uint64_t flags;
  };
  const Case cases[] = {
      {"relative", dir, P(future), 0},
      {"symlink followed", dir, P(link), 0},
      {"symlink not followed", dir, P(link), AT_SYMLINK_NOFOLLOW},
      {"dangling", dir, P("dangling"), 0},
      {"loop", dir, P(loop), 0},
      {"loop, bad flags", dir, P(loop), 0x10000000},
      {"41 links", dir, P("chain0"), 0},
      {"40 links", dir, P("chain1"), 0},
      {"sync flags", dir, P(future), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC},
      {"no automount", dir, P(future), AT_NO_AUTOMOUNT},
      {"AT_RECURSIVE", dir, P(future), AT_RECURSIVE},
      {"unknown flag", dir, P(future), 0x10000000},
      {"flags above 32 bits", dir, P(future), uint64_t{1} << 32},
      {"dirfd above 32 bits", uint64_t{1} << 32 | dir, P(future), 0},
      {"empty path on a file", file, P(empty), AT_EMPTY_PATH},
      {"NULL path on a file", file, 0, AT_EMPTY_PATH},
      {"empty path on a dir", dir, P(empty), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW},
      {"empty path, unknown flag", file, P(empty), AT_EMPTY_PATH | 0x10000000},
      {"empty path, no AT_EMPTY_PATH", file, P(empty), 0},
      {"empty path, no AT_EMPTY_PATH, bad flag", file, P(empty), 0x10000000},
      {"NULL path, no AT_EMPTY_PATH", file, 0, 0},
      {"bad fd, empty path", 9999, P(empty), AT_EMPTY_PATH},
      {"bad fd, empty path, unknown flag", 9999, P(empty), AT_EMPTY_PATH | 0x10000000},
      {"-1, empty path", static_cast<uint64_t>(-1), P(empty), AT_EMPTY_PATH},
      {"-5, NULL path", static_cast<uint64_t>(-5), 0, AT_EMPTY_PATH},
      {"bad fd, relative", 9999, P(future), 0},
      {"bad fd, relative, bad flags", 9999, P(future), 0x10000000},
      {"-5, relative", static_cast<uint64_t>(-5), P(future), 0},
      {"bad fd, absolute", 9999, P(abs), 0},
      {"-5, absolute", static_cast<uint64_t>(-5), P(abs), 0},
      {"file as dirfd", file, P(rel_in_file), 0},
      {"missing", dir, P(missing), 0},
      {"bad path", dir, P(bad_), 0},
      {"bad path, AT_EMPTY_PATH", dir, P(bad_), AT_EMPTY_PATH},
      {"bad path, bad flags", cwd, P(bad_), 0x10000000},
      {"AT_FDCWD absolute", cwd, P(abs), 0},
  };
  for (const Case& c : cases) {
    Compare(c.what, SYS_newfstatat, {c.dirfd, c.path, 0, c.flags}, 2);
  }
  Compare("bad buffer", SYS_newfstatat, {dir, P(future), P(bad_), 0}, 2);
  Compare("missing, bad buffer", SYS_newfstatat, {dir, P(missing), P(bad_), 0}, 2);
}

TEST_F(FsTimesModuleTest, StatxFlagsMasksAndBirthTime) {
  const uint64_t dir = static_cast<uint64_t>(dirfd_);
  const uint64_t file = static_cast<uint64_t>(file_fd_);
  const std::string empty, future = "future", link = "link";
  struct Case {
    const char* what;
    uint64_t dirfd;
    uint64_t path;
    uint64_t flags;
    uint64_t mask;
  };
  const Case cases[] = {
      {"basic", dir, P(future), 0, STATX_BASIC_STATS},
      {"all", dir, P(future), 0, STATX_ALL},
      {"every bit but reserved", dir, P(future), 0, 0x7fffffff},
      {"reserved mask bit", dir, P(future), 0, 0x80000000u},
      {"mask 0", dir, P(link), AT_SYMLINK_NOFOLLOW, 0},
      {"both sync flags", dir, P(future), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
       STATX_BASIC_STATS},
      {"force sync", dir, P(future), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS},
      {"unknown flag", dir, P(future), 0x10000000, STATX_BASIC_STATS},
      {"fd", file, P(empty), AT_EMPTY_PATH, STATX_ALL},
      {"fd, NULL", file, 0, AT_EMPTY_PATH, STATX_ALL},
      {"fd, unknown flag", file, P(empty), AT_EMPTY_PATH | 0x10000000, STATX_ALL},
      {"fd, both sync flags", file, P(empty), AT_EMPTY_PATH | AT_STATX_SYNC_TYPE, STATX_ALL},
      {"fd, reserved mask", file, P(empty), AT_EMPTY_PATH, 0x80000000u},
      {"bad fd, NULL, unknown flag", 9999, 0, AT_EMPTY_PATH | 0x10000000, STATX_ALL},
      {"bad fd, relative, unknown flag", 9999, P(future), 0x10000000, STATX_ALL},
      {"NULL without AT_EMPTY_PATH", file, 0, 0, STATX_ALL},
      {"bad path", dir, P(bad_), 0, STATX_ALL},
  };
  for (const Case& c : cases) {
    Compare(c.what, SYS_statx, {c.dirfd, c.path, c.flags, c.mask, 0}, 4);
  }
  Compare("bad buffer", SYS_statx, {dir, P(future), 0, STATX_ALL, P(bad_)}, 4);
}

TEST_F(FsTimesModuleTest, ProcAndDevLinksOfOurOwn) {
  // The "child" is this process, so /proc/self is the same for both; these
  // take the path walk (magic links, procfs's self).
  const std::vector<std::string> paths = {
      absl::StrCat("/proc/self/fd/", file_fd_),
      absl::StrCat("/dev/fd/", file_fd_),
      absl::StrCat("/proc/thread-self/fd/", file_fd_),
      absl::StrCat("/proc/", getpid(), "/fd/", file_fd_),
      "/proc/self",
      "/proc/self/",
      "/proc/self/cwd",
      "/proc/self/fd/9999",
      absl::StrCat("/proc/self/fd/", dirfd_, "/future"),
      absl::StrCat("/proc/self/fd/", dirfd_, "/link"),
      absl::StrCat("/proc/self/fd/", dirfd_, "/nowhere/x"),
      "/proc/mounts",
      "/etc/mtab",
      "/proc/self/root/etc/passwd",
  };
  for (const std::string& p : paths) {
    Compare(("stat " + p).c_str(), SYS_stat, {P(p), 0}, 1);
    Compare(("lstat " + p).c_str(), SYS_lstat, {P(p), 0}, 1);
  }
}

TEST(FsTimesModuleRegistrationTest, RealRegistersNothing) {
  Config config;
  config.fs_times = FsTimes::kReal;
  FsTimesModule module(config);
  Registry registry;
  registry.BeginModule(0, "fs_times");
  module.Register(registry);
  for (const auto& entries : registry.BuildDispatch()) EXPECT_TRUE(entries.empty());

  config.fs_times = FsTimes::kClamp;
  FsTimesModule clamp(config);
  Registry r2;
  r2.BeginModule(0, "fs_times");
  clamp.Register(r2);
  auto table = r2.BuildDispatch();
  for (int nr : {SYS_stat, SYS_fstat, SYS_lstat, SYS_newfstatat, SYS_statx, SYS_chroot,
                 SYS_setns}) {
    EXPECT_EQ(table[nr].size(), 1u) << nr;
  }
}

}  // namespace
}  // namespace detrun
