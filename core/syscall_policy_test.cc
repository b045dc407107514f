// Tests for SyscallPolicy, the escape denials and the syscall name table.
//
// Every compiled program is run in the userspace interpreter over synthetic
// seccomp_data: table-driven {description, seccomp_data, expected action}
// cases, printing the disassembly when one fails, plus a randomized
// comparison of the compiled program against SyscallPolicy::Decide().
#include "core/syscall_policy.h"

#include <asm/prctl.h>
#include <asm/unistd_64.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/bpf_interpreter.h"
#include "core/linux_compat.h"
#include "core/syscall_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kNotify = SECCOMP_RET_USER_NOTIF;
constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;
constexpr uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | e; }
constexpr uint64_t kGarbageHigh = 0xdeadbeef00000000ull;

seccomp_data Call(int nr, std::array<uint64_t, 6> args = {},
                  uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data data{};
  data.nr = nr;
  data.arch = arch;
  data.instruction_pointer = 0x7f0000001234;
  for (int i = 0; i < 6; ++i) data.args[i] = args[i];
  return data;
}

struct Case {
  std::string description;
  seccomp_data data;
  uint32_t expected;
};

std::string RetName(uint32_t ret) {
  return absl::StrFormat("%#x", ret);
}

void ExpectCases(const bpf::Program& program, const std::vector<Case>& cases) {
  bool failed = false;
  for (const Case& c : cases) {
    absl::StatusOr<uint32_t> got = bpf::Evaluate(program, c.data);
    if (!got.ok()) {
      ADD_FAILURE() << c.description << ": " << got.status();
      failed = true;
    } else if (*got != c.expected) {
      ADD_FAILURE() << c.description << ": got " << RetName(*got)
                    << ", want " << RetName(c.expected);
      failed = true;
    }
  }
  if (failed) ADD_FAILURE() << "program:\n" << bpf::Disassemble(program);
}

bpf::Program MustCompile(const SyscallPolicy& policy) {
  absl::StatusOr<bpf::Program> program = policy.Compile();
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *std::move(program) : bpf::Program{};
}

// ---------------------------------------------------------------------------
// The fixed preamble: architecture and x32.

TEST(SyscallPolicyTest, EmptyPolicyGolden) {
  const bpf::Program program = MustCompile(SyscallPolicy());
  EXPECT_EQ(bpf::Disassemble(program),
            "0000: ld arch\n"
            "0001: jeq #0xc000003e (AUDIT_ARCH_X86_64) -> 0003 : 0002\n"
            "0002: ret KILL_PROCESS\n"
            "0003: ld nr\n"
            "0004: jge #0x40000000 -> 0005 : 0006\n"
            "0005: ret ERRNO(38)\n"
            "0006: ret ALLOW\n");
}

TEST(SyscallPolicyTest, OneNotifiedSyscallGolden) {
  SyscallPolicy policy;
  policy.Add(__NR_getpid, SyscallAction::Notify(), "test");
  const bpf::Program program = MustCompile(policy);
  EXPECT_EQ(bpf::Disassemble(program),
            "0000: ld arch\n"
            "0001: jeq #0xc000003e (AUDIT_ARCH_X86_64) -> 0003 : 0002\n"
            "0002: ret KILL_PROCESS\n"
            "0003: ld nr\n"
            "0004: jge #0x40000000 -> 0005 : 0006\n"
            "0005: ret ERRNO(38)\n"
            "0006: jeq #0x27 (getpid) -> 0007 : 0008\n"
            "0007: ret USER_NOTIF\n"
            "0008: ret ALLOW\n");
}

TEST(SyscallPolicyTest, ArchitectureAndX32) {
  SyscallPolicy policy;
  AddEscapeDenials(policy);
  policy.Add(__NR_getpid, SyscallAction::Notify(), "test");
  const bpf::Program program = MustCompile(policy);
  ExpectCases(
      program,
      {
          {"i386 getpid (20) via int 0x80", Call(20, {}, AUDIT_ARCH_I386), kKill},
          {"i386 time (13)", Call(13, {}, AUDIT_ARCH_I386), kKill},
          {"i386 number that is x86-64 getpid", Call(39, {}, AUDIT_ARCH_I386), kKill},
          {"i386 read (3)", Call(3, {}, AUDIT_ARCH_I386), kKill},
          {"aarch64", Call(172, {}, AUDIT_ARCH_AARCH64), kKill},
          {"arch 0", Call(39, {}, 0), kKill},
          {"x86-64 getpid", Call(__NR_getpid), kNotify},
          {"x86-64 read", Call(__NR_read), kAllow},
          {"x32 getpid", Call(0x40000000 | __NR_getpid), Errno(ENOSYS)},
          {"x32 bit alone", Call(0x40000000), Errno(ENOSYS)},
          {"x32 ptrace (521)", Call(0x40000000 | 521), Errno(ENOSYS)},
          {"0x7fffffff", Call(0x7fffffff), Errno(ENOSYS)},
          {"nr -1", Call(-1), Errno(ENOSYS)},
          {"just below the x32 bit", Call(0x3fffffff), kAllow},
      });
}

// ---------------------------------------------------------------------------
// Escape denials and --no-network.

TEST(SyscallPolicyTest, EveryEscapeDenialAnswersItsErrno) {
  SyscallPolicy policy;
  AddEscapeDenials(policy);
  const bpf::Program program = MustCompile(policy);
  std::vector<Case> cases;
  for (const DeniedSyscall& denied : DeniedEscapeSyscalls()) {
    std::array<uint64_t, 6> args = {};
    // Arguments that meet every condition: zero meets a kNotEqual of a
    // non-zero value and any kNoBitsSet.
    for (const ArgMatcher& m : denied.all_of) {
      ASSERT_EQ(m.width, ArgMatcher::Width::k32);
      if (m.op == ArgMatcher::Op::kEqual || m.op == ArgMatcher::Op::kAnyBitsSet) {
        args[m.arg] |= m.value;
      } else if (m.op == ArgMatcher::Op::kNotEqual) {
        ASSERT_NE(m.value, 0u);
      }
    }
    const std::string name = SyscallNameOrNumber(denied.nr);
    cases.push_back({name, Call(denied.nr, args), Errno(denied.errno_value)});
    if (!denied.all_of.empty()) {
      // 32-bit arguments: what the upper half holds must not matter...
      std::array<uint64_t, 6> garbage = args;
      for (const ArgMatcher& m : denied.all_of) garbage[m.arg] |= kGarbageHigh;
      cases.push_back({name + " with garbage upper halves",
                       Call(denied.nr, garbage), Errno(denied.errno_value)});
    }
  }
  // ...and other argument values stay allowed.
  cases.push_back({"prctl(PR_SET_NAME)", Call(__NR_prctl, {PR_SET_NAME}), kAllow});
  cases.push_back({"prctl(PR_GET_DUMPABLE)", Call(__NR_prctl, {PR_GET_DUMPABLE}), kAllow});
  cases.push_back({"prctl(PR_SET_DUMPABLE + 2^32)",
                   Call(__NR_prctl, {PR_SET_DUMPABLE | kGarbageHigh}), Errno(EPERM)});
  cases.push_back({"arch_prctl(ARCH_SET_FS)", Call(__NR_arch_prctl, {ARCH_SET_FS}), kAllow});
  cases.push_back({"ioctl(TCGETS)", Call(__NR_ioctl, {0, TCGETS}), kAllow});
  cases.push_back({"ioctl(fd=TIOCSTI, TCGETS)", Call(__NR_ioctl, {TIOCSTI, TCGETS}), kAllow});
  // personality: the query and any persona keeping ADDR_NO_RANDOMIZE run;
  // one that drops it is refused, whatever the upper half holds.
  cases.push_back({"personality(0xffffffff)", Call(__NR_personality, {0xffffffffu}), kAllow});
  cases.push_back({"personality(ADDR_NO_RANDOMIZE)",
                   Call(__NR_personality, {ADDR_NO_RANDOMIZE}), kAllow});
  cases.push_back({"personality(PER_LINUX32 | ADDR_NO_RANDOMIZE)",
                   Call(__NR_personality, {uint64_t{PER_LINUX32} | ADDR_NO_RANDOMIZE}), kAllow});
  cases.push_back({"personality(PER_LINUX32)", Call(__NR_personality, {PER_LINUX32}),
                   Errno(EPERM)});
  cases.push_back({"personality(0xffffffff + 2^32 garbage)",
                   Call(__NR_personality, {0xffffffffu | kGarbageHigh}), kAllow});
  for (const char* allowed : {"seccomp", "unshare", "clone", "clone3",
                              "execve", "openat", "read"}) {
    cases.push_back({allowed, Call(*SyscallNumber(allowed)), kAllow});
  }
  ExpectCases(program, cases);
}

TEST(SyscallPolicyTest, EscapeListCoversTheDesignAndSparesWhatProgramsNeed) {
  std::set<std::string> denied;
  for (const DeniedSyscall& d : DeniedEscapeSyscalls()) {
    EXPECT_NE(d.reason, nullptr);
    EXPECT_GT(std::string(d.reason).size(), 10u) << SyscallNameOrNumber(d.nr);
    EXPECT_FALSE(SyscallName(d.nr).empty()) << d.nr;
    denied.insert(std::string(SyscallName(d.nr)));
  }
  for (const char* name :
       {"io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace",
        "process_vm_readv", "process_vm_writev", "pidfd_getfd", "bpf",
        "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "mount", "umount2",
        "pivot_root", "move_mount", "open_tree", "open_tree_attr", "fsopen",
        "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at",
        "prctl", "personality"}) {
    EXPECT_TRUE(denied.count(name)) << name;
  }
  for (const char* name :
       {"seccomp", "unshare", "clone", "clone3", "setns"}) {
    EXPECT_FALSE(denied.count(name)) << name;
  }
}

TEST(SyscallPolicyTest, NoNetwork) {
  SyscallPolicy policy;
  AddEscapeDenials(policy);
  AddNoNetworkRules(policy);
  ExpectCases(
      MustCompile(policy),
      {
          {"AF_INET", Call(__NR_socket, {AF_INET, SOCK_STREAM}), Errno(EACCES)},
          {"AF_INET6", Call(__NR_socket, {AF_INET6, SOCK_DGRAM}), Errno(EACCES)},
          {"AF_INET, garbage upper half",
           Call(__NR_socket, {AF_INET | kGarbageHigh}), Errno(EACCES)},
          {"AF_UNIX", Call(__NR_socket, {AF_UNIX, SOCK_STREAM}), kAllow},
          {"AF_NETLINK", Call(__NR_socket, {AF_NETLINK}), kAllow},
          {"AF_INET in the upper half only",
           Call(__NR_socket, {uint64_t{AF_INET} << 32}), kAllow},
          {"socketpair AF_INET is not socket", Call(__NR_socketpair, {AF_INET}), kAllow},
      });
}

// ---------------------------------------------------------------------------
// Dispatch on the number.

// nr-1, nr, nr+1 around every ruled number, on dense and sparse policies.
TEST(SyscallPolicyTest, NumberBoundaries) {
  const std::vector<std::vector<int>> shapes = {
      {0},
      {1023},
      {0, 1, 2, 3, 4},
      {5, 7, 9, 11, 13, 15, 17},
      {__NR_read, __NR_getpid, __NR_clock_gettime, __NR_getrandom,
       DETRUN_NR_file_setattr},
      {100, 101, 500, 501, 502, 900, 1022, 1023},
  };
  for (const std::vector<int>& numbers : shapes) {
    SyscallPolicy policy;
    for (int nr : numbers) policy.Add(nr, SyscallAction::Errno(nr + 1), "test");
    const std::set<int> ruled(numbers.begin(), numbers.end());
    std::vector<Case> cases;
    for (int nr : numbers) {
      for (int probe : {nr - 1, nr, nr + 1}) {
        if (probe < 0) continue;
        const uint32_t want = ruled.count(probe) ? Errno(probe + 1) : kAllow;
        cases.push_back({absl::StrFormat("nr %d", probe), Call(probe), want});
      }
    }
    cases.push_back({"nr 0x3fffffff", Call(0x3fffffff), kAllow});
    ExpectCases(MustCompile(policy), cases);
  }
}

std::vector<Case> NotifyEverythingBelow(int limit) {
  std::vector<Case> cases;
  for (int nr = 0; nr < 1100; ++nr) {
    cases.push_back({absl::StrFormat("nr %d", nr), Call(nr),
                     nr < limit ? kNotify : kAllow});
  }
  return cases;
}

TEST(SyscallPolicyTest, MoreThan255NotifiedSyscalls) {
  for (int limit : {470, 1000, 1024}) {
    SyscallPolicy policy;
    for (int nr = 0; nr < limit; ++nr) {
      policy.Add(nr, SyscallAction::Notify(), "test");
    }
    const bpf::Program program = MustCompile(policy);
    ExpectCases(program, NotifyEverythingBelow(limit));
  }
  // Sparse: every other number, so the leaves compare and far subtrees need
  // trampolines.
  SyscallPolicy sparse;
  for (int nr = 0; nr < 1024; nr += 2) {
    sparse.Add(nr, SyscallAction::Notify(), "test");
  }
  std::vector<Case> cases;
  for (int nr = 0; nr < 1100; ++nr) {
    cases.push_back({absl::StrFormat("nr %d", nr), Call(nr),
                     nr < 1024 && nr % 2 == 0 ? kNotify : kAllow});
  }
  ExpectCases(MustCompile(sparse), cases);
}

// ---------------------------------------------------------------------------
// Argument conditions.

TEST(SyscallPolicyTest, ArgumentConditions) {
  constexpr int kNr = __NR_futex;  // any number will do
  SyscallPolicy policy;
  auto rule = [&](ArgMatcher m, int e) {
    policy.Add(kNr, SyscallRule{{m}, SyscallAction::Errno(e), "test"});
  };
  rule(ArgMatcher::Eq32(0, 5), 1);
  rule(ArgMatcher::Eq64(1, 0x100000005), 2);
  rule(ArgMatcher::Ne64(2, 0x100000005), 3);
  rule(ArgMatcher::MaskedEq32(3, 0x3, 0x1), 4);
  rule(ArgMatcher::AnyBits32(4, 0x100), 5);
  rule(ArgMatcher::Ne32(5, 7), 6);
  const bpf::Program program = MustCompile(policy);
  // args[2] must equal 0x100000005 for rule 3 not to fire; args[5] == 7.
  auto with = [](int arg, uint64_t v) {
    std::array<uint64_t, 6> args = {0, 0, 0x100000005, 0, 0, 7};
    args[arg] = v;
    return args;
  };
  ExpectCases(
      program,
      {
          {"nothing matches", Call(kNr, with(0, 0)), kAllow},
          // Eq32: the upper half is ignored.
          {"Eq32 5", Call(kNr, with(0, 5)), Errno(1)},
          {"Eq32 5 + garbage", Call(kNr, with(0, 5 | kGarbageHigh)), Errno(1)},
          {"Eq32 5 + 2^32", Call(kNr, with(0, 0x100000005)), Errno(1)},
          {"Eq32 4", Call(kNr, with(0, 4)), kAllow},
          {"Eq32 6", Call(kNr, with(0, 6)), kAllow},
          // Eq64: the upper half matters.
          {"Eq64 exact", Call(kNr, with(1, 0x100000005)), Errno(2)},
          {"Eq64 low word only", Call(kNr, with(1, 5)), kAllow},
          {"Eq64 other high word", Call(kNr, with(1, 0x200000005)), kAllow},
          {"Eq64 low word - 1", Call(kNr, with(1, 0x100000004)), kAllow},
          // Ne64: differs in either half.
          {"Ne64 equal", Call(kNr, with(2, 0x100000005)), kAllow},
          {"Ne64 high differs", Call(kNr, with(2, 0x000000005)), Errno(3)},
          {"Ne64 low differs", Call(kNr, with(2, 0x100000006)), Errno(3)},
          {"Ne64 both differ", Call(kNr, with(2, 0)), Errno(3)},
          // MaskedEq32: (a & 3) == 1.
          {"mask 1", Call(kNr, with(3, 1)), Errno(4)},
          {"mask 0x41", Call(kNr, with(3, 0x41)), Errno(4)},
          {"mask 0x41 + garbage", Call(kNr, with(3, 0x41 | kGarbageHigh)), Errno(4)},
          {"mask 3", Call(kNr, with(3, 3)), kAllow},
          {"mask 2", Call(kNr, with(3, 2)), kAllow},
          // AnyBits32.
          {"bit 0x100", Call(kNr, with(4, 0x100)), Errno(5)},
          {"bits 0x1ff", Call(kNr, with(4, 0x1ff)), Errno(5)},
          {"bit 0x200", Call(kNr, with(4, 0x200)), kAllow},
          {"bit 0x100 << 32", Call(kNr, with(4, 0x100ull << 32)), kAllow},
          // Ne32: the upper half is ignored.
          {"Ne32 7 + garbage", Call(kNr, with(5, 7 | kGarbageHigh)), kAllow},
          {"Ne32 8", Call(kNr, with(5, 8)), Errno(6)},
          {"Ne32 6", Call(kNr, with(5, 6)), Errno(6)},
      });
}

TEST(SyscallPolicyTest, BitTestsAndMasksAt64Bits) {
  constexpr int kNr = __NR_clone;
  SyscallPolicy policy;
  policy.Add(kNr, SyscallRule{{{0, ArgMatcher::Op::kAnyBitsSet, 0x8000000000000001ull, 0,
                                ArgMatcher::Width::k64}},
                              SyscallAction::Errno(1), "any"});
  policy.Add(kNr, SyscallRule{{{1, ArgMatcher::Op::kNoBitsSet, 0x0000000300000000ull, 0,
                                ArgMatcher::Width::k64}},
                              SyscallAction::Errno(2), "none"});
  policy.Add(kNr, SyscallRule{{ArgMatcher::NoBits32(2, 0x3)},
                              SyscallAction::Errno(3), "none32"});
  const bpf::Program program = MustCompile(policy);
  auto args = [](uint64_t a0, uint64_t a1, uint64_t a2) {
    return std::array<uint64_t, 6>{a0, a1, a2};
  };
  ExpectCases(
      program,
      {
          {"bit 63", Call(kNr, args(1ull << 63, ~0ull, ~0ull)), Errno(1)},
          {"bit 0", Call(kNr, args(1, ~0ull, ~0ull)), Errno(1)},
          {"bits 1..62 only", Call(kNr, args(0x7ffffffffffffffeull, ~0ull, ~0ull)),
           kAllow},
          {"no bits 32,33", Call(kNr, args(0, 0xfffffffcffffffffull, ~0ull)), Errno(2)},
          {"bit 33 set", Call(kNr, args(0, 0x200000000ull, ~0ull)), kAllow},
          {"bit 32 set", Call(kNr, args(0, 0x100000000ull, ~0ull)), kAllow},
          {"NoBits32 clear low, garbage high",
           Call(kNr, args(0, ~0ull, 0xfffffffffffffffcull)), Errno(3)},
          {"NoBits32 bit 1", Call(kNr, args(0, ~0ull, 2)), kAllow},
      });
}

TEST(SyscallPolicyTest, RulesAreTriedInOrderAndAllMatchersMustHold) {
  constexpr int kNr = __NR_openat;
  SyscallPolicy policy;
  policy.Add(kNr, SyscallRule{{ArgMatcher::Eq32(0, 1), ArgMatcher::Eq32(1, 2)},
                              SyscallAction::Errno(1), "both"});
  policy.Add(kNr, SyscallRule{{ArgMatcher::Eq32(0, 1)}, SyscallAction::KillProcess(),
                              "first only"});
  policy.Add(kNr, SyscallAction::Notify(), "everything else");
  policy.Add(kNr, SyscallAction::Errno(9), "never reached");
  ExpectCases(MustCompile(policy),
              {
                  {"both hold", Call(kNr, {1, 2}), Errno(1)},
                  {"first holds", Call(kNr, {1, 3}), kKill},
                  {"second holds", Call(kNr, {0, 2}), kNotify},
                  {"neither", Call(kNr, {0, 0}), kNotify},
              });
}

// ---------------------------------------------------------------------------
// Validation and limits.

TEST(SyscallPolicyTest, MalformedRulesAreCompileErrors) {
  struct Bad {
    const char* description;
    int nr;
    SyscallRule rule;
    const char* message;
  };
  const std::vector<Bad> cases = {
      {"nr -1", -1, {{}, SyscallAction::Notify(), "x"}, "outside 0..1023"},
      {"nr 1024", 1024, {{}, SyscallAction::Notify(), "x"}, "outside 0..1023"},
      {"arg 6", 1, {{ArgMatcher::Eq32(6, 0)}, SyscallAction::Notify(), "x"}, "argument index 6"},
      {"arg -1", 1, {{ArgMatcher::Eq64(-1, 0)}, SyscallAction::Notify(), "x"}, "argument index -1"},
      {"errno 0", 1, {{}, SyscallAction::Errno(0), "x"}, "errno 0"},
      {"errno 4096", 1, {{}, SyscallAction::Errno(4096), "x"}, "errno 4096"},
      {"wide 32-bit value", 1,
       {{{0, ArgMatcher::Op::kEqual, ~uint64_t{0}, 0xffffffff, ArgMatcher::Width::k32}},
        SyscallAction::Notify(), "x"},
       "wider than 32 bits"},
  };
  for (const Bad& bad : cases) {
    SyscallPolicy policy;
    policy.Add(bad.nr, bad.rule);
    absl::StatusOr<bpf::Program> program = policy.Compile();
    ASSERT_FALSE(program.ok()) << bad.description;
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(program.status().message(), HasSubstr(bad.message)) << bad.description;
  }
  SyscallPolicy edges;
  edges.Add(1023, SyscallAction::Errno(4095), "largest errno");
  edges.Add(0, SyscallAction::Errno(1), "smallest errno");
  EXPECT_TRUE(edges.Compile().ok());
}

TEST(SyscallPolicyTest, ProgramTooLargeIsAnError) {
  SyscallPolicy policy;
  for (int nr = 0; nr < 1024; ++nr) {
    policy.Add(nr, SyscallRule{{ArgMatcher::Eq64(0, nr), ArgMatcher::Ne64(1, nr)},
                               SyscallAction::Notify(), "big"});
  }
  absl::StatusOr<bpf::Program> program = policy.Compile();
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(program.status().message(), HasSubstr("at most 4096"));
}

TEST(SyscallPolicyTest, InstructionCountsStaySmall) {
  // Goldens: a change here means the code generator changed shape.
  SyscallPolicy escapes;
  AddEscapeDenials(escapes);
  EXPECT_EQ(MustCompile(escapes).size(), 127u);
  AddNoNetworkRules(escapes);
  EXPECT_EQ(MustCompile(escapes).size(), 136u);
}

TEST(SyscallActionTest, SeccompReturnValues) {
  EXPECT_EQ(SyscallAction::Allow().ToSeccompRet(), SECCOMP_RET_ALLOW);
  EXPECT_EQ(SyscallAction::Notify().ToSeccompRet(), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(SyscallAction::KillProcess().ToSeccompRet(), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(SyscallAction::Errno(EPERM).ToSeccompRet(), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(SyscallAction::Errno(0x12345).ToSeccompRet(), SECCOMP_RET_ERRNO | 0x2345);
}

// ---------------------------------------------------------------------------
// Randomized: the compiled program agrees with Decide().

uint64_t Interesting(std::mt19937_64& rng) {
  static constexpr uint64_t kValues[] = {
      0, 1, 2, 5, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
      0x100000005, 0xffffffff00000000, 0x8000000000000000, ~uint64_t{0}};
  if (rng() % 4 == 0) return rng();
  return kValues[rng() % std::size(kValues)];
}

ArgMatcher RandomMatcher(std::mt19937_64& rng) {
  ArgMatcher m;
  m.arg = static_cast<int>(rng() % 6);
  m.op = static_cast<ArgMatcher::Op>(rng() % 4);
  m.width = rng() % 2 ? ArgMatcher::Width::k32 : ArgMatcher::Width::k64;
  m.value = Interesting(rng);
  m.mask = rng() % 2 ? ~uint64_t{0} : Interesting(rng);
  if (m.width == ArgMatcher::Width::k32) m.value &= 0xffffffff;
  return m;
}

SyscallAction RandomAction(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return SyscallAction::Allow();
    case 1:
      return SyscallAction::Notify();
    case 2:
      return SyscallAction::KillProcess();
    default:
      return SyscallAction::Errno(1 + static_cast<int>(rng() % 4095));
  }
}

TEST(SyscallPolicyTest, RandomPoliciesAgreeWithDecide) {
  std::mt19937_64 rng(20240611);
  int compared = 0;
  for (int round = 0; round < 300; ++round) {
    SyscallPolicy policy;
    std::vector<ArgMatcher> used;
    std::vector<int> numbers;
    const int syscalls = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < syscalls; ++i) {
      const int nr = static_cast<int>(rng() % (rng() % 2 ? 64 : 1024));
      numbers.push_back(nr);
      const int rules = 1 + static_cast<int>(rng() % 4);
      for (int r = 0; r < rules; ++r) {
        SyscallRule rule;
        const int matchers = static_cast<int>(rng() % 4);
        for (int k = 0; k < matchers; ++k) {
          rule.all_of.push_back(RandomMatcher(rng));
          used.push_back(rule.all_of.back());
        }
        rule.action = RandomAction(rng);
        policy.Add(nr, rule);
      }
    }
    absl::StatusOr<bpf::Program> program = policy.Compile();
    ASSERT_TRUE(program.ok()) << program.status();
    for (int sample = 0; sample < 300; ++sample) {
      seccomp_data data{};
      data.arch = rng() % 16 == 0 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
      int nr = numbers[rng() % numbers.size()] + static_cast<int>(rng() % 3) - 1;
      if (rng() % 8 == 0) nr = static_cast<int>(rng() % 1100);
      if (rng() % 16 == 0) nr |= 0x40000000;
      data.nr = nr;
      for (auto& arg : data.args) {
        // Mostly values a matcher looks for, sometimes with a flipped bit
        // or a garbage upper half, so both outcomes of each test occur.
        const ArgMatcher& m = used.empty() ? ArgMatcher{} : used[rng() % used.size()];
        arg = rng() % 3 ? m.value : Interesting(rng);
        if (rng() % 4 == 0) arg ^= uint64_t{1} << (rng() % 64);
        if (rng() % 4 == 0) arg |= kGarbageHigh;
      }
      const uint64_t args[6] = {data.args[0], data.args[1], data.args[2],
                                data.args[3], data.args[4], data.args[5]};
      const uint32_t want = policy.Decide(data.arch, data.nr, args).ToSeccompRet();
      absl::StatusOr<uint32_t> got = bpf::Evaluate(*program, data);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, want) << "round " << round << " nr " << data.nr << " args "
                            << absl::StrFormat("%#x %#x %#x %#x %#x %#x", args[0],
                                               args[1], args[2], args[3], args[4],
                                               args[5])
                            << "\n" << bpf::Disassemble(*program);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 300 * 300);
}

// ---------------------------------------------------------------------------
// The real kernel agrees: install compiled programs in a forked child (a
// filter can never be removed, so never in the test runner itself).

// Installs `program` in a forked child, runs `probe` there and returns its
// exit code: kRefused when the kernel rejects the program as invalid,
// kUnavailable when this environment forbids installing filters at all.
constexpr int kRefused = 200;  // above any probe bit mask
constexpr int kUnavailable = 201;
int RunUnderFilter(const bpf::Program& program, int (*probe)()) {
  sock_fprog fprog{static_cast<unsigned short>(program.size()),
                   const_cast<sock_filter*>(program.data())};
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(kUnavailable);
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
      _exit(errno == EINVAL ? kRefused : kUnavailable);
    }
    _exit(probe());
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Returns 0 when the raw syscall failed with `expected_errno`.
int FailsWith(long result, int expected_errno) {
  return result == -1 && errno == expected_errno ? 0 : 1;
}

TEST(SyscallPolicyKernelTest, KernelAgreesWithTheInterpreter) {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) GTEST_SKIP() << "no seccomp";
  SyscallPolicy policy;
  AddEscapeDenials(policy);
  AddNoNetworkRules(policy);
  policy.Add(__NR_getppid, SyscallAction::Errno(77), "probe");
  policy.Add(__NR_getpgid, SyscallRule{{ArgMatcher::Ne64(0, 0x100000000)},
                                       SyscallAction::Errno(78), "probe"});
  const bpf::Program program = MustCompile(policy);
  const int result = RunUnderFilter(program, [] {
    int failures = 0;
    failures |= FailsWith(syscall(__NR_getppid), 77) << 0;
    // prctl's option is an int: garbage above bit 31 is ignored.
    failures |= FailsWith(syscall(__NR_prctl, 0xdeadbeef00000000ul | PR_SET_DUMPABLE, 0ul),
                          EPERM) << 1;
    failures |= FailsWith(syscall(__NR_io_uring_setup, 1ul, 0ul), ENOSYS) << 2;
    failures |= FailsWith(syscall(__NR_socket, AF_INET6, SOCK_DGRAM, 0), EACCES) << 3;
    failures |= FailsWith(syscall(__NR_getpgid, 0x100000001ul), 78) << 4;
    // Ne64 fails when both halves are equal, so the call reaches
    // the kernel, which sees pid 0 (pid_t is 32 bits): our group.
    failures |= (syscall(__NR_getpgid, 0x100000000ul) > 0 ? 0 : 1) << 5;
    failures |= (syscall(__NR_getpid) > 0 ? 0 : 1) << 6;
    return failures;
  });
  if (result == kUnavailable) GTEST_SKIP() << "cannot install seccomp filters here";
  EXPECT_EQ(result, 0) << "bit mask of failed probes, or 200: kernel refused\n"
                       << bpf::Disassemble(program);
}

TEST(SyscallPolicyKernelTest, KernelAcceptsRelaxedLongPrograms) {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) GTEST_SKIP() << "no seccomp";
  SyscallPolicy policy;
  for (int nr = 0; nr < 1024; nr += 2) {
    if (nr == __NR_exit || nr == __NR_exit_group) continue;
    policy.Add(nr, SyscallAction::Errno(nr + 1), "probe");
  }
  const bpf::Program program = MustCompile(policy);
  ASSERT_GT(program.size(), 256u);
  const int result = RunUnderFilter(program, [] {
    int failures = 0;
    failures |= FailsWith(syscall(__NR_getppid), __NR_getppid + 1) << 0;  // 110
    failures |= FailsWith(syscall(1000), 1001) << 1;
    failures |= (syscall(__NR_getpid) > 0 ? 0 : 1) << 2;  // 39: odd, allowed
    return failures;
  });
  if (result == kUnavailable) GTEST_SKIP() << "cannot install seccomp filters here";
  EXPECT_EQ(result, 0) << "bit mask of failed probes, or 200: kernel refused";
}

// ---------------------------------------------------------------------------
// Syscall names.

TEST(SyscallTableTest, NamesAndNumbers) {
  EXPECT_EQ(SyscallName(0), "read");
  EXPECT_EQ(SyscallName(__NR_getpid), "getpid");
  EXPECT_EQ(SyscallName(__NR_rseq), "rseq");
  EXPECT_EQ(SyscallName(DETRUN_NR_uretprobe), "uretprobe");
  EXPECT_EQ(SyscallName(__NR_set_mempolicy_home_node), "set_mempolicy_home_node");
  EXPECT_EQ(SyscallName(DETRUN_NR_cachestat), "cachestat");
  EXPECT_EQ(SyscallName(DETRUN_NR_file_setattr), "file_setattr");
  EXPECT_EQ(SyscallName(469), "file_setattr");
  EXPECT_EQ(SyscallName(-1), "");
  EXPECT_EQ(SyscallName(400), "");  // the x86-64 table's gap 337..423
  EXPECT_EQ(SyscallName(kSyscallTableSize), "");
  EXPECT_EQ(SyscallNameOrNumber(400), "syscall_400");
  EXPECT_EQ(SyscallNameOrNumber(__NR_openat), "openat");
  EXPECT_EQ(SyscallNumber("clock_gettime"), __NR_clock_gettime);
  EXPECT_EQ(SyscallNumber("open_tree_attr"), DETRUN_NR_open_tree_attr);
  EXPECT_EQ(SyscallNumber("no_such_call"), std::nullopt);
  EXPECT_EQ(SyscallNumber(""), std::nullopt);

  int known = 0;
  for (int nr = 0; nr < kSyscallTableSize; ++nr) {
    const std::string_view name = SyscallName(nr);
    if (name.empty()) continue;
    ++known;
    EXPECT_EQ(SyscallNumber(name), nr) << name;
  }
  // 0..336 and 424..470, all assigned on x86-64.
  EXPECT_EQ(known, 337 + 47);
}

}  // namespace
}  // namespace detrun
