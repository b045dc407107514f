#include "cli/flaky_options.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/subcommand_args.h"
#include "re2/re2.h"

namespace detrun {
namespace {

const std::vector<OwnOption>& FlakyOwnOptions() {
  static const auto* kOptions = new std::vector<OwnOption>{
      {"runs", true},        {"jobs", true},      {"timeout", true}, {"vary", true},
      {"fail-on", true},     {"exit-code", true}, {"chaos", false},  {"replays", true},
      {"native-runs", true}, {"record", false},
  };
  return *kOptions;
}

absl::Status InvalidValue(const std::string& name, const std::string& value,
                          absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid --", name, " value '", absl::CHexEscape(value), "': ", expected));
}

}  // namespace

absl::StatusOr<FlakyOptions> ParseFlakyArgs(const std::vector<std::string>& args,
                                            const std::function<const char*(const char*)>& getenv) {
  absl::StatusOr<SubcommandArgs> parsed =
      ParseSubcommandArgs("flaky", args, FlakyOwnOptions(), getenv);
  if (!parsed.ok()) return parsed.status();
  FlakyOptions o;
  if (parsed->help) {
    o.help = true;
    return o;
  }
  std::optional<SourceSet> vary;
  for (const auto& [name, value] : parsed->own) {
    uint64_t n = 0;
    if (name == "runs") {
      if (auto s = ParseOwnInteger(name, value, 1, 1'000'000, &o.runs); !s.ok()) return s;
    } else if (name == "jobs") {
      if (auto s = ParseOwnInteger(name, value, 1, 1024, &n); !s.ok()) return s;
      o.jobs = static_cast<int>(n);
    } else if (name == "timeout") {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration() ||
          d == absl::InfiniteDuration()) {
        return InvalidValue(name, value,
                            "expected a positive duration in Abseil syntax, such as 30s or 10m");
      }
      o.timeout = d;
    } else if (name == "vary") {
      absl::StatusOr<SourceSet> v = ParseVary(value);
      if (!v.ok()) return v.status();
      vary = *v;
    } else if (name == "fail-on") {
      if (value.empty()) return InvalidValue(name, value, "expected a regular expression");
      const re2::RE2 compiled(re2::StringPiece(value.data(), value.size()), re2::RE2::Quiet);
      if (!compiled.ok()) {
        return InvalidValue(name, value,
                            absl::StrCat("not a regular expression (RE2 syntax): ", compiled.error()));
      }
      o.fail_on = value;
    } else if (name == "exit-code") {
      if (auto s = ParseOwnInteger(name, value, 1, 255, &n); !s.ok()) return s;
      o.exit_code = static_cast<int>(n);
    } else if (name == "chaos") {
      o.chaos = true;
    } else if (name == "replays") {
      if (auto s = ParseOwnInteger(name, value, 1, 100, &n); !s.ok()) return s;
      o.replays = static_cast<int>(n);
    } else if (name == "native-runs") {
      if (auto s = ParseOwnInteger(name, value, 0, 1000, &n); !s.ok()) return s;
      o.native_runs = static_cast<int>(n);
    } else if (name == "record") {
      o.record = true;
    }
  }

  const Config& config = parsed->config;
  if (config.native) {
    return absl::InvalidArgumentError(
        "--native cannot be given to detrun flaky: it runs the command natively by itself "
        "(see --native-runs)");
  }

  if (vary) {
    for (Source s : vary->members()) {
      if (config.explicitly_set.contains(FixingOption(s))) {
        return absl::InvalidArgumentError(absl::StrCat("--", FixingOption(s), " fixes what --vary=",
                                                       SourceName(s), " varies: drop one of them"));
      }
    }
    o.vary = *vary;
  } else {
    for (Source s : kAllSources) {
      if (s == Source::kChaos) continue;
      if (config.explicitly_set.contains(FixingOption(s))) {
        o.not_varied.push_back(absl::StrCat(SourceName(s), ": fixed by --", FixingOption(s)));
      } else {
        o.vary.insert(s);
      }
    }
  }
  o.run_options = parsed->run_options;
  o.config = config;
  o.command = parsed->command;
  return o;
}

bool FailureRule::IsFailure(int status, bool timed_out, bool output_matched) const {
  if (timed_out) return true;
  if (exit_code && status == *exit_code) return true;
  if (any_nonzero && status != 0) return true;
  return fail_on && output_matched;
}

bool FailureRule::LineMatches(std::string_view line) const {
  return fail_on != nullptr &&
         re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *fail_on);
}

std::string FailureRule::Describe() const {
  std::vector<std::string> parts;
  if (exit_code) parts.push_back(absl::StrCat("exit status ", *exit_code));
  if (any_nonzero) parts.push_back("exit status != 0");
  if (fail_on) parts.push_back("an output line matching --fail-on");
  parts.push_back("a timeout");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " or " : ", ";
    out += parts[i];
  }
  return out;
}

FailureRule MakeFailureRule(const FlakyOptions& options) {
  FailureRule rule;
  rule.exit_code = options.exit_code;
  rule.any_nonzero = !options.exit_code && !options.fail_on;
  if (options.fail_on) {
    rule.fail_on = std::make_shared<const re2::RE2>(
        re2::StringPiece(options.fail_on->data(), options.fail_on->size()), re2::RE2::Quiet);
  }
  return rule;
}

std::string FlakyHelpText() {
  return R"(detrun flaky [OPTIONS] [--] COMMAND [ARG...]
  Hunts a flaky test. Runs COMMAND natively a few times, then under detrun
  in many configurations (in parallel), re-runs each failing configuration
  to prove it fails every time, finds which source makes it fail (culprit:
  random, time, dirs, cpus, hostname; scheduling when none does) and prints
  a one-line reproducer. Exit 1 when a run failed, 0 when none did, 125
  when COMMAND cannot be tested (not found; detrun itself failed) or on a
  usage error, as `git bisect run` reads them:
    git bisect run detrun flaky --runs=200 -- make check
  --runs=N            Configurations to sweep, 1 to 1000000. Default 100.
                      Configuration 0 is plain detrun; each other one
                      changes every varied source.
  --jobs=J            Runs at a time, 1 to 1024. Default: the number of
                      CPUs this process may run on.
  --timeout=D         A run still going after D fails (SIGTERM, then
                      SIGKILL), e.g. 30s or 10m. Default 10m.
  --vary=SOURCES      What changes between configurations, a comma list:
                        random    the seed (configuration i has seed i)
                        time      start times, interesting ones first:
                                  Feb 29, month and year ends, DST changes,
                                  2038-01-19, before 1980, ...
                        dirs      --dirs=shuffle
                        cpus      CPU counts from 1 to 1024
                        hostname  short, long, dotted and upper-case names
                      or all. Default: all, less any source a run option
                      fixes (--seed, --time, --dirs, --cpus, --hostname).
  --fail-on=REGEX     A run fails when a line of its output (stdout or
                      stderr) matches REGEX (RE2 syntax: Perl-like, with
                      no backreferences or lookaround). Alone, it
                      replaces the exit status test.
  --exit-code=N       A run fails when it exits with status N (1 to 255),
                      rather than with any non-zero status.
                      A run that times out always fails.
  --chaos             Run each configuration with --chaos=SEED too: seeded
                      delays at futex, poll and socket calls, to surface
                      races. The chaos seed is part of the reproducer.
  --replays=N         Re-runs of each failing configuration (and of the
                      passing one it is compared with), 1 to 100. Default 3.
  --native-runs=N     Runs with no interception at all, first; 0 to 1000.
                      Default 5.
  --record            Once the culprit is found, record the reproducer and
                      the passing configuration it was compared with
                      (--record=FILE, kept under $TMPDIR) and print what
                      `detrun diff` says of the two: where they diverge.
  Run options (--clock, --tick, --fs-times, --allow-read, ...) go to every
  run under detrun. Under Bazel's test sharding (TEST_TOTAL_SHARDS,
  TEST_SHARD_INDEX) shard k of n runs the configurations i with i % n == k
  and touches TEST_SHARD_STATUS_FILE.
)";
}

}  // namespace detrun
