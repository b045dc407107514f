// Arguments of the subcommands that run a command under detrun many times
// (`detrun flaky`, `detrun repro`):
//
//   detrun SUBCOMMAND [OPTIONS] [--] COMMAND [ARG...]
//
// OPTIONS mixes the subcommand's own options with detrun's run options
// (--clock, --tick, --fs-times, --allow-read, ...), which are handed on to
// every run. The grammar is detrun's own (cli/options.h): options end at
// "--" or at the first word that does not start with '-'; a value is given
// as --opt=VALUE or --opt VALUE (a VALUE starting with "--" only in the
// first form); flags refuse "=VALUE". The run options are validated by
// ParseCommandLine, so a bad one fails here, before anything runs, with the
// same message `detrun` itself would print.
#ifndef DETRUN_CLI_SUBCOMMAND_ARGS_H_
#define DETRUN_CLI_SUBCOMMAND_ARGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"

namespace detrun {

struct OwnOption {
  std::string_view name;  // without "--"
  bool takes_value;
};

struct SubcommandArgs {
  bool help = false;  // -h or --help was given: nothing else was parsed
  // The subcommand's own options in command-line order: (name, value);
  // the value is "" for flags.
  std::vector<std::pair<std::string, std::string>> own;
  // The run options, each as one word "--name=value" or "--name".
  std::vector<std::string> run_options;
  // The run options parsed, as a plain run with them would use them.
  Config config;
  std::vector<std::string> command;  // never empty
};

// `args` are the words after the subcommand's name. Errors are
// InvalidArgument with one line naming the bad word.
absl::StatusOr<SubcommandArgs> ParseSubcommandArgs(
    std::string_view subcommand, const std::vector<std::string>& args,
    const std::vector<OwnOption>& own_options,
    const std::function<const char*(const char*)>& getenv);

// A subcommand option's integer value: decimal digits only, as detrun
// reads numbers (no sign, no spaces), from `low` to `high`; otherwise
// InvalidArgument "invalid --NAME value 'VALUE': expected an integer from
// LOW to HIGH".
absl::Status ParseOwnInteger(const std::string& name, const std::string& value, uint64_t low,
                             uint64_t high, uint64_t* out);

// A line of the subcommand's report to stdout, flushed at once so that it
// keeps its place among the runs' own output.
void SayLine(const std::string& line);

// A progress line to stderr: "SUBCOMMAND: LINE".
void LogLine(std::string_view subcommand, const std::string& line);

// The path of the running detrun, for the runs a subcommand starts.
inline constexpr char kSelfExe[] = "/proc/self/exe";

}  // namespace detrun

#endif  // DETRUN_CLI_SUBCOMMAND_ARGS_H_
