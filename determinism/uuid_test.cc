#include "determinism/uuid.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

TEST(UuidTest, TextForms) {
  Uuid u;
  for (size_t i = 0; i < 16; ++i) u.bytes[i] = static_cast<uint8_t>(i * 17);
  EXPECT_EQ(u.ToHex(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(u.ToString(), "00112233-4455-6677-8899-aabbccddeeff");
}

TEST(UuidTest, RandomIsVersion4VariantRfc4122AndFollowsTheStream) {
  RandomStream stream("test", 7, ProcessIdentity::Root());
  RandomStream same("test", 7, ProcessIdentity::Root());
  // GoogleTest's regular expressions, not std::regex (13 s of compile time
  // under ASan).
  const auto v4 =
      ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string s = Uuid::Random(stream).ToString();
    EXPECT_THAT(s, v4);
    EXPECT_EQ(Uuid::Random(same).ToString(), s);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 200u);
  // The 122 other bits are the stream's bytes.
  RandomStream raw("test", 7, ProcessIdentity::Root());
  uint8_t bytes[16];
  raw.Fill(bytes, 16);
  RandomStream again("test", 7, ProcessIdentity::Root());
  const Uuid u = Uuid::Random(again);
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t mask = i == 6 ? 0x0f : i == 8 ? 0x3f : 0xff;
    EXPECT_EQ(u.bytes[i] & mask, bytes[i] & mask) << i;
  }
}

}  // namespace
}  // namespace detrun
