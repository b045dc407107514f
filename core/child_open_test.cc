#include "core/child_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

TEST(LastComponentTest, AsWritten) {
  EXPECT_EQ(LastComponent("a/b/c"), "c");
  EXPECT_EQ(LastComponent("/etc/hostname"), "hostname");
  EXPECT_EQ(LastComponent("hostname"), "hostname");
  EXPECT_EQ(LastComponent("a/b/"), "");
  EXPECT_EQ(LastComponent("/"), "");
  EXPECT_EQ(LastComponent("a/.."), "..");
}

TEST(ProcBaseForTest, CwdOrDescriptor) {
  EXPECT_EQ(ProcBaseFor(42, AT_FDCWD), "/proc/42/cwd");
  EXPECT_EQ(ProcBaseFor(42, 7), "/proc/42/fd/7");
}

// A scratch tree, seen by a forked "child" whose cwd is its root:
//   D/file          "x"
//   D/sub/          directory
//   D/link       -> D/file (absolute)
//   D/rel        -> sub/../file (relative)
//   D/sublink    -> sub (a directory)
//   D/dangling   -> D/nothing
class ChildOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/child_open_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    char real[PATH_MAX];
    ASSERT_NE(realpath(tmpl, real), nullptr);
    dir_ = real;
    WriteFile(dir_ + "/file", "x");
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(symlink((dir_ + "/file").c_str(), (dir_ + "/link").c_str()), 0);
    ASSERT_EQ(symlink("sub/../file", (dir_ + "/rel").c_str()), 0);
    ASSERT_EQ(symlink("sub", (dir_ + "/sublink").c_str()), 0);
    ASSERT_EQ(symlink((dir_ + "/nothing").c_str(), (dir_ + "/dangling").c_str()), 0);
    dir_fd_ = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_fd_, 0);
    file_fd_ = open((dir_ + "/file").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(file_fd_, 0);
    // The child: cwd D/sub, then waits to be looked at.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    child_ = fork();
    if (child_ == 0) {
      if (chdir((dir_ + "/sub").c_str()) != 0) _exit(1);
      close(ready[0]);
      if (write(ready[1], "r", 1) != 1) _exit(1);
      for (;;) pause();
    }
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
  }
  void TearDown() override {
    kill(child_, SIGKILL);
    waitpid(child_, nullptr, 0);
    close(dir_fd_);
    close(file_fd_);
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  static void WriteFile(const std::string& path, const std::string& content) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
  }
  // Resolved as the forked child (its cwd) or, with a dirfd, as this
  // process (the descriptor is ours).
  absl::StatusOr<std::string> Child(const std::string& path, PathLookup lookup = {}) {
    return CanonicalChildPath(ChildPath{child_, AT_FDCWD, path}, lookup);
  }
  absl::StatusOr<std::string> Self(int dirfd, const std::string& path, PathLookup lookup = {}) {
    return CanonicalChildPath(ChildPath{getpid(), dirfd, path}, lookup);
  }

  std::string dir_;
  int dir_fd_ = -1;
  int file_fd_ = -1;
  pid_t child_ = -1;
};

TEST_F(ChildOpenTest, AbsoluteWithDotsAndDoubleSlashes) {
  const std::string file = dir_ + "/file";
  EXPECT_EQ(Child(file).value_or("error"), file);
  EXPECT_EQ(Child("/" + dir_ + "//./sub/..//file").value_or("error"), file);
  EXPECT_EQ(Child(dir_ + "/sub/../sub/./../file").value_or("error"), file);
  EXPECT_EQ(Child("/../../" + dir_ + "/file").value_or("error"), file);  // ".." at "/" stays
}

TEST_F(ChildOpenTest, ProcfsSelfLinksAreTheThreads) {
  // Followed by detrun they would name detrun's own /proc/PID.
  const std::string child = absl::StrCat("/proc/", child_);
  auto as_child = [&](const std::string& path, int dirfd = AT_FDCWD, pid_t tgid = 0) {
    return CanonicalChildPath(ChildPath{child_, dirfd, path, tgid}, PathLookup{})
        .value_or("error");
  };
  EXPECT_EQ(as_child("/proc/self/status"), child + "/status");
  EXPECT_EQ(as_child("/proc/thread-self/status"),
            absl::StrCat(child, "/task/", child_, "/status"));
  EXPECT_EQ(as_child("/proc/self/task/" + std::to_string(child_) + "/../../status"),
            child + "/status");
  EXPECT_EQ(as_child("/proc//./self/status", AT_FDCWD, child_), child + "/status");
  // Relative to the thread's working directory.
  EXPECT_EQ(as_child("../../../../../../../../proc/self/status"), child + "/status");
  // A missing file under self is the thread's too.
  EXPECT_EQ(as_child("/proc/self/no-such-file"), child + "/no-such-file");
  // detrun's own pid named by number stays detrun's.
  const std::string ours = absl::StrCat("/proc/", getpid(), "/status");
  EXPECT_EQ(as_child(ours), ours);
  // The test process resolving its own self needs no second walk.
  EXPECT_EQ(Self(AT_FDCWD, "/proc/self/status").value_or("error"), ours);
}

TEST_F(ChildOpenTest, RelativeToTheThreadsWorkingDirectory) {
  // The child's cwd is D/sub, not ours.
  EXPECT_EQ(Child("../file").value_or("error"), dir_ + "/file");
  EXPECT_EQ(Child(".").value_or("error"), dir_ + "/sub");
  EXPECT_EQ(Child("../sublink/../link").value_or("error"), dir_ + "/file");
}

TEST_F(ChildOpenTest, RelativeToADirectoryDescriptor) {
  EXPECT_EQ(Self(dir_fd_, "file").value_or("error"), dir_ + "/file");
  EXPECT_EQ(Self(dir_fd_, "sub/../file").value_or("error"), dir_ + "/file");
  EXPECT_EQ(Self(dir_fd_, "./sublink/../rel").value_or("error"), dir_ + "/file");
  // An absolute path ignores the descriptor, even an invalid one.
  EXPECT_EQ(Self(-5, dir_ + "/file").value_or("error"), dir_ + "/file");
  // A relative one needs a valid directory descriptor, as the kernel does.
  EXPECT_FALSE(Self(-5, "file").ok());
  EXPECT_FALSE(Self(999, "file").ok());
  EXPECT_FALSE(Self(file_fd_, "file").ok());  // ENOTDIR
}

TEST_F(ChildOpenTest, Symlinks) {
  EXPECT_EQ(Child(dir_ + "/link").value_or("error"), dir_ + "/file");
  EXPECT_EQ(Child(dir_ + "/rel").value_or("error"), dir_ + "/file");
  EXPECT_EQ(Child(dir_ + "/sublink/../file").value_or("error"), dir_ + "/file");
  // O_NOFOLLOW: a final symlink is not a file to open.
  absl::StatusOr<std::string> nofollow = Child(dir_ + "/link", PathLookup{false, 0});
  EXPECT_TRUE(absl::IsFailedPrecondition(nofollow.status())) << nofollow.status();
  // ... but symlinks before the last component are followed.
  EXPECT_EQ(Child(dir_ + "/sublink/../file", PathLookup{false, 0}).value_or("error"),
            dir_ + "/file");
  // openat2 RESOLVE_NO_SYMLINKS.
  EXPECT_FALSE(Child(dir_ + "/link", PathLookup{true, RESOLVE_NO_SYMLINKS}).ok());
}

TEST_F(ChildOpenTest, ResolveFlagsScopeTheWalkToTheDescriptor) {
  EXPECT_EQ(Self(dir_fd_, "file", PathLookup{true, RESOLVE_BENEATH}).value_or("error"),
            dir_ + "/file");
  EXPECT_FALSE(Self(dir_fd_, "../x", PathLookup{true, RESOLVE_BENEATH}).ok());
  EXPECT_FALSE(Self(dir_fd_, dir_ + "/file", PathLookup{true, RESOLVE_BENEATH}).ok());
  // RESOLVE_IN_ROOT: "/file" is D/file.
  EXPECT_EQ(Self(dir_fd_, "/file", PathLookup{true, RESOLVE_IN_ROOT}).value_or("error"),
            dir_ + "/file");
}

TEST_F(ChildOpenTest, MissingFilesAreNamedAsFarAsTheyExist) {
  EXPECT_EQ(Child(dir_ + "/missing").value_or("error"), dir_ + "/missing");
  EXPECT_EQ(Child(dir_ + "/sublink/missing").value_or("error"), dir_ + "/sub/missing");
  EXPECT_EQ(Child(dir_ + "/no/such/dir/file").value_or("error"), dir_ + "/no/such/dir/file");
  EXPECT_EQ(Child("../x/y").value_or("error"), dir_ + "/x/y");
  EXPECT_EQ(Self(dir_fd_, "missing").value_or("error"), dir_ + "/missing");
  // Not namable: a trailing '/', dots after a missing part, a dangling
  // symlink (it exists, the kernel would follow it elsewhere).
  EXPECT_FALSE(Child(dir_ + "/missing/").ok());
  EXPECT_FALSE(Child(dir_ + "/no/../file2").ok());
  EXPECT_FALSE(Child(dir_ + "/no/.").ok());
  EXPECT_FALSE(Child(dir_ + "/dangling").ok());
  EXPECT_FALSE(Child(dir_ + "/dangling/x").ok());
  // A regular file where a directory is needed: ENOTDIR, not missing.
  EXPECT_FALSE(Child(dir_ + "/file/x").ok());
  EXPECT_FALSE(Child(dir_ + "/file/").ok());
}

TEST_F(ChildOpenTest, MagicLinksAreRefused) {
  // They would be detrun's own, not the child's.
  EXPECT_FALSE(Child(absl::StrCat("/proc/self/fd/", dir_fd_, "/file")).ok());
  EXPECT_FALSE(Child("/proc/self/cwd/x").ok());
  EXPECT_FALSE(Child(absl::StrCat("/proc/", child_, "/root", dir_, "/file")).ok());
  // /proc/self itself is an ordinary symlink.
  EXPECT_EQ(Child("/proc/self/../uptime").value_or("error"), "/proc/uptime");
}

TEST_F(ChildOpenTest, ProcAndSysFiles) {
  EXPECT_EQ(Child("/proc/uptime").value_or("error"), "/proc/uptime");
  EXPECT_EQ(Child("/proc//sys/kernel/../kernel/hostname").value_or("error"),
            "/proc/sys/kernel/hostname");
  EXPECT_EQ(Child("/sys/devices/system/cpu/./online").value_or("error"),
            "/sys/devices/system/cpu/online");
}

TEST_F(ChildOpenTest, AChrootedThreadIsNotResolved) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t jailed = fork();
  if (jailed == 0) {
    if (chroot(dir_.c_str()) != 0 || chdir("/") != 0) _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char c;
  const bool ok = read(ready[0], &c, 1) == 1;
  close(ready[0]);
  absl::StatusOr<std::string> r = CanonicalChildPath(ChildPath{jailed, AT_FDCWD, "/file"}, {});
  kill(jailed, SIGKILL);
  waitpid(jailed, nullptr, 0);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
}

TEST_F(ChildOpenTest, LastComponentIsSymlink) {
  EXPECT_TRUE(LastComponentIsSymlink(ChildPath{child_, AT_FDCWD, dir_ + "/link"}));
  EXPECT_TRUE(LastComponentIsSymlink(ChildPath{child_, AT_FDCWD, "../link"}));
  EXPECT_TRUE(LastComponentIsSymlink(ChildPath{getpid(), dir_fd_, "dangling"}));
  EXPECT_FALSE(LastComponentIsSymlink(ChildPath{child_, AT_FDCWD, "../file"}));
  EXPECT_FALSE(LastComponentIsSymlink(ChildPath{child_, AT_FDCWD, "../missing"}));
  EXPECT_FALSE(LastComponentIsSymlink(ChildPath{getpid(), dir_fd_, "sub"}));
}

// DecodeOpenCall reads from this very process (a ChildMemory without a
// listener reads any pid it may).
class DecodeOpenCallTest : public ::testing::Test {
 protected:
  Notification Call(int nr, std::vector<uint64_t> args) {
    Notification n;
    n.tid = getpid();
    n.nr = nr;
    for (size_t i = 0; i < args.size(); ++i) n.args[i] = args[i];
    return n;
  }
  static uint64_t Addr(const void* p) { return reinterpret_cast<uint64_t>(p); }
  ChildMemory memory_{-1};
  const char* path_ = "/etc/hostname";
};

TEST_F(DecodeOpenCallTest, Open) {
  absl::StatusOr<OpenCall> c =
      DecodeOpenCall(Call(SYS_open, {Addr(path_), O_RDONLY | O_CLOEXEC, 0}), memory_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target.tid, getpid());
  EXPECT_EQ(c->target.dirfd, AT_FDCWD);
  EXPECT_EQ(c->target.path, "/etc/hostname");
  EXPECT_EQ(c->flags, uint64_t{O_CLOEXEC});
  EXPECT_TRUE(c->lookup.follow_final_symlink);
}

TEST_F(DecodeOpenCallTest, OpenatKeepsTheKernelsFlagsOnly) {
  // The int's high garbage and unknown bits are ignored, as the kernel does.
  absl::StatusOr<OpenCall> c = DecodeOpenCall(
      Call(SYS_openat, {uint64_t(0xffffffff00000000) | 7, Addr(path_),
                        uint64_t(0xabcd000000000000) | O_WRONLY | O_NOFOLLOW | 0x80000000u, 0}),
      memory_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target.dirfd, 7);
  EXPECT_EQ(c->flags, uint64_t{O_WRONLY | O_NOFOLLOW});
  EXPECT_FALSE(c->lookup.follow_final_symlink);
  // AT_FDCWD as the kernel receives it (a sign-extended or a plain int).
  c = DecodeOpenCall(Call(SYS_openat, {uint32_t(AT_FDCWD), Addr(path_), O_RDONLY, 0}), memory_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->target.dirfd, AT_FDCWD);
  // O_PATH keeps only its own flags.
  c = DecodeOpenCall(Call(SYS_openat, {uint32_t(AT_FDCWD), Addr(path_),
                                       O_PATH | O_RDWR | O_TRUNC | O_CLOEXEC, 0}),
                     memory_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->flags, uint64_t{O_PATH | O_CLOEXEC});
}

TEST_F(DecodeOpenCallTest, ExclusiveCreateDoesNotFollow) {
  absl::StatusOr<OpenCall> c = DecodeOpenCall(
      Call(SYS_open, {Addr(path_), O_CREAT | O_EXCL | O_RDONLY, 0644}), memory_);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->lookup.follow_final_symlink);
  EXPECT_EQ(c->mode, 0644u);
}

TEST_F(DecodeOpenCallTest, Creat) {
  absl::StatusOr<OpenCall> c = DecodeOpenCall(Call(SYS_creat, {Addr(path_), 0600}), memory_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->flags, uint64_t{O_CREAT | O_WRONLY | O_TRUNC});
  EXPECT_EQ(c->mode, 0600u);
}

TEST_F(DecodeOpenCallTest, Openat2) {
  struct {
    open_how how;
    uint64_t extra;
  } arg{};
  arg.how.flags = O_RDONLY | O_CLOEXEC;
  arg.how.resolve = RESOLVE_BENEATH | RESOLVE_CACHED;
  auto decode = [&](uint64_t size) {
    return DecodeOpenCall(Call(SYS_openat2, {3, Addr(path_), Addr(&arg), size}), memory_);
  };
  absl::StatusOr<OpenCall> c = decode(sizeof(open_how));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target.dirfd, 3);
  EXPECT_EQ(c->flags, uint64_t{O_CLOEXEC});
  EXPECT_EQ(c->lookup.resolve, uint64_t{RESOLVE_BENEATH | RESOLVE_CACHED});
  // A larger struct whose extra bytes are zero is fine; non-zero is E2BIG.
  EXPECT_TRUE(decode(sizeof arg).ok());
  arg.extra = 1;
  EXPECT_FALSE(decode(sizeof arg).ok());
  arg.extra = 0;
  EXPECT_FALSE(decode(16).ok());    // EINVAL: older than version 0
  EXPECT_FALSE(decode(8192).ok());  // E2BIG: more than a page
  // What openat2 rejects and open/openat would not.
  arg.how.flags = O_RDONLY | 0x80000000u;
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
  arg.how.flags = O_RDONLY | (uint64_t{1} << 40);
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
  arg.how.flags = O_RDONLY;
  arg.how.mode = 0644;  // without O_CREAT
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
  arg.how.mode = 0;
  arg.how.resolve = RESOLVE_BENEATH | RESOLVE_IN_ROOT;
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
  arg.how.resolve = 0;
  arg.how.flags = O_PATH | O_RDWR;
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
  arg.how.flags = O_RDONLY | O_CREAT;
  arg.how.resolve = RESOLVE_CACHED;  // EAGAIN: cannot create from the cache
  EXPECT_FALSE(decode(sizeof(open_how)).ok());
}

TEST_F(DecodeOpenCallTest, PathsTheKernelRejects) {
  EXPECT_FALSE(DecodeOpenCall(Call(SYS_open, {0, O_RDONLY, 0}), memory_).ok());  // EFAULT
  EXPECT_FALSE(DecodeOpenCall(Call(SYS_open, {Addr(""), O_RDONLY, 0}), memory_).ok());
  const std::string too_long(PATH_MAX, 'a');  // no room for the NUL
  EXPECT_FALSE(DecodeOpenCall(Call(SYS_open, {Addr(too_long.c_str()), O_RDONLY, 0}), memory_).ok());
  const std::string longest(PATH_MAX - 1, 'a');
  EXPECT_TRUE(DecodeOpenCall(Call(SYS_open, {Addr(longest.c_str()), O_RDONLY, 0}), memory_).ok());
  EXPECT_FALSE(DecodeOpenCall(Call(SYS_read, {0, 0, 0}), memory_).ok());
}

}  // namespace
}  // namespace detrun
