// The trace format, version 2: what each line of a trace holds, and the
// one place that turns those records into lines and lines back into
// records. docs/trace-format.md describes it for people; this header is
// the code's side of the same contract.
//
// A trace is JSON Lines (one JSON object per '\n'-terminated line):
//
//   line 1        the header: format name and version, detrun's version,
//                 the full Config, the command (argv, resolved path, cwd)
//                 and digests of the environment
//   lines 2..     events, each tagged with the thread identity ("1.2:1")
//                 that produced it: start, exec, call, exit
//   next to last  the end record: the command's wait status, detrun's exit
//                 code, digests of stdout and stderr
//   last          the footer: how many lines and bytes precede it and their
//                 xxh3-64 digest. Written only when the run is over, so a
//                 trace without a valid footer is incomplete, whatever else
//                 it holds (crash-evident, as rr's traces are).
//
// Writing: HeaderLine/AppendEventLine/EndLine produce the canonical bytes
// (the recorder writes them; `detrun show --json` writes them again from
// what it read, byte for byte). Reading: the Parse* functions check every
// field's presence and type and refuse unknown ones, so a damaged line is
// an error, never a wrong answer.
#ifndef DETRUN_REPLAY_TRACE_FORMAT_H_
#define DETRUN_REPLAY_TRACE_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/leak_report.h"
#include "replay/json.h"

namespace detrun {

inline constexpr char kTraceFormatName[] = "detrun-trace";
// The version detrun writes. Version 2 added the leak report (the end
// record's "leaks") and the options "report_leaks" and "strict" to the
// config; readers still accept version 1 traces, which have neither, and
// `detrun show --json` writes each trace again in its own version.
inline constexpr int kTraceFormatVersion = 2;
inline constexpr int kOldestTraceFormatVersion = 1;

struct TraceHeader {
  int version = kTraceFormatVersion;  // of the format
  std::string detrun_version;
  std::string recorded_at;  // RFC 3339, UTC; never compared by diff
  Config config;            // config.record_path: never compared by diff
  std::vector<std::string> argv;
  std::string path;  // the executable argv[0] resolved to
  std::string cwd;
  // detrun's own environment (the command gets it, plus SOURCE_DATE_EPOCH
  // when detrun sets it from --time): xxh3-64 of every NAME=VALUE followed
  // by a NUL, in order; and each variable's name with the digest of its
  // value, so diff can name what changed without the trace holding values.
  std::string env_xxh3;
  std::vector<std::pair<std::string, std::string>> env;
};

// Bytes a handler wrote into the child as (part of) its answer.
struct Payload {
  uint64_t bytes = 0;  // 0: none
  std::string hex;     // the bytes themselves, when small and not secret
  std::string xxh3;    // otherwise their xxh3-64 digest
};

struct TraceEvent {
  enum class Kind { kStart, kExec, kCall, kExit };
  enum class Answer { kContinue, kValue, kErrno, kInjectFd };

  Kind kind = Kind::kCall;
  std::string thread;  // identity of the thread ("1", "1.2:3")

  std::string parent;              // kStart: parent process ("": root or unknown)
  std::string path;                // kExec; kCall of execve/execveat
  std::vector<std::string> argv;   // kExec
  std::string syscall;             // kCall: name ("clock_gettime")
  std::vector<int64_t> args;       // kCall: the value arguments (syscall_catalog.h)
  Answer answer = Answer::kContinue;
  int64_t value = 0;               // kValue
  std::string error;               // kErrno: errno name ("ENOENT")
  std::string module;              // which module answered ("" for none)
  Payload out;                     // kCall: what the answer wrote
  std::string detail;              // kCall: for people ("CLOCK_REALTIME 2000-...");
                                   // derived from the rest, never compared
  std::optional<int> wait_status;  // kExit; nullopt: unknown
};

// What became of one of the command's output streams.
struct OutputRecord {
  bool captured = false;
  std::string why;      // !captured: "terminal", "closed", ...
  bool merged = false;  // stderr only: same file as stdout, digested there
  uint64_t bytes = 0;
  std::string xxh3;
};

struct TraceEnd {
  std::optional<int> wait_status;  // the command's; nullopt if it never ran
  int exit_code = 0;               // detrun's own
  std::string error;               // detrun's message when it failed the run
  OutputRecord stdout_record;
  OutputRecord stderr_record;
  // What reached the command that detrun did not make deterministic
  // (core/leak_report.h). Always set in version 2, never in version 1
  // (ParseEnd leaves it unset when the line has none).
  std::optional<LeakSummary> leaks = LeakSummary{};
};

struct TraceFooter {
  uint64_t lines = 0;  // lines before the footer
  uint64_t bytes = 0;  // bytes before the footer
  std::string xxh3;    // xxh3-64 of those bytes
};

// Lines, without the trailing '\n'.
std::string HeaderLine(const TraceHeader& header);
void AppendEventLine(const TraceEvent& event, std::string* out);
std::string EventLine(const TraceEvent& event);
std::string EndLine(const TraceEnd& end);
std::string FooterLine(const TraceFooter& footer);

// What kind of record a parsed line is: by its first key.
enum class LineKind { kHeader, kEvent, kEnd, kFooter, kUnknown };
LineKind KindOfLine(const json::Value& line);

// Header: checks the format name and version first, so a foreign file or
// an unsupported version gets that message rather than a field error.
absl::StatusOr<TraceHeader> ParseHeader(const json::Value& line);
absl::Status ParseEvent(const json::Value& line, TraceEvent* event);
absl::StatusOr<TraceEnd> ParseEnd(const json::Value& line);
absl::StatusOr<TraceFooter> ParseFooter(const json::Value& line);

// Config <-> JSON (part of the header), exposed for tests.
// `version`: the format version whose fields to write or expect.
json::Value ConfigToJson(const Config& config, int version = kTraceFormatVersion);
absl::StatusOr<Config> ConfigFromJson(const json::Value& value,
                                      int version = kTraceFormatVersion);
// The end record's "leaks" <-> LeakSummary.
json::Value LeaksToJson(const LeakSummary& leaks);
absl::StatusOr<LeakSummary> LeaksFromJson(const json::Value& value);

// Process identities as written in traces: "1", "1.2.3", "0.4" (never
// matched) for processes; a thread adds ":N". Valid means digits and dots
// (and one ":N"), no empty parts.
bool IsValidIdentity(std::string_view id, bool allow_thread);
// The process part of a thread identity ("1.2" for "1.2:3").
std::string_view ProcessOf(std::string_view thread);
// Orders identities as the fork tree does: 1 < 1:1 < 1.1 < 1.2 < 1.10.
bool IdentityLess(std::string_view a, std::string_view b);

// Lowercase hex of the xxh3-64 digest of `data`, 16 digits.
std::string Xxh3Hex(std::string_view data);
std::string Xxh3Hex(uint64_t digest);
// The same into `out` (reusing its storage).
void Xxh3HexTo(uint64_t digest, std::string* out);

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_FORMAT_H_
