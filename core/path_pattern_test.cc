#include "core/path_pattern.h"

#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(PathPatternTest, NumbersMatchWholeComponentsOfDigits) {
  absl::StatusOr<PathPattern> p = PathPattern::Parse("/proc/%d/status");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->text(), "/proc/%d/status");
  EXPECT_EQ(p->last_component(), "status");
  EXPECT_TRUE(p->Matches("/proc/1/status"));
  EXPECT_TRUE(p->Matches("/proc/4194304/status"));
  EXPECT_TRUE(p->Matches("/proc/007/status"));
  EXPECT_FALSE(p->Matches("/proc/self/status"));
  EXPECT_FALSE(p->Matches("/proc/12a/status"));
  EXPECT_FALSE(p->Matches("/proc/-1/status"));
  EXPECT_FALSE(p->Matches("/proc//status"));
  EXPECT_FALSE(p->Matches("/proc/status"));
  EXPECT_FALSE(p->Matches("/proc/1/status/"));
  EXPECT_FALSE(p->Matches("/proc/1/statm"));
  EXPECT_FALSE(p->Matches("/proc/1/task/1/status"));
  EXPECT_FALSE(p->Matches("proc/1/status"));
  EXPECT_FALSE(p->Matches(""));
}

TEST(PathPatternTest, LiteralComponentsMatchExactly) {
  absl::StatusOr<PathPattern> p = PathPattern::Parse("/proc/%d/task/%d/status");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->Matches("/proc/12/task/13/status"));
  EXPECT_FALSE(p->Matches("/proc/12/tasks/13/status"));
  EXPECT_FALSE(p->Matches("/proc/12/task/13/status/x"));
  EXPECT_THAT(p->Numbers("/proc/12/task/13/status"), ElementsAre("12", "13"));
  EXPECT_THAT(p->Numbers("/proc/12/task/x/status"), IsEmpty());

  absl::StatusOr<PathPattern> literal = PathPattern::Parse("/etc/hostname");
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE(literal->Matches("/etc/hostname"));
  EXPECT_FALSE(literal->Matches("/etc/hostnamex"));
  EXPECT_FALSE(literal->Matches("/etc"));
}

TEST(PathPatternTest, MalformedPatterns) {
  for (std::string_view bad :
       {"", "/", "proc/%d/status", "/proc//status", "/proc/./status", "/proc/../status",
        "/proc/%d/status/", "/proc/%d", "/proc/%d%d/status", "/proc/pid%d/status",
        "/proc/%s/status"}) {
    EXPECT_FALSE(PathPattern::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace detrun
