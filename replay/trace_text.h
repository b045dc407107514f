// Traces for people: one line per event, process identity first (what
// `detrun show` prints and `detrun diff` quotes), and the header, config
// and end record in words.
#ifndef DETRUN_REPLAY_TRACE_TEXT_H_
#define DETRUN_REPLAY_TRACE_TEXT_H_

#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "replay/trace_format.h"

namespace detrun {

// "1.2:1   clock_gettime(0) = 0  CLOCK_REALTIME 2000-01-01T00:00:00Z  (time)"
std::string FormatEvent(const TraceEvent& event);

// "exited 0", "killed by SIGKILL", "killed by SIGSEGV (core dumped)",
// "unknown".
std::string DescribeWait(std::optional<int> wait_status);

// "seed=0 time=2000-01-01T00:00:00Z clock=step ..." (the options a run
// depends on; --record and --verbose left out).
std::string FormatConfig(const Config& config);

// Several lines: version, command, cwd, config, environment.
std::string FormatHeader(const TraceHeader& header);

// "end: exited 0 (detrun exit 0); stdout 12 bytes xxh3:...; stderr ..."
std::string FormatEnd(const TraceEnd& end);
// The leak report, as --report-leaks prints it without the "detrun: "
// prefixes, one '\n'-terminated line each:
// "leaks: 1 call reached ...\nleak proc: 1 /proc and /sys reads, e.g. ...\n";
// "leaks: not recorded (trace format 1)\n" for version 1 traces.
std::string FormatLeaks(const TraceEnd& end);
std::string FormatOutput(const OutputRecord& record);

// "seed: 1 vs 2", one per option that differs and changes what a run
// observes. The trace path (--record), --verbose and which options were
// given explicitly do not count.
std::vector<std::string> ConfigDifferences(const Config& a, const Config& b);

// argv as a shell-like line, each word quoted when needed.
std::string FormatArgv(const std::vector<std::string>& argv);

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_TEXT_H_
