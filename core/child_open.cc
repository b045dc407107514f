#include "core/child_open.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/child_path.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

// The kernel's O_LARGEFILE (glibc defines it as 0 on x86-64, where the
// kernel sets it on every open).
constexpr uint64_t kKernelLargefile = 0100000;
// The kernel's VALID_OPEN_FLAGS (include/linux/fcntl.h). O_SYNC and
// O_TMPFILE carry __O_SYNC/O_DSYNC and __O_TMPFILE/O_DIRECTORY.
constexpr uint64_t kValidOpenFlags =
    O_RDONLY | O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |
    O_NONBLOCK | O_SYNC | O_ASYNC | O_DIRECT | kKernelLargefile | O_DIRECTORY | O_NOFOLLOW |
    O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE;
// What O_PATH keeps (O_PATH_FLAGS).
constexpr uint64_t kPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
constexpr uint64_t kValidResolveFlags = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                        RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
                                        RESOLVE_IN_ROOT | RESOLVE_CACHED;
constexpr uint64_t kModeBits = 07777;  // S_IALLUGO
constexpr size_t kPathMax = PATH_MAX;  // 4096, the terminating NUL included
constexpr uint64_t kMaxOpenHowSize = 4096;  // openat2 refuses a larger struct: E2BIG

bool WillCreate(uint64_t flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

// openat2(2)'s own checks (fs/open.c build_open_flags), so that a call the
// kernel rejects is never answered here.
absl::Status CheckOpenHow(const open_how& how) {
  if ((how.flags & ~kValidOpenFlags) != 0) return absl::InvalidArgumentError("open flags");
  if ((how.resolve & ~kValidResolveFlags) != 0) {
    return absl::InvalidArgumentError("resolve flags");
  }
  if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT)) {
    return absl::InvalidArgumentError("RESOLVE_BENEATH with RESOLVE_IN_ROOT");
  }
  if (WillCreate(how.flags) ? (how.mode & ~kModeBits) != 0 : how.mode != 0) {
    return absl::InvalidArgumentError("mode");
  }
  if ((how.flags & O_PATH) && (how.flags & ~kPathFlags) != 0) {
    return absl::InvalidArgumentError("O_PATH with other flags");
  }
  return absl::OkStatus();
}

// (A view, so that nothing runs between the failed call and reading errno.)
absl::Status Errno(int error, absl::string_view what) { return absl::ErrnoToStatus(error, what); }

// The canonical path of our descriptor `fd`.
absl::StatusOr<std::string> PathOfFd(int fd) {
  char link[32];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[kPathMax + 1];
  const ssize_t n = readlink(link, buf, sizeof buf);
  if (n < 0) return Errno(errno, "readlink");
  if (static_cast<size_t>(n) == sizeof buf) return Errno(ENAMETOOLONG, "readlink");
  std::string path(buf, static_cast<size_t>(n));
  // Not a path in our mount namespace ("anon_inode:...", an unreachable
  // mount), or an unlinked file.
  if (path.empty() || path[0] != '/' || path.ends_with(" (deleted)")) {
    return absl::NotFoundError(absl::StrCat("no canonical path: ", path));
  }
  return path;
}

// openat2(base, path) to an O_PATH descriptor, with the caller's RESOLVE_*
// flags (RESOLVE_CACHED dropped: it only asks the kernel not to block) and
// never through a magic link.
absl::StatusOr<UniqueFd> Walk(int base, const char* path, uint64_t extra_flags,
                              uint64_t resolve) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | extra_flags;
  how.resolve = (resolve & ~uint64_t{RESOLVE_CACHED}) | RESOLVE_NO_MAGICLINKS;
  const long fd = syscall(SYS_openat2, base, path, &how, sizeof how);
  if (fd < 0) return Errno(errno, "openat2");
  return UniqueFd(static_cast<int>(fd));
}

// Whether thread `tid` has detrun's root directory (it did not chroot).
bool HasOurRoot(pid_t tid) {
  char link[48];
  snprintf(link, sizeof link, "/proc/%d/root", static_cast<int>(tid));
  char buf[2];
  return readlink(link, buf, sizeof buf) == 1 && buf[0] == '/';
}

// `path` (from `base`) does not exist: canonicalise the longest prefix that
// does, and append the rest, which must be plain names whose first one is
// really absent (not, say, a dangling symlink).
absl::StatusOr<std::string> CanonicalOfMissing(int base, std::string_view path,
                                               uint64_t resolve) {
  if (path.ends_with('/')) return absl::NotFoundError("missing directory");
  const bool absolute = path.starts_with('/');
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(path.data(), path.size()), '/', absl::SkipEmpty());
  if (parts.empty()) return absl::NotFoundError("no component");
  for (size_t keep = parts.size() - 1;; --keep) {
    if (parts[keep] == "." || parts[keep] == "..") return absl::NotFoundError("dot component");
    std::string prefix = absl::StrJoin(parts.begin(), parts.begin() + keep, "/");
    if (absolute) {
      prefix.insert(0, "/");
    } else if (prefix.empty()) {
      prefix = ".";
    }
    absl::StatusOr<UniqueFd> dir = Walk(base, prefix.c_str(), O_DIRECTORY, resolve);
    if (dir.ok()) {
      struct stat st;
      const std::string first(parts[keep].data(), parts[keep].size());
      if (fstatat(dir->get(), first.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return absl::NotFoundError("a component exists but cannot be followed");
      }
      if (errno != ENOENT) return Errno(errno, "fstatat");
      absl::StatusOr<std::string> canonical = PathOfFd(dir->get());
      if (!canonical.ok()) return canonical.status();
      if (*canonical != "/") canonical->push_back('/');
      absl::StrAppend(&*canonical, absl::StrJoin(parts.begin() + keep, parts.end(), "/"));
      return canonical;
    }
    if (!absl::IsNotFound(dir.status()) || keep == 0) return dir.status();
  }
}

}  // namespace

std::string ProcBaseFor(pid_t tid, int dirfd) {
  if (dirfd == AT_FDCWD) return absl::StrCat("/proc/", tid, "/cwd");
  return absl::StrCat("/proc/", tid, "/fd/", dirfd);
}

std::string_view LastComponent(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

const absl::StatusOr<OpenCall>& DecodeOpenCall(SyscallContext& ctx) {
  if (ctx.open_call == nullptr) {
    ctx.open_call = std::make_shared<const absl::StatusOr<OpenCall>>(
        DecodeOpenCall(ctx.notification, ctx.memory));
  }
  return *ctx.open_call;
}

absl::StatusOr<OpenCall> DecodeOpenCall(const Notification& n, const ChildMemory& memory) {
  OpenCall call;
  call.target.tid = n.tid;
  uint64_t path_addr = 0;
  // For open, creat and openat, the flags (an int) the kernel ignores are
  // dropped and O_PATH keeps only its own (fs/open.c build_open_how).
  auto legacy_flags = [](uint64_t flags) {
    flags = static_cast<uint32_t>(flags) & kValidOpenFlags;
    if (flags & O_PATH) flags &= kPathFlags;
    return flags;
  };
  switch (n.nr) {
    case SYS_open:
      path_addr = n.args[0];
      call.flags = legacy_flags(n.args[1]);
      call.mode = n.args[2];
      break;
    case SYS_creat:
      path_addr = n.args[0];
      call.flags = O_CREAT | O_WRONLY | O_TRUNC;
      call.mode = n.args[1];
      break;
    case SYS_openat:
      call.target.dirfd = static_cast<int32_t>(n.args[0]);
      path_addr = n.args[1];
      call.flags = legacy_flags(n.args[2]);
      call.mode = n.args[3];
      break;
    case SYS_openat2: {
      call.target.dirfd = static_cast<int32_t>(n.args[0]);
      path_addr = n.args[1];
      const uint64_t size = n.args[3];
      // copy_struct_from_user: at least version 0 of the struct, at most a
      // page, and any bytes past the ones the kernel knows must be zero.
      if (size < sizeof(open_how)) return absl::InvalidArgumentError("open_how too small");
      if (size > kMaxOpenHowSize) return absl::OutOfRangeError("open_how too large");
      std::vector<uint8_t> raw(size);
      absl::Status s = memory.Read(n.id, n.tid, n.args[2], raw.data(), raw.size());
      if (!s.ok()) return s;
      for (size_t i = sizeof(open_how); i < raw.size(); ++i) {
        if (raw[i] != 0) return absl::OutOfRangeError("unknown open_how fields");
      }
      open_how how;
      memcpy(&how, raw.data(), sizeof how);
      if (absl::Status c = CheckOpenHow(how); !c.ok()) return c;
      if ((how.resolve & RESOLVE_CACHED) &&
          ((how.flags & (O_CREAT | O_TRUNC)) || (how.flags & O_TMPFILE) == O_TMPFILE)) {
        return absl::UnavailableError("RESOLVE_CACHED cannot create");  // EAGAIN
      }
      call.flags = how.flags;
      call.mode = how.mode;
      call.lookup.resolve = how.resolve;
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("not an open call: ", n.nr));
  }
  absl::StatusOr<std::string> path = memory.ReadString(n.id, n.tid, path_addr, kPathMax);
  if (!path.ok()) return path.status();
  if (path->empty()) return absl::NotFoundError("empty path");
  call.target.path = std::move(*path);
  // O_CREAT|O_EXCL never follows a final symlink: it fails with EEXIST.
  const bool exclusive_create = (call.flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) &&
                                (call.flags & O_PATH) == 0;
  call.lookup.follow_final_symlink = (call.flags & O_NOFOLLOW) == 0 && !exclusive_create;
  return call;
}

namespace {

// The canonical path of `path` walked from `base_fd` (see
// CanonicalChildPath).
absl::StatusOr<std::string> CanonicalFrom(int base_fd, const std::string& path,
                                          const PathLookup& lookup) {
  const uint64_t nofollow = lookup.follow_final_symlink ? 0 : O_NOFOLLOW;
  absl::StatusOr<UniqueFd> fd = Walk(base_fd, path.c_str(), nofollow, lookup.resolve);
  if (!fd.ok()) {
    if (!absl::IsNotFound(fd.status())) return fd.status();
    return CanonicalOfMissing(base_fd, path, lookup.resolve);
  }
  if (!lookup.follow_final_symlink) {
    struct stat st;
    if (fstat(fd->get(), &st) != 0) return Errno(errno, "fstat");
    if (S_ISLNK(st.st_mode)) {
      return absl::FailedPreconditionError("the last component is a symlink not to follow");
    }
  }
  return PathOfFd(fd->get());
}

// Whether `canonical` is /proc/PID or below: where a walk through
// procfs's self or thread-self links lands for process `pid`.
bool InProcDirOf(std::string_view canonical, pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid);
  return canonical.starts_with(dir) &&
         (canonical.size() == dir.size() || canonical[dir.size()] == '/');
}

}  // namespace

absl::StatusOr<std::string> CanonicalChildPath(const ChildPath& target, const PathLookup& lookup) {
  if (target.path.empty()) return absl::NotFoundError("empty path");
  if (!HasOurRoot(target.tid)) {
    return absl::FailedPreconditionError("the thread's root directory is not detrun's");
  }
  // An absolute path starts at the root, which is ours; RESOLVE_BENEATH and
  // RESOLVE_IN_ROOT scope it to the directory descriptor instead.
  UniqueFd base;
  const bool scoped = (lookup.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) != 0;
  const bool from_root = target.path[0] == '/' && !scoped;
  if (!from_root) {
    const std::string proc_base = ProcBaseFor(target.tid, target.dirfd);
    // Through the magic link: the child's very directory.
    base.reset(open(proc_base.c_str(), O_PATH | O_CLOEXEC));
    if (!base.ok()) return Errno(errno, proc_base);
  }
  const int base_fd = from_root ? AT_FDCWD : base.get();
  absl::StatusOr<std::string> canonical = CanonicalFrom(base_fd, target.path, lookup);
  const pid_t tgid = target.tgid > 0 ? target.tgid : target.tid;
  if (tgid == getpid()) return canonical;
  const bool retry = canonical.ok() ? InProcDirOf(*canonical, getpid())
                                    : absl::IsNotFound(canonical.status());
  if (!retry) return canonical;
  // Landed in detrun's /proc/PID, through a self link (or by detrun's own
  // pid, which the thread's walk reaches just the same), or found nothing
  // (maybe in detrun's /proc/PID, where the thread's has more).
  if (scoped) return absl::FailedPreconditionError("a procfs self link under RESOLVE_BENEATH");
  absl::StatusOr<ChildPathAt> at =
      ResolveChildPath(ChildTask{target.tid, tgid, false}, target.dirfd, target.path,
                       lookup.follow_final_symlink);
  if (!at.ok()) return at.status();
  absl::StatusOr<std::string> again = at->path.empty()
                                          ? absl::NotFoundError("empty path")
                                          : CanonicalFrom(at->dirfd, at->path, lookup);
  if (canonical.ok()) return again;  // detrun's /proc/PID is never the answer
  // Found now only through the thread's own self links; otherwise the first
  // walk's answer stands (ResolveChildPath also names what it refuses, such
  // as a dangling symlink's target).
  if (again.ok() && InProcDirOf(*again, tgid)) return again;
  return canonical;
}

bool LastComponentIsSymlink(const ChildPath& target) {
  struct stat st;
  int r;
  if (!target.path.empty() && target.path[0] == '/') {
    r = fstatat(AT_FDCWD, target.path.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  } else {
    // One call, through the magic link to the child's directory.
    const std::string full = absl::StrCat(ProcBaseFor(target.tid, target.dirfd), "/", target.path);
    r = fstatat(AT_FDCWD, full.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  }
  return r == 0 && S_ISLNK(st.st_mode);
}

}  // namespace detrun
