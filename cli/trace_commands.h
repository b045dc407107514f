// detrun's subcommands: `show`, `diff` and `replay` over recorded traces
// (replay/), and the dispatcher of every subcommand (`flaky` and `repro`
// live in cli/flaky.h and cli/repro.h).
//
//   detrun show [--json] FILE   one line per event, process identity first;
//                               --json: the trace itself, re-written from
//                               what was read (canonical JSON Lines)
//   detrun diff A B             configuration, then the first divergence of
//                               each process, classified; outputs; exit
//   detrun replay FILE          runs the recorded command again, with the
//                               recorded config in the recorded cwd, and
//                               diffs the new run against the recording
//
// Exit status (like diff(1)): 0 identical / shown, 1 different, 2 for any
// error — a bad, truncated or foreign trace, a usage error, a replay that
// could not run — with one line on stderr naming the problem.
#ifndef DETRUN_CLI_TRACE_COMMANDS_H_
#define DETRUN_CLI_TRACE_COMMANDS_H_

#include <string>
#include <vector>

namespace detrun {

inline constexpr int kExitTraceSame = 0;
inline constexpr int kExitTraceDifferent = 1;
inline constexpr int kExitTraceError = 2;

// `name` is one of CommandLine's subcommands; `args` what followed it.
int RunSubcommand(const std::string& name, const std::vector<std::string>& args);

int ShowCommand(const std::vector<std::string>& args);
int DiffCommand(const std::vector<std::string>& args);
int ReplayCommand(const std::vector<std::string>& args);

}  // namespace detrun

#endif  // DETRUN_CLI_TRACE_COMMANDS_H_
