#include "cli/options.h"

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/time_spec.h"
#include "core/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = CommandLine::Kind;

using Env = std::map<std::string, std::string>;

absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args, const Env& env = {}) {
  return ParseCommandLine(args, [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// Parses a command line that must be valid.
CommandLine ParseOk(const std::vector<std::string>& args, const Env& env = {}) {
  absl::StatusOr<CommandLine> parsed = Parse(args, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : CommandLine{};
}

// The error message of a command line that must be refused.
std::string ParseError(const std::vector<std::string>& args, const Env& env = {}) {
  absl::StatusOr<CommandLine> parsed = Parse(args, env);
  if (parsed.ok()) {
    ADD_FAILURE() << "accepted";
    return "";
  }
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

absl::Time Unix(int64_t seconds) { return absl::FromUnixSeconds(seconds); }

TEST(ParseCommandLineTest, DefaultsWithJustACommand) {
  CommandLine cl = ParseOk({"ls"});
  EXPECT_EQ(cl.kind, Kind::kRun);
  EXPECT_THAT(cl.command, ElementsAre("ls"));
  const Config& c = cl.config;
  EXPECT_EQ(c.seed, 0u);
  EXPECT_EQ(c.start_time, Unix(946684800));
  EXPECT_EQ(FormatTimeUtc(c.start_time), "2000-01-01T00:00:00Z");
  EXPECT_EQ(c.clock, ClockMode::kStep);
  EXPECT_EQ(c.tick, absl::Milliseconds(1));
  EXPECT_EQ(c.hostname, "detrun");
  EXPECT_EQ(c.cpus, 1u);
  EXPECT_EQ(c.fs_times, FsTimes::kClamp);
  EXPECT_EQ(c.dirs, DirOrder::kSorted);
  EXPECT_EQ(c.tsc, TscMode::kEmulate);
  EXPECT_FALSE(c.record_path.has_value());
  EXPECT_FALSE(c.native);
  EXPECT_THAT(c.allow_read, IsEmpty());
  EXPECT_THAT(c.allow_write, IsEmpty());
  EXPECT_FALSE(c.no_network);
  EXPECT_FALSE(c.verbose);
  EXPECT_THAT(c.explicitly_set, IsEmpty());
  EXPECT_THAT(cl.subcommand_args, IsEmpty());
}

TEST(ParseCommandLineTest, TheCommandKeepsItsOwnOptions) {
  EXPECT_THAT(ParseOk({"ls", "-l"}).command, ElementsAre("ls", "-l"));
  CommandLine cl = ParseOk({"--seed=1", "prog", "--seed=2", "--", "--bogus", "-h", "--help"});
  EXPECT_EQ(cl.config.seed, 1u);
  EXPECT_THAT(cl.command, ElementsAre("prog", "--seed=2", "--", "--bogus", "-h", "--help"));
}

TEST(ParseCommandLineTest, EveryOptionWithEquals) {
  CommandLine cl = ParseOk({"--seed=42", "--time=2020-01-01", "--clock=frozen", "--tick=250us",
                            "--hostname=box", "--cpus=8", "--fs-times=real", "--dirs=shuffle",
                            "--tsc=trap", "--record=/tmp/t.trace", "--allow-read=/usr", "--allow-write=/tmp",
                            "--no-network", "--verbose", "make", "all"});
  const Config& c = cl.config;
  EXPECT_EQ(cl.kind, Kind::kRun);
  EXPECT_THAT(cl.command, ElementsAre("make", "all"));
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.start_time, Unix(1577836800));
  EXPECT_EQ(c.clock, ClockMode::kFrozen);
  EXPECT_EQ(c.tick, absl::Microseconds(250));
  EXPECT_EQ(c.hostname, "box");
  EXPECT_EQ(c.cpus, 8u);
  EXPECT_EQ(c.fs_times, FsTimes::kReal);
  EXPECT_EQ(c.dirs, DirOrder::kShuffle);
  EXPECT_EQ(c.tsc, TscMode::kTrap);
  EXPECT_EQ(c.record_path, "/tmp/t.trace");
  EXPECT_THAT(c.allow_read, ElementsAre("/usr"));
  EXPECT_THAT(c.allow_write, ElementsAre("/tmp"));
  EXPECT_TRUE(c.no_network);
  EXPECT_TRUE(c.verbose);
  EXPECT_FALSE(c.native);
  EXPECT_EQ(c.explicitly_set,
            (std::set<std::string>{"seed", "time", "clock", "tick", "hostname", "cpus", "fs-times",
                                   "dirs", "tsc", "record", "allow-read", "allow-write",
                                   "no-network", "verbose"}));
}

TEST(ParseCommandLineTest, EveryValueOptionWithASeparateValue) {
  CommandLine cl =
      ParseOk({"--seed",       "42",    "--time",        "@-86400", "--clock",  "real",
               "--tick",       "1h",    "--hostname",    "box",     "--cpus",   "1024",
               "--fs-times",   "clamp", "--dirs",        "native",  "--record", "t.trace",
               "--allow-read", "/usr",  "--allow-write", "/tmp",    "--tsc",    "native",
               "--",           "make"});
  const Config& c = cl.config;
  EXPECT_THAT(cl.command, ElementsAre("make"));
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.start_time, Unix(-86400));
  EXPECT_EQ(c.clock, ClockMode::kReal);
  EXPECT_EQ(c.tick, absl::Hours(1));
  EXPECT_EQ(c.hostname, "box");
  EXPECT_EQ(c.cpus, 1024u);
  EXPECT_EQ(c.fs_times, FsTimes::kClamp);
  EXPECT_EQ(c.dirs, DirOrder::kNative);
  EXPECT_EQ(c.tsc, TscMode::kNative);
  EXPECT_EQ(c.record_path, "t.trace");
  EXPECT_THAT(c.allow_read, ElementsAre("/usr"));
  EXPECT_THAT(c.allow_write, ElementsAre("/tmp"));
}

TEST(ParseCommandLineTest, ExactTimes) {
  EXPECT_EQ(ParseOk({"--time=2020-01-01T12:00:00.5+02:00", "x"}).config.start_time,
            Unix(1577836800 + 10 * 3600) + absl::Milliseconds(500));
  EXPECT_EQ(ParseOk({"--time=@0", "x"}).config.start_time, absl::UnixEpoch());
  EXPECT_EQ(ParseOk({"--time", "@-86400", "x"}).config.start_time, Unix(-86400));
  EXPECT_EQ(ParseOk({"--time=2020-01-01T00:00:00.000000001Z", "x"}).config.start_time,
            Unix(1577836800) + absl::Nanoseconds(1));
}

TEST(ParseCommandLineTest, SeedRange) {
  EXPECT_EQ(ParseOk({"--seed=0", "x"}).config.seed, 0u);
  EXPECT_EQ(ParseOk({"--seed=007", "x"}).config.seed, 7u);
  EXPECT_EQ(ParseOk({"--seed=18446744073709551615", "x"}).config.seed,
            std::numeric_limits<uint64_t>::max());
  EXPECT_THAT(ParseError({"--seed=18446744073709551616", "x"}),
              HasSubstr("'18446744073709551616'"));
}

TEST(ParseCommandLineTest, CpusRangeAndTicks) {
  EXPECT_EQ(ParseOk({"--cpus=1", "x"}).config.cpus, 1u);
  EXPECT_EQ(ParseOk({"--cpus=1024", "x"}).config.cpus, 1024u);
  EXPECT_EQ(ParseOk({"--tick=1ns", "x"}).config.tick, absl::Nanoseconds(1));
  EXPECT_EQ(ParseOk({"--tick=1.5s", "x"}).config.tick, absl::Milliseconds(1500));
  EXPECT_EQ(ParseOk({"--tick=1h", "x"}).config.tick, absl::Hours(1));
}

TEST(ParseCommandLineTest, HostnameLimits) {
  const std::string longest(64, 'h');
  EXPECT_EQ(ParseOk({"--hostname=" + longest, "x"}).config.hostname, longest);
  EXPECT_EQ(ParseOk({"--hostname=build_box.example.com", "x"}).config.hostname,
            "build_box.example.com");
  EXPECT_THAT(ParseError({"--hostname=" + longest + "h", "x"}), HasSubstr(longest + "h"));
}

struct BadCase {
  std::vector<std::string> args;
  std::string expected_in_message;
};

TEST(ParseCommandLineTest, RefusesBadValuesNamingThem) {
  const std::vector<BadCase> cases = {
      {{"--time=notadate", "x"}, "invalid --time value 'notadate': expected "},
      {{"--time=2020-13-45", "x"}, "invalid --time value '2020-13-45': month 13"},
      {{"--time=2020-02-30", "x"}, "invalid --time value '2020-02-30': day 30"},
      {{"--time=2020-01-01T24:00:00", "x"}, "'2020-01-01T24:00:00'"},
      {{"--time=", "x"}, "invalid --time value ''"},
      {{"--time", "2020-01-01junk", "x"}, "'2020-01-01junk'"},
      {{"--seed=-1", "x"}, "invalid --seed value '-1': expected an unsigned 64-bit decimal"},
      {{"--seed=abc", "x"}, "invalid --seed value 'abc'"},
      {{"--seed=", "x"}, "invalid --seed value ''"},
      {{"--seed=1e3", "x"}, "'1e3'"},
      {{"--seed=+5", "x"}, "'+5'"},
      {{"--seed= 5", "x"}, "' 5'"},
      {{"--seed=0x10", "x"}, "'0x10'"},
      {{"--seed=99999999999999999999999", "x"}, "'99999999999999999999999'"},
      {{"--cpus=0", "x"}, "invalid --cpus value '0': expected an integer from 1 to 1024"},
      {{"--cpus=1025", "x"}, "invalid --cpus value '1025'"},
      {{"--cpus=-1", "x"}, "'-1'"},
      {{"--cpus=two", "x"}, "'two'"},
      {{"--cpus=18446744073709551617", "x"}, "'18446744073709551617'"},
      {{"--clock=bogus", "x"}, "invalid --clock value 'bogus': expected one of step, frozen, real"},
      {{"--clock=STEP", "x"}, "'STEP'"},
      {{"--fs-times=bogus", "x"}, "invalid --fs-times value 'bogus': expected one of clamp, real"},
      {{"--dirs=random", "x"},
       "invalid --dirs value 'random': expected one of sorted, shuffle, native"},
      {{"--tick=0", "x"}, "invalid --tick value '0'"},
      {{"--tick=-1ms", "x"}, "'-1ms'"},
      {{"--tick=2h", "x"}, "'2h'"},
      {{"--tick=inf", "x"}, "'inf'"},
      {{"--tick=1", "x"}, "'1'"},
      {{"--tick=fast", "x"}, "'fast'"},
      {{"--tick=0.5ns", "x"}, "'0.5ns'"},
      {{"--hostname=", "x"}, "invalid --hostname value ''"},
      {{"--hostname=a/b", "x"}, "'a/b'"},
      {{"--hostname=a b", "x"}, "'a b'"},
      {{"--hostname=a\tb", "x"}, "'a\\tb'"},
      {{"--hostname=" + std::string("a\0b", 3), "x"}, "'a\\x00\\x62'"},
      {{"--hostname=h\xc3\xa9", "x"}, "'h\\xc3\\xa9'"},
      {{"--record=", "x"}, "invalid --record value ''"},
      {{"--allow-read=", "x"}, "invalid --allow-read value ''"},
      {{"--allow-write=", "x"}, "invalid --allow-write value ''"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.args[0]);
    EXPECT_THAT(ParseError(c.args), HasSubstr(c.expected_in_message));
  }
}

TEST(ParseCommandLineTest, ExactMessages) {
  EXPECT_EQ(ParseError({"--seed=-1", "x"}),
            "invalid --seed value '-1': expected an unsigned 64-bit decimal integer");
  EXPECT_EQ(ParseError({}), "missing command (usage: detrun [OPTIONS] [--] COMMAND [ARG...])");
  EXPECT_EQ(ParseError({"--bogus", "x"}), "unknown option '--bogus' (see detrun --help)");
  EXPECT_EQ(ParseError({"--seed"}), "missing value for --seed (write --seed=VALUE)");
  EXPECT_EQ(ParseError({"--verbose=1", "x"}),
            "option --verbose takes no value (got '--verbose=1')");
  EXPECT_EQ(ParseError({"--native", "--seed=1", "x"}),
            "--native runs without interception; it cannot be combined with --seed");
}

// --report-leaks takes an optional value, only after '='.
TEST(ParseCommandLineTest, ReportLeaksAndStrict) {
  CommandLine plain = ParseOk({"ls"});
  EXPECT_FALSE(plain.config.report_leaks.has_value());
  EXPECT_FALSE(plain.config.strict);
  EXPECT_FALSE(plain.config.leak_checks());

  CommandLine to_stderr = ParseOk({"--report-leaks", "leaks.txt"});
  EXPECT_EQ(to_stderr.config.report_leaks, "");
  EXPECT_THAT(to_stderr.command, ElementsAre("leaks.txt"));  // never the value
  EXPECT_TRUE(to_stderr.config.leak_checks());

  CommandLine to_file = ParseOk({"--report-leaks=out/leaks.txt", "--strict", "--", "make"});
  EXPECT_EQ(to_file.config.report_leaks, "out/leaks.txt");
  EXPECT_TRUE(to_file.config.strict);
  EXPECT_EQ(to_file.config.explicitly_set, (std::set<std::string>{"report-leaks", "strict"}));

  CommandLine strict = ParseOk({"--strict", "true"});
  EXPECT_FALSE(strict.config.report_leaks.has_value());
  EXPECT_TRUE(strict.config.leak_checks());
  CommandLine record = ParseOk({"--record=t", "true"});
  EXPECT_TRUE(record.config.leak_checks());

  EXPECT_EQ(ParseError({"--report-leaks=", "x"}),
            "invalid --report-leaks value '': expected a file path (or no '=' for stderr)");
  EXPECT_EQ(ParseError({"--strict=1", "x"}), "option --strict takes no value (got '--strict=1')");
  EXPECT_EQ(ParseError({"--native", "--report-leaks", "x"}),
            "--native runs without interception; it cannot be combined with --report-leaks");
  EXPECT_EQ(ParseError({"--native", "--strict", "x"}),
            "--native runs without interception; it cannot be combined with --strict");
  EXPECT_EQ(RunOptionTakesValue("report-leaks"), false);
  EXPECT_TRUE(RunOptionValueOptional("report-leaks"));
  EXPECT_FALSE(RunOptionValueOptional("record"));
}

TEST(ParseCommandLineTest, RefusesMalformedCommandLines) {
  const std::vector<BadCase> cases = {
      {{"--bogus", "x"}, "unknown option '--bogus'"},
      {{"--bogus=3", "x"}, "unknown option '--bogus'"},
      {{"--Seed=1", "x"}, "unknown option '--Seed'"},
      {{"--se=1", "x"}, "unknown option '--se'"},  // no abbreviations
      {{"-v", "x"}, "unknown option '-v'"},
      {{"-seed=1", "x"}, "unknown option '-seed=1'"},
      {{"-hv", "x"}, "unknown option '-hv'"},
      {{"---seed=1", "x"}, "unknown option '---seed'"},
      {{"--=1", "x"}, "unknown option '--=1'"},
      {{"--seed"}, "missing value for --seed"},
      {{"--verbose", "--time"}, "missing value for --time"},
      {{"--record", "--verbose", "x"}, "missing value for --record: the next argument '--verbose'"},
      {{"--seed", "--", "x"}, "missing value for --seed: the next argument '--'"},
      {{"--verbose=1", "x"}, "'--verbose=1'"},
      {{"--verbose=", "x"}, "'--verbose='"},
      {{"--native=yes", "x"}, "'--native=yes'"},
      {{"--no-network=true", "x"}, "'--no-network=true'"},
      {{"--help=1"}, "'--help=1'"},
      {{"--version=1"}, "'--version=1'"},
      {{}, "missing command"},
      {{"--seed=1"}, "missing command"},
      {{"--seed=1", "--"}, "missing command"},
      {{"--"}, "missing command"},
      {{""}, "invalid command '': the command name is empty"},
      {{"--", ""}, "invalid command ''"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.args));
    EXPECT_THAT(ParseError(c.args), HasSubstr(c.expected_in_message));
  }
}

TEST(ParseCommandLineTest, DoubleDashEndsOptions) {
  CommandLine cl = ParseOk({"--", "--seed=3"});
  EXPECT_EQ(cl.config.seed, 0u);
  EXPECT_THAT(cl.command, ElementsAre("--seed=3"));
  EXPECT_THAT(ParseOk({"--seed", "5", "--", "ls", "--"}).command, ElementsAre("ls", "--"));
  EXPECT_THAT(ParseOk({"--", "--"}).command, ElementsAre("--"));
  EXPECT_THAT(ParseOk({"--", "-h"}).command, ElementsAre("-h"));
  // A separate value may itself look like a command word or "-".
  CommandLine record = ParseOk({"--record", "-", "ls"});
  EXPECT_EQ(record.config.record_path, "-");
  EXPECT_THAT(record.command, ElementsAre("ls"));
  // A value starting with "--" is allowed with '='.
  EXPECT_EQ(ParseOk({"--record=--verbose", "ls"}).config.record_path, "--verbose");
}

TEST(ParseCommandLineTest, ALoneDashIsTheCommand) {
  EXPECT_THAT(ParseOk({"-", "a"}).command, ElementsAre("-", "a"));
}

TEST(ParseCommandLineTest, RepeatedOptionsOverrideOrAccumulate) {
  CommandLine cl = ParseOk({"--seed=1", "--seed", "2", "--allow-read=/a", "--allow-read", "/b",
                            "--allow-write=/c", "--allow-write=/d", "x"});
  EXPECT_EQ(cl.config.seed, 2u);
  EXPECT_THAT(cl.config.allow_read, ElementsAre("/a", "/b"));
  EXPECT_THAT(cl.config.allow_write, ElementsAre("/c", "/d"));
}

TEST(ParseCommandLineTest, SubcommandOnlyAsFirstArgument) {
  for (const std::string name : {"diff", "show", "replay", "flaky", "repro"}) {
    SCOPED_TRACE(name);
    CommandLine cl = ParseOk({name, "a", "--seed=1", "--", "b"});
    EXPECT_EQ(cl.kind, Kind::kSubcommand);
    EXPECT_EQ(cl.subcommand, name);
    EXPECT_THAT(cl.subcommand_args, ElementsAre("a", "--seed=1", "--", "b"));
    EXPECT_THAT(cl.command, IsEmpty());

    CommandLine after_dashes = ParseOk({"--", name, "a"});
    EXPECT_EQ(after_dashes.kind, Kind::kRun);
    EXPECT_THAT(after_dashes.command, ElementsAre(name, "a"));

    CommandLine after_option = ParseOk({"--seed=1", name, "a"});
    EXPECT_EQ(after_option.kind, Kind::kRun);
    EXPECT_EQ(after_option.config.seed, 1u);
    EXPECT_THAT(after_option.command, ElementsAre(name, "a"));
  }
  CommandLine bare = ParseOk({"show"});
  EXPECT_EQ(bare.kind, Kind::kSubcommand);
  EXPECT_THAT(bare.subcommand_args, IsEmpty());
  EXPECT_EQ(ParseOk({"differ"}).kind, Kind::kRun);
  EXPECT_EQ(ParseOk({"Diff"}).kind, Kind::kRun);
  EXPECT_EQ(ParseOk({"./diff"}).kind, Kind::kRun);
  // A subcommand's arguments are its own business, $SOURCE_DATE_EPOCH too.
  EXPECT_EQ(ParseOk({"diff"}, {{"SOURCE_DATE_EPOCH", "abc"}}).kind, Kind::kSubcommand);
}

TEST(ParseCommandLineTest, HelpAndVersion) {
  EXPECT_EQ(ParseOk({"--help"}).kind, Kind::kHelp);
  EXPECT_EQ(ParseOk({"-h"}).kind, Kind::kHelp);
  EXPECT_EQ(ParseOk({"--version"}).kind, Kind::kVersion);
  EXPECT_EQ(ParseOk({"--seed=1", "--help"}).kind, Kind::kHelp);
  EXPECT_EQ(ParseOk({"--help", "--bogus"}).kind, Kind::kHelp);
  EXPECT_EQ(ParseOk({"--version", "ls"}).kind, Kind::kVersion);
  EXPECT_EQ(ParseOk({"--help"}, {{"SOURCE_DATE_EPOCH", "abc"}}).kind, Kind::kHelp);
  // Left to right: an earlier error wins.
  EXPECT_THAT(ParseError({"--bogus", "--help"}), HasSubstr("'--bogus'"));
  // After the command starts, --help is the command's.
  CommandLine cl = ParseOk({"ls", "--help"});
  EXPECT_EQ(cl.kind, Kind::kRun);
  EXPECT_THAT(cl.command, ElementsAre("ls", "--help"));
}

TEST(ParseCommandLineTest, SourceDateEpochIsTheDefaultStart) {
  CommandLine cl = ParseOk({"make"}, {{"SOURCE_DATE_EPOCH", "1577836800"}});
  EXPECT_EQ(cl.config.start_time, Unix(1577836800));
  EXPECT_FALSE(cl.config.explicitly_set.contains("time"));
  EXPECT_EQ(ParseOk({"make"}, {{"SOURCE_DATE_EPOCH", "-86400"}}).config.start_time, Unix(-86400));
  // Empty counts as unset.
  EXPECT_EQ(ParseOk({"make"}, {{"SOURCE_DATE_EPOCH", ""}}).config.start_time, Unix(946684800));
  // Other variables are not consulted.
  EXPECT_EQ(ParseOk({"make"}, {{"SOURCE_DATE_EPOCH_X", "5"}}).config.start_time, Unix(946684800));
}

TEST(ParseCommandLineTest, TimeOptionWinsOverSourceDateEpoch) {
  EXPECT_EQ(ParseOk({"--time=@0", "make"}, {{"SOURCE_DATE_EPOCH", "1577836800"}}).config.start_time,
            absl::UnixEpoch());
  // It wins even over an invalid value, which is then never read.
  EXPECT_EQ(
      ParseOk({"--time", "2020-01-01", "make"}, {{"SOURCE_DATE_EPOCH", "abc"}}).config.start_time,
      Unix(1577836800));
}

TEST(ParseCommandLineTest, InvalidSourceDateEpochIsAnError) {
  for (const std::string value :
       {"abc", "1.5", "+5", " 1", "1e3", "2020-01-01", "@0", "99999999999999999999"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(ParseError({"make"}, {{"SOURCE_DATE_EPOCH", value}}),
                HasSubstr("invalid $SOURCE_DATE_EPOCH value '" + value + "': "));
  }
  EXPECT_EQ(ParseError({"make"}, {{"SOURCE_DATE_EPOCH", "abc"}}),
            "invalid $SOURCE_DATE_EPOCH value 'abc': expected an integer number of seconds "
            "since 1970-01-01T00:00:00Z, as `date +%s` prints it");
}

TEST(ParseCommandLineTest, ExplicitlySetNamesOnlyWhatWasGiven) {
  CommandLine cl = ParseOk({"--seed=0", "--verbose", "--allow-read", "/a", "--allow-read=/b",
                            "--hostname", "detrun", "ls", "--cpus=4"});
  // Giving the default value still counts; options of the command do not.
  EXPECT_EQ(cl.config.explicitly_set,
            (std::set<std::string>{"seed", "verbose", "allow-read", "hostname"}));
  EXPECT_EQ(cl.config.cpus, 1u);
  EXPECT_EQ(ParseOk({"--native", "ls"}).config.explicitly_set, (std::set<std::string>{"native"}));
}

TEST(ParseCommandLineTest, NativeRefusesEveryInterceptionOption) {
  const std::vector<std::string> conflicting = {
      "--seed=1",     "--time=@0",      "--clock=real",       "--tick=1ms",
      "--hostname=h", "--cpus=2",       "--fs-times=real",    "--dirs=native",
      "--record=t",   "--allow-read=/", "--allow-write=/tmp", "--no-network"};
  for (const std::string& option : conflicting) {
    SCOPED_TRACE(option);
    const std::string name = option.substr(2, option.find('=') - 2);
    const std::string expected =
        "--native runs without interception; it cannot be combined with --" + name;
    EXPECT_EQ(ParseError({"--native", option, "x"}), expected);
    EXPECT_EQ(ParseError({option, "--native", "x"}), expected);
  }
  // The first conflicting option on the command line is named.
  EXPECT_THAT(ParseError({"--cpus=2", "--native", "--seed=1", "x"}), HasSubstr("--cpus"));
}

TEST(ParseCommandLineTest, StrictTscIsTscTrap) {
  EXPECT_EQ(ParseOk({"--strict-tsc", "x"}).config.tsc, TscMode::kTrap);
  EXPECT_EQ(ParseOk({"--strict-tsc", "--tsc=native", "x"}).config.tsc, TscMode::kNative);
}

TEST(ParseCommandLineTest, ChaosSeed) {
  EXPECT_FALSE(ParseOk({"x"}).config.chaos_seed.has_value());
  EXPECT_EQ(ParseOk({"--chaos=7", "x"}).config.chaos_seed, 7u);
  EXPECT_EQ(ParseOk({"--chaos", "18446744073709551615", "x"}).config.chaos_seed,
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseError({"--chaos=-1", "x"}),
            "invalid --chaos value '-1': expected an unsigned 64-bit decimal integer");
  EXPECT_EQ(ParseError({"--native", "--chaos=1", "x"}),
            "--native runs without interception; it cannot be combined with --chaos");
}

TEST(ParseCommandLineTest, NativeAlone) {
  CommandLine cl = ParseOk({"--native", "--verbose", "make"}, {{"SOURCE_DATE_EPOCH", "abc"}});
  EXPECT_TRUE(cl.config.native);
  EXPECT_TRUE(cl.config.verbose);
  EXPECT_THAT(cl.command, ElementsAre("make"));
  // $SOURCE_DATE_EPOCH is the command's business under --native.
  EXPECT_EQ(cl.config.start_time, Unix(946684800));
}

TEST(HelpTextTest, DocumentsEveryOptionAndExitCode) {
  const std::string help = HelpText();
  for (const char* needle : {"detrun [OPTIONS] [--] COMMAND [ARG...]",
                             "--seed=N",
                             "--time=T",
                             "--clock=MODE",
                             "step",
                             "frozen",
                             "real",
                             "--tick=DURATION",
                             "--hostname=NAME",
                             "--cpus=N",
                             "--fs-times=MODE",
                             "clamp",
                             "--dirs=ORDER",
                             "sorted",
                             "shuffle",
                             "native",
                             "--record=FILE",
                             "--report-leaks[=FILE]",
                             "--strict",
                             "--chaos=SEED",
                             "--native",
                             "--allow-read=PATH",
                             "--allow-write=PATH",
                             "--no-network",
                             "--verbose",
                             "-h, --help",
                             "--version",
                             "YYYY-MM-DD",
                             "YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]",
                             "@EPOCH_SECONDS",
                             "2000-01-01T00:00:00Z",
                             "SOURCE_DATE_EPOCH",
                             "diff A B",
                             "show A",
                             "replay A",
                             "flaky",
                             "repro",
                             "128+N",
                             "125",
                             "126",
                             "127",
                             "SIGKILL",
                             "18446744073709551615",
                             "1 to 1024",
                             "Default 1ms",
                             "Default detrun"}) {
    EXPECT_THAT(help, HasSubstr(needle));
  }
  EXPECT_EQ(help.back(), '\n');
}

TEST(HelpTextTest, FitsInEightyColumns) {
  std::istringstream lines(HelpText());
  std::string line;
  while (std::getline(lines, line)) {
    size_t columns = 0;
    for (unsigned char c : line) columns += (c & 0xC0) != 0x80;  // UTF-8 code points
    EXPECT_LE(columns, 80u) << line;
  }
}

TEST(VersionTextTest, NamesTheVersion) {
  const std::string version = VersionText();
  EXPECT_THAT(version, ::testing::StartsWith("detrun 0.1.0\n"));
  EXPECT_EQ(version.back(), '\n');
}

}  // namespace
}  // namespace detrun
