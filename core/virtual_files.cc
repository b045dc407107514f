#include "core/virtual_files.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/child_open.h"
#include "core/child_path.h"
#include "core/linux_compat.h"
#include "core/process_table.h"

namespace detrun {
namespace {

// Status flags a memfd keeps when reopened (O_DIRECT is dropped: not every
// kernel's tmpfs takes it).
constexpr uint64_t kKeptStatusFlags = O_NONBLOCK | O_APPEND | O_NOATIME | O_SYNC | O_DSYNC;
constexpr unsigned kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

// The host's canonical name of `path`, if it exists.
bool CanonicalHostPath(const std::string& path, std::string* out) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return false;
  *out = buf;
  return true;
}

absl::StatusOr<UniqueFd> CreateMemfd(const std::string& name) {
  // Linux 6.3+: say the content is never executable (and satisfy
  // vm.memfd_noexec=2); older kernels refuse the flag with EINVAL.
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return absl::ErrnoToStatus(errno, "memfd_create");
  return UniqueFd(fd);
}

// The kernel's answer, in its order, to an open of a read-only regular
// file with `flags` that it refuses (see the top of the header); nullopt
// when it would open it.
std::optional<Response> RefuseReadOnlyFile(uint64_t flags) {
  if ((flags & O_PATH) == 0) {
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return Response::Errno(EEXIST);
    if (flags & O_DIRECTORY) return Response::Errno(ENOTDIR);
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return Response::Errno(EACCES);
  } else if (flags & O_DIRECTORY) {
    return Response::Errno(ENOTDIR);
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<UniqueFd> MakeSealedMemfd(std::string_view name, std::string_view content) {
  absl::StatusOr<UniqueFd> memfd = CreateMemfd(absl::StrCat("detrun:", std::string(name)));
  if (!memfd.ok()) return memfd.status();
  const int fd = memfd->get();
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write to memfd");
    }
    done += static_cast<size_t>(n);
  }
  if (fchmod(fd, 0444) != 0) return absl::ErrnoToStatus(errno, "fchmod memfd");
  if (fcntl(fd, F_ADD_SEALS, kSeals) != 0) return absl::ErrnoToStatus(errno, "seal memfd");
  return memfd;
}

absl::StatusOr<UniqueFd> ReopenReadOnly(int memfd, uint64_t open_flags) {
  // A fresh open file description, read-only (a memfd is born O_RDWR),
  // with its offset at 0.
  char self[32];
  snprintf(self, sizeof self, "/proc/self/fd/%d", memfd);
  const int flags = O_RDONLY | O_CLOEXEC | static_cast<int>(open_flags & kKeptStatusFlags);
  UniqueFd reopened(open(self, flags));
  if (!reopened.ok()) return absl::ErrnoToStatus(errno, "reopen memfd");
  return reopened;
}

absl::StatusOr<UniqueFd> MakeContentFd(std::string_view name, std::string_view content,
                                       uint64_t open_flags) {
  absl::StatusOr<UniqueFd> memfd = MakeSealedMemfd(name, content);
  if (!memfd.ok()) return memfd.status();
  return ReopenReadOnly(memfd->get(), open_flags);
}

VirtualFiles::VirtualFiles(std::vector<Registry::ProvidedFile> files, const Config& config,
                           std::vector<Registry::ProvidedPattern> patterns)
    : files_(std::move(files)),
      patterns_(std::move(patterns)),
      landlock_(config.landlock_requested()) {
  for (const Registry::ProvidedPattern& p : patterns_) {
    names_.emplace(std::string(p.pattern.last_component()));
  }
  for (size_t i = 0; i < files_.size(); ++i) {
    const std::string& path = files_[i].path;
    if (!by_path_.emplace(path, i).second) {
      fprintf(stderr, "detrun: internal error: %s provides %s, which %s provides already\n",
              files_[i].module_name.c_str(), path.c_str(),
              files_[by_path_[path]].module_name.c_str());
      abort();
    }
    names_.emplace(LastComponent(path));
  }
  // Host aliases after every own path, so an own path always wins. Not
  // under /proc and /sys: the kernel's own trees name their files
  // canonically, and a realpath per file (a readlink per component) would
  // cost --cpus=1024 about 5000 calls at start-up for nothing.
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i].path.starts_with("/proc/") || files_[i].path.starts_with("/sys/")) continue;
    std::string host;
    if (CanonicalHostPath(files_[i].path, &host) && host != files_[i].path) {
      if (by_path_.emplace(host, i).second) names_.emplace(LastComponent(host));
    }
  }
  for (const std::vector<std::string>* list : {&config.allow_read, &config.allow_write}) {
    for (const std::string& p : *list) {
      std::string canonical;
      if (CanonicalHostPath(p, &canonical)) allowed_.push_back(canonical);
    }
  }
}

void VirtualFiles::Install(Registry& registry, const Config& config) {
  if (registry.provided_files().empty() && registry.provided_patterns().empty()) return;
  auto files = std::make_shared<const VirtualFiles>(registry.provided_files(), config,
                                                    registry.provided_patterns());
  registry.BeginModule(-1, "files");
  for (int nr : {SYS_open, SYS_creat, SYS_openat, SYS_openat2}) {
    registry.Notify(
        nr, [files](SyscallContext& ctx) { return files->HandleOpen(ctx); },
        "virtual files: opens of the files modules provide are answered with their content");
  }
}

absl::StatusOr<UniqueFd> VirtualFiles::ContentFd(const Registry::ProvidedFile& file,
                                                 const std::string& content,
                                                 uint64_t open_flags) const {
  // Most files read the same at every open: reuse their sealed memfd (a
  // reopen is one call instead of six).
  Sealed& sealed = sealed_[&file];
  if (!sealed.memfd.ok() || sealed.content != content) {
    absl::StatusOr<UniqueFd> memfd = MakeSealedMemfd(file.path, content);
    if (!memfd.ok()) {
      sealed_.erase(&file);
      return memfd.status();
    }
    sealed.memfd = std::move(*memfd);
    sealed.content = content;
  }
  return ReopenReadOnly(sealed.memfd.get(), open_flags);
}

const Registry::ProvidedFile* VirtualFiles::Find(std::string_view canonical_path) const {
  auto it = by_path_.find(absl::string_view(canonical_path.data(), canonical_path.size()));
  return it == by_path_.end() ? nullptr : &files_[it->second];
}

const Registry::ProvidedPattern* VirtualFiles::FindPattern(
    std::string_view canonical_path) const {
  for (const Registry::ProvidedPattern& p : patterns_) {
    if (p.pattern.Matches(canonical_path)) return &p;
  }
  return nullptr;
}

bool VirtualFiles::LandlockAllows(std::string_view path) const {
  if (!landlock_) return true;
  for (const std::string& root : allowed_) {
    if (root == "/" || path == root ||
        (path.starts_with(root) && path.size() > root.size() && path[root.size()] == '/')) {
      return true;
    }
  }
  return false;
}

std::optional<Response> VirtualFiles::HandleOpen(SyscallContext& ctx) const {
  absl::StatusOr<OpenCall> call = DecodeOpenCall(ctx);  // a copy: tgid is set below
  if (!call.ok()) return std::nullopt;  // the kernel fails it as it should
  // Only a provided file's name, or a symlink, can lead to one.
  if (!IsProvidedName(LastComponent(call->target.path)) &&
      !LastComponentIsSymlink(call->target)) {
    return std::nullopt;
  }
  call->target.tgid = ctx.process.pid;
  absl::StatusOr<std::string> canonical = CanonicalChildPath(call->target, call->lookup);
  if (!canonical.ok()) return std::nullopt;
  const Registry::ProvidedFile* file = Find(*canonical);
  const Registry::ProvidedPattern* pattern = file == nullptr ? FindPattern(*canonical) : nullptr;
  if ((file == nullptr && pattern == nullptr) || !LandlockAllows(*canonical)) {
    return std::nullopt;
  }

  const uint64_t flags = call->flags;
  if (pattern != nullptr) {
    // Asked first: whether the file exists is the provider's to say.
    absl::StatusOr<std::string> content = pattern->provider(ctx, *canonical);
    if (!content.ok()) {
      const int error = ErrnoOf(content.status());
      if (error == ENOENT) return std::nullopt;  // the kernel's own error for these flags
      return Response::Errno(error);
    }
    if (std::optional<Response> refused = RefuseReadOnlyFile(flags)) return refused;
    absl::StatusOr<UniqueFd> fd = MakeContentFd(*canonical, *content, flags & ~uint64_t{O_PATH});
    if (!fd.ok()) return Response::Errno(ENOMEM);
    return Response::InjectOwnedFd(std::move(*fd), (flags & O_CLOEXEC) ? O_CLOEXEC : 0);
  }
  if (file->device) {
    // A stream device: the kernel's checks for a character device, then a
    // descriptor of the provider's (an O_PATH open gets a readable one,
    // as for files: the real device reopened through /proc/self/fd would
    // give host bytes).
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return Response::Errno(EEXIST);
    if (flags & O_DIRECTORY) return Response::Errno(ENOTDIR);
    absl::StatusOr<UniqueFd> fd = file->device(ctx, flags & ~uint64_t{O_PATH});
    if (!fd.ok()) return Response::Errno(ENOMEM);
    return Response::InjectOwnedFd(std::move(*fd), (flags & O_CLOEXEC) ? O_CLOEXEC : 0);
  }
  if (std::optional<Response> refused = RefuseReadOnlyFile(flags)) return refused;
  absl::StatusOr<std::string> content = file->provider(ctx);
  if (!content.ok()) return Response::Errno(ErrnoOf(content.status()));
  // O_PATH included: SECCOMP_IOCTL_NOTIF_ADDFD cannot install an O_PATH
  // descriptor (the kernel's fget refuses them), and letting the kernel
  // open the real file would show its size and, reopened through
  // /proc/self/fd, its content. A readable descriptor of the content is
  // the closest deterministic answer.
  absl::StatusOr<UniqueFd> fd = ContentFd(*file, *content, flags & ~uint64_t{O_PATH});
  // Out of descriptors or memory on detrun's side: never the host's file.
  if (!fd.ok()) return Response::Errno(ENOMEM);
  return Response::InjectOwnedFd(std::move(*fd), (flags & O_CLOEXEC) ? O_CLOEXEC : 0);
}

}  // namespace detrun
