// The `run` command: everything between a parsed command line and the
// command's exit code. Thin glue over core/: checks what is not
// implemented yet, resolves the command, builds Landlock and the filter,
// launches, supervises, and turns the outcome into detrun's exit code with
// one clear line on stderr for every failure.
#ifndef DETRUN_CLI_RUN_H_
#define DETRUN_CLI_RUN_H_

#include <string>
#include <vector>

#include "core/config.h"

namespace detrun {

// Runs `command` under `config`; returns detrun's exit code.
int RunCommand(const Config& config, const std::vector<std::string>& command);

}  // namespace detrun

#endif  // DETRUN_CLI_RUN_H_
