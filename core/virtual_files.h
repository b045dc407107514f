// VirtualFiles: the core service that answers the command's opens of the
// files modules provide (Registry::ProvideFile) with deterministic content.
//
// Life: once every module has registered, the supervisor calls
// VirtualFiles::Install(registry, config). When at least one file or file
// pattern is provided it registers one handler, as the core's "files", for
// open(2), creat(2), openat(2) and openat2(2) -- so every open of the run is
// then notified -- and otherwise nothing.
//
// A provided file is one path (Registry::ProvideFile) or any path of a
// pattern (Registry::ProvideFilePattern, core/path_pattern.h), such as
// every /proc/PID/status; its own path wins over a pattern, and the first
// pattern registered over later ones. Names below "the file's name" mean
// the last component of either.
//
// One open:
//   1. DecodeOpenCall (core/child_open.h) reads the path and flags; a call
//      the kernel would reject goes to the kernel.
//   2. Cheap filter: only a path whose last component has the name of a
//      provided file, or is a symbolic link, can name one; anything else
//      goes to the kernel after one fstatat.
//   3. CanonicalChildPath resolves it the way the kernel would (procfs's
//      "self" and "thread-self" as the opening thread's); a path that is
//      not a provided file, or that cannot be resolved from here, goes to
//      the kernel (Continue), which does the real open with its real
//      errors.
//   4. A provided file is answered here, as the kernel would answer for a
//      read-only regular file, in its order:
//        O_PATH                        a read-only descriptor of the
//                                      content (with O_DIRECTORY: ENOTDIR).
//                                      seccomp cannot install an O_PATH
//                                      one (its fget refuses them), and
//                                      the real file's would show the
//                                      host file's size and, reopened via
//                                      /proc/self/fd, its content; so
//                                      read() works where the kernel
//                                      would say EBADF
//        O_CREAT|O_EXCL                EEXIST
//        O_DIRECTORY (O_TMPFILE too)   ENOTDIR
//        write access, O_TRUNC         EACCES: every provided file is
//                                      read-only under detrun (writing
//                                      /proc/sys/kernel/hostname as root
//                                      would rename the host; writing
//                                      /etc/hostname would change what the
//                                      next run's host reads, not what
//                                      this run sees)
//        otherwise                     the content, see below
//      A provider error fails the open with the errno it carries
//      (ErrnoError, core/child_path.h), else EIO. A pattern's provider is
//      asked first, before the flags are checked: a path of the pattern
//      that does not exist (its provider says ENOENT, e.g. a pid with no
//      process) goes to the kernel, which gives its own error for those
//      flags.
//   With --allow-read/--allow-write (Landlock), a provided file outside
//   every allowed path is left to the kernel, which refuses it, so a
//   virtual file is no way around the ruleset.
//
// The content goes in a memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING, mode
// 0444) sealed against writing, growing and shrinking (for a file of its
// own path, kept and reused for the next open that finds the same content;
// a pattern's files, whose content changes, get a new one), then reopened
// read-only through /proc/self/fd with the caller's status flags
// (O_NONBLOCK, O_APPEND, O_NOATIME, O_SYNC, O_DSYNC; O_DIRECT is dropped),
// and installed in the child with SECCOMP_ADDFD_FLAG_SEND, O_CLOEXEC if
// the caller asked. Each open gets its own open file description, so
// read, lseek, pread, mmap (MAP_PRIVATE, or MAP_SHARED read-only) and
// fstat (a regular file whose st_size is the content's length) behave as
// for a file; write fails with EBADF. What still tells it from the real
// file: fstat's st_dev/st_ino/st_uid/st_nlink (0) are the memfd's, and
// readlink(/proc/self/fd/N) reads "/memfd:detrun:PATH (deleted)". Calls
// that take the path without opening it (stat, access, readlink,
// getxattr, execve, truncate, rename, unlink, ...) still reach the real
// file.
#ifndef DETRUN_CORE_VIRTUAL_FILES_H_
#define DETRUN_CORE_VIRTUAL_FILES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/module.h"
#include "core/unique_fd.h"

namespace detrun {

class VirtualFiles {
 public:
  // Indexes `files` by path, and by the host's canonical name of each path
  // outside /proc and /sys when it differs (/etc/hostname may be a symlink
  // into /run or /nix/store: opening it reaches that name). A path
  // provided twice aborts (a programming error).
  VirtualFiles(std::vector<Registry::ProvidedFile> files, const Config& config,
               std::vector<Registry::ProvidedPattern> patterns = {});

  // Registers the open handlers when `registry` has provided files; call
  // after every module has registered.
  static void Install(Registry& registry, const Config& config);

  // The handler of open, creat, openat and openat2 (see the top).
  std::optional<Response> HandleOpen(SyscallContext& ctx) const;

  // The provided file at `canonical_path` (its own path or the host's
  // canonical name of it), or nullptr.
  const Registry::ProvidedFile* Find(std::string_view canonical_path) const;

  // The first pattern that matches `canonical_path`, or nullptr (Find
  // first: a file provided by its own path wins).
  const Registry::ProvidedPattern* FindPattern(std::string_view canonical_path) const;

  // Whether some provided file or pattern is called `name` (a last
  // component).
  bool IsProvidedName(std::string_view name) const {
    return names_.contains(absl::string_view(name.data(), name.size()));
  }

  // Whether Landlock (--allow-*) would let the command read `path`.
  bool LandlockAllows(std::string_view canonical_path) const;

 private:
  // A read-only descriptor of `content` for `file`, see MakeContentFd.
  absl::StatusOr<UniqueFd> ContentFd(const Registry::ProvidedFile& file,
                                     const std::string& content, uint64_t open_flags) const;

  std::vector<Registry::ProvidedFile> files_;
  std::vector<Registry::ProvidedPattern> patterns_;
  absl::flat_hash_map<std::string, size_t> by_path_;  // index into files_
  absl::flat_hash_set<std::string> names_;
  bool landlock_ = false;
  std::vector<std::string> allowed_;  // canonical --allow-read/--allow-write paths
  // The last content of each file opened, sealed, reused while the content
  // stays the same (a cache: the supervisor is single-threaded).
  struct Sealed {
    std::string content;
    UniqueFd memfd;
  };
  mutable absl::flat_hash_map<const Registry::ProvidedFile*, Sealed> sealed_;
};

// A sealed, read-only file holding `content` (see the top of the file),
// opened with O_RDONLY plus the status flags of `open_flags` that a memfd
// keeps. `name` appears in readlink(/proc/self/fd/N) as
// "/memfd:detrun:NAME (deleted)". It is MakeSealedMemfd then
// ReopenReadOnly; the sealed memfd can be reopened any number of times.
absl::StatusOr<UniqueFd> MakeContentFd(std::string_view name, std::string_view content,
                                       uint64_t open_flags);
absl::StatusOr<UniqueFd> MakeSealedMemfd(std::string_view name, std::string_view content);
absl::StatusOr<UniqueFd> ReopenReadOnly(int memfd, uint64_t open_flags);

}  // namespace detrun

#endif  // DETRUN_CORE_VIRTUAL_FILES_H_
