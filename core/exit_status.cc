#include "core/exit_status.h"

#include <sys/wait.h>

namespace detrun {

int ExitCodeFromWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitInternalError;  // stopped/continued are not final statuses
}

int ExitCodeForLaunchError(const absl::Status& status) {
  if (absl::IsNotFound(status)) return kExitNotFound;
  if (absl::IsPermissionDenied(status)) return kExitCannotExecute;
  return kExitInternalError;
}

}  // namespace detrun
