// FsTimesModule: file timestamps no later than the start (--fs-times).
//
// --fs-times=clamp (the default) applies the SOURCE_DATE_EPOCH clamping
// rule as the command reads: every file time the stat family reports that
// is later than the run's start (--time) reads as the start, to the
// nanosecond; earlier times are left alone. Files written during the run
// therefore all read as the start, so archives and caches that embed member
// or source times (tar, zip, gzip, jar, Python's .pyc, ...) come out the
// same on every run. --fs-times=real registers nothing: the host's times.
//
//   stat(path, buf)            newfstatat(AT_FDCWD, path, buf, 0)
//   lstat(path, buf)           newfstatat(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW)
//   fstat(fd, buf)             the descriptor's file
//   newfstatat(dirfd, path, buf, flags)          (glibc's stat/fstat/lstat)
//   statx(dirfd, path, flags, mask, buf)         (coreutils, libuv)
// Clamped fields: st_atim, st_mtim, st_ctim; stx_atime, stx_mtime,
// stx_ctime, stx_btime (all four whatever stx_mask says: a time the
// filesystem left out reads 0, which is earlier than any start after 1970).
//
// A notification cannot be post-processed once the kernel ran the call, so
// the supervisor makes the call itself and writes the clamped result into
// the command's buffer (struct stat: 144 bytes, struct statx: 256, as the
// kernel writes them). Where the command named a file by path, the path is
// resolved as the command would (core/child_path.h: its working directory,
// its descriptors, its /proc/self, its root); a bare descriptor is reached
// through /proc/TID/fd/N. The call made is the command's own syscall with
// its flags and mask, so every error comes from the kernel, in the
// kernel's order: EFAULT for an unreadable path or an unwritable buffer,
// ENAMETOOLONG, ENOENT, ENOTDIR, EACCES, ELOOP, EBADF, EINVAL for bad flags.
//
// Python's .pyc files: a timestamp .pyc (PEP 552: flags word 0) records
// its source's mtime in seconds (32 bits, little-endian, at offset 8), and
// Python runs it only while that equals the source's st_mtime. Under clamp
// a source newer than the start reads as the start, so every installed
// .pyc would look stale and Python would compile each module it imports at
// every start (python3 -c pass: 5 modules, 2.5 ms of its 17 ms under
// detrun here). So an open
// for reading (open, openat; openat2 without RESOLVE_ flags) of a file
// named *.pyc whose header is a timestamp header with a time later than
// the start is answered with the file's content with that one field
// clamped too, the same rule as stat's: the .pyc then matches its source
// exactly when it did outside detrun. Served as core/virtual_files.h
// serves its files (a sealed memfd, read-only, the caller's O_CLOEXEC and
// status flags): fstat shows the memfd's inode and readlink of
// /proc/self/fd/N "/memfd:detrun:NAME.pyc (deleted)". Every other open,
// hash-based and older .pyc files included, is the kernel's. Not done
// under --allow-read/--allow-write (the supervisor's read would not be
// governed by the command's Landlock rules): Python then compiles again.
//
// Known limits:
//   - The supervisor stats with detrun's credentials (the command's unless
//     it changed them, e.g. a root command that became another user, which
//     could then stat files it could not). Landlock does not govern stat,
//     so a --allow-* run sees the same answers either way.
//   - Under clamp every file changed after the start reads as the start,
//     whether it changed during this run or between runs: tools that find
//     changes by comparing times (make, ninja, Python's timestamp .pyc
//     check) cannot tell an edited source from its older output. Use
//     --fs-times=real for incremental builds.
//   - Only the stat family is covered: nothing else reports file times
//     (io_uring, whose IORING_OP_STATX would, is refused).
//   - The supervisor's stat runs in its loop: a stat that blocks in the
//     kernel (a hung NFS server, an automount waiting for its daemon) holds
//     every other intercepted call of the run until it returns, where
//     natively only the caller would wait. (A FUSE server inside the run,
//     which could deadlock this, cannot mount: mount is refused and
//     no_new_privs disarms fusermount.)
//
// Cost: the module is registered whenever clamp is on, even when --time
// lies in the host's future, because host files can carry future times too
// (touch -d 2099, archives, clock skew): no start time makes clamping a
// no-op. Each stat costs a notification round trip plus the supervisor's
// own lookup (README, "Known limits", has the measured figure).
#ifndef DETRUN_DETERMINISM_FS_TIMES_MODULE_H_
#define DETRUN_DETERMINISM_FS_TIMES_MODULE_H_

#include <cstdint>
#include <optional>

#include "core/config.h"
#include "core/module.h"

namespace detrun {

// A file time as the kernel reports it: seconds and nanoseconds.
struct FileTime {
  int64_t sec = 0;
  int64_t nsec = 0;  // 0..999999999
  bool operator==(const FileTime&) const = default;
};

// The clamping rule: a time later than `start` reads as `start`.
FileTime ClampFileTime(FileTime time, FileTime start);

// --time as a FileTime (seconds rounded toward negative infinity, so the
// nanoseconds are never negative).
FileTime StartFileTime(const Config& config);

class FsTimesModule : public Module {
 public:
  explicit FsTimesModule(const Config& config);

  std::string_view name() const override { return "fs_times"; }
  void Register(Registry& registry) override;

 private:
  // One stat-family call, its arguments normalised.
  struct StatCall;
  std::optional<Response> Stat(SyscallContext& ctx, const StatCall& call);
  // An open of a timestamp .pyc newer than the start, or nullopt.
  std::optional<Response> OpenPyc(SyscallContext& ctx);

  const bool clamp_;
  const bool landlock_;  // --allow-*: .pyc opens stay the kernel's
  const FileTime start_;
  // Set once some process of the run called chroot or setns: from then on
  // every path call checks the caller's root (core/child_path.h).
  bool root_may_differ_ = false;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_FS_TIMES_MODULE_H_
