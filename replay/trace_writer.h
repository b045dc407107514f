// TraceWriter: writes a trace (trace_format.h) with bounded memory.
//
// Life: Create() (or ToFd()) → WriteHeader() → WriteEvent()... →
// Finish(end), which writes the end record and the footer and flushes.
// Lines go into a buffer that is written out whenever it passes kFlushBytes,
// and the running xxh3 digest is updated as each chunk is written, so
// memory stays constant however many events a run has. A trace whose
// Finish() never ran has no footer, and readers refuse it (incomplete).
//
// A write error (disk full) is kept and returned by Finish(); writing stops
// at the first one.
#ifndef DETRUN_REPLAY_TRACE_WRITER_H_
#define DETRUN_REPLAY_TRACE_WRITER_H_

#include <xxhash.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/unique_fd.h"
#include "replay/trace_format.h"

namespace detrun {

class TraceWriter {
 public:
  static constexpr size_t kFlushBytes = 64 << 10;

  // Creates (or truncates) `path`, mode 0644, close-on-exec.
  static absl::StatusOr<std::unique_ptr<TraceWriter>> Create(const std::string& path);
  // Writes to `fd` (not owned), e.g. stdout for `detrun show --json`.
  static std::unique_ptr<TraceWriter> ToFd(int fd);
  ~TraceWriter();

  void WriteHeader(const TraceHeader& header) { WriteLine(HeaderLine(header)); }
  void WriteEvent(const TraceEvent& event);
  // End record, footer, flush. Returns the first write error, if any.
  absl::Status Finish(const TraceEnd& end);

  uint64_t events() const { return events_; }

 private:
  TraceWriter(UniqueFd owned, int fd);
  void WriteLine(std::string_view line);
  void Flush();

  UniqueFd owned_;
  int fd_;
  std::string buffer_;
  XXH3_state_t* state_;
  uint64_t lines_ = 0;
  uint64_t bytes_ = 0;
  uint64_t events_ = 0;
  absl::Status error_;
};

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_WRITER_H_
