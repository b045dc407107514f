// child_open: which file a supervised thread's open(2) names, found the way
// the kernel would find it.
//
// An open-family notification carries a path as the child wrote it:
// absolute, relative to the thread's working directory or to one of its
// directory descriptors, with "//", "/./", ".." and symbolic links
// anywhere. The only robust way to know which file that is, is to let the
// kernel walk it. So the supervisor walks it itself, from the same place:
//
//   base        the child's own directory, reached through the magic links
//               /proc/TID/cwd or /proc/TID/fd/DIRFD (absolute paths start at
//               "/", which must be the child's root too: see below)
//   walk        openat2(base, path, O_PATH | O_NOFOLLOW-if-asked) with the
//               child's RESOLVE_* flags, plus RESOLVE_NO_MAGICLINKS
//   name        readlink(/proc/self/fd/N) of what it reached: the canonical
//               absolute path, in detrun's (= the child's) mount namespace
//
// Use:
//   absl::StatusOr<OpenCall> call = DecodeOpenCall(notification, memory);
//   if (!call.ok()) -> the kernel will fail the call itself; let it
//   absl::StatusOr<std::string> path = CanonicalChildPath(call->target,
//                                                        call->lookup);
//   if (!path.ok()) -> not resolvable from here; let the kernel open it
//
// procfs's "self" and "thread-self" links name whoever follows them: the
// walk above, made by detrun, lands in detrun's own /proc/PID. A path that
// lands there, or that is not found (detrun's /proc/PID/task has fewer
// threads), is walked again through ResolveChildPath (core/child_path.h),
// which reads those links as the thread's (its TGID, TGID/task/TID), and
// the result canonicalised as above: /proc/self/status opened by process
// 42 is /proc/42/status.
//
// Limits (each makes resolution fail, never answer wrongly):
//   - A path that goes through a /proc magic link of its own
//     (/proc/self/root/..., /proc/self/cwd/..., /proc/PID/fd/N/...) would
//     name detrun's link, not the child's; RESOLVE_NO_MAGICLINKS refuses it
//     (ELOOP).
//   - A thread whose root directory is not detrun's (after chroot(2))
//     resolves differently; FailedPrecondition.
//   - A name found by a different route than the canonical one does not
//     match it: hard links and bind mounts keep their own names.
//   - detrun walks with its own credentials: a directory the child may not
//     search does not stop the walk here.
//   - A path through procfs's self links with openat2's RESOLVE_BENEATH
//     or RESOLVE_IN_ROOT (ResolveChildPath does not scope its walk).
//   - A thread detrun may not inspect (/proc/TID/cwd, /proc/TID/root need
//     ptrace read access: a process made non-dumpable by exec'ing an
//     unreadable binary) cannot be resolved.
// A missing file is resolved as far as it exists: the existing part is
// canonicalised and the missing components (plain names only) appended, so
// a file that does not exist on this host still has a canonical name.
#ifndef DETRUN_CORE_CHILD_OPEN_H_
#define DETRUN_CORE_CHILD_OPEN_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/child_memory.h"
#include "core/module.h"

namespace detrun {

// A path as a thread of the child names it.
struct ChildPath {
  pid_t tid = 0;
  int dirfd = -100;  // AT_FDCWD, or one of the thread's descriptors
  std::string path;  // as written: relative or absolute, never empty
  pid_t tgid = 0;    // the thread's process; 0: tid is the process
};

// How the last component is looked up.
struct PathLookup {
  bool follow_final_symlink = true;  // false: O_NOFOLLOW, or O_CREAT|O_EXCL
  uint64_t resolve = 0;              // openat2's RESOLVE_* flags, if any
};

// An open(2), creat(2), openat(2) or openat2(2) call, decoded.
struct OpenCall {
  ChildPath target;
  uint64_t flags = 0;  // O_* as the kernel uses them (creat: O_CREAT|O_WRONLY|O_TRUNC)
  uint64_t mode = 0;
  PathLookup lookup;
};

// Reads the call's path (and openat2's struct open_how) from the child.
// Errors mean the kernel fails the call itself, so the caller should let
// it: not an open-family call, a bad pointer (EFAULT), a path of PATH_MAX
// bytes or more (ENAMETOOLONG), an empty path (ENOENT), openat2 arguments
// it rejects (EINVAL, E2BIG). For open/openat the flags the kernel ignores
// are dropped, as it drops them.
absl::StatusOr<OpenCall> DecodeOpenCall(const Notification& notification,
                                        const ChildMemory& memory);
// The same for the call `ctx` answers, read from the child once: the
// handlers of one notification (virtual files, .pyc times, leak checks)
// share it, and so all see the same path.
const absl::StatusOr<OpenCall>& DecodeOpenCall(SyscallContext& ctx);

// The canonical absolute path of the file `path` names, see the top of the
// file. Errors: whatever the walk met (NotFound, PermissionDenied, ...),
// FailedPrecondition when the thread's root is not detrun's or when the
// last component is a symbolic link that `lookup` says not to follow.
absl::StatusOr<std::string> CanonicalChildPath(const ChildPath& path, const PathLookup& lookup);

// Cheap (one fstatat): whether the last component of `path` is a symbolic
// link, not following it. False when it cannot be told (missing, no
// access). Callers that only care about a few file names use it to skip
// the full walk: a path whose last component has another name can only
// reach one of them through a final symbolic link.
bool LastComponentIsSymlink(const ChildPath& path);

// The last component of `path` as written: "c" for "a/b/c", "" for "a/b/"
// and "/".
std::string_view LastComponent(std::string_view path);

// "/proc/TID/cwd" or "/proc/TID/fd/DIRFD": where `path` starts when it is
// relative.
std::string ProcBaseFor(pid_t tid, int dirfd);

}  // namespace detrun

#endif  // DETRUN_CORE_CHILD_OPEN_H_
