// ChildPath: reaching, from the supervisor, the file a supervised thread
// names with a (dirfd, path) pair, so that a module can make a path call on
// the thread's behalf (stat today, open later) and get what the thread's own
// call would have got: the same file, or the same errno.
//
// The supervisor is another process. Its working directory, its descriptor
// table and possibly its root are not the thread's, and procfs's "self" and
// "thread-self" links name whoever follows them: followed by detrun,
// /dev/stdin, /dev/fd/63 (bash's <(...)) or /proc/self/exe would name
// detrun's files. ResolveChildPath re-expresses the thread's (dirfd, path)
// as a (dirfd, path) of the supervisor's such that the same *at() call with
// the same flags reaches the same file through the same symlinks:
//
//   - The starting point: the thread's working directory (AT_FDCWD) or its
//     descriptor dirfd, opened O_PATH through the magic links /proc/TID/cwd
//     and /proc/TID/fd/N, which name the thread's own file whatever it is
//     (a directory renamed meanwhile, a pipe, a socket). Absolute paths
//     start at the root.
//   - Fast path: a path that crosses no symlink (checked with openat2 and
//     RESOLVE_NO_SYMLINKS; a single component that is not followed needs no
//     check) is used as it is: only its starting point changes.
//   - Otherwise the path is walked here one component at a time. Ordinary
//     symlinks are read and expanded here; "self" and "thread-self" in a
//     procfs root become the thread's own TGID and TGID/task/TID; magic
//     links (/proc/PID/fd/N, cwd, root, exe: those RESOLVE_NO_MAGICLINKS
//     refuses) are followed by the kernel, since they name the same file
//     whoever follows them. At most 40 links are followed (the kernel's
//     MAXSYMLINKS), else ELOOP.
//   - Errors: the caller makes the real call with the thread's flags, so the
//     kernel itself produces the thread's errno, in the kernel's own order
//     (bad flags before a missing file, a missing file before a bad output
//     buffer). A walk stops at the first component it cannot look up and
//     hands the kernel the rest of the path from there, so the call fails at
//     that component exactly as the thread's would. A dirfd the thread does
//     not have becomes kClosedFd (EBADF, only where and when the kernel
//     looks at dirfd).
//   - Root: when the caller says the thread's root may differ from detrun's
//     (some process of the run called chroot or setns), the thread's root
//     is compared with ours on every call; if it differs, every path is
//     walked here from the thread's root (/proc/TID/root): absolute paths
//     and absolute symlinks start there and ".." stops there.
//
// Known differences from the thread's own call:
//   - Permissions are checked with detrun's credentials (the same as the
//     thread's unless it changed them, e.g. a root command that dropped to
//     another user).
//   - Symlinks expanded here (slow path only) are not subject to
//     fs.protected_symlinks, which can refuse to follow a symlink in a
//     sticky world-writable directory owned by someone else.
//   - A path longer than PATH_MAX only after symlink expansion, whose walk
//     fails midway, fails with ENAMETOOLONG instead of the first error.
//   - procfs's "self" is translated for the procfs instance of detrun's pid
//     namespace (the thread's TGID as detrun sees it).
//   - The fast path's check opens the path O_PATH, which may trigger an
//     automount of its final component where a stat (AT_NO_AUTOMOUNT
//     implied) would not; the call itself keeps the thread's flags.
//
// Life: free functions, no state; every descriptor returned belongs to the
// caller. Errors are absl::Status values that carry an errno (ErrnoOf).
#ifndef DETRUN_CORE_CHILD_PATH_H_
#define DETRUN_CORE_CHILD_PATH_H_

#include <fcntl.h>
#include <sys/types.h>

#include <climits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/unique_fd.h"

namespace detrun {

// A status for a failed syscall that remembers its errno (ErrnoOf).
absl::Status ErrnoError(int error, std::string_view context);
// The errno an ErrnoError carries; 0 for OK; EIO for other statuses.
int ErrnoOf(const absl::Status& status);

// A descriptor number never open in detrun (above any RLIMIT_NOFILE the
// kernel allows): it stands for a thread's non-negative dirfd that is not
// open, so that the kernel takes the same route (a descriptor, not
// AT_FDCWD) and fails with EBADF where the thread's call would.
inline constexpr int kClosedFd = INT_MAX;

// The thread a path belongs to.
struct ChildTask {
  pid_t tid = 0;   // the thread, in detrun's pid namespace
  pid_t tgid = 0;  // its process
  // Some process of the run may have changed its root (chroot, setns):
  // compare this thread's root with detrun's before trusting "/".
  bool root_may_differ = false;
};

// "/proc/TID/fd/FD": a magic link to the thread's open file `fd`. stat()
// through it reaches the file itself, whatever its type (pipe, socket,
// deleted file, O_PATH descriptor of a symlink), never a path.
std::string ChildFdPath(pid_t tid, int fd);

// An O_PATH descriptor of ours for what `dirfd` names in thread `tid`: its
// working directory for AT_FDCWD, else its descriptor `dirfd`, whatever
// type of file that is (a *at() call relative to a non-directory fails with
// ENOTDIR, as the thread's would). EBADF when the thread has no descriptor
// `dirfd` (or dirfd is negative and not AT_FDCWD); ENOENT/ESRCH when the
// thread is gone.
absl::StatusOr<UniqueFd> OpenChildDir(pid_t tid, int dirfd);

// An O_PATH descriptor of thread `tid`'s root directory.
absl::StatusOr<UniqueFd> OpenChildRoot(pid_t tid);

// What to pass, in the supervisor, to one *at() call: `dirfd` and `path`.
struct ChildPathAt {
  UniqueFd dir;          // owns dirfd when it was opened here
  int dirfd = AT_FDCWD;  // dir.get(), AT_FDCWD, or the thread's own
                         // negative dirfd or kClosedFd (EBADF)
  std::string path;
};

// Re-expresses the thread's (dirfd, path) for a call that follows a final
// symlink or not (`follow_final`: no AT_SYMLINK_NOFOLLOW / O_NOFOLLOW; a
// trailing slash always follows). An empty path stays empty (for
// AT_EMPTY_PATH calls: dirfd then names the thread's descriptor or working
// directory). Errors: ELOOP when more than 40 symlinks would be followed;
// the errno of a thread that is gone. Lookup errors are not errors here:
// the returned pair makes the caller's call fail with them.
absl::StatusOr<ChildPathAt> ResolveChildPath(const ChildTask& task, int dirfd,
                                             std::string_view path, bool follow_final);

}  // namespace detrun

#endif  // DETRUN_CORE_CHILD_PATH_H_
