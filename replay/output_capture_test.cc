#include "replay/output_capture.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include "gtest/gtest.h"

namespace detrun {
namespace {

// OutputCapture works on this process's fds 1 and 2, so each case runs in
// a forked child that sets them up and reports through its exit status
// (0: passed, otherwise the number of the failed check).
int InChild(const std::function<int()>& body) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  return out;
}

TEST(OutputCaptureTest, CopiesAndDigestsWhatTheCommandWrites) {
  EXPECT_EQ(InChild([] {
              int out[2], err[2];
              if (pipe(out) != 0 || pipe(err) != 0) return 1;
              dup2(out[1], STDOUT_FILENO);
              dup2(err[1], STDERR_FILENO);
              close(out[1]);
              close(err[1]);
              absl::StatusOr<std::unique_ptr<OutputCapture>> c = OutputCapture::Create();
              if (!c.ok()) return 2;
              OutputCapture& capture = **c;
              const int child_out = capture.child_fd(OutputCapture::kStdout);
              const int child_err = capture.child_fd(OutputCapture::kStderr);
              if (child_out < 0 || child_err < 0 || child_out == child_err) return 3;
              // What the command would write, then its exit.
              const int cmd_out = dup(child_out), cmd_err = dup(child_err);
              capture.CloseChildEnds();
              if (write(cmd_out, "hello ", 6) != 6 || write(cmd_err, "oops", 4) != 4) return 4;
              capture.OnReadable(OutputCapture::kStdout);
              if (write(cmd_out, "world", 5) != 5) return 5;
              close(cmd_out);
              close(cmd_err);
              capture.DrainAll();
              const OutputRecord r = capture.Record(OutputCapture::kStdout);
              if (!r.captured || r.bytes != 11 || r.xxh3 != Xxh3Hex(std::string_view("hello world"))) {
                return 6;
              }
              const OutputRecord e = capture.Record(OutputCapture::kStderr);
              if (!e.captured || e.merged || e.bytes != 4) return 7;
              // Passed on unchanged.
              dup2(open("/dev/null", O_WRONLY), STDOUT_FILENO);
              dup2(open("/dev/null", O_WRONLY), STDERR_FILENO);
              if (ReadAll(out[0]) != "hello world") return 8;
              if (ReadAll(err[0]) != "oops") return 9;
              return 0;
            }),
            0);
}

TEST(OutputCaptureTest, OneFileForBothStreamsIsOnePipe) {
  EXPECT_EQ(InChild([] {
              int both[2];
              if (pipe(both) != 0) return 1;
              dup2(both[1], STDOUT_FILENO);
              dup2(both[1], STDERR_FILENO);
              close(both[1]);
              std::unique_ptr<OutputCapture> c = *OutputCapture::Create();
              if (c->watch_fd(OutputCapture::kStderr) != -1) return 2;
              const int o = dup(c->child_fd(OutputCapture::kStdout));
              const int e = dup(c->child_fd(OutputCapture::kStderr));
              c->CloseChildEnds();
              if (write(o, "1", 1) != 1 || write(e, "2", 1) != 1 || write(o, "3", 1) != 1) return 3;
              close(o);
              close(e);
              c->DrainAll();
              if (!c->Record(OutputCapture::kStderr).merged) return 4;
              if (c->Record(OutputCapture::kStdout).xxh3 != Xxh3Hex(std::string_view("123"))) return 5;
              dup2(open("/dev/null", O_WRONLY), STDOUT_FILENO);
              dup2(open("/dev/null", O_WRONLY), STDERR_FILENO);
              return ReadAll(both[0]) == "123" ? 0 : 6;
            }),
            0);
}

TEST(OutputCaptureTest, ATerminalIsNeverInterposed) {
  EXPECT_EQ(InChild([] {
              int master = posix_openpt(O_RDWR | O_NOCTTY);
              if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return 0;  // no ptys here
              int tty = open(ptsname(master), O_RDWR | O_NOCTTY);
              if (tty < 0) return 0;
              dup2(tty, STDOUT_FILENO);
              close(STDERR_FILENO);
              std::unique_ptr<OutputCapture> c = *OutputCapture::Create();
              if (c->child_fd(OutputCapture::kStdout) != -1) return 1;
              if (c->child_fd(OutputCapture::kStderr) != -1) return 2;
              const OutputRecord r = c->Record(OutputCapture::kStdout);
              if (r.captured || r.why != "terminal") return 3;
              if (c->Record(OutputCapture::kStderr).why != "closed") return 4;
              return 0;
            }),
            0);
}

TEST(OutputCaptureTest, AVanishedReaderReachesTheCommandAsABrokenPipe) {
  EXPECT_EQ(InChild([] {
              signal(SIGPIPE, SIG_IGN);
              int out[2];
              if (pipe(out) != 0) return 1;
              dup2(out[1], STDOUT_FILENO);
              close(out[1]);
              close(out[0]);  // nobody reads detrun's stdout
              std::unique_ptr<OutputCapture> c = *OutputCapture::Create();
              const int o = dup(c->child_fd(OutputCapture::kStdout));
              c->CloseChildEnds();
              if (write(o, "x", 1) != 1) return 2;
              c->OnReadable(OutputCapture::kStdout);
              // The capture let go of its end: the command now sees EPIPE.
              if (write(o, "y", 1) != -1 || errno != EPIPE) return 3;
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace detrun
