#include "core/child_memory.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace detrun {
namespace {

constexpr size_t kPage = 4096;

// Forks a child that shares our address layout and waits to be inspected.
class ChildMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two pages; the second is unmapped so reads past the first fault.
    base_ = static_cast<char*>(mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(base_, MAP_FAILED);
    munmap(base_ + kPage, kPage);
    memset(base_, 'x', kPage);
    // "hello" ends exactly at the end of the mapped page.
    memcpy(base_ + kPage - 6, "hello", 6);
    memcpy(base_, "first", 6);
    pid_ = fork();
    if (pid_ == 0) {
      for (;;) pause();
    }
  }
  void TearDown() override {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    munmap(base_, kPage);
  }
  uint64_t Addr(size_t offset) { return reinterpret_cast<uint64_t>(base_ + offset); }

  char* base_ = nullptr;
  pid_t pid_ = -1;
  ChildMemory memory_{-1};
};

TEST_F(ChildMemoryTest, ReadsBytes) {
  char buf[6];
  ASSERT_TRUE(memory_.Read(0, pid_, Addr(0), buf, 6).ok());
  EXPECT_STREQ(buf, "first");
}

TEST_F(ChildMemoryTest, StringEndingAtPageEdgeDoesNotTouchNextPage) {
  absl::StatusOr<std::string> s = memory_.ReadString(0, pid_, Addr(kPage - 6), 4096);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "hello");
}

TEST_F(ChildMemoryTest, StringRunningIntoUnmappedPageIsEfault) {
  // A page with no NUL at all, followed by a hole.
  char* page = static_cast<char*>(mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  munmap(page + kPage, kPage);
  memset(page, 'y', kPage);
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  absl::StatusOr<std::string> s =
      memory_.ReadString(0, child, reinterpret_cast<uint64_t>(page) + 100, 1 << 20);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ErrnoForMemoryStatus(s.status()), EFAULT);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  munmap(page, kPage);
}

TEST_F(ChildMemoryTest, StringLongerThanLimitIsReported) {
  absl::StatusOr<std::string> s = memory_.ReadString(0, pid_, Addr(0), 3);
  EXPECT_TRUE(absl::IsResourceExhausted(s.status())) << s.status();
  EXPECT_EQ(ErrnoForMemoryStatus(s.status()), ENAMETOOLONG);
}

TEST_F(ChildMemoryTest, PartialReadIsEfault) {
  char buf[64];
  absl::Status s = memory_.Read(0, pid_, Addr(kPage - 10), buf, sizeof buf);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ErrnoForMemoryStatus(s), EFAULT);
}

TEST_F(ChildMemoryTest, WritesWritablePage) {
  ASSERT_TRUE(memory_.Write(0, pid_, Addr(0), "WRITE", 6).ok());
  char buf[6];
  ASSERT_TRUE(memory_.Read(0, pid_, Addr(0), buf, 6).ok());
  EXPECT_STREQ(buf, "WRITE");
  EXPECT_STREQ(base_, "first");  // our own copy is untouched
}

TEST_F(ChildMemoryTest, WriteTapSeesSuccessfulWritesOnly) {
  struct Tap : ChildMemory::WriteTap {
    void OnWrite(uint64_t addr, const void* data, size_t len) override {
      seen.emplace_back(addr, std::string(static_cast<const char*>(data), len));
    }
    std::vector<std::pair<uint64_t, std::string>> seen;
  } tap;
  memory_.set_write_tap(&tap);
  ASSERT_TRUE(memory_.Write(0, pid_, Addr(8), "tap", 3).ok());
  EXPECT_FALSE(memory_.Write(0, pid_, Addr(kPage), "x", 1).ok());  // unmapped
  memory_.set_write_tap(nullptr);
  ASSERT_TRUE(memory_.Write(0, pid_, Addr(16), "untapped", 8).ok());
  ASSERT_EQ(tap.seen.size(), 1u);
  EXPECT_EQ(tap.seen[0].first, Addr(8));
  EXPECT_EQ(tap.seen[0].second, "tap");
}

TEST_F(ChildMemoryTest, ProcMemWritesReadOnlyPage) {
  // The child's page becomes read-only only in the child: mprotect there
  // is not possible from here, so make the parent's page read-only before
  // a second fork.
  mprotect(base_, kPage, PROT_READ);
  pid_t ro = fork();
  if (ro == 0) {
    for (;;) pause();
  }
  EXPECT_FALSE(memory_.Write(0, ro, Addr(0), "nope", 5).ok());
  ASSERT_TRUE(WriteProcMem(ro, Addr(0), "vdso", 5).ok());
  char buf[5];
  ASSERT_TRUE(memory_.Read(0, ro, Addr(0), buf, 5).ok());
  EXPECT_STREQ(buf, "vdso");
  kill(ro, SIGKILL);
  waitpid(ro, nullptr, 0);
  mprotect(base_, kPage, PROT_READ | PROT_WRITE);
}

TEST(ProcMemTest, RuntimeCheckPasses) {
  EXPECT_TRUE(CheckProcMemWritable().ok()) << CheckProcMemWritable();
}

TEST(ChildMemoryValidityTest, InvalidListenerMeansNotValid) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ChildMemory m(fds[0]);  // not a seccomp listener: the ioctl fails
  EXPECT_FALSE(m.IsValid(1));
  char b;
  EXPECT_TRUE(absl::IsNotFound(m.Read(1, getpid(), reinterpret_cast<uint64_t>(&b), &b, 1)));
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace detrun
