// TraceReader: reads a trace file (trace_format.h) and checks all of it.
//
// A trace is accepted only whole: a header this detrun understands, events
// that each parse, one end record, and a footer whose line count, byte
// count and xxh3 digest match everything before it, with nothing after.
// Anything else is one error naming the problem: "not a detrun trace",
// "trace format version 3 is not supported", "truncated: ...",
// "corrupt: line 12: ...". Never a crash: lines are bounded (kMaxLineBytes)
// and JSON nesting is bounded (json.h).
//
// Reading streams: memory does not grow with the number of events. The
// visitor sees each event as it is read, before the footer is checked, so
// a caller that must not act on a damaged trace either reads twice (check,
// then act: `detrun show`) or only uses what it gathered once the read
// returned OK (`detrun diff`).
#ifndef DETRUN_REPLAY_TRACE_READER_H_
#define DETRUN_REPLAY_TRACE_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replay/trace_format.h"

namespace detrun {

inline constexpr size_t kMaxLineBytes = 16 << 20;

struct TraceContents {
  TraceHeader header;
  TraceEnd end;
  uint64_t events = 0;
};

// Called for each event in file order; `line` is its 1-based line number.
// An error stops the read and is returned as is.
using EventVisitor = std::function<absl::Status(const TraceEvent& event, uint64_t line)>;

// Errors do not name the file; the caller prefixes it.
absl::StatusOr<TraceContents> ReadTrace(const std::string& path, const EventVisitor& visit);
absl::StatusOr<TraceContents> ReadTraceBytes(std::string_view data, const EventVisitor& visit);

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_READER_H_
