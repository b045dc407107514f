// Exit codes: what detrun's own exit status means.
//
//   the command's exit status   when it exits normally
//   128 + N                     when it was killed by signal N
//   125                         detrun's usage or internal error
//   126                         the command was found but cannot be executed
//   127                         the command was not found
//
// The 125/126/127 convention is the one env(1), timeout(1) and chroot(1)
// use, so wrappers and `git bisect run` read detrun like those tools.
#ifndef DETRUN_CORE_EXIT_STATUS_H_
#define DETRUN_CORE_EXIT_STATUS_H_

#include "absl/status/status.h"

namespace detrun {

inline constexpr int kExitInternalError = 125;
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;

// A wait(2) status to detrun's exit code.
int ExitCodeFromWaitStatus(int wait_status);

// Status codes used for launch failures, to exit codes: NotFound -> 127,
// PermissionDenied -> 126, anything else -> 125.
int ExitCodeForLaunchError(const absl::Status& status);

}  // namespace detrun

#endif  // DETRUN_CORE_EXIT_STATUS_H_
