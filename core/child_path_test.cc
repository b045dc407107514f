#include "core/child_path.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

// Descriptor numbers only the child has.
constexpr int kChildPipe = 100;
constexpr int kChildDir = 101;
constexpr int kChildFile = 102;

struct Result {
  int error = 0;  // 0: the stat succeeded
  dev_t dev = 0;
  ino_t ino = 0;
};

Result StatPath(const std::string& path, int flags = 0) {
  struct stat st;
  if (fstatat(AT_FDCWD, path.c_str(), &st, flags) != 0) return {errno};
  return {0, st.st_dev, st.st_ino};
}

bool Same(const Result& a, const Result& b) {
  return a.error == b.error && a.dev == b.dev && a.ino == b.ino;
}

std::string Describe(const Result& r) {
  if (r.error != 0) return strerrorname_np(r.error);
  return absl::StrCat("dev ", r.dev, " ino ", r.ino);
}

// A child whose working directory, descriptors and /proc/self are not
// ours: it sits in <tmp>/cwd with a pipe, a directory and a file open at
// numbers we do not have, and waits to be looked at.
class ChildPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/child_path_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* d : {"/cwd", "/cwd/sub", "/other"}) {
      ASSERT_EQ(mkdir((dir_ + d).c_str(), 0755), 0);
    }
    for (const char* f : {"/cwd/file", "/cwd/sub/inner", "/other/file"}) {
      close(open((dir_ + f).c_str(), O_CREAT | O_WRONLY, 0644));
    }
    ASSERT_EQ(symlink("sub/inner", (dir_ + "/cwd/rel").c_str()), 0);
    ASSERT_EQ(symlink((dir_ + "/other").c_str(), (dir_ + "/cwd/abs").c_str()), 0);
    ASSERT_EQ(symlink("/dev/fd/100", (dir_ + "/cwd/to_pipe").c_str()), 0);
    ASSERT_EQ(symlink("loop_b", (dir_ + "/cwd/loop_a").c_str()), 0);
    ASSERT_EQ(symlink("loop_a", (dir_ + "/cwd/loop_b").c_str()), 0);
    ASSERT_EQ(pipe(pipe_), 0);
    ASSERT_LT(pipe_[1], kChildPipe);
  }

  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    close(pipe_[0]);
    close(pipe_[1]);
    ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }

  // Starts the child; `extra` runs in it after the common set-up and
  // returns false when it cannot do its part (the test is then skipped).
  void StartChild(bool (*extra)(const std::string& dir) = nullptr) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    child_ = fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      close(ready[0]);
      char ok = 1;
      if (chdir((dir_ + "/cwd").c_str()) != 0 || dup2(pipe_[0], kChildPipe) < 0 ||
          dup2(open((dir_ + "/cwd/sub").c_str(), O_RDONLY | O_DIRECTORY), kChildDir) < 0 ||
          dup2(open((dir_ + "/cwd/file").c_str(), O_RDONLY), kChildFile) < 0) {
        ok = 0;
      }
      if (ok && extra != nullptr && !extra(dir_)) ok = 2;
      if (write(ready[1], &ok, 1) != 1) _exit(1);
      for (;;) pause();
    }
    close(ready[1]);
    char ok = 0;
    ASSERT_EQ(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    if (ok == 2) GTEST_SKIP() << "the child could not set itself up for this test";
    ASSERT_EQ(ok, 1);
    task_ = ChildTask{child_, child_, false};
  }

  // Resolves (dirfd, path) for the child and stats the result here.
  Result Resolve(int dirfd, const std::string& path, int flags = 0) {
    absl::StatusOr<ChildPathAt> at =
        ResolveChildPath(task_, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW));
    if (!at.ok()) return {ErrnoOf(at.status())};
    struct stat st;
    if (fstatat(at->dirfd, at->path.c_str(), &st, flags) != 0) return {errno};
    return {0, st.st_dev, st.st_ino};
  }

  void ExpectResolves(int dirfd, const std::string& path, const Result& expected,
                      int flags = 0) {
    const Result got = Resolve(dirfd, path, flags);
    EXPECT_TRUE(Same(got, expected)) << "(" << dirfd << ", \"" << path << "\"): got "
                                     << Describe(got) << ", want " << Describe(expected);
  }

  std::string dir_;
  int pipe_[2] = {-1, -1};
  pid_t child_ = -1;
  ChildTask task_;
};

TEST(ErrnoStatusTest, CarriesTheErrno) {
  EXPECT_EQ(ErrnoOf(ErrnoError(ENOTDIR, "x")), ENOTDIR);
  EXPECT_EQ(ErrnoOf(ErrnoError(ELOOP, "x")), ELOOP);
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoOf(absl::InternalError("no errno")), EIO);
}

TEST_F(ChildPathTest, OpenChildDirNamesTheChildsDirectoriesAndDescriptors) {
  StartChild();
  struct stat want, got;
  absl::StatusOr<UniqueFd> cwd = OpenChildDir(child_, AT_FDCWD);
  ASSERT_TRUE(cwd.ok()) << cwd.status();
  ASSERT_EQ(fstat(cwd->get(), &got), 0);
  ASSERT_EQ(stat((dir_ + "/cwd").c_str(), &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  absl::StatusOr<UniqueFd> pipe_fd = OpenChildDir(child_, kChildPipe);
  ASSERT_TRUE(pipe_fd.ok()) << pipe_fd.status();
  ASSERT_EQ(fstat(pipe_fd->get(), &got), 0);
  ASSERT_EQ(fstat(pipe_[0], &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  EXPECT_TRUE(S_ISFIFO(got.st_mode));
  EXPECT_EQ(ErrnoOf(OpenChildDir(child_, 555).status()), EBADF);
  EXPECT_EQ(ErrnoOf(OpenChildDir(child_, -5).status()), EBADF);
  struct stat root;
  absl::StatusOr<UniqueFd> r = OpenChildRoot(child_);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(fstat(r->get(), &root), 0);
  ASSERT_EQ(stat("/", &want), 0);
  EXPECT_EQ(root.st_ino, want.st_ino);
}

TEST_F(ChildPathTest, RelativePathsStartWhereTheChildIs) {
  StartChild();
  const std::string cwd = dir_ + "/cwd";
  ExpectResolves(AT_FDCWD, "file", StatPath(cwd + "/file"));
  ExpectResolves(AT_FDCWD, "sub/inner", StatPath(cwd + "/sub/inner"));
  ExpectResolves(AT_FDCWD, ".", StatPath(cwd));
  ExpectResolves(AT_FDCWD, "..", StatPath(dir_));
  ExpectResolves(AT_FDCWD, "rel", StatPath(cwd + "/sub/inner"));
  ExpectResolves(AT_FDCWD, "rel", StatPath(cwd + "/rel", AT_SYMLINK_NOFOLLOW),
                 AT_SYMLINK_NOFOLLOW);
  ExpectResolves(AT_FDCWD, "abs/file", StatPath(dir_ + "/other/file"));
  ExpectResolves(AT_FDCWD, "abs/../cwd/file", StatPath(cwd + "/file"));
  ExpectResolves(kChildDir, "inner", StatPath(cwd + "/sub/inner"));
  ExpectResolves(kChildDir, "../rel", StatPath(cwd + "/sub/inner"));
  ExpectResolves(kChildDir, "", StatPath(cwd + "/sub"), AT_EMPTY_PATH);
  ExpectResolves(kChildFile, "", StatPath(cwd + "/file"), AT_EMPTY_PATH);
  // Absolute paths ignore dirfd, even one the child does not have.
  ExpectResolves(555, cwd + "/file", StatPath(cwd + "/file"));
}

TEST_F(ChildPathTest, SelfMeansTheChild) {
  StartChild();
  const std::string proc = absl::StrCat("/proc/", child_);
  ExpectResolves(AT_FDCWD, "/proc/self", StatPath(proc));
  ExpectResolves(AT_FDCWD, "/proc/self/", StatPath(proc));
  ExpectResolves(AT_FDCWD, "/proc/thread-self", StatPath(proc + "/task/" + std::to_string(child_)));
  ExpectResolves(AT_FDCWD, "/proc/self/status", StatPath(proc + "/status"));
  ExpectResolves(AT_FDCWD, "/proc/mounts", StatPath(proc + "/mounts"));
  // The pipe only the child holds at 100, through procfs and /dev/fd.
  struct stat p;
  ASSERT_EQ(fstat(pipe_[0], &p), 0);
  const Result pipe_result{0, p.st_dev, p.st_ino};
  ExpectResolves(AT_FDCWD, "/proc/self/fd/100", pipe_result);
  ExpectResolves(AT_FDCWD, "/dev/fd/100", pipe_result);
  ExpectResolves(AT_FDCWD, "to_pipe", pipe_result);  // a link to /dev/fd/100
  ExpectResolves(AT_FDCWD, "/proc/self/cwd/file", StatPath(dir_ + "/cwd/file"));
  ExpectResolves(AT_FDCWD, "/proc/self/fd/101/inner", StatPath(dir_ + "/cwd/sub/inner"));
  ExpectResolves(AT_FDCWD, "/proc/self/fd/102", StatPath(dir_ + "/cwd/file"));
  // Not followed: the magic link itself, in the child's fd directory.
  ExpectResolves(AT_FDCWD, "/dev/fd/102", StatPath(proc + "/fd/102", AT_SYMLINK_NOFOLLOW),
                 AT_SYMLINK_NOFOLLOW);
  ExpectResolves(AT_FDCWD, "/proc/self/fd/555", Result{ENOENT});
}

TEST_F(ChildPathTest, ErrorsComeFromTheKernelAtTheSameComponent) {
  StartChild();
  // What the same lookups give here, from the child's directory.
  const std::string cwd = dir_ + "/cwd/";
  for (const std::string& path :
       {std::string("nowhere"), std::string("nowhere/file"), std::string("file/x"),
        std::string("file/"), std::string("rel/"), std::string("rel/x"),
        std::string("abs/nowhere/x"), std::string("loop_a"), std::string("loop_a/x"),
        std::string(300, 'n'), "rel/" + std::string(300, 'n'), "abs/" + std::string(300, 'n')}) {
    ExpectResolves(AT_FDCWD, path, StatPath(cwd + path));
    ExpectResolves(AT_FDCWD, path, StatPath(cwd + path, AT_SYMLINK_NOFOLLOW),
                   AT_SYMLINK_NOFOLLOW);
  }
  ExpectResolves(AT_FDCWD, "to_pipe/x", Result{ENOTDIR});
  ExpectResolves(kChildFile, "x", Result{ENOTDIR});
  ExpectResolves(555, "file", Result{EBADF});
  ExpectResolves(-5, "file", Result{EBADF});
  ExpectResolves(555, "", Result{EBADF}, AT_EMPTY_PATH);
}

TEST_F(ChildPathTest, SymlinkLimitIsTheKernels) {
  // l0 -> l1 -> ... -> l40 -> file: 41 links from l0, 40 from l1.
  for (int i = 0; i <= 40; ++i) {
    const std::string to = i == 40 ? "file" : absl::StrCat("l", i + 1);
    ASSERT_EQ(symlink(to.c_str(), absl::StrCat(dir_, "/cwd/l", i).c_str()), 0);
  }
  StartChild();
  ExpectResolves(AT_FDCWD, "l1", StatPath(dir_ + "/cwd/l1"));
  ExpectResolves(AT_FDCWD, "l0", StatPath(dir_ + "/cwd/l0"));
  EXPECT_EQ(StatPath(dir_ + "/cwd/l0").error, ELOOP);
  // Through procfs's self and a magic link (two more links), which the
  // slow path counts too: compared with the same path of ours.
  const int sub = open((dir_ + "/cwd/sub").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(sub, 0);
  for (const char* link : {"l1", "l2", "l3"}) {
    ExpectResolves(AT_FDCWD, absl::StrCat("/proc/self/fd/101/../", link),
                   StatPath(absl::StrCat("/proc/self/fd/", sub, "/../", link)));
  }
  close(sub);
}

// chroot: as root, or as anyone in a new user namespace.
bool EnterChroot(const std::string& dir) {
  if (geteuid() != 0 && unshare(CLONE_NEWUSER) != 0) return false;
  return chroot((dir + "/cwd").c_str()) == 0 && chdir("/sub") == 0;
}

TEST_F(ChildPathTest, ChrootedChildResolvesFromItsRoot) {
  ASSERT_EQ(symlink("/sub/inner", (dir_ + "/cwd/sub/root_abs").c_str()), 0);
  StartChild(EnterChroot);
  if (::testing::Test::IsSkipped()) return;
  task_.root_may_differ = true;
  const std::string root = dir_ + "/cwd";
  ExpectResolves(AT_FDCWD, "/file", StatPath(root + "/file"));
  ExpectResolves(AT_FDCWD, "/", StatPath(root));
  ExpectResolves(AT_FDCWD, "/..", StatPath(root));
  ExpectResolves(AT_FDCWD, "/../../file", StatPath(root + "/file"));
  ExpectResolves(AT_FDCWD, "inner", StatPath(root + "/sub/inner"));
  ExpectResolves(AT_FDCWD, "../../../file", StatPath(root + "/file"));
  ExpectResolves(AT_FDCWD, "..", StatPath(root));
  ExpectResolves(AT_FDCWD, "../..", StatPath(root));
  ExpectResolves(AT_FDCWD, "root_abs", StatPath(root + "/sub/inner"));
  ExpectResolves(AT_FDCWD, "/rel", StatPath(root + "/sub/inner"));
  ExpectResolves(AT_FDCWD, "/nowhere", Result{ENOENT});
  // Without the hint, "/" is detrun's.
  task_.root_may_differ = false;
  ExpectResolves(AT_FDCWD, root + "/file", StatPath(root + "/file"));
}

TEST_F(ChildPathTest, UnchrootedChildWithTheHintTakesTheFastPath) {
  StartChild();
  task_.root_may_differ = true;
  ExpectResolves(AT_FDCWD, dir_ + "/cwd/file", StatPath(dir_ + "/cwd/file"));
  ExpectResolves(AT_FDCWD, "/..", StatPath("/"));
}

}  // namespace
}  // namespace detrun
