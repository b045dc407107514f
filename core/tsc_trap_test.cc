#include "core/tsc_trap.h"

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

}  // namespace
}  // namespace detrun
