#include "cli/repro.h"

#include <string>
#include <vector>

#include "cli/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::StatusOr<ReproOptions> Parse(const std::vector<std::string>& args) {
  return ParseReproArgs(args, "/src/proj", [](const char*) -> const char* { return nullptr; });
}

std::string ParseError(const std::vector<std::string>& args) {
  absl::StatusOr<ReproOptions> o = Parse(args);
  if (o.ok()) {
    ADD_FAILURE() << "accepted";
    return "";
  }
  return std::string(o.status().message());
}

TEST(ParseReproArgsTest, Defaults) {
  absl::StatusOr<ReproOptions> o = Parse({"make", "-j4"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->runs, 2);
  EXPECT_THAT(o->artifacts, IsEmpty());
  EXPECT_FALSE(o->native_baseline);
  EXPECT_FALSE(o->keep);
  EXPECT_THAT(o->command, ElementsAre("make", "-j4"));
}

TEST(ParseReproArgsTest, EveryOptionAndArtifactsNormalised) {
  absl::StatusOr<ReproOptions> o =
      Parse({"--runs=3", "--artifact=dist/", "--artifact", "./out//lib.a", "--artifact=/src/proj/x",
             "--artifact=/src/proj", "--native-baseline", "--keep", "--seed=9", "--", "make"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->runs, 3);
  EXPECT_THAT(o->artifacts, ElementsAre("dist", "out/lib.a", "x", ""));
  EXPECT_TRUE(o->native_baseline);
  EXPECT_TRUE(o->keep);
  EXPECT_THAT(o->run_options, ElementsAre("--seed=9"));
  EXPECT_EQ(o->config.seed, 9u);
}

TEST(ParseReproArgsTest, RefusesBadValuesNamingThem) {
  EXPECT_EQ(ParseError({"--runs=1", "make"}),
            "invalid --runs value '1': expected an integer from 2 to 100");
  EXPECT_THAT(ParseError({"--runs=101", "make"}), HasSubstr("'101'"));
  EXPECT_THAT(ParseError({"--artifact=", "make"}), HasSubstr("invalid --artifact value ''"));
  EXPECT_THAT(ParseError({"--artifact=../x", "make"}), HasSubstr("'..' would leave"));
  EXPECT_THAT(ParseError({"--artifact=/elsewhere/x", "make"}),
              HasSubstr("must lie in the directory"));
  EXPECT_THAT(ParseError({"--artifact=/src/projX", "make"}),
              HasSubstr("must lie in the directory"));
  EXPECT_THAT(ParseError({"--native", "make"}), HasSubstr("--native-baseline"));
  EXPECT_THAT(ParseError({"--record=t", "make"}), HasSubstr("--record cannot be given"));
  EXPECT_THAT(ParseError({"--cpus=0", "make"}), HasSubstr("invalid --cpus value '0'"));
  EXPECT_THAT(ParseError({"--keep=yes", "make"}), HasSubstr("takes no value"));
  EXPECT_THAT(ParseError({"--artifact=x"}), HasSubstr("missing command"));
}

TEST(ReproHelpTextTest, DocumentsEveryOptionAndIsInDetrunsHelp) {
  const std::string help = ReproHelpText();
  for (const char* needle :
       {"--runs=N", "--artifact=PATH", "--native-baseline", "--keep", "xxh3"}) {
    EXPECT_THAT(help, HasSubstr(needle));
  }
  EXPECT_THAT(HelpText(), HasSubstr(help));
}

}  // namespace
}  // namespace detrun
