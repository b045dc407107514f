// The command-line contract, end to end through the real binary: every bad
// value exits 125 with one message naming it; help and version work.
#include <cctype>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;

struct BadValue {
  std::vector<std::string> args;
  std::string named;  // the message must contain this
};

// How GoogleTest (and so ctest's test names) shows a case: its arguments,
// not a hex dump of the struct, which made every line of ctest's progress
// output about 300 characters wide.
void PrintTo(const BadValue& v, std::ostream* os) {
  *os << "detrun";
  for (const std::string& a : v.args) *os << ' ' << a;
}

class BadValueTest : public ::testing::TestWithParam<BadValue> {};

TEST_P(BadValueTest, Exits125NamingTheValue) {
  const BadValue& c = GetParam();
  Output o = Detrun(c.args);
  EXPECT_EQ(o.exit_code, 125) << o.err;
  EXPECT_THAT(o.err, HasSubstr(c.named));
  EXPECT_THAT(o.err, HasSubstr("detrun: "));
  EXPECT_EQ(o.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Contract, BadValueTest,
    ::testing::Values(
        BadValue{{"--time=notadate", "--", "true"}, "notadate"},
        BadValue{{"--time=2020-13-45", "--", "true"}, "2020-13-45"},
        BadValue{{"--seed=-1", "--", "true"}, "-1"},
        BadValue{{"--seed=abc", "--", "true"}, "abc"},
        BadValue{{"--cpus=0", "--", "true"}, "0"},
        BadValue{{"--clock=bogus", "--", "true"}, "bogus"},
        BadValue{{"--fs-times=maybe", "--", "true"}, "maybe"},
        BadValue{{"--dirs=random", "--", "true"}, "random"},
        BadValue{{"--tsc=off", "--", "true"}, "off"},
        BadValue{{"--tick=fast", "--", "true"}, "fast"},
        BadValue{{"--bogus-option", "--", "true"}, "--bogus-option"},
        BadValue{{"--seed"}, "--seed"},
        BadValue{{}, "missing command"},
        BadValue{{"--verbose"}, "missing command"},
        BadValue{{"--allow-read=/definitely/not/here", "--", "true"},
                 "/definitely/not/here"}),
    [](const ::testing::TestParamInfo<BadValue>& info) {
      // A readable name: the first argument, letters and digits only.
      std::string name = "case" + std::to_string(info.index) + "_";
      for (char c : info.param.args.empty() ? std::string("empty") : info.param.args[0]) {
        if (isalnum(static_cast<unsigned char>(c))) name += c;
      }
      return name;
    });

TEST(CliTest, HelpDocumentsEveryFlag) {
  Output o = Detrun({"--help"});
  EXPECT_EQ(o.exit_code, 0);
  for (const char* flag :
       {"--seed", "--time", "--clock", "--tick", "--hostname", "--cpus", "--fs-times",
        "--dirs", "--record", "--native", "--allow-read", "--allow-write",
        "--no-network", "--verbose", "--help", "--version", "125", "126", "127"}) {
    EXPECT_THAT(o.out, HasSubstr(flag));
  }
}

TEST(CliTest, Version) {
  Output o = Detrun({"--version"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_THAT(o.out, HasSubstr("detrun 0.1.0"));
}

TEST(CliTest, OptionsStopAtTheCommand) {
  // `-c` and `exit 5` belong to sh, not to detrun.
  Output o = Detrun({"sh", "-c", "echo $0 $1; exit 5", "zero", "--verbose"});
  EXPECT_EQ(o.exit_code, 5) << o.err;
  EXPECT_EQ(o.out, "zero --verbose\n");
}

TEST(CliTest, InvalidSourceDateEpochIsNamed) {
  Output o = RunProgram({"env", "SOURCE_DATE_EPOCH=yesterday", DetrunBin(), "--", "true"});
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_THAT(o.err, HasSubstr("yesterday"));
}

}  // namespace
}  // namespace detrun::testing
