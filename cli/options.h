// Command-line parsing: turns detrun's argv and environment into a
// CommandLine (what to do) holding a Config (how to run it).
//
// Life of a command line:
//   1. main() calls ParseCommandLine(argv[1..], getenv). Nothing else reads
//      argv or the environment for options; the parser has no global state
//      and performs no I/O, so it is tested as a plain function.
//   2. On error it returns InvalidArgument with one line naming the bad
//      word ("invalid --seed value '-1': expected ..."); main prints
//      "detrun: <message>" to stderr and exits 125.
//   3. Otherwise main dispatches on CommandLine::kind: print HelpText() or
//      VersionText() to stdout and exit 0, hand subcommand_args to the
//      subcommand, or hand config + command to the runner.
//
// Grammar (users' scripts depend on it; keep it stable):
//   detrun [OPTIONS] [--] COMMAND [ARG...]
//   detrun SUBCOMMAND [ARG...]        SUBCOMMAND: diff show replay flaky repro
//   detrun --help | -h | --version
// - Options are long only (plus -h). A value is given as --opt=VALUE or
//   --opt VALUE; in the second form a VALUE starting with "--" is refused
//   (it is almost always a forgotten value) — write --opt=--x to mean it.
//   Boolean options refuse "=VALUE". No abbreviations: a new option must
//   never change what an old abbreviation meant.
// - Options end at "--" or at the first word that does not start with '-'
//   ("-" alone counts as such a word). Everything from there on is the
//   command, untouched: in `detrun ls -l`, "-l" belongs to ls.
// - A subcommand is recognised only as the very first argument. After any
//   option or "--" the same word is a program: `detrun --seed=1 diff a b`
//   and `detrun -- diff a b` run diff(1) under detrun.
// - Left to right: the first error wins; --help / --version end parsing at
//   once (`detrun --help --bogus` prints help). A repeated option overrides
//   the earlier one, except --allow-read/--allow-write, which accumulate.
// - $SOURCE_DATE_EPOCH, when set and non-empty, is the default start time;
//   --time overrides it (then it is not parsed at all). With --native it is
//   not read either: the command gets it untouched, like everything else.
//
// Why not absl::flags? It exits with its own status on a bad flag (detrun
// promises 125 for every usage error, so that 1-124 and 126-255 always come
// from the command); it keeps parsing flags after the first positional
// argument, which a wrapper must not do (`detrun ls -l` runs `ls -l`); and
// its flags are process-wide globals, which fits neither subcommands with
// their own options nor tests that parse many command lines. So the parser
// here is small and hand-written, and Abseil parses the values (numbers,
// absl::Duration, absl::Time).
#ifndef DETRUN_CLI_OPTIONS_H_
#define DETRUN_CLI_OPTIONS_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"

namespace detrun {

inline constexpr char kDetrunVersion[] = "0.1.0";
inline constexpr char kUsage[] = "detrun [OPTIONS] [--] COMMAND [ARG...]";

struct CommandLine {
  enum class Kind { kRun, kHelp, kVersion, kSubcommand };
  Kind kind = Kind::kRun;
  // kSubcommand: one of "diff", "show", "replay", "flaky", "repro".
  std::string subcommand;
  // kRun: the run's configuration. Defaults otherwise.
  Config config;
  // kRun: argv of the command; never empty, command[0] never empty.
  std::vector<std::string> command;
  // kSubcommand: the arguments after the subcommand name, unparsed.
  std::vector<std::string> subcommand_args;
};

// `args` is argv without argv[0]. `getenv` looks up an environment variable
// (nullptr when unset); pass ::getenv in main, a fake in tests.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const std::function<const char*(const char*)>& getenv);

// For subcommands that hand run options on to the runs they start
// (cli/subcommand_args.h): nullopt when `name` (without "--") is not a run
// option, else whether it takes a value. --help and --version are not run
// options.
std::optional<bool> RunOptionTakesValue(std::string_view name);
// Whether run option `name` takes an optional value: --name or --name=VALUE
// (--report-leaks), never a separate argument.
bool RunOptionValueOptional(std::string_view name);

// The value of option `name` given as the next argument ("--opt VALUE"):
// a view of args[*i + 1], with *i moved onto it; an error when there is none or it
// starts with "--" (almost always a forgotten value). Shared by detrun and
// its subcommands.
absl::StatusOr<std::string_view> SeparateValue(const std::vector<std::string>& args,
                                               size_t* i, std::string_view name);

// The command that starts at args[first]: an error naming `usage` when
// there is none or its name is empty. Shared by detrun and its subcommands.
absl::StatusOr<std::vector<std::string>> CommandFrom(const std::vector<std::string>& args,
                                                     size_t first, std::string_view usage);

// The full --help text, ending with a newline.
std::string HelpText();

// "detrun 0.1.0" and a one-line description, ending with a newline.
std::string VersionText();

}  // namespace detrun

#endif  // DETRUN_CLI_OPTIONS_H_
