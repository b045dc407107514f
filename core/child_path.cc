#include "core/child_path.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace detrun {
namespace {

constexpr char kErrnoPayload[] = "detrun.errno";
// The kernel's MAXSYMLINKS: links followed in one path lookup.
constexpr int kMaxSymlinks = 40;
// The inode number of every procfs root (PROC_ROOT_INO).
constexpr uint64_t kProcRootIno = 1;

int OpenAt2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

// Whether looking `path` up from `dirfd` crosses a symlink (the final
// component only when it is followed). Any other failure says no: the
// caller's own call meets it at the same place.
bool CrossesSymlink(int dirfd, const std::string& path, bool follow_final) {
  const int fd = OpenAt2(dirfd, path, O_PATH | O_CLOEXEC | (follow_final ? 0 : O_NOFOLLOW),
                         RESOLVE_NO_SYMLINKS);
  if (fd >= 0) {
    close(fd);
    return false;
  }
  return errno == ELOOP;
}

// Which directory a descriptor is: device, inode and mount.
struct FileId {
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t ino = 0;
  uint64_t mnt_id = 0;
  bool operator==(const FileId&) const = default;
};

std::optional<FileId> IdOf(int fd) {
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx) != 0) return std::nullopt;
  return FileId{sx.stx_dev_major, sx.stx_dev_minor, sx.stx_ino,
                (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0};
}

// detrun's own root, looked up once.
const std::optional<FileId>& OurRootId() {
  static const std::optional<FileId> id = [] {
    UniqueFd root(open("/", O_PATH | O_CLOEXEC | O_DIRECTORY));
    return root.ok() ? IdOf(root.get()) : std::nullopt;
  }();
  return id;
}

bool OnProcfs(int fd) {
  struct statfs fs;
  return fstatfs(fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

// Walks a path one component at a time for ResolveChildPath's slow path.
class Walk {
 public:
  // `root`: the thread's root when it differs from detrun's, else invalid.
  Walk(const ChildTask& task, UniqueFd root) : task_(task), root_(std::move(root)) {
    if (root_.ok()) root_id_ = IdOf(root_.get());
  }

  // `cur`: where a relative `rest` starts (unused for an absolute one).
  absl::StatusOr<ChildPathAt> Run(UniqueFd cur, std::string rest, bool follow_final) {
    for (;;) {
      if (rest.front() == '/') {
        absl::StatusOr<UniqueFd> root = Root();
        if (!root.ok()) return root.status();
        cur = std::move(*root);
        const size_t first = rest.find_first_not_of('/');
        if (first == std::string::npos) return Done(std::move(cur), ".");
        rest.erase(0, first);
      }
      const size_t slash = rest.find('/');
      std::string name = rest.substr(0, slash);
      const size_t next = slash == std::string::npos ? slash : rest.find_first_not_of('/', slash);
      const bool trailing_slash = next == std::string::npos && slash != std::string::npos;
      if (next == std::string::npos) {  // the final component
        if (name == "..") {
          if (AtRoot(cur.get())) name = ".";
        } else if (name != "." && (follow_final || trailing_slash)) {
          UniqueFd fd(openat(cur.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
          std::string target;
          if (fd.ok() && Classify(cur.get(), fd.get(), name, &target) == Kind::kLink &&
              !target.empty()) {
            if (++links_ > kMaxSymlinks) return ErrnoError(ELOOP, "too many symlinks");
            rest = target + (trailing_slash ? "/" : "");
            continue;
          }
          // Not a symlink, a magic link (the kernel follows it right), an
          // empty link (ENOENT) or a failed lookup: the kernel's business.
        }
        return Done(std::move(cur), name + (trailing_slash ? "/" : ""));
      }
      std::string tail = rest.substr(next);
      if (name == ".") {
        rest = std::move(tail);
        continue;
      }
      if (name == "..") {
        if (!AtRoot(cur.get())) {
          UniqueFd up(openat(cur.get(), "..", O_PATH | O_CLOEXEC));
          if (!up.ok()) return Done(std::move(cur), std::move(rest));
          cur = std::move(up);
        }
        rest = std::move(tail);
        continue;
      }
      UniqueFd fd(openat(cur.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      // The kernel's own lookup fails at this component the same way.
      if (!fd.ok()) return Done(std::move(cur), std::move(rest));
      std::string target;
      switch (Classify(cur.get(), fd.get(), name, &target)) {
        case Kind::kNotLink:
          cur = std::move(fd);
          rest = std::move(tail);
          break;
        case Kind::kLink:
          if (++links_ > kMaxSymlinks) return ErrnoError(ELOOP, "too many symlinks");
          if (target.empty()) return Done(std::move(cur), std::move(rest));  // ENOENT
          rest = target + "/" + tail;
          break;
        case Kind::kMagic: {
          if (++links_ > kMaxSymlinks) return ErrnoError(ELOOP, "too many symlinks");
          UniqueFd jumped(openat(cur.get(), name.c_str(), O_PATH | O_CLOEXEC));
          if (!jumped.ok()) return Done(std::move(cur), std::move(rest));
          cur = std::move(jumped);
          rest = std::move(tail);
          break;
        }
      }
    }
  }

 private:
  enum class Kind { kNotLink, kLink, kMagic };

  static ChildPathAt Done(UniqueFd dir, std::string path) {
    ChildPathAt at;
    at.dir = std::move(dir);
    at.dirfd = at.dir.get();
    at.path = std::move(path);
    return at;
  }

  absl::StatusOr<UniqueFd> Root() const {
    UniqueFd fd(root_.ok() ? fcntl(root_.get(), F_DUPFD_CLOEXEC, 0)
                           : open("/", O_PATH | O_CLOEXEC | O_DIRECTORY));
    if (!fd.ok()) return ErrnoError(errno, "open the root");
    return fd;
  }

  // Only a thread with its own root needs ".." stopped here; at detrun's
  // root the kernel stops it.
  bool AtRoot(int fd) const {
    return root_.ok() && root_id_.has_value() && IdOf(fd) == root_id_;
  }

  // What `name` in `cur` (opened as `fd`, not followed) is. For kLink,
  // `target` is where it points, with procfs's self links translated.
  Kind Classify(int cur, int fd, const std::string& name, std::string* target) const {
    char buf[PATH_MAX];
    const ssize_t n = readlinkat(fd, "", buf, sizeof buf);
    if (n < 0) return Kind::kNotLink;  // EINVAL: not a symlink
    target->assign(buf, static_cast<size_t>(n));
    if (!OnProcfs(cur)) return Kind::kLink;
    if (name == "self" || name == "thread-self") {
      struct stat st;
      if (fstat(cur, &st) == 0 && st.st_ino == kProcRootIno) {
        *target = name == "self" ? absl::StrCat(task_.tgid)
                                 : absl::StrCat(task_.tgid, "/task/", task_.tid);
        return Kind::kLink;
      }
    }
    // /proc/PID/fd/N, cwd, exe, root, ...: the kernel refuses to follow
    // them under RESOLVE_NO_MAGICLINKS. (An ordinary procfs link such as
    // /proc/mounts -> self/mounts opens fine here.)
    const int opened = OpenAt2(cur, name, O_PATH | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
    if (opened >= 0) {
      close(opened);
      return Kind::kLink;
    }
    return Kind::kMagic;
  }

  const ChildTask& task_;
  UniqueFd root_;
  std::optional<FileId> root_id_;
  int links_ = 0;
};

}  // namespace

absl::Status ErrnoError(int error, std::string_view context) {
  absl::Status status =
      absl::ErrnoToStatus(error, absl::string_view(context.data(), context.size()));
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  if (status.ok()) return 0;
  const auto payload = status.GetPayload(kErrnoPayload);  // absl::optional<absl::Cord>
  int error = 0;
  if (payload.has_value() && absl::SimpleAtoi(std::string(*payload), &error)) return error;
  return EIO;
}

std::string ChildFdPath(pid_t tid, int fd) { return absl::StrCat("/proc/", tid, "/fd/", fd); }

absl::StatusOr<UniqueFd> OpenChildDir(pid_t tid, int dirfd) {
  if (dirfd < 0 && dirfd != AT_FDCWD) return ErrnoError(EBADF, "negative descriptor");
  const std::string path =
      dirfd == AT_FDCWD ? absl::StrCat("/proc/", tid, "/cwd") : ChildFdPath(tid, dirfd);
  UniqueFd fd(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.ok()) {
    // ENOENT under fd/: the thread has no such descriptor (or is gone, in
    // which case nobody reads the answer).
    const int error = errno == ENOENT && dirfd != AT_FDCWD ? EBADF : errno;
    return ErrnoError(error, absl::StrCat("open ", path));
  }
  return fd;
}

absl::StatusOr<UniqueFd> OpenChildRoot(pid_t tid) {
  const std::string path = absl::StrCat("/proc/", tid, "/root");
  UniqueFd fd(open(path.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY));
  if (!fd.ok()) return ErrnoError(errno, absl::StrCat("open ", path));
  return fd;
}

absl::StatusOr<ChildPathAt> ResolveChildPath(const ChildTask& task, int dirfd,
                                             std::string_view path_view, bool follow_final) {
  std::string path(path_view);
  UniqueFd own_root;  // the thread's root, only when it is not detrun's
  if (task.root_may_differ) {
    absl::StatusOr<UniqueFd> root = OpenChildRoot(task.tid);
    if (!root.ok()) return root.status();
    if (!OurRootId().has_value() || IdOf(root->get()) != OurRootId()) {
      own_root = std::move(*root);
    }
  }
  const bool absolute = !path.empty() && path.front() == '/';
  ChildPathAt at;
  UniqueFd start;
  if (!absolute) {
    absl::StatusOr<UniqueFd> base = OpenChildDir(task.tid, dirfd);
    if (!base.ok()) {
      if (ErrnoOf(base.status()) != EBADF) return base.status();
      // A descriptor the thread does not have: the kernel says EBADF where
      // (and when) it looks at dirfd.
      at.dirfd = dirfd < 0 ? dirfd : kClosedFd;
      at.path = std::move(path);
      return at;
    }
    start = std::move(*base);
  }
  if (!own_root.ok()) {
    const int from = absolute ? AT_FDCWD : start.get();
    // One component not followed: no symlink on the way.
    const bool single_unfollowed = !follow_final && path.find('/') == std::string::npos;
    if (path.empty() || single_unfollowed || !CrossesSymlink(from, path, follow_final)) {
      at.dir = std::move(start);
      at.dirfd = absolute ? AT_FDCWD : at.dir.get();
      at.path = std::move(path);
      return at;
    }
  } else if (path.empty()) {
    at.dir = std::move(start);
    at.dirfd = at.dir.get();
    return at;
  }
  Walk walk(task, std::move(own_root));
  return walk.Run(std::move(start), std::move(path), follow_final);
}

}  // namespace detrun
