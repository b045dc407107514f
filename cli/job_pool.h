// Job pool: runs programs as child processes, a few at a time, for the
// subcommands that run detrun many times (`detrun flaky` runs one detrun per
// configuration, `detrun repro` one per build).
//
// Life: build a vector of Jobs, call RunJobs() once; it starts them in
// vector order, at most `parallel` at a time, calls `on_done` on the
// calling thread as each one ends (in the order they end), and returns
// every result in job order.
//
// Each job runs in a session of its own (setsid), with stdin from
// /dev/null, so parallel detruns never compete for the terminal, and the
// pool alone decides when they end:
// - a job past its timeout gets SIGTERM (detrun forwards it to its
//   command), and SIGKILL 2 s later;
// - SIGINT, SIGTERM or SIGHUP sent to the calling process (a Ctrl-C) end
//   every running job the same way; RunJobs then returns Cancelled and
//   InterruptSignal() names the signal (the caller exits 128+N). Once one
//   arrived, later RunJobs calls return Cancelled at once.
// The handlers for those three signals are installed for the duration of
// the call only.
#ifndef DETRUN_CLI_JOB_POOL_H_
#define DETRUN_CLI_JOB_POOL_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace detrun {

struct Job {
  std::vector<std::string> argv;  // argv[0] is a path: no PATH search
  std::string cwd;                // empty: the caller's
  // Non-empty (cwd must be set): the job runs in a mount namespace of its
  // own in which this directory is bind-mounted over `cwd`, so the job
  // sees that tree at that path while nothing changes for anyone else.
  // Without root the namespace comes with a user namespace that maps only
  // the caller's own uid and gid. A job that cannot get one fails with
  // exit 125 and a "detrun: cannot ..." line.
  std::string bind_over_cwd;
  // Non-empty: stdout and stderr go to this file (created or truncated);
  // otherwise they are read by the pool (JobResult::tail, line_matcher).
  std::string output_file;
  absl::Duration timeout = absl::InfiniteDuration();
  // Called with each line of output (stdout and stderr interleaved, the
  // newline removed, lines cut at kMaxLineBytes); JobResult::matched says
  // whether it ever returned true.
  std::function<bool(std::string_view line)> line_matcher;
};

struct JobResult {
  int exit_code = -1;  // 0-255, or 128+N when killed by signal N
  bool timed_out = false;
  bool matched = false;
  std::string tail;  // the last kTailBytes of output
  absl::Duration elapsed;
  std::string start_error;  // non-empty: the job could not be started
};

inline constexpr size_t kTailBytes = 16 * 1024;
inline constexpr size_t kMaxLineBytes = 64 * 1024;

absl::StatusOr<std::vector<JobResult>> RunJobs(
    const std::vector<Job>& jobs, int parallel,
    const std::function<void(size_t index, const JobResult& result)>& on_done = nullptr);

// The signal that cancelled a RunJobs call, 0 if none did.
int InterruptSignal();

// The last `lines` lines of `text`.
std::string LastLines(std::string_view text, int lines);

}  // namespace detrun

#endif  // DETRUN_CLI_JOB_POOL_H_
