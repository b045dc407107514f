#include "core/exit_status.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace detrun {
namespace {

// Real wait statuses from real children, not hand-built bit patterns.
int StatusOfChild(void (*body)()) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(99);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(ExitStatusTest, NormalExitKeepsItsCode) {
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] { _exit(0); })), 0);
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] { _exit(7); })), 7);
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] { _exit(255); })), 255);
}

TEST(ExitStatusTest, SignalIs128PlusNumber) {
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] { raise(SIGKILL); })), 137);
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] { raise(SIGTERM); })), 143);
  EXPECT_EQ(ExitCodeFromWaitStatus(StatusOfChild([] {
              signal(SIGSEGV, SIG_DFL);
              raise(SIGSEGV);
            })),
            128 + SIGSEGV);
}

TEST(ExitStatusTest, LaunchErrors) {
  EXPECT_EQ(ExitCodeForLaunchError(absl::NotFoundError("x")), 127);
  EXPECT_EQ(ExitCodeForLaunchError(absl::PermissionDeniedError("x")), 126);
  EXPECT_EQ(ExitCodeForLaunchError(absl::InternalError("x")), 125);
  EXPECT_EQ(ExitCodeForLaunchError(absl::InvalidArgumentError("x")), 125);
}

}  // namespace
}  // namespace detrun
