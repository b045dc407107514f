#include "core/tsc_trap.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>

#include "gtest/gtest.h"

namespace detrun {
namespace {

TEST(DecodeTscInstructionTest, RecognizesBothEncodings) {
  const uint8_t rdtsc[] = {0x0f, 0x31, 0x48, 0xc1};
  const uint8_t rdtscp[] = {0x0f, 0x01, 0xf9, 0x90};
  EXPECT_EQ(DecodeTscInstruction(rdtsc, sizeof rdtsc), TscInstruction::kRdtsc);
  EXPECT_EQ(DecodeTscInstruction(rdtscp, sizeof rdtscp), TscInstruction::kRdtscp);
  EXPECT_EQ(TscInstructionLength(TscInstruction::kRdtsc), 2u);
  EXPECT_EQ(TscInstructionLength(TscInstruction::kRdtscp), 3u);
}

TEST(DecodeTscInstructionTest, RefusesEverythingElse) {
  const uint8_t rdpid[] = {0xf3, 0x0f, 0xc7, 0xf8};  // not trapped by PR_SET_TSC
  const uint8_t xgetbv[] = {0x0f, 0x01, 0xd0};
  const uint8_t ud2[] = {0x0f, 0x0b};
  const uint8_t prefixed[] = {0x66, 0x0f, 0x31};
  EXPECT_FALSE(DecodeTscInstruction(rdpid, sizeof rdpid).has_value());
  EXPECT_FALSE(DecodeTscInstruction(xgetbv, sizeof xgetbv).has_value());
  EXPECT_FALSE(DecodeTscInstruction(ud2, sizeof ud2).has_value());
  EXPECT_FALSE(DecodeTscInstruction(prefixed, sizeof prefixed).has_value());
}

TEST(DecodeTscInstructionTest, ShortInput) {
  const uint8_t rdtscp[] = {0x0f, 0x01, 0xf9};
  EXPECT_FALSE(DecodeTscInstruction(rdtscp, 0).has_value());
  EXPECT_FALSE(DecodeTscInstruction(rdtscp, 1).has_value());
  EXPECT_FALSE(DecodeTscInstruction(rdtscp, 2).has_value());  // 0f 01: not rdtsc either
  EXPECT_EQ(DecodeTscInstruction(rdtscp, 3), TscInstruction::kRdtscp);
}

int TscMode() {
  int mode = 0;
  EXPECT_EQ(prctl(PR_GET_TSC, &mode, 0, 0, 0), 0);
  return mode;
}

int64_t SyscallMonotonicNs() {
  timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

TEST(SupervisorTscTrapTest, OwnReadsStillWorkWhileTrapped) {
  ASSERT_EQ(TscMode(), PR_TSC_ENABLE);
  {
    SupervisorTscTrap trap;
    ASSERT_TRUE(trap.active());
    EXPECT_EQ(TscMode(), PR_TSC_SIGSEGV);
    // The handler executes the real instructions: the counter moves on.
    uint32_t lo1, hi1, lo2, hi2, aux;
    asm volatile("rdtsc" : "=a"(lo1), "=d"(hi1));
    asm volatile("rdtscp" : "=a"(lo2), "=d"(hi2), "=c"(aux));
    const uint64_t first = (uint64_t{hi1} << 32) | lo1;
    const uint64_t second = (uint64_t{hi2} << 32) | lo2;
    EXPECT_GT(second, first);
    // The vDSO's clock (which reads the counter) agrees with the kernel's.
    timespec ts;
    ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    const int64_t vdso = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
    EXPECT_LT(std::llabs(vdso - SyscallMonotonicNs()), 1'000'000'000LL);
    EXPECT_EQ(TscMode(), PR_TSC_SIGSEGV);  // still trapped after answering
  }
  EXPECT_EQ(TscMode(), PR_TSC_ENABLE);
}

TEST(SupervisorTscTrapDeathTest, OtherSegvsStillCrash) {
  EXPECT_EXIT(
      {
        SupervisorTscTrap trap;
        volatile int* null = nullptr;
        *null = 1;
      },
      // Killed by the signal; under AddressSanitizer (the action installed
      // before ours) a report and a failing exit.
      [](int status) {
        return (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) ||
               (WIFEXITED(status) && WEXITSTATUS(status) != 0);
      },
      "");
}

}  // namespace
}  // namespace detrun
