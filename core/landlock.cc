#include "core/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/linux_compat.h"

namespace detrun {
namespace {

// Rights that apply to files (the rest only to directories); adding a
// directory-only right to a file rule is EINVAL.
constexpr uint64_t kFileRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
    LANDLOCK_ACCESS_FS_IOCTL_DEV;

constexpr uint64_t kReadRights = LANDLOCK_ACCESS_FS_EXECUTE |
                                 LANDLOCK_ACCESS_FS_READ_FILE |
                                 LANDLOCK_ACCESS_FS_READ_DIR;

uint64_t HandledRightsForAbi(int abi) {
  uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return rights;
}

absl::Status AddPath(int ruleset_fd, const std::string& option,
                     const std::string& path, uint64_t rights) {
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", option, " value '", path, "': ",
                     strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr attr{};
  attr.allowed_access = rights;
  attr.parent_fd = fd;
  long r = syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH,
                   &attr, 0);
  int err = errno;
  close(fd);
  if (r != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot add Landlock rule for --", option, "=", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

int LandlockAbiVersion() {
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0,
                   LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

absl::StatusOr<UniqueFd> BuildLandlockRuleset(
    const std::vector<std::string>& allow_read,
    const std::vector<std::string>& allow_write) {
  // Bad paths are reported first, whether or not Landlock is available.
  for (const auto* list : {&allow_read, &allow_write}) {
    for (const std::string& p : *list) {
      if (access(p.c_str(), F_OK) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid --", list == &allow_read ? "allow-read" : "allow-write",
            " value '", p, "': ", strerror(errno)));
      }
    }
  }
  const int abi = LandlockAbiVersion();
  if (abi <= 0) {
    return absl::FailedPreconditionError(
        "--allow-read/--allow-write need Landlock, which this kernel does not "
        "offer (not built in, or disabled with lsm=)");
  }
  const uint64_t handled = HandledRightsForAbi(abi);
  // Only handled_access_fs is set, so the ABI-1 struct size suffices and
  // the network and scope rules (ABI 4, 6) stay unrestricted.
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  UniqueFd ruleset(static_cast<int>(
      syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (!ruleset.ok()) {
    return absl::ErrnoToStatus(errno, "landlock_create_ruleset");
  }
  for (const std::string& p : allow_read) {
    if (absl::Status s = AddPath(ruleset.get(), "allow-read", p, kReadRights & handled);
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& p : allow_write) {
    if (absl::Status s = AddPath(ruleset.get(), "allow-write", p, handled); !s.ok()) {
      return s;
    }
  }
  return ruleset;
}

int RestrictSelfWithLandlock(int ruleset_fd) {
  if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) != 0) return -errno;
  return 0;
}

}  // namespace detrun
