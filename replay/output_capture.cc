#include "replay/output_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace detrun {
namespace {

// The pipe keeps the kernel's default size (64 KiB): growing it to 1 MiB
// with F_SETPIPE_SZ cost every recorded run about 3 ms of CPU, more than a
// short command's whole recording.
constexpr size_t kChunk = 64 << 10;

// Writes all of `data` to `fd`, waiting when it is non-blocking and full.
// false on an error (EPIPE: the reader is gone).
bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    return false;
  }
  return true;
}

// A descriptor above 0-2: with one of detrun's own standard descriptors
// closed, a new pipe would take its number and be mistaken for it.
int AboveStdio(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  close(fd);
  return moved;
}

}  // namespace

absl::StatusOr<std::unique_ptr<OutputCapture>> OutputCapture::Create() {
  std::unique_ptr<OutputCapture> c(new OutputCapture());
  struct stat st[2];
  bool open[2];
  for (int s = 0; s < 2; ++s) {
    Pipe& p = c->streams_[s];
    p.target = s == kStdout ? STDOUT_FILENO : STDERR_FILENO;
    open[s] = fstat(p.target, &st[s]) == 0;
    if (!open[s]) {
      p.why = "closed";
    } else if (isatty(p.target)) {
      p.why = "terminal";
    } else {
      p.captured = true;
    }
  }
  // 2>&1 (or both to one file): one pipe, so the interleaving is kept.
  if (c->streams_[kStdout].captured && c->streams_[kStderr].captured &&
      st[0].st_dev == st[1].st_dev && st[0].st_ino == st[1].st_ino) {
    c->streams_[kStderr].merged = true;
  }
  for (int s = 0; s < 2; ++s) {
    Pipe& p = c->streams_[s];
    if (!p.captured || p.merged) continue;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
    p.read.reset(AboveStdio(fds[0]));
    p.write.reset(AboveStdio(fds[1]));
    if (!p.read.ok() || !p.write.ok()) return absl::ErrnoToStatus(errno, "fcntl");
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    p.state = XXH3_createState();
    XXH3_64bits_reset(p.state);
  }
  if (c->streams_[kStderr].merged) {
    // The command's fd 2 is the same pipe as its fd 1.
    c->streams_[kStderr].write.reset(
        fcntl(c->streams_[kStdout].write.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
  }
  return c;
}

OutputCapture::~OutputCapture() {
  for (Pipe& p : streams_) {
    if (p.state != nullptr) XXH3_freeState(p.state);
  }
}

void OutputCapture::CloseChildEnds() {
  for (Pipe& p : streams_) p.write.reset();
}

bool OutputCapture::Copy(Pipe& p) {
  if (!p.read.ok()) return false;
  char buf[kChunk];
  ssize_t n = read(p.read.get(), buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) {
    p.read.reset();  // EOF: every writer is gone (closing also ends the watch)
    return false;
  }
  XXH3_64bits_update(p.state, buf, static_cast<size_t>(n));
  p.bytes += static_cast<uint64_t>(n);
  if (!WriteAll(p.target, buf, static_cast<size_t>(n))) {
    // Nobody reads detrun's output any more: let the command find out
    // the way it would have, on its next write.
    p.broken = true;
    p.read.reset();
    return false;
  }
  return true;
}

void OutputCapture::OnReadable(Stream s) { Copy(streams_[s]); }

void OutputCapture::DrainAll() {
  for (Pipe& p : streams_) {
    for (;;) {
      if (!p.read.ok()) break;
      const uint64_t before = p.bytes;
      if (!Copy(p)) break;
      if (p.bytes == before) break;  // EAGAIN: someone outside still holds it
    }
  }
}

OutputRecord OutputCapture::Record(Stream s) const {
  const Pipe& p = streams_[s];
  OutputRecord r;
  r.captured = p.captured;
  r.why = p.why;
  r.merged = p.merged;
  if (p.captured && !p.merged) {
    r.bytes = p.bytes;
    r.xxh3 = Xxh3Hex(static_cast<uint64_t>(XXH3_64bits_digest(p.state)));
  }
  return r;
}

}  // namespace detrun
