// Landlock: filesystem confinement for --allow-read / --allow-write.
//
// The ruleset is built in detrun (so a bad path is reported before
// anything runs) and only applied in the forked child, just before the
// seccomp filter: landlock_restrict_self(fd). When either list is given,
// every filesystem access the running kernel's Landlock ABI can control is
// denied except beneath the listed paths: --allow-read grants execute,
// read-file and read-dir; --allow-write grants every controllable right.
#ifndef DETRUN_CORE_LANDLOCK_H_
#define DETRUN_CORE_LANDLOCK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/unique_fd.h"

namespace detrun {

// The kernel's Landlock ABI version; 0 when Landlock is unavailable.
int LandlockAbiVersion();

// A ruleset fd ready for landlock_restrict_self. FailedPrecondition when
// Landlock is unavailable; InvalidArgument naming the option and path when
// a path cannot be opened.
absl::StatusOr<UniqueFd> BuildLandlockRuleset(
    const std::vector<std::string>& allow_read,
    const std::vector<std::string>& allow_write);

// Async-signal-safe: applies the ruleset to the calling thread. Returns 0
// or -errno.
int RestrictSelfWithLandlock(int ruleset_fd);

}  // namespace detrun

#endif  // DETRUN_CORE_LANDLOCK_H_
