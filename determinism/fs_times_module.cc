#include "determinism/fs_times_module.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/child_memory.h"
#include "core/child_open.h"
#include "core/child_path.h"
#include "core/process_table.h"
#include "core/unique_fd.h"
#include "core/virtual_files.h"

namespace detrun {

struct FsTimesModule::StatCall {
  bool statx = false;     // struct statx (statx) or struct stat (the others)
  bool fd_only = false;   // fstat(fd, buf): no path, no flags
  int dirfd = AT_FDCWD;   // the descriptor, for fd_only
  uint64_t path = 0;      // address of the path in the command
  int flags = 0;
  uint32_t mask = 0;      // statx only
  uint64_t buf = 0;       // address of the result in the command
};

namespace {

// The kernel's x86-64 struct stat and struct statx, as glibc declares them.
static_assert(sizeof(struct stat) == 144);
static_assert(sizeof(struct statx) == 256);

// int and unsigned int arguments are the low 32 bits of the register.
int Arg32(uint64_t arg) { return static_cast<int>(static_cast<uint32_t>(arg)); }

// Flags a stat of a descriptor (AT_EMPTY_PATH, empty path) may carry to be
// made through the /proc/TID/fd/N magic link, which reaches the same file.
// The kernel ignores any other bit there, while a path call would refuse
// it: such calls take the exact route instead.
constexpr int kFdLinkFlags =
    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;

// A pointer that faults here as the command's unreadable path faulted
// there (the first page is never mapped; not NULL, which AT_EMPTY_PATH
// calls take for an empty path).
const char* const kUnreadablePath = reinterpret_cast<const char*>(1);

// A path with no NUL within PATH_MAX bytes, which the kernel refuses with
// ENAMETOOLONG as it refused the command's. Static: the call that uses it
// comes after the block that chose it.
const char* TooLongPath() {
  static const std::string path(PATH_MAX, 'x');
  return path.c_str();
}

void Clamp(struct timespec& ts, FileTime start) {
  const FileTime t = ClampFileTime(FileTime{ts.tv_sec, ts.tv_nsec}, start);
  ts.tv_sec = t.sec;
  ts.tv_nsec = t.nsec;
}

void Clamp(struct statx_timestamp& ts, FileTime start) {
  const FileTime t = ClampFileTime(FileTime{ts.tv_sec, ts.tv_nsec}, start);
  ts.tv_sec = t.sec;
  ts.tv_nsec = static_cast<uint32_t>(t.nsec);
}

// Where and how the supervisor makes the command's call.
struct KernelCall {
  ChildPathAt at;        // dirfd and path
  const char* path = nullptr;
  int flags = 0;
  bool fd_link = false;  // made through ChildFdPath: ENOENT means EBADF
};

}  // namespace

FileTime ClampFileTime(FileTime time, FileTime start) {
  if (time.sec > start.sec || (time.sec == start.sec && time.nsec > start.nsec)) return start;
  return time;
}

FileTime StartFileTime(const Config& config) {
  const int64_t sec = absl::ToUnixSeconds(config.start_time);  // floor
  return FileTime{sec, absl::ToInt64Nanoseconds(config.start_time - absl::FromUnixSeconds(sec))};
}

FsTimesModule::FsTimesModule(const Config& config)
    : clamp_(config.fs_times == FsTimes::kClamp),
      landlock_(config.landlock_requested()),
      start_(StartFileTime(config)) {}

void FsTimesModule::Register(Registry& registry) {
  if (!clamp_) return;  // --fs-times=real: the host's times, at no cost
  constexpr char kWhy[] = "file times later than --time read as --time";
  registry.Notify(
      SYS_stat,
      [this](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        return Stat(ctx, StatCall{.path = a[0], .buf = a[1]});
      },
      kWhy);
  registry.Notify(
      SYS_lstat,
      [this](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        return Stat(ctx, StatCall{.path = a[0], .flags = AT_SYMLINK_NOFOLLOW, .buf = a[1]});
      },
      kWhy);
  registry.Notify(
      SYS_fstat,
      [this](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        // An unsigned int: above INT_MAX it is no descriptor (EBADF).
        const uint32_t fd = static_cast<uint32_t>(a[0]);
        return Stat(ctx, StatCall{.fd_only = true,
                                  .dirfd = fd > INT_MAX ? -1 : static_cast<int>(fd),
                                  .buf = a[1]});
      },
      kWhy);
  registry.Notify(
      SYS_newfstatat,
      [this](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        return Stat(ctx, StatCall{.dirfd = Arg32(a[0]), .path = a[1], .flags = Arg32(a[3]),
                                  .buf = a[2]});
      },
      kWhy);
  registry.Notify(
      SYS_statx,
      [this](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        return Stat(ctx, StatCall{.statx = true, .dirfd = Arg32(a[0]), .path = a[1],
                                  .flags = Arg32(a[2]), .mask = static_cast<uint32_t>(a[3]),
                                  .buf = a[4]});
      },
      kWhy);
  if (!landlock_ && start_.sec >= 0 && start_.sec <= UINT32_MAX) {
    for (int nr : {SYS_open, SYS_openat, SYS_openat2}) {
      registry.Notify(
          nr, [this](SyscallContext& ctx) { return OpenPyc(ctx); },
          "a .pyc's recorded source time later than --time reads as --time, as stat shows the "
          "source's");
    }
  }
  // Noted, then run by the kernel: from then on, roots are checked.
  auto root_changes = [this](SyscallContext&) -> std::optional<Response> {
    root_may_differ_ = true;
    return std::nullopt;
  };
  registry.Notify(SYS_chroot, root_changes, "paths resolve from the caller's root");
  registry.Notify(SYS_setns, root_changes, "a mount namespace brings its own root");
}

std::optional<Response> FsTimesModule::Stat(SyscallContext& ctx, const StatCall& call) {
  const Notification& n = ctx.notification;
  KernelCall k;
  k.flags = call.flags;
  if (call.fd_only) {
    if (call.dirfd < 0) return Response::Errno(EBADF);
    k.at.path = ChildFdPath(n.tid, call.dirfd);
    k.path = k.at.path.c_str();
    k.fd_link = true;
  } else {
    // The path, or a stand-in that makes the kernel fail the same way.
    std::string path;
    bool too_long = false;
    bool have_path = false;
    if (call.path != 0) {
      absl::StatusOr<std::string> read = ctx.memory.ReadString(n.id, n.tid, call.path, PATH_MAX);
      if (read.ok()) {
        path = std::move(*read);
        have_path = true;
      } else if (absl::IsResourceExhausted(read.status())) {
        too_long = true;
      } else if (absl::IsNotFound(read.status())) {
        return Response::Errno(ErrnoForMemoryStatus(read.status()));  // the thread is gone
      }
    }
    const bool empty = call.path == 0 || (have_path && path.empty());
    if (empty && (call.flags & AT_EMPTY_PATH) && call.dirfd >= 0) {
      // A descriptor's own file.
      if ((call.flags & ~kFdLinkFlags) == 0) {
        k.at.path = ChildFdPath(n.tid, call.dirfd);
        k.path = k.at.path.c_str();
        k.flags = call.flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
        k.fd_link = true;
      } else {
        absl::StatusOr<UniqueFd> fd = OpenChildDir(n.tid, call.dirfd);
        if (!fd.ok() && ErrnoOf(fd.status()) != EBADF) {
          return Response::Errno(ErrnoOf(fd.status()));
        }
        k.at.dirfd = fd.ok() ? fd->get() : kClosedFd;
        if (fd.ok()) k.at.dir = std::move(*fd);
        k.path = call.path == 0 ? nullptr : "";
      }
    } else if (empty && (call.flags & AT_EMPTY_PATH) && call.dirfd == AT_FDCWD) {
      // The working directory: "." checks the flags like the command's
      // AT_FDCWD call does (a descriptor with "" would skip that).
      absl::StatusOr<UniqueFd> cwd = OpenChildDir(n.tid, AT_FDCWD);
      if (!cwd.ok()) return Response::Errno(ErrnoOf(cwd.status()));
      k.at.dir = std::move(*cwd);
      k.at.dirfd = k.at.dir.get();
      k.path = ".";
    } else if (!have_path || path.empty()) {
      // NULL, "", unreadable or too long: the kernel fails before it looks
      // at dirfd, except a negative dirfd with AT_EMPTY_PATH (EBADF).
      k.at.dirfd = call.dirfd < 0 && call.dirfd != AT_FDCWD ? call.dirfd : AT_FDCWD;
      k.path = call.path == 0       ? nullptr
               : have_path         ? ""
               : too_long          ? TooLongPath()
                                   : kUnreadablePath;
    } else {
      const ChildTask task{n.tid, ctx.process.pid, root_may_differ_};
      absl::StatusOr<ChildPathAt> at =
          ResolveChildPath(task, call.dirfd, path, !(call.flags & AT_SYMLINK_NOFOLLOW));
      if (!at.ok()) {
        const int error = ErrnoOf(at.status());
        if (error == ELOOP) {
          // Bad flags would have been refused before the lookup.
          struct statx probe;
          if (call.statx ? syscall(SYS_statx, AT_FDCWD, "/", call.flags, call.mask, &probe)
                         : syscall(SYS_newfstatat, AT_FDCWD, "/", &probe, call.flags)) {
            if (errno == EINVAL) return Response::Errno(EINVAL);
          }
        }
        return Response::Errno(error);
      }
      k.at = std::move(*at);
      k.path = k.at.path.c_str();
    }
  }

  union {
    struct stat st;
    struct statx stx;
  } out{};
  const long rc = call.statx
                      ? syscall(SYS_statx, k.at.dirfd, k.path, k.flags, call.mask, &out.stx)
                      : syscall(SYS_newfstatat, k.at.dirfd, k.path, &out.st, k.flags);
  if (rc != 0) return Response::Errno(k.fd_link && errno == ENOENT ? EBADF : errno);

  size_t size = sizeof out.st;
  if (call.statx) {
    size = sizeof out.stx;
    Clamp(out.stx.stx_atime, start_);
    Clamp(out.stx.stx_mtime, start_);
    Clamp(out.stx.stx_ctime, start_);
    Clamp(out.stx.stx_btime, start_);
  } else {
    Clamp(out.st.st_atim, start_);
    Clamp(out.st.st_mtim, start_);
    Clamp(out.st.st_ctim, start_);
  }
  absl::Status written = ctx.memory.Write(n.id, n.tid, call.buf, &out, size);
  if (!written.ok()) return Response::Errno(ErrnoForMemoryStatus(written));
  return Response::Value(0);
}

std::optional<Response> FsTimesModule::OpenPyc(SyscallContext& ctx) {
  const absl::StatusOr<OpenCall>& call = DecodeOpenCall(ctx);
  if (!call.ok() || !LastComponent(call->target.path).ends_with(".pyc")) return std::nullopt;
  constexpr uint64_t kNotARead = O_ACCMODE | O_CREAT | O_TRUNC | O_PATH | O_DIRECTORY | O_TMPFILE;
  if ((call->flags & kNotARead) != 0 || call->lookup.resolve != 0) return std::nullopt;
  const ChildTask task{ctx.notification.tid, ctx.process.pid, root_may_differ_};
  absl::StatusOr<ChildPathAt> at = ResolveChildPath(task, call->target.dirfd, call->target.path,
                                                    call->lookup.follow_final_symlink);
  if (!at.ok()) return std::nullopt;
  // Non-blocking: a FIFO named *.pyc must not hold the loop.
  const int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                         (call->lookup.follow_final_symlink ? 0 : O_NOFOLLOW);
  UniqueFd file(openat(at->dirfd, at->path.c_str(), open_flags));
  struct stat st;
  constexpr off_t kMaxSize = 64 << 20;
  if (!file.ok() || fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 16 ||
      st.st_size > kMaxSize) {
    return std::nullopt;  // the kernel's own open, and its errors
  }
  // The header first: most opens (an older .pyc, a hash-based one) end
  // there, and the kernel opens the file itself.
  std::string content(static_cast<size_t>(st.st_size), '\0');
  if (PreadFully(file.get(), content.data(), 16, 0) != 0) return std::nullopt;
  auto le32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(content[at + i]);
    return v;
  };
  // Magic: a 16-bit version, then "\r\n"; flags 0: timestamp-based.
  if (content[2] != '\r' || content[3] != '\n' || le32(4) != 0) return std::nullopt;
  const uint32_t start = static_cast<uint32_t>(start_.sec);
  if (le32(8) <= start) return std::nullopt;
  if (PreadFully(file.get(), content.data() + 16, content.size() - 16, 16) != 0) {
    return std::nullopt;
  }
  for (int i = 0; i < 4; ++i) content[8 + i] = static_cast<char>((start >> (8 * i)) & 0xff);
  // Named after the file (a memfd's name has at most 249 bytes).
  const std::string_view name = LastComponent(call->target.path).substr(0, 200);
  absl::StatusOr<UniqueFd> fd = MakeContentFd(name, content, call->flags);
  if (!fd.ok()) return std::nullopt;
  return Response::InjectOwnedFd(std::move(*fd), (call->flags & O_CLOEXEC) ? O_CLOEXEC : 0);
}

}  // namespace detrun
