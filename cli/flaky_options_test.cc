#include "cli/flaky_options.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/job_pool.h"
#include "cli/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::StatusOr<FlakyOptions> Parse(const std::vector<std::string>& args) {
  return ParseFlakyArgs(args, [](const char*) -> const char* { return nullptr; });
}

FlakyOptions ParseOk(const std::vector<std::string>& args) {
  absl::StatusOr<FlakyOptions> o = Parse(args);
  EXPECT_TRUE(o.ok()) << o.status();
  return o.ok() ? *o : FlakyOptions{};
}

std::string ParseError(const std::vector<std::string>& args) {
  absl::StatusOr<FlakyOptions> o = Parse(args);
  if (o.ok()) {
    ADD_FAILURE() << "accepted";
    return "";
  }
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(o.status().message());
}

TEST(ParseFlakyArgsTest, Defaults) {
  const FlakyOptions o = ParseOk({"./test", "-v"});
  EXPECT_EQ(o.runs, 100u);
  EXPECT_EQ(o.jobs, 0);
  EXPECT_EQ(o.timeout, absl::Minutes(10));
  EXPECT_EQ(o.vary.ToString(), "random+time+dirs+cpus+hostname");
  EXPECT_THAT(o.not_varied, IsEmpty());
  EXPECT_FALSE(o.fail_on.has_value());
  EXPECT_FALSE(o.exit_code.has_value());
  EXPECT_FALSE(o.chaos);
  EXPECT_FALSE(o.record);
  EXPECT_EQ(o.replays, 3);
  EXPECT_EQ(o.native_runs, 5);
  EXPECT_THAT(o.run_options, IsEmpty());
  EXPECT_THAT(o.command, ElementsAre("./test", "-v"));
}

TEST(ParseFlakyArgsTest, EveryOption) {
  const FlakyOptions o =
      ParseOk({"--runs=200", "--jobs", "4", "--timeout=30s", "--vary=time,cpus", "--fail-on=^FAIL",
               "--exit-code=3", "--chaos", "--replays=5", "--native-runs=0", "--record",
               "--clock=frozen", "--allow-read", "/usr", "--", "make", "check"});
  EXPECT_EQ(o.runs, 200u);
  EXPECT_EQ(o.jobs, 4);
  EXPECT_EQ(o.timeout, absl::Seconds(30));
  EXPECT_EQ(o.vary.ToString(), "time+cpus");
  EXPECT_EQ(o.fail_on, "^FAIL");
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_TRUE(o.chaos);
  EXPECT_EQ(o.replays, 5);
  EXPECT_EQ(o.native_runs, 0);
  EXPECT_TRUE(o.record);
  EXPECT_THAT(o.run_options, ElementsAre("--clock=frozen", "--allow-read=/usr"));
  EXPECT_EQ(o.config.clock, ClockMode::kFrozen);
  EXPECT_THAT(o.config.allow_read, ElementsAre("/usr"));
  EXPECT_THAT(o.command, ElementsAre("make", "check"));
}

TEST(ParseFlakyArgsTest, FixedSourcesAreNotVariedByDefault) {
  const FlakyOptions o = ParseOk({"--seed=4", "--hostname=ci", "./t"});
  EXPECT_EQ(o.vary.ToString(), "time+dirs+cpus");
  EXPECT_THAT(o.not_varied,
              ElementsAre("random: fixed by --seed", "hostname: fixed by --hostname"));
  EXPECT_EQ(o.config.seed, 4u);
  EXPECT_THAT(o.run_options, ElementsAre("--seed=4", "--hostname=ci"));
}

// --report-leaks takes its value only after '=' (cli/subcommand_args.cc).
TEST(ParseFlakyArgsTest, PassesStrictAndReportLeaksOn) {
  const FlakyOptions o = ParseOk({"--strict", "--report-leaks", "--report-leaks=l.txt", "./t"});
  EXPECT_THAT(o.run_options, ElementsAre("--strict", "--report-leaks", "--report-leaks=l.txt"));
  EXPECT_TRUE(o.config.strict);
  EXPECT_EQ(o.config.report_leaks, "l.txt");
  EXPECT_THAT(o.command, ElementsAre("./t"));
  const FlakyOptions bare = ParseOk({"--report-leaks", "./t"});
  EXPECT_EQ(bare.config.report_leaks, "");
  EXPECT_THAT(bare.command, ElementsAre("./t"));
}

TEST(ParseFlakyArgsTest, RefusesConflictsAndMissingFeatures) {
  EXPECT_EQ(ParseError({"--vary=random,time", "--time=2020-01-01", "./t"}),
            "--time fixes what --vary=time varies: drop one of them");
  EXPECT_EQ(ParseError({"--vary=dirs", "--dirs=native", "./t"}),
            "--dirs fixes what --vary=dirs varies: drop one of them");
  EXPECT_THAT(ParseError({"--native", "./t"}), HasSubstr("--native cannot be given"));
  EXPECT_THAT(ParseError({"--record=a.trace", "./t"}), HasSubstr("option --record takes no value"));
  EXPECT_THAT(ParseError({"--chaos=3", "./t"}), HasSubstr("option --chaos takes no value"));
}

TEST(ParseFlakyArgsTest, RefusesBadValuesNamingThem) {
  EXPECT_EQ(ParseError({"--runs=0", "./t"}),
            "invalid --runs value '0': expected an integer from 1 to 1000000");
  EXPECT_THAT(ParseError({"--runs=1e3", "./t"}), HasSubstr("invalid --runs value '1e3'"));
  EXPECT_THAT(ParseError({"--jobs=-1", "./t"}), HasSubstr("invalid --jobs value '-1'"));
  EXPECT_THAT(ParseError({"--timeout=0s", "./t"}), HasSubstr("invalid --timeout value '0s'"));
  EXPECT_THAT(ParseError({"--timeout=soon", "./t"}), HasSubstr("invalid --timeout value 'soon'"));
  EXPECT_THAT(ParseError({"--vary=weather", "./t"}), HasSubstr("unknown source 'weather'"));
  EXPECT_THAT(ParseError({"--fail-on=(", "./t"}), HasSubstr("invalid --fail-on value '('"));
  // RE2 has no backreferences: refused at once, not at the first line.
  EXPECT_THAT(ParseError({R"(--fail-on=(a)\1)", "./t"}),
              HasSubstr(R"(invalid --fail-on value '(a)\\1': not a regular expression (RE2 syntax))"));
  EXPECT_THAT(ParseError({"--exit-code=256", "./t"}), HasSubstr("invalid --exit-code value '256'"));
  EXPECT_THAT(ParseError({"--exit-code=0", "./t"}), HasSubstr("from 1 to 255"));
  EXPECT_THAT(ParseError({"--replays=0", "./t"}), HasSubstr("invalid --replays value '0'"));
  EXPECT_THAT(ParseError({"--native-runs=x", "./t"}), HasSubstr("invalid --native-runs value 'x'"));
  // Run options get detrun's own checks and messages.
  EXPECT_EQ(ParseError({"--seed=-1", "./t"}),
            "invalid --seed value '-1': expected an unsigned 64-bit decimal integer");
  EXPECT_THAT(ParseError({"--bogus", "./t"}), HasSubstr("unknown option '--bogus'"));
  EXPECT_THAT(ParseError({"--runs"}), HasSubstr("missing value for --runs"));
  EXPECT_THAT(ParseError({"--runs", "--jobs=2", "./t"}), HasSubstr("looks like an option"));
  EXPECT_THAT(ParseError({"--runs=3"}), HasSubstr("missing command"));
  EXPECT_THAT(ParseError({"--chaos", "--"}), HasSubstr("missing command"));
}

TEST(ParseFlakyArgsTest, Help) {
  EXPECT_TRUE(ParseOk({"--help"}).help);
  EXPECT_TRUE(ParseOk({"--runs=3", "-h"}).help);
}

TEST(FailureRuleTest, NonZeroByDefault) {
  const FailureRule rule = MakeFailureRule(ParseOk({"./t"}));
  EXPECT_FALSE(rule.IsFailure(0, false, false));
  EXPECT_TRUE(rule.IsFailure(1, false, false));
  EXPECT_TRUE(rule.IsFailure(139, false, false));
  EXPECT_TRUE(rule.IsFailure(0, true, false));
  EXPECT_EQ(rule.Describe(), "exit status != 0 or a timeout");
}

// A line of kMaxLineBytes that almost matches: std::regex recursed once
// per character here and crashed; RE2 answers in linear time.
TEST(FailureRuleTest, FailOnSearchesALongLineWithoutCrashing) {
  const FailureRule rule = MakeFailureRule(ParseOk({"--fail-on=x.*y", "./t"}));
  std::string line(kMaxLineBytes, 'x');
  EXPECT_FALSE(rule.LineMatches(line));
  line.back() = 'y';
  EXPECT_TRUE(rule.LineMatches(line));
  // Perl classes, as the README's examples use them.
  EXPECT_TRUE(MakeFailureRule(ParseOk({R"(--fail-on=^\d+ tests? failed)", "./t"}))
                  .LineMatches("3 tests failed"));
}

TEST(FailureRuleTest, ExitCodeAndFailOn) {
  const FailureRule exit3 = MakeFailureRule(ParseOk({"--exit-code=3", "./t"}));
  EXPECT_TRUE(exit3.IsFailure(3, false, false));
  EXPECT_FALSE(exit3.IsFailure(1, false, false));
  const FailureRule output = MakeFailureRule(ParseOk({"--fail-on=FAIL", "./t"}));
  EXPECT_FALSE(output.IsFailure(1, false, false));
  EXPECT_TRUE(output.IsFailure(0, false, true));
  EXPECT_NE(output.fail_on, nullptr);
  EXPECT_TRUE(output.LineMatches("test FAILED"));
  EXPECT_FALSE(output.LineMatches("test passed"));
  EXPECT_FALSE(exit3.LineMatches("FAIL"));
  const FailureRule both = MakeFailureRule(ParseOk({"--fail-on=x", "--exit-code=2", "./t"}));
  EXPECT_TRUE(both.IsFailure(2, false, false));
  EXPECT_TRUE(both.IsFailure(0, false, true));
  EXPECT_FALSE(both.IsFailure(1, false, false));
  EXPECT_EQ(both.Describe(), "exit status 2, an output line matching --fail-on or a timeout");
}

TEST(FlakyHelpTextTest, DocumentsEveryOptionAndIsInDetrunsHelp) {
  const std::string help = FlakyHelpText();
  for (const char* needle :
       {"--runs=N", "--jobs=J", "--timeout=D", "--vary=SOURCES", "--fail-on=REGEX", "--exit-code=N",
        "--chaos", "--replays=N", "--native-runs=N", "TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX",
        "TEST_SHARD_STATUS_FILE", "git bisect run", "125", "Feb 29", "2038-01-19", "before 1980",
        "DST"}) {
    EXPECT_THAT(help, HasSubstr(needle));
  }
  EXPECT_THAT(HelpText(), HasSubstr(help));
  std::istringstream lines(HelpText());
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
}

}  // namespace
}  // namespace detrun
