// `detrun flaky`: hunts a flaky test (options: cli/flaky_options.h).
//
// The hunt, step by step:
//   1. Native runs (--native-runs, `detrun --native`): how often the test
//      fails as it is, so the person sees it is flaky at all.
//   2. The sweep: the configurations of cli/flaky_plan.h, each one run of
//      `detrun [RUN OPTIONS] --seed=... --time=... -- COMMAND`, --jobs at a
//      time; a progress bar on a terminal, a line per run otherwise. Under
//      Bazel sharding only this shard's configurations.
//   3. Replays: every failing configuration (up to kMaxReplayed) runs
//      --replays more times; one that fails every time is deterministic,
//      the others are scheduling-dependent. The passing configuration to
//      compare with (the baseline, configuration 0, when it passes) is
//      replayed too and must pass every time.
//   4. Culprit: delta debugging between the first deterministic failure and
//      the passing configuration (cli/culprit.h).
//   5. The report on stdout: counts, the failing configurations, the
//      culprit, and a one-line reproducer (the smallest failing blend,
//      itself replayed), then the exit status. With --record, the
//      reproducer and the passing configuration are run once more with
//      --record and the start of `detrun diff` of the two traces follows.
// Every run is detrun itself started again (/proc/self/exe) in a session
// of its own (cli/job_pool.h), so a run's crash or hang never takes the
// hunt with it, and what a run does is exactly what the reproducer does.
//
// Exit status: 1 when any run failed (natively or under detrun), 0 when
// none did, 125 when the command cannot be tested (not found, not
// executable, or detrun itself failed in a run) or on a usage error;
// 128+N when interrupted by signal N.
#ifndef DETRUN_CLI_FLAKY_H_
#define DETRUN_CLI_FLAKY_H_

#include <string>
#include <vector>

namespace detrun {

// Failing configurations replayed at most; the rest are listed as not
// replayed.
inline constexpr size_t kMaxReplayed = 20;

// `args` are the words after "flaky". Returns detrun's exit status.
int FlakyCommand(const std::vector<std::string>& args);

}  // namespace detrun

#endif  // DETRUN_CLI_FLAKY_H_
