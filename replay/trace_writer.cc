#include "replay/trace_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace detrun {

absl::StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Create(const std::string& path) {
  // An old trace is replaced by a new file rather than truncated: ext4
  // flushes a file that was truncated and rewritten when it is closed
  // (auto_da_alloc), which costs a run milliseconds. Anything but a plain
  // file (a symlink, /dev/null, a FIFO) is opened as it is.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) unlink(path.c_str());
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create the trace ", path));
  // With detrun's stdout or stderr closed, the trace would take that
  // number, and the command would write into it as its own output.
  if (fd.get() <= STDERR_FILENO) {
    fd.reset(fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
    if (!fd.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create the trace ", path));
  }
  const int raw = fd.get();
  return std::unique_ptr<TraceWriter>(new TraceWriter(std::move(fd), raw));
}

std::unique_ptr<TraceWriter> TraceWriter::ToFd(int fd) {
  return std::unique_ptr<TraceWriter>(new TraceWriter(UniqueFd(), fd));
}

TraceWriter::TraceWriter(UniqueFd owned, int fd)
    : owned_(std::move(owned)), fd_(fd), state_(XXH3_createState()) {
  XXH3_64bits_reset(state_);
  buffer_.reserve(kFlushBytes + 4096);
}

TraceWriter::~TraceWriter() { XXH3_freeState(state_); }

void TraceWriter::WriteEvent(const TraceEvent& event) {
  AppendEventLine(event, &buffer_);
  buffer_.push_back('\n');
  ++lines_;
  ++events_;
  if (buffer_.size() >= kFlushBytes) Flush();
}

void TraceWriter::WriteLine(std::string_view line) {
  buffer_.append(line);
  buffer_.push_back('\n');
  ++lines_;
  if (buffer_.size() >= kFlushBytes) Flush();
}

void TraceWriter::Flush() {
  XXH3_64bits_update(state_, buffer_.data(), buffer_.size());
  bytes_ += buffer_.size();
  size_t done = 0;
  while (error_.ok() && done < buffer_.size()) {
    ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = absl::ErrnoToStatus(n < 0 ? errno : EIO, "cannot write the trace");
      break;
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

absl::Status TraceWriter::Finish(const TraceEnd& end) {
  WriteLine(EndLine(end));
  Flush();
  TraceFooter footer{lines_, bytes_, Xxh3Hex(static_cast<uint64_t>(XXH3_64bits_digest(state_)))};
  buffer_ = FooterLine(footer);
  buffer_.push_back('\n');
  Flush();
  if (owned_.ok() && error_.ok() && close(owned_.release()) != 0) {
    error_ = absl::ErrnoToStatus(errno, "cannot write the trace");
  }
  return error_;
}

}  // namespace detrun
