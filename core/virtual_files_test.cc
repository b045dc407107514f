#include "core/virtual_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/child_memory.h"
#include "core/child_path.h"
#include "core/path_pattern.h"
#include "core/process_table.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(MakeContentFdTest, AReadOnlySealedRegularFile) {
  absl::StatusOr<UniqueFd> fd = MakeContentFd("/proc/test", "hello\n", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ReadAll(fd->get()), "hello\n");
  char buf[4] = {};
  EXPECT_EQ(pread(fd->get(), buf, 3, 1), 3);
  EXPECT_STREQ(buf, "ell");
  EXPECT_EQ(lseek(fd->get(), 2, SEEK_SET), 2);
  EXPECT_EQ(ReadAll(fd->get()), "llo\n");
  struct stat st;
  ASSERT_EQ(fstat(fd->get(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(st.st_size, 6);
  // Read-only descriptor: writes fail as on any file opened O_RDONLY.
  EXPECT_EQ(write(fd->get(), "x", 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(fcntl(fd->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(fcntl(fd->get(), F_GETFD), FD_CLOEXEC);  // ours; the child's copy gets its own
  const int seals = fcntl(fd->get(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
            F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  // Mappable for reading.
  void* p = mmap(nullptr, 6, PROT_READ, MAP_SHARED, fd->get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(std::string(static_cast<char*>(p), 6), "hello\n");
  munmap(p, 6);
  EXPECT_EQ(mmap(nullptr, 6, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0), MAP_FAILED);
  // The name says where it comes from.
  char link[64], target[256];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd->get());
  ssize_t n = readlink(link, target, sizeof target - 1);
  ASSERT_GT(n, 0);
  target[n] = '\0';
  EXPECT_STREQ(target, "/memfd:detrun:/proc/test (deleted)");
}

TEST(MakeContentFdTest, StatusFlagsAndEmptyContent) {
  absl::StatusOr<UniqueFd> fd = MakeContentFd("x", "", O_RDONLY | O_NONBLOCK | O_DIRECT);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(fcntl(fd->get(), F_GETFL) & (O_ACCMODE | O_NONBLOCK | O_DIRECT), O_NONBLOCK);
  EXPECT_EQ(ReadAll(fd->get()), "");
}

Registry::ProvidedFile File(std::string path, std::string content) {
  return Registry::ProvidedFile{
      std::move(path), "test",
      [content](SyscallContext&) -> absl::StatusOr<std::string> { return content; }, "test"};
}

// Handles open calls made "by" this very process (its memory, its cwd and
// descriptors): a scratch directory with a provided file, a symlink to it
// and a file that is not provided.
class HandleOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/virtual_files_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    char real[PATH_MAX];
    ASSERT_NE(realpath(tmpl, real), nullptr);
    dir_ = real;
    provided_ = dir_ + "/provided";
    other_ = dir_ + "/other";
    link_ = dir_ + "/link";
    for (const std::string* p : {&provided_, &other_}) {
      int fd = open(p->c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(write(fd, "host\n", 5), 5);
      close(fd);
    }
    ASSERT_EQ(symlink("provided", link_.c_str()), 0);
    process_.pid = getpid();
    thread_.tid = getpid();
    thread_.process = &process_;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  std::optional<Response> Open(const VirtualFiles& files, const std::string& path, uint64_t flags,
                               int nr = SYS_openat) {
    Notification n;
    n.tid = getpid();
    n.nr = nr;
    const uint64_t addr = reinterpret_cast<uint64_t>(path.c_str());
    if (nr == SYS_open || nr == SYS_creat) {
      n.args = {addr, flags, 0, 0, 0, 0};
    } else {
      n.args = {uint64_t(uint32_t(AT_FDCWD)), addr, flags, 0, 0, 0};
    }
    SyscallContext ctx{n, thread_, process_, memory_, config_};
    return files.HandleOpen(ctx);
  }
  VirtualFiles Files(std::string content = "virtual\n") {
    std::vector<Registry::ProvidedFile> list;
    list.push_back(File(provided_, content));
    return VirtualFiles(std::move(list), config_);
  }

  std::string dir_, provided_, other_, link_;
  ProcessState process_;
  ThreadState thread_;
  ChildMemory memory_{-1};
  Config config_;
};

TEST_F(HandleOpenTest, AnswersAReadWithTheContent) {
  VirtualFiles files = Files();
  for (int nr : {SYS_open, SYS_openat}) {
    std::optional<Response> r = Open(files, provided_, O_RDONLY, nr);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->kind, Response::Kind::kInjectFd);
    ASSERT_NE(r->owned_fd, nullptr);
    EXPECT_EQ(r->fd, r->owned_fd->get());
    EXPECT_EQ(r->fd_flags, 0u);
    EXPECT_EQ(ReadAll(r->fd), "virtual\n");
  }
  // The descriptor lives as long as the response.
  int fd;
  {
    std::optional<Response> r = Open(files, provided_, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->fd_flags, uint32_t{O_CLOEXEC});
    EXPECT_NE(fcntl(r->fd, F_GETFL) & O_NONBLOCK, 0);
    fd = r->fd;
  }
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_F(HandleOpenTest, AnyNameThatResolvesToTheFile) {
  VirtualFiles files = Files();
  for (const std::string& path :
       {link_, dir_ + "//./provided", dir_ + "/../" + dir_.substr(dir_.rfind('/') + 1) + "/link"}) {
    std::optional<Response> r = Open(files, path, O_RDONLY);
    ASSERT_TRUE(r.has_value()) << path;
    EXPECT_EQ(ReadAll(r->fd), "virtual\n") << path;
  }
  // Not the file: the kernel's business.
  EXPECT_FALSE(Open(files, other_, O_RDONLY).has_value());
  EXPECT_FALSE(Open(files, dir_ + "/missing", O_RDONLY).has_value());
  EXPECT_FALSE(Open(files, dir_ + "/provided/", O_RDONLY).has_value());  // ENOTDIR
  // O_NOFOLLOW on the symlink: the kernel's ELOOP.
  EXPECT_FALSE(Open(files, link_, O_RDONLY | O_NOFOLLOW).has_value());
  EXPECT_TRUE(Open(files, provided_, O_RDONLY | O_NOFOLLOW).has_value());
}

TEST_F(HandleOpenTest, FlagsAsTheKernelWouldAnswerAReadOnlyFile) {
  VirtualFiles files = Files();
  auto error = [&](uint64_t flags, int nr = SYS_openat) {
    std::optional<Response> r = Open(files, provided_, flags, nr);
    if (!r.has_value()) return -1;
    return r->kind == Response::Kind::kErrno ? r->error : 0;
  };
  EXPECT_EQ(error(O_WRONLY), EACCES);
  EXPECT_EQ(error(O_RDWR), EACCES);
  EXPECT_EQ(error(O_ACCMODE), EACCES);
  EXPECT_EQ(error(O_RDONLY | O_TRUNC), EACCES);
  EXPECT_EQ(error(O_WRONLY | O_CREAT | O_APPEND), EACCES);
  EXPECT_EQ(error(0, SYS_creat), EACCES);
  EXPECT_EQ(error(O_RDONLY | O_CREAT | O_EXCL), EEXIST);
  EXPECT_EQ(error(O_RDONLY | O_DIRECTORY), ENOTDIR);
  EXPECT_EQ(error(O_RDONLY | O_CREAT), 0);
  // O_CREAT|O_EXCL through a symlink: the kernel's EEXIST, not ours.
  EXPECT_FALSE(Open(files, link_, O_RDONLY | O_CREAT | O_EXCL).has_value());
  // O_PATH (access flags do not matter with it): a read-only descriptor of
  // the content, since seccomp cannot install an O_PATH one.
  std::optional<Response> r = Open(files, provided_, O_PATH | O_WRONLY);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->kind, Response::Kind::kInjectFd);
  EXPECT_EQ(fcntl(r->fd, F_GETFL) & (O_PATH | O_ACCMODE), O_RDONLY);
  EXPECT_EQ(ReadAll(r->fd), "virtual\n");
  EXPECT_EQ(error(O_PATH | O_DIRECTORY), ENOTDIR);
}

TEST_F(HandleOpenTest, SameContentReusesTheSealedFileNewContentGetsANewOne) {
  int n = 0;
  std::vector<Registry::ProvidedFile> list;
  list.push_back(Registry::ProvidedFile{
      provided_, "test",
      [&n](SyscallContext&) -> absl::StatusOr<std::string> {
        return std::string(n < 2 ? "same\n" : "changed\n");
      },
      "test"});
  VirtualFiles files(std::move(list), config_);
  auto inode = [&](std::string* content) {
    std::optional<Response> r = Open(files, provided_, O_RDONLY);
    ++n;
    struct stat st {};
    if (!r.has_value() || fstat(r->fd, &st) != 0) return ino_t{0};
    *content = ReadAll(r->fd);
    return st.st_ino;
  };
  std::string a, b, c;
  const ino_t first = inode(&a);
  const ino_t second = inode(&b);
  const ino_t third = inode(&c);
  EXPECT_EQ(a, "same\n");
  EXPECT_EQ(b, "same\n");
  EXPECT_EQ(c, "changed\n");
  EXPECT_NE(first, 0u);
  EXPECT_EQ(first, second);
  EXPECT_NE(second, third);
}

TEST_F(HandleOpenTest, AProviderErrorIsEio) {
  std::vector<Registry::ProvidedFile> list;
  list.push_back(Registry::ProvidedFile{
      provided_, "test",
      [](SyscallContext&) -> absl::StatusOr<std::string> { return absl::InternalError("x"); },
      "test"});
  VirtualFiles files(std::move(list), config_);
  std::optional<Response> r = Open(files, provided_, O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Response::Kind::kErrno);
  EXPECT_EQ(r->error, EIO);
}

TEST_F(HandleOpenTest, LandlockDecidesFilesOutsideTheAllowedPaths) {
  config_.allow_read = {"/usr"};
  EXPECT_FALSE(Open(Files(), provided_, O_RDONLY).has_value());
  config_.allow_read = {dir_ + "/"};
  EXPECT_TRUE(Open(Files(), provided_, O_RDONLY).has_value());
  config_.allow_read.clear();
  config_.allow_write = {"/"};
  EXPECT_TRUE(Open(Files(), provided_, O_RDONLY).has_value());
}

TEST_F(HandleOpenTest, AProvidedPathThatIsASymlinkOnTheHostIsFoundUnderItsTarget) {
  // Provide the symlink's path: opening it reaches the target's name.
  std::vector<Registry::ProvidedFile> list;
  list.push_back(File(link_, "via link\n"));
  VirtualFiles files(std::move(list), config_);
  EXPECT_EQ(files.Find(provided_), files.Find(link_));
  EXPECT_TRUE(files.IsProvidedName("provided"));
  std::optional<Response> r = Open(files, link_, O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ReadAll(r->fd), "via link\n");
}

TEST_F(HandleOpenTest, AProvidedFileMissingOnTheHost) {
  std::vector<Registry::ProvidedFile> list;
  list.push_back(File(dir_ + "/no/such/file", "there\n"));
  VirtualFiles files(std::move(list), config_);
  std::optional<Response> r = Open(files, dir_ + "/no/such/../such/file", O_RDONLY);
  EXPECT_FALSE(r.has_value());  // ".." after a missing directory: ENOENT
  r = Open(files, dir_ + "//no/such/file", O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ReadAll(r->fd), "there\n");
}

// A pattern's file: the provider reads the host's file at the path opened
// and marks it; a file that does not exist is ENOENT.
Registry::ProvidedPattern Pattern(const std::string& pattern, std::vector<std::string>* seen) {
  absl::StatusOr<PathPattern> parsed = PathPattern::Parse(pattern);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return Registry::ProvidedPattern{
      *parsed, "test",
      [seen](SyscallContext&, const std::string& path) -> absl::StatusOr<std::string> {
        seen->push_back(path);
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return ErrnoError(errno, path);
        std::string content = "edited " + ReadAll(fd);
        close(fd);
        return content;
      },
      "test"};
}

TEST_F(HandleOpenTest, APatternAnswersEveryPathItMatches) {
  for (const char* pid : {"12", "345"}) {
    ASSERT_EQ(mkdir((dir_ + "/" + pid).c_str(), 0755), 0);
    int fd = open((dir_ + "/" + pid + "/status").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, pid, strlen(pid)), static_cast<ssize_t>(strlen(pid)));
    close(fd);
  }
  ASSERT_EQ(symlink("345", (dir_ + "/me").c_str()), 0);
  std::vector<std::string> seen;
  std::vector<Registry::ProvidedPattern> patterns;
  patterns.push_back(Pattern(dir_ + "/%d/status", &seen));
  // A file provided by its own path wins over the pattern.
  std::vector<Registry::ProvidedFile> list;
  list.push_back(File(dir_ + "/12/status", "own\n"));
  VirtualFiles files(std::move(list), config_, std::move(patterns));
  EXPECT_TRUE(files.IsProvidedName("status"));
  ASSERT_NE(files.FindPattern(dir_ + "/7/status"), nullptr);
  EXPECT_EQ(files.FindPattern(dir_ + "/me/status"), nullptr);

  std::optional<Response> r = Open(files, dir_ + "/345/status", O_RDONLY);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->kind, Response::Kind::kInjectFd);
  EXPECT_EQ(ReadAll(r->fd), "edited 345");
  // However the path is spelled: the provider gets the canonical one.
  r = Open(files, dir_ + "/me/./status", O_RDONLY | O_CLOEXEC);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->fd_flags, uint32_t{O_CLOEXEC});
  EXPECT_EQ(ReadAll(r->fd), "edited 345");
  EXPECT_EQ(seen, (std::vector<std::string>{dir_ + "/345/status", dir_ + "/345/status"}));
  r = Open(files, dir_ + "/12/status", O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ReadAll(r->fd), "own\n");
  EXPECT_EQ(seen.size(), 2u);
  // As a read-only file: the flags are checked after the provider.
  r = Open(files, dir_ + "/345/status", O_WRONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Response::Kind::kErrno);
  EXPECT_EQ(r->error, EACCES);
  r = Open(files, dir_ + "/345/status", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, ENOTDIR);
  // A path of the pattern that does not exist: the kernel's (ENOENT, or
  // whatever these flags get).
  EXPECT_FALSE(Open(files, dir_ + "/99/status", O_RDONLY).has_value());
  EXPECT_FALSE(Open(files, dir_ + "/99/status", O_RDONLY | O_CREAT | O_EXCL).has_value());
  // Not the pattern's: other names, other shapes.
  EXPECT_FALSE(Open(files, dir_ + "/345", O_RDONLY | O_DIRECTORY).has_value());
  EXPECT_FALSE(Open(files, dir_ + "/x/status", O_RDONLY).has_value());
}

TEST_F(HandleOpenTest, APatternProvidersErrnoFailsTheOpen) {
  std::vector<Registry::ProvidedPattern> patterns;
  patterns.push_back(Registry::ProvidedPattern{
      *PathPattern::Parse(dir_ + "/%d/a"), "test",
      [](SyscallContext&, const std::string&) -> absl::StatusOr<std::string> {
        return ErrnoError(ESRCH, "gone");
      },
      "test"});
  patterns.push_back(Registry::ProvidedPattern{
      *PathPattern::Parse(dir_ + "/%d/x"), "test",
      [](SyscallContext&, const std::string&) -> absl::StatusOr<std::string> {
        return absl::InternalError("no errno");
      },
      "test"});
  VirtualFiles files({}, config_, std::move(patterns));
  std::optional<Response> r = Open(files, dir_ + "/1/a", O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Response::Kind::kErrno);
  EXPECT_EQ(r->error, ESRCH);
  r = Open(files, dir_ + "/1/x", O_RDONLY);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, EIO);
}

TEST_F(HandleOpenTest, ProcSelfStatusIsTheOpeningProcesssOwn) {
  std::vector<std::string> seen;
  std::vector<Registry::ProvidedPattern> patterns;
  patterns.push_back(Pattern("/proc/%d/status", &seen));
  patterns.push_back(Pattern("/proc/%d/task/%d/status", &seen));
  VirtualFiles files({}, config_, std::move(patterns));
  const std::string self = "/proc/" + std::to_string(getpid());
  for (const std::string& path : {std::string("/proc/self/status"), self + "/status",
                                  std::string("/proc/thread-self/status")}) {
    std::optional<Response> r = Open(files, path, O_RDONLY);
    ASSERT_TRUE(r.has_value()) << path;
    const std::string content = ReadAll(r->fd);
    EXPECT_TRUE(content.starts_with("edited Name:")) << content;
    EXPECT_NE(content.find("\nPid:\t" + std::to_string(getpid()) + "\n"), std::string::npos);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{self + "/status", self + "/status",
                                            self + "/task/" + std::to_string(getpid()) +
                                                "/status"}));
  EXPECT_FALSE(Open(files, "/proc/self/stat", O_RDONLY).has_value());
}

TEST(VirtualFilesTest, LookupAndNames) {
  std::vector<Registry::ProvidedFile> list;
  list.push_back(File("/proc/uptime", "1"));
  list.push_back(File("/proc/sys/kernel/hostname", "2"));
  VirtualFiles files(std::move(list), Config{});
  ASSERT_NE(files.Find("/proc/uptime"), nullptr);
  EXPECT_EQ(files.Find("/proc/uptime")->path, "/proc/uptime");
  EXPECT_EQ(files.Find("/proc/uptime/"), nullptr);
  EXPECT_EQ(files.Find("/proc/loadavg"), nullptr);
  EXPECT_TRUE(files.IsProvidedName("uptime"));
  EXPECT_TRUE(files.IsProvidedName("hostname"));
  EXPECT_FALSE(files.IsProvidedName("kernel"));
  EXPECT_TRUE(files.LandlockAllows("/anything"));  // no --allow-*
}

TEST(VirtualFilesTest, InstallRegistersTheOpenFamilyOnlyForProvidedFiles) {
  Registry empty;
  VirtualFiles::Install(empty, Config{});
  EXPECT_TRUE(empty.BuildDispatch()[SYS_openat].empty());

  Registry registry;
  registry.BeginModule(0, "m");
  registry.ProvideFile("/proc/uptime", [](SyscallContext&) { return std::string("x"); }, "t");
  VirtualFiles::Install(registry, Config{});
  auto dispatch = registry.BuildDispatch();
  for (int nr : {SYS_open, SYS_creat, SYS_openat, SYS_openat2}) {
    ASSERT_EQ(dispatch[nr].size(), 1u) << nr;
    EXPECT_EQ(dispatch[nr][0].module_name, "files");
  }

  Registry patterns;
  patterns.BeginModule(0, "m");
  patterns.ProvideFilePattern(
      "/proc/%d/status",
      [](SyscallContext&, const std::string&) { return absl::StatusOr<std::string>("x"); }, "t");
  VirtualFiles::Install(patterns, Config{});
  dispatch = patterns.BuildDispatch();
  for (int nr : {SYS_open, SYS_creat, SYS_openat, SYS_openat2}) {
    ASSERT_EQ(dispatch[nr].size(), 1u) << nr;
  }
}

TEST(VirtualFilesDeathTest, MalformedOrDuplicatePaths) {
  auto provide = [](const std::string& path) {
    Registry registry;
    registry.BeginModule(0, "m");
    registry.ProvideFile(path, [](SyscallContext&) { return std::string(); }, "t");
  };
  EXPECT_DEATH(provide("proc/uptime"), "not canonical");
  EXPECT_DEATH(provide("/proc//uptime"), "not canonical");
  EXPECT_DEATH(provide("/proc/./uptime"), "not canonical");
  EXPECT_DEATH(provide("/proc/uptime/"), "not canonical");
  EXPECT_DEATH(provide("/"), "not canonical");
  auto pattern = [](const std::string& path) {
    Registry registry;
    registry.BeginModule(0, "m");
    for (int i = 0; i < 2; ++i) {
      registry.ProvideFilePattern(
          path,
          [](SyscallContext&, const std::string&) { return absl::StatusOr<std::string>(""); },
          "t");
    }
  };
  EXPECT_DEATH(pattern("/proc/%d"), "not valid");
  EXPECT_DEATH(pattern("/proc/%d/status/"), "not valid");
  EXPECT_DEATH(pattern("/proc/%d/status"), "provides already");
  std::vector<Registry::ProvidedFile> twice;
  twice.push_back(File("/proc/uptime", "1"));
  twice.push_back(File("/proc/uptime", "2"));
  EXPECT_DEATH(VirtualFiles(twice, Config{}), "provides already");
}

}  // namespace
}  // namespace detrun
