#include "replay/trace_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

// Hands out lines one by one (without their '\n').
class LineSource {
 public:
  virtual ~LineSource() = default;
  // false at the end; `terminated` is false for a last line without '\n'.
  virtual absl::StatusOr<bool> Next(std::string_view* line, bool* terminated) = 0;
};

class BytesSource : public LineSource {
 public:
  explicit BytesSource(std::string_view data) : data_(data) {}
  absl::StatusOr<bool> Next(std::string_view* line, bool* terminated) override {
    if (pos_ >= data_.size()) return false;
    const size_t nl = data_.find('\n', pos_);
    const size_t end = nl == std::string_view::npos ? data_.size() : nl;
    if (end - pos_ > kMaxLineBytes) return TooLong();
    *line = data_.substr(pos_, end - pos_);
    *terminated = nl != std::string_view::npos;
    pos_ = end + 1;
    return true;
  }

 private:
  static absl::Status TooLong() {
    return absl::InvalidArgumentError(
        absl::StrCat("a line is longer than ", kMaxLineBytes >> 20, " MiB"));
  }
  std::string_view data_;
  size_t pos_ = 0;
};

// Reads a file in large chunks; memory is bounded by the longest line.
class FileSource : public LineSource {
 public:
  explicit FileSource(UniqueFd fd) : fd_(std::move(fd)) {}

  absl::StatusOr<bool> Next(std::string_view* line, bool* terminated) override {
    for (;;) {
      const size_t nl = buffer_.find('\n', start_);
      if (nl != std::string::npos) {
        if (nl - start_ > kMaxLineBytes) return TooLong();
        *line = std::string_view(buffer_).substr(start_, nl - start_);
        *terminated = true;
        start_ = nl + 1;
        return true;
      }
      if (buffer_.size() - start_ > kMaxLineBytes) return TooLong();
      if (eof_) {
        if (start_ >= buffer_.size()) return false;
        *line = std::string_view(buffer_).substr(start_);
        *terminated = false;
        start_ = buffer_.size();
        return true;
      }
      // Keep the partial line, drop what was handed out.
      buffer_.erase(0, start_);
      start_ = 0;
      const size_t old = buffer_.size();
      buffer_.resize(old + kChunk);
      ssize_t n;
      do {
        n = read(fd_.get(), buffer_.data() + old, kChunk);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        buffer_.resize(old);
        return absl::ErrnoToStatus(errno, "read");
      }
      buffer_.resize(old + static_cast<size_t>(n));
      if (n == 0) eof_ = true;
    }
  }

 private:
  static absl::Status TooLong() {
    return absl::InvalidArgumentError(
        absl::StrCat("a line is longer than ", kMaxLineBytes >> 20, " MiB"));
  }
  static constexpr size_t kChunk = 1 << 20;
  UniqueFd fd_;
  std::string buffer_;
  size_t start_ = 0;
  bool eof_ = false;
};

absl::Status Corrupt(uint64_t line, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt: line ", line, ": ", what));
}

absl::StatusOr<TraceContents> Read(LineSource& source, const EventVisitor& visit) {
  TraceContents contents;
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return absl::ResourceExhaustedError("out of memory");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> owner(state, XXH3_freeState);
  XXH3_64bits_reset(state);
  uint64_t bytes = 0;
  uint64_t line_no = 0;
  auto hash = [&](std::string_view line) {
    XXH3_64bits_update(state, line.data(), line.size());
    XXH3_64bits_update(state, "\n", 1);
    bytes += line.size() + 1;
  };

  std::string_view line;
  bool terminated = false;
  auto next = [&]() -> absl::StatusOr<bool> {
    absl::StatusOr<bool> more = source.Next(&line, &terminated);
    if (!more.ok()) {
      return absl::DataLossError(absl::StrCat("corrupt: line ", line_no + 1, ": ",
                                              more.status().message()));
    }
    if (*more) ++line_no;
    return more;
  };

  // The header.
  absl::StatusOr<bool> more = next();
  if (!more.ok()) return more.status();
  if (!*more) return absl::InvalidArgumentError("empty file, not a detrun trace");
  absl::StatusOr<json::Value> first = json::Parse(line);
  if (!first.ok()) {
    // A header cut short still starts the way every header does.
    constexpr std::string_view kHeaderStart = "{\"format\":\"detrun-trace\",";
    const std::string_view start = line.substr(0, kHeaderStart.size());
    if (!terminated && kHeaderStart.substr(0, start.size()) == start && !start.empty()) {
      return absl::DataLossError("truncated: the trace ends inside its header");
    }
    return absl::InvalidArgumentError("not a detrun trace (its first line is not a trace header)");
  }
  absl::StatusOr<TraceHeader> header = ParseHeader(*first);
  if (!header.ok()) {
    if (absl::IsFailedPrecondition(header.status())) return header.status();  // version
    if (first->is_object() && first->Find("format") != nullptr &&
        first->Find("format")->is_string() &&
        first->Find("format")->string() == kTraceFormatName) {
      return Corrupt(1, header.status().message());
    }
    return header.status();
  }
  if (!terminated) {
    return absl::DataLossError("truncated: the trace ends inside its header");
  }
  contents.header = *std::move(header);
  hash(line);

  bool have_end = false;
  TraceEvent event;
  for (;;) {
    more = next();
    if (!more.ok()) return more.status();
    if (!*more) {
      return absl::DataLossError(absl::StrCat(
          "truncated: no ", have_end ? "footer" : "end record and footer", " after line ",
          line_no,
          " (detrun did not finish writing this trace: it was killed, crashed or ran out of disk space)"));
    }
    if (!terminated) {
      return absl::DataLossError(
          absl::StrCat("truncated: line ", line_no, " is incomplete (the trace was cut off)"));
    }
    absl::StatusOr<json::Value> value = json::Parse(line);
    if (!value.ok()) return Corrupt(line_no, value.status().message());
    switch (KindOfLine(*value)) {
      case LineKind::kEvent: {
        if (have_end) return Corrupt(line_no, "an event after the end record");
        if (absl::Status s = ParseEvent(*value, &event); !s.ok()) return Corrupt(line_no, s.message());
        ++contents.events;
        if (visit) {
          if (absl::Status s = visit(event, line_no); !s.ok()) return s;
        }
        hash(line);
        break;
      }
      case LineKind::kEnd: {
        if (have_end) return Corrupt(line_no, "a second end record");
        absl::StatusOr<TraceEnd> end = ParseEnd(*value);
        if (!end.ok()) return Corrupt(line_no, end.status().message());
        // Version 2 added the leak report: every such trace has one.
        if (end->leaks.has_value() != (contents.header.version >= 2)) {
          return Corrupt(line_no, contents.header.version >= 2
                                      ? "end record: missing \"leaks\""
                                      : "end record: unknown field \"leaks\" (a version 1 trace)");
        }
        contents.end = *std::move(end);
        have_end = true;
        hash(line);
        break;
      }
      case LineKind::kFooter: {
        if (!have_end) return Corrupt(line_no, "a footer before the end record");
        absl::StatusOr<TraceFooter> footer = ParseFooter(*value);
        if (!footer.ok()) return Corrupt(line_no, footer.status().message());
        if (footer->lines != line_no - 1 || footer->bytes != bytes) {
          return absl::DataLossError(absl::StrCat(
              "corrupt: the footer counts ", footer->lines, " lines and ", footer->bytes,
              " bytes before it, the file has ", line_no - 1, " and ", bytes));
        }
        if (footer->xxh3 != Xxh3Hex(static_cast<uint64_t>(XXH3_64bits_digest(state)))) {
          return absl::DataLossError(
              "corrupt: the footer's digest does not match the trace (it was modified or "
              "damaged after it was written)");
        }
        more = next();
        if (!more.ok()) return more.status();
        if (*more) return Corrupt(line_no, "data after the footer");
        return contents;
      }
      case LineKind::kHeader: return Corrupt(line_no, "a second header");
      case LineKind::kUnknown: return Corrupt(line_no, "not a trace record");
    }
  }
}

}  // namespace

absl::StatusOr<TraceContents> ReadTrace(const std::string& path, const EventVisitor& visit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return absl::ErrnoToStatus(errno, "cannot open");
  struct stat st;
  if (fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError("is a directory, not a trace");
  }
  FileSource source(std::move(fd));
  return Read(source, visit);
}

absl::StatusOr<TraceContents> ReadTraceBytes(std::string_view data, const EventVisitor& visit) {
  BytesSource source(data);
  return Read(source, visit);
}

}  // namespace detrun
