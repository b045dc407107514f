// Confinement: what the filter and Landlock refuse, checked by running
// probes under the real binary.
#include <linux/audit.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/landlock.h"
#include "core/syscall_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Zero arguments (NULL pointers, fd 0, PTRACE_TRACEME) keep each call
// harmless even if it ever got through, so the test never does damage when
// it fails; the denial's own argument condition is filled in.
// A zero meets the other conditions (kNotEqual of a non-zero value,
// kNoBitsSet).
std::vector<std::string> ArgsFor(const DeniedSyscall& d) {
  std::vector<std::string> args = {Probe("try_syscall"), std::to_string(d.nr)};
  uint64_t values[6] = {};
  int used = 0;
  for (const ArgMatcher& m : d.all_of) {
    if (m.op == ArgMatcher::Op::kEqual || m.op == ArgMatcher::Op::kAnyBitsSet) {
      values[m.arg] |= m.value;
    }
    used = std::max(used, m.arg + 1);
  }
  for (int i = 0; i < used; ++i) args.push_back(std::to_string(values[i]));
  return args;
}

TEST(DeniedSyscallTest, EachEscapeSyscallFailsWithItsDocumentedErrno) {
  ASSERT_FALSE(DeniedEscapeSyscalls().empty());
  for (const DeniedSyscall& d : DeniedEscapeSyscalls()) {
    std::vector<std::string> args = {"--"};
    for (const std::string& a : ArgsFor(d)) args.push_back(a);
    Output o = Detrun(args);
    ASSERT_EQ(o.exit_code, 0) << d.reason << "\n" << o.err;
    EXPECT_EQ(o.out, absl::StrCat("errno=", strerrorname_np(d.errno_value), "\n"))
        << "syscall " << d.nr << ": " << d.reason;
  }
}

TEST(DeniedSyscallTest, DenialDependsOnArgumentsWhereItShould) {
  // prctl is refused only for PR_SET_DUMPABLE; PR_GET_DUMPABLE still works.
  Output o = Detrun({"--", Probe("try_syscall"), std::to_string(SYS_prctl),
                     std::to_string(PR_GET_DUMPABLE)});
  EXPECT_EQ(o.out, "ret=1\n") << o.err;
  // Natively, PR_SET_DUMPABLE(1) succeeds: the refusal is detrun's doing.
  Output native = RunProgram({Probe("try_syscall"), std::to_string(SYS_prctl),
                       std::to_string(PR_SET_DUMPABLE), "1"});
  EXPECT_EQ(native.out, "ret=0\n");
  Output under = Detrun({"--", Probe("try_syscall"), std::to_string(SYS_prctl),
                         std::to_string(PR_SET_DUMPABLE), "1"});
  EXPECT_EQ(under.out, "errno=EPERM\n");
}

TEST(DeniedSyscallTest, AddressRandomizationCannotBeTurnedBackOn) {
  // Natively, setarch without -R gives its command the plain persona.
  Output native = RunProgram({"setarch", "x86_64", "cat", "/proc/self/personality"});
  ASSERT_EQ(native.exit_code, 0) << native.err;
  EXPECT_EQ(native.out, "00000000\n");
  // Under detrun every process runs with ADDR_NO_RANDOMIZE (0x0040000)...
  Output plain = Detrun({"--", "cat", "/proc/self/personality"});
  EXPECT_EQ(plain.out, "00040000\n") << plain.err;
  // ...a persona that keeps it is set (PER_LINUX32 is 0x0008)...
  Output kept = Detrun({"--", "setarch", "i686", "-R", "cat", "/proc/self/personality"});
  EXPECT_EQ(kept.out, "00040008\n") << kept.err;
  // ...and one that drops it is refused, so setarch says why and fails.
  Output dropped = Detrun({"--", "setarch", "x86_64", "cat", "/proc/self/personality"});
  EXPECT_NE(dropped.exit_code, 0);
  EXPECT_EQ(dropped.out, "");
  EXPECT_THAT(dropped.err, HasSubstr("Operation not permitted"));
}

TEST(ArchTest, I386EntryPointKillsTheProcess) {
  Output o = Detrun({"--", Probe("int80")});
  EXPECT_EQ(o.exit_code, 128 + SIGSYS) << o.out << o.err;
  EXPECT_EQ(o.out, "");
}

TEST(ArchTest, X32NumbersFailWithEnosys) {
  Output o = Detrun({"--", Probe("x32_syscall")});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "x32 errno=ENOSYS\n");
}

TEST(NetworkTest, NoNetworkRefusesInetSocketsOnly) {
  std::string socket_nr = std::to_string(SYS_socket);
  Output inet = Detrun({"--no-network", "--", Probe("try_syscall"), socket_nr,
                        std::to_string(AF_INET), std::to_string(SOCK_STREAM), "0"});
  EXPECT_EQ(inet.out, "errno=EACCES\n") << inet.err;
  Output inet6 = Detrun({"--no-network", "--", Probe("try_syscall"), socket_nr,
                         std::to_string(AF_INET6), std::to_string(SOCK_DGRAM), "0"});
  EXPECT_EQ(inet6.out, "errno=EACCES\n") << inet6.err;
  Output unix_socket = Detrun({"--no-network", "--", Probe("try_syscall"), socket_nr,
                               std::to_string(AF_UNIX), std::to_string(SOCK_STREAM), "0"});
  EXPECT_THAT(unix_socket.out, StartsWith("ret="));
  // Without the flag, inet sockets work.
  Output allowed = Detrun({"--", Probe("try_syscall"), socket_nr, std::to_string(AF_INET),
                           std::to_string(SOCK_STREAM), "0"});
  EXPECT_THAT(allowed.out, StartsWith("ret="));
}

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbiVersion() <= 0) {
      GTEST_SKIP() << "SKIPPED: Landlock is not available on this kernel";
    }
    dir_ = MakeTempDir();
    RunProgram({"mkdir", dir_ + "/rw", dir_ + "/ro"});
    RunProgram({"sh", "-c", "echo secret > " + dir_ + "/ro/file"});
  }
  void TearDown() override {
    if (!dir_.empty()) RemoveTree(dir_);
  }
  std::string dir_;
};

TEST_F(LandlockTest, AllowWriteAllowsOnlyBeneathThePath) {
  Output ok = Detrun({"--allow-read=/", "--allow-write=" + dir_ + "/rw", "--", "sh", "-c",
                      "echo data > " + dir_ + "/rw/new && cat " + dir_ + "/rw/new"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "data\n");
  Output denied = Detrun({"--allow-read=/", "--allow-write=" + dir_ + "/rw", "--", "sh",
                          "-c", "echo data > " + dir_ + "/ro/new"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.err, HasSubstr("Permission denied"));
}

TEST_F(LandlockTest, AllowReadDoesNotAllowWriting) {
  Output read = Detrun({"--allow-read=/", "--", "cat", dir_ + "/ro/file"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "secret\n");
  Output write = Detrun({"--allow-read=/", "--", "sh", "-c", "echo x >> " + dir_ + "/ro/file"});
  EXPECT_NE(write.exit_code, 0);
  EXPECT_THAT(write.err, HasSubstr("Permission denied"));
}

TEST_F(LandlockTest, EverythingElseIsDenied) {
  // Only /usr and the binary's directory may be read: /etc is not.
  Output o = Detrun({"--allow-read=/usr", "--allow-read=/lib", "--allow-read=/lib64",
                     "--allow-read=/bin", "--", "/usr/bin/cat", "/etc/passwd"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_THAT(o.err, HasSubstr("Permission denied"));
}

}  // namespace
}  // namespace detrun::testing
