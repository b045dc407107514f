// TraceDiff: where and why two recorded runs diverged (`detrun diff`).
//
// How it compares:
//   1. Configuration first (ConfigDifferences: "seed: 1 vs 2"; the trace
//      path, --verbose and the time of recording never count), then the
//      command (argv, resolved path, cwd) and the environment (by variable
//      name; values are only digests).
//   2. Events are aligned by thread identity and order within the thread:
//      each thread's events form a stream ("1", "1.2", "1.2:1"), which does
//      not depend on how the OS scheduled processes against each other.
//      Per stream, the first index where the two runs differ is the
//      divergence; the events before it are its context. An event compares
//      by everything but its human description.
//   3. Each diverging process gets a one-line classification:
//        - "scheduling: same events, different order" when the process's
//          events are the same multiset on both sides;
//        - the source of the call (time, random, hostname, cpus, dirs,
//          exec) when both sides made the same call and got different
//          answers (or asked differently);
//        - "exec" for a different program or arguments, "exit status" for
//          a different end;
//        - "environment" when the command took another path with the same
//          answers so far (an input detrun does not control differed), or
//          the classification of its parent when that diverged first.
//   4. Then the outputs (stdout, stderr digests, when both runs captured
//      them) and the command's exit status.
//
// Memory: one 64-bit digest per event while comparing, then a second read
// collects only the few events quoted as context.
#ifndef DETRUN_REPLAY_TRACE_DIFF_H_
#define DETRUN_REPLAY_TRACE_DIFF_H_

#include <string>

#include "absl/status/statusor.h"

namespace detrun {

struct DiffOptions {
  size_t context = 2;      // events shown before each divergence
  size_t max_detailed = 8;  // processes shown in full; the rest summarised
  std::string label_a = "A";
  std::string label_b = "B";
};

struct DiffResult {
  bool identical = false;
  std::string report;  // lines ending in '\n'
};

// Errors name the file that could not be read ("<path>: truncated: ...").
absl::StatusOr<DiffResult> DiffTraces(const std::string& path_a, const std::string& path_b,
                                      const DiffOptions& options = {});

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_DIFF_H_
