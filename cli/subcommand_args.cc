#include "cli/subcommand_args.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/options.h"
#include "cli/time_spec.h"

namespace detrun {
void SayLine(const std::string& line) {
  fputs(line.c_str(), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

void LogLine(std::string_view subcommand, const std::string& line) {
  fputs(absl::StrCat(std::string(subcommand), ": ", line, "\n").c_str(), stderr);
}

absl::Status ParseOwnInteger(const std::string& name, const std::string& value, uint64_t low,
                             uint64_t high, uint64_t* out) {
  bool digits = !value.empty();
  for (char c : value) digits &= c >= '0' && c <= '9';
  if (!digits || !absl::SimpleAtoi(value, out) || *out < low || *out > high) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --", name, " value ", QuoteValue(value),
                                                   ": expected an integer from ", low, " to ",
                                                   high));
  }
  return absl::OkStatus();
}

absl::StatusOr<SubcommandArgs> ParseSubcommandArgs(
    std::string_view subcommand, const std::vector<std::string>& args,
    const std::vector<OwnOption>& own_options,
    const std::function<const char*(const char*)>& getenv) {
  SubcommandArgs result;
  const std::string usage =
      absl::StrCat("usage: detrun ", std::string(subcommand), " [OPTIONS] [--] COMMAND [ARG...]");
  size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      result.help = true;
      return result;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the command starts here
    if (arg[1] != '-') {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", QuoteValue(arg),
                                                     " (see detrun ", std::string(subcommand),
                                                     " --help)"));
    }
    const std::string_view body = std::string_view(arg).substr(2);
    const size_t equals = body.find('=');
    const bool inline_value = equals != std::string_view::npos;
    const std::string name(body.substr(0, equals));

    std::optional<bool> takes_value;
    bool own = false;
    for (const OwnOption& o : own_options) {
      if (o.name == name) {
        takes_value = o.takes_value;
        own = true;
      }
    }
    if (!own) takes_value = RunOptionTakesValue(name);
    if (!takes_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option ", QuoteValue(name.empty() ? arg : "--" + name),
                       " (see detrun ", std::string(subcommand), " --help)"));
    }
    std::string value;
    const bool optional_value = !own && RunOptionValueOptional(name);
    if (optional_value) {
      if (inline_value) value = std::string(body.substr(equals + 1));
    } else if (!*takes_value) {
      if (inline_value) {
        return absl::InvalidArgumentError(
            absl::StrCat("option --", name, " takes no value (got ", QuoteValue(arg), ")"));
      }
    } else if (inline_value) {
      value = std::string(body.substr(equals + 1));
    } else {
      absl::StatusOr<std::string_view> next = SeparateValue(args, &i, name);
      if (!next.ok()) return next.status();
      value = std::string(*next);
    }
    if (own) {
      result.own.emplace_back(name, value);
    } else {
      result.run_options.push_back(*takes_value || (optional_value && inline_value)
                                       ? absl::StrCat("--", name, "=", value)
                                       : absl::StrCat("--", name));
    }
    ++i;
  }
  absl::StatusOr<std::vector<std::string>> command = CommandFrom(args, i, usage);
  if (!command.ok()) return command.status();
  result.command = *std::move(command);

  // The run options as `detrun` itself reads them: same checks, same words.
  std::vector<std::string> as_run = result.run_options;
  as_run.push_back("--");
  as_run.insert(as_run.end(), result.command.begin(), result.command.end());
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(as_run, getenv);
  if (!parsed.ok()) return parsed.status();
  result.config = parsed->config;
  return result;
}

}  // namespace detrun
