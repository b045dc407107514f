// `detrun flaky`'s command line, parsed into FlakyOptions (a pure
// function, tested on its own; cli/flaky.h runs the hunt).
//
//   detrun flaky [--runs=N] [--jobs=J] [--timeout=D] [--vary=SOURCES]
//                [--fail-on=REGEX] [--exit-code=N] [--chaos] [--replays=N]
//                [--native-runs=N] [--record] [RUN OPTIONS] [--] COMMAND [ARG...]
//
// RUN OPTIONS (detrun's own, e.g. --clock=frozen or --allow-read=/usr)
// go to every run under detrun. One that fixes a source (--seed, --time,
// --dirs, --cpus, --hostname) takes that source out of the default --vary
// and may not be combined with a --vary that names it. --native is refused
// (flaky runs natively by itself: --native-runs), and --record is flaky's
// own flag (it records the reproducer and its reference itself).
#ifndef DETRUN_CLI_FLAKY_OPTIONS_H_
#define DETRUN_CLI_FLAKY_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/flaky_plan.h"
#include "core/config.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace detrun {

struct FlakyOptions {
  bool help = false;
  uint64_t runs = 100;
  int jobs = 0;  // 0: as many as this process may use CPUs
  absl::Duration timeout = absl::Minutes(10);
  SourceSet vary;  // what the sweep varies, after the rules above
  // Sources left out of the default --vary and why ("random: fixed by
  // --seed"), for the report.
  std::vector<std::string> not_varied;
  std::optional<std::string> fail_on;  // RE2 regex, searched for in each line
  std::optional<int> exit_code;        // 1-255
  bool chaos = false;
  int replays = 3;                       // re-runs of each failing configuration
  int native_runs = 5;                   // runs with no interception at all
  bool record = false;                   // record and diff the reproducer and its reference
  std::vector<std::string> run_options;  // "--name=value" words
  Config config;                         // the run options parsed
  std::vector<std::string> command;
};

// `args` are the words after "flaky".
absl::StatusOr<FlakyOptions> ParseFlakyArgs(const std::vector<std::string>& args,
                                            const std::function<const char*(const char*)>& getenv);

// What counts as a failed run under `options`: a timeout; an exit status
// of exactly --exit-code when given, any non-zero status when neither
// --exit-code nor --fail-on is given; an output line matching --fail-on.
struct FailureRule {
  std::optional<int> exit_code;
  bool any_nonzero = true;
  // --fail-on, compiled; null without it. RE2 (github.com/google/re2),
  // not std::regex: RE2 searches in time linear in the line's length, where
  // libstdc++'s backtracking recursed once per character and overflowed
  // the stack on a long line ("x.*y" over 64 KB of output crashed detrun).
  std::shared_ptr<const re2::RE2> fail_on;
  bool IsFailure(int status, bool timed_out, bool output_matched) const;
  // Whether `line` holds a match of --fail-on anywhere (false without it).
  bool LineMatches(std::string_view line) const;
  std::string Describe() const;  // "exit status != 0", for the report
};
FailureRule MakeFailureRule(const FlakyOptions& options);

// `detrun flaky --help`; also part of `detrun --help`.
std::string FlakyHelpText();

}  // namespace detrun

#endif  // DETRUN_CLI_FLAKY_OPTIONS_H_
