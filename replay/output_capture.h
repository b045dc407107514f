// OutputCapture: digests what the command writes to stdout and stderr
// (--record), without changing where it goes.
//
// For each of detrun's own stdout and stderr that is not a terminal, a
// pipe is put between the command and it (LaunchSpec::stdout_fd/stderr_fd);
// the supervisor loop calls OnReadable when the pipe has data, and the
// capture copies it on to detrun's descriptor and feeds it to an xxh3
// digest. A terminal is never interposed (a program behaves differently
// when its output is not a tty: colours, buffering, isatty): that stream is
// recorded as "not captured". When stdout and stderr are the same file
// (2>&1), one pipe serves both, so their interleaving is kept, and the
// digest of stdout covers both.
//
// If the reader of detrun's output goes away (EPIPE), the pipe is closed so
// the command gets EPIPE/SIGPIPE on its next write, as it would have
// without detrun in between.
//
// Life: Create() → child fds into the LaunchSpec → (launch) →
// CloseChildEnds() → OnReadable(...) from the loop → DrainAll() after the
// run → Record().
#ifndef DETRUN_REPLAY_OUTPUT_CAPTURE_H_
#define DETRUN_REPLAY_OUTPUT_CAPTURE_H_

#include <xxhash.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/unique_fd.h"
#include "replay/trace_format.h"

namespace detrun {

class OutputCapture {
 public:
  enum Stream { kStdout = 0, kStderr = 1 };

  // Decides for fds 1 and 2 of this process and makes the pipes.
  static absl::StatusOr<std::unique_ptr<OutputCapture>> Create();
  ~OutputCapture();

  // What the command gets as fd 1 / 2: a pipe's write end, or -1 (inherit).
  int child_fd(Stream s) const { return streams_[s].write.get(); }
  // The read end to watch, or -1.
  int watch_fd(Stream s) const { return streams_[s].read.get(); }

  // After the launch: our copies of the write ends go, so EOF comes when
  // the command (and everything it started) is done.
  void CloseChildEnds();
  // Copies what is available now (one read), from the loop.
  void OnReadable(Stream s);
  // After the run: copies whatever is left, up to EOF (or until nothing
  // more is available: a writer outside the run may hold the pipe).
  void DrainAll();

  OutputRecord Record(Stream s) const;

 private:
  struct Pipe {
    int target = -1;  // detrun's fd 1 or 2
    UniqueFd read;
    UniqueFd write;
    bool captured = false;
    bool merged = false;  // stderr into stdout's pipe
    std::string why;
    XXH3_state_t* state = nullptr;
    uint64_t bytes = 0;
    bool broken = false;  // the target refused writes (EPIPE)
  };
  OutputCapture() = default;
  // false at EOF or on an error: the pipe is closed.
  bool Copy(Pipe& p);

  Pipe streams_[2];
};

}  // namespace detrun

#endif  // DETRUN_REPLAY_OUTPUT_CAPTURE_H_
