// detrun's entry point: parse, then hand over to the run command or a
// subcommand. Everything testable lives in cli/options.h and cli/run.h.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cli/run.h"
#include "cli/trace_commands.h"
#include "core/exit_status.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<detrun::CommandLine> parsed =
      detrun::ParseCommandLine(args, [](const char* name) { return getenv(name); });
  if (!parsed.ok()) {
    fprintf(stderr, "detrun: %s\n(try 'detrun --help')\n",
            std::string(parsed.status().message()).c_str());
    return detrun::kExitInternalError;
  }
  switch (parsed->kind) {
    case detrun::CommandLine::Kind::kHelp:
      fputs(detrun::HelpText().c_str(), stdout);
      return 0;
    case detrun::CommandLine::Kind::kVersion:
      fputs(detrun::VersionText().c_str(), stdout);
      return 0;
    case detrun::CommandLine::Kind::kSubcommand:
      return detrun::RunSubcommand(parsed->subcommand, parsed->subcommand_args);
    case detrun::CommandLine::Kind::kRun:
      return detrun::RunCommand(parsed->config, parsed->command);
  }
  return detrun::kExitInternalError;
}
