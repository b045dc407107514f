#include "core/leak_checks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/child_memory.h"
#include "core/child_open.h"
#include "core/child_path.h"
#include "core/process_table.h"
#include "core/syscall_table.h"

namespace detrun {
namespace {

constexpr char kReason[] = "leak report: ";

// Syscalls detrun does not answer that read or change host-wide state.
// (Those a module answers, such as uname, sysinfo, getcpu or adjtimex, or
// refuses, such as settimeofday, are not here;
// nor are those the escape list denies, such as perf_event_open.)
struct HostSyscall {
  int nr;
  const char* why;
};
constexpr HostSyscall kHostSyscalls[] = {
    {SYS_syslog, "reads or clears the kernel log"},
    {SYS_sysfs, "lists the host's file system types"},
    {SYS_name_to_handle_at, "file handles carry inode numbers and generations"},
    {SYS_kcmp, "orders kernel objects by their addresses"},
    {SYS_lookup_dcookie, "names files from kernel profiling cookies"},
    {SYS_quotactl, "reads or sets the host's disk quotas"},
    {SYS_quotactl_fd, "reads or sets the host's disk quotas"},
    {SYS_add_key, "the kernel keyrings outlive the run"},
    {SYS_request_key, "the kernel keyrings outlive the run"},
    {SYS_keyctl, "the kernel keyrings outlive the run"},
    {SYS_iopl, "reaches hardware I/O ports"},
    {SYS_ioperm, "reaches hardware I/O ports"},
    {SYS_acct, "switches the host's process accounting"},
    {SYS_swapon, "changes the host's swap"},
    {SYS_swapoff, "changes the host's swap"},
    {SYS_reboot, "reboots the host"},
    {SYS_vhangup, "hangs up the controlling terminal"},
};

std::string_view Name(int nr) { return SyscallName(nr); }

std::optional<Response> Leaked(LeakReport& report) {
  if (!report.strict()) return std::nullopt;
  report.CountRefused();
  return Response::Errno(EPERM);
}

// What a descriptor of the thread names ("/tmp", "socket:[123]"), for
// details; "fd N" when it cannot be read.
std::string DescribeFd(pid_t tid, uint64_t fd) {
  const std::string link = ChildFdPath(tid, static_cast<int>(static_cast<uint32_t>(fd)));
  char buf[4096];
  const ssize_t n = readlink(link.c_str(), buf, sizeof buf);
  if (n <= 0) return absl::StrCat("fd ", static_cast<int>(static_cast<uint32_t>(fd)));
  return std::string(buf, static_cast<size_t>(n));
}

std::string ReadPath(SyscallContext& ctx, uint64_t addr) {
  absl::StatusOr<std::string> path =
      ctx.memory.ReadString(ctx.notification.id, ctx.notification.tid, addr, PATH_MAX);
  return path.ok() ? *path : std::string();
}

// Whether the NUL-terminated string at `addr` is empty (or unreadable:
// then the kernel fails the call with EFAULT and nothing leaks).
bool EmptyPath(SyscallContext& ctx, uint64_t addr) {
  char first = 0;
  if (!ctx.memory.Read(ctx.notification.id, ctx.notification.tid, addr, &first, 1).ok()) {
    return true;
  }
  return first == '\0';
}

// A stat-family call of a path: inode numbers seen.
std::optional<Response> StatOfPath(SyscallContext& ctx, LeakReport& report, uint64_t path_addr) {
  if (EmptyPath(ctx, path_addr)) return std::nullopt;  // fstat of a descriptor
  const ThreadIdentity& thread = ctx.thread.id;
  const uint64_t key = report.NextKey(thread);
  std::string detail;
  if (report.WantsDetail(LeakCategory::kInode, thread, key)) detail = ReadPath(ctx, path_addr);
  report.Record(LeakCategory::kInode, thread, key, Name(ctx.notification.nr), detail);
  return std::nullopt;  // inode numbers are never refused (leak_checks.h)
}

// A call on a descriptor: the detail names what it is.
void RecordFdCall(SyscallContext& ctx, LeakReport& report, LeakCategory category) {
  const ThreadIdentity& thread = ctx.thread.id;
  const uint64_t key = report.NextKey(thread);
  std::string detail;
  if (report.WantsDetail(category, thread, key)) {
    detail = DescribeFd(ctx.notification.tid, ctx.notification.args[0]);
  }
  report.Record(category, thread, key, Name(ctx.notification.nr), detail);
}

// The IP address at `addr` (`len` bytes in the child), or "".
std::string ChildInetAddress(SyscallContext& ctx, uint64_t addr, uint64_t len) {
  if (addr == 0 || len < sizeof(sa_family_t)) return "";
  sockaddr_in6 sa{};
  const size_t n = std::min<uint64_t>(len, sizeof sa);
  if (!ctx.memory.Read(ctx.notification.id, ctx.notification.tid, addr, &sa, n).ok()) return "";
  return DescribeInetAddress(&sa, n);
}

std::optional<Response> NetworkLeak(SyscallContext& ctx, LeakReport& report,
                                    const std::string& address) {
  if (address.empty()) return std::nullopt;
  report.Record(LeakCategory::kNetwork, ctx.thread.id, Name(ctx.notification.nr), address);
  return Leaked(report);
}

bool ParsePid(absl::string_view text, pid_t* out) {
  if (text.empty() || text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, out);
}

// Whether a relative path's starting directory is under /proc or /sys.
bool BaseIsProcOrSys(const ChildPath& target) {
  const std::string base = ProcBaseFor(target.tid, target.dirfd);
  char buf[4096];
  const ssize_t n = readlink(base.c_str(), buf, sizeof buf);
  if (n <= 0) return false;
  const std::string_view dir(buf, static_cast<size_t>(n));
  for (std::string_view root : {std::string_view("/proc"), std::string_view("/sys")}) {
    if (dir == root || (dir.starts_with(root) && dir[root.size()] == '/')) return true;
  }
  return false;
}

std::optional<Response> HandleOpen(SyscallContext& ctx, LeakReport& report, pid_t detrun_pid) {
  const absl::StatusOr<OpenCall>& call = DecodeOpenCall(ctx);
  if (!call.ok()) return std::nullopt;  // the kernel fails it
  if (call->flags & O_PATH) return std::nullopt;  // opens nothing to read
  const std::string& path = call->target.path;
  const bool worth = MayNameProcOrSys(path) || (path[0] != '/' && BaseIsProcOrSys(call->target)) ||
                     LastComponentIsSymlink(call->target);
  if (!worth) return std::nullopt;
  absl::StatusOr<std::string> canonical = CanonicalChildPath(call->target, call->lookup);
  if (!canonical.ok()) return std::nullopt;
  std::string detail;
  if (!IsProcLeak(*canonical, ctx.process.pid, ctx.notification.tid, detrun_pid, &detail)) {
    return std::nullopt;
  }
  if ((call->flags & O_ACCMODE) != O_RDONLY) detail += " (write)";
  report.Record(LeakCategory::kProc, ctx.thread.id, Name(ctx.notification.nr), detail);
  return Leaked(report);
}

}  // namespace

bool MayNameProcOrSys(std::string_view path) {
  for (absl::string_view part : absl::StrSplit(absl::string_view(path.data(), path.size()), '/')) {
    if (part == "proc" || part == "sys" || part == "..") return true;
  }
  return false;
}

bool IsProcLeak(std::string_view path, pid_t pid, pid_t tid, pid_t detrun_pid,
                std::string* detail) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(path.data(), path.size()), '/', absl::SkipEmpty());
  if (parts.empty() || (parts[0] != "proc" && parts[0] != "sys")) return false;
  if (parts[0] == "sys") {
    *detail = std::string(path);
    return true;
  }
  // /proc/N/...: the caller's own entries, as the program named them.
  std::string self;
  size_t rest = 1;
  pid_t n = 0;
  if (parts.size() >= 2 && ParsePid(parts[1], &n)) {
    rest = 2;
    if (n == pid || n == detrun_pid) {
      self = "self";
      pid_t t = 0;
      if (parts.size() >= 4 && parts[2] == "task" && ParsePid(parts[3], &t) &&
          (t == tid || t == detrun_pid)) {
        self = "thread-self";
        rest = 4;
      }
    } else {
      self = "[pid]";
    }
  }
  std::vector<absl::string_view> tail(parts.begin() + static_cast<long>(rest), parts.end());
  if (self == "self" || self == "thread-self") {
    // What only describes the caller as the program made it.
    if (tail.size() == 1 && (tail[0] == "cmdline" || tail[0] == "comm" ||
                             tail[0] == "environ" || tail[0] == "fd" || tail[0] == "task")) {
      return false;
    }
  }
  std::string out = "/proc";
  if (!self.empty()) absl::StrAppend(&out, "/", self);
  for (absl::string_view part : tail) absl::StrAppend(&out, "/", part);
  *detail = std::move(out);
  return true;
}

std::string DescribeInetAddress(const void* addr, size_t len) {
  if (len < sizeof(sa_family_t)) return "";
  sa_family_t family;
  memcpy(&family, addr, sizeof family);
  char text[INET6_ADDRSTRLEN];
  if (family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    memcpy(&in, addr, sizeof in);
    if (inet_ntop(AF_INET, &in.sin_addr, text, sizeof text) == nullptr) return "";
    return absl::StrCat(text, ":", ntohs(in.sin_port));
  }
  if (family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    memcpy(&in6, addr, sizeof in6);
    if (inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text) == nullptr) return "";
    return absl::StrCat("[", text, "]:", ntohs(in6.sin6_port));
  }
  return "";
}

void RegisterLeakChecks(Registry& registry, LeakReport& report) {
  registry.BeginModule(-1, "leaks");
  LeakReport* r = &report;
  const std::string inode = absl::StrCat(kReason, "inode numbers seen");
  // stat(path, buf), lstat(path, buf): the path is argument 0.
  for (int nr : {SYS_stat, SYS_lstat}) {
    registry.Notify(
        nr, [r](SyscallContext& ctx) { return StatOfPath(ctx, *r, ctx.notification.args[0]); },
        inode);
  }
  registry.Notify(
      SYS_newfstatat,
      [r](SyscallContext& ctx) { return StatOfPath(ctx, *r, ctx.notification.args[1]); }, inode);
  registry.Notify(
      SYS_statx, {ArgMatcher::AnyBits32(3, STATX_INO)},
      [r](SyscallContext& ctx) { return StatOfPath(ctx, *r, ctx.notification.args[1]); }, inode);
  for (int nr : {SYS_getdents64, SYS_getdents}) {
    registry.Notify(
        nr,
        [r](SyscallContext& ctx) -> std::optional<Response> {
          RecordFdCall(ctx, *r, LeakCategory::kInode);
          return std::nullopt;
        },
        absl::StrCat(kReason, "directory entries carry inode numbers"));
  }

  const std::string statfs = absl::StrCat(kReason, "file system figures seen");
  registry.Notify(
      SYS_statfs,
      [r](SyscallContext& ctx) {
        const ThreadIdentity& thread = ctx.thread.id;
        const uint64_t key = r->NextKey(thread);
        std::string detail;
        if (r->WantsDetail(LeakCategory::kStatfs, thread, key)) {
          detail = ReadPath(ctx, ctx.notification.args[0]);
        }
        r->Record(LeakCategory::kStatfs, thread, key, "statfs", detail);
        return Leaked(*r);
      },
      statfs);
  registry.Notify(
      SYS_fstatfs,
      [r](SyscallContext& ctx) {
        RecordFdCall(ctx, *r, LeakCategory::kStatfs);
        return Leaked(*r);
      },
      statfs);
  registry.Notify(
      SYS_ustat,
      [r](SyscallContext& ctx) {
        r->Record(LeakCategory::kStatfs, ctx.thread.id, "ustat", "");
        return Leaked(*r);
      },
      statfs);

  const std::string network = absl::StrCat(kReason, "network connections (IPv4, IPv6)");
  for (int nr : {SYS_connect, SYS_bind}) {
    registry.Notify(
        nr,
        [r](SyscallContext& ctx) {
          const auto& a = ctx.notification.args;
          return NetworkLeak(ctx, *r, ChildInetAddress(ctx, a[1], static_cast<uint32_t>(a[2])));
        },
        network);
  }
  // sendto with an address (without one, the socket is connected, and its
  // connect was counted).
  registry.Notify(
      SYS_sendto, {ArgMatcher::Ne64(4, 0)},
      [r](SyscallContext& ctx) {
        const auto& a = ctx.notification.args;
        return NetworkLeak(ctx, *r, ChildInetAddress(ctx, a[4], static_cast<uint32_t>(a[5])));
      },
      network);
  // Not sendmsg nor sendmmsg: the launcher hands the seccomp listener to
  // the supervisor with sendmsg after the filter is in force, before the
  // supervisor listens, so notifying it would hang every run. A datagram
  // sent to an address with them, on a socket never connected, is not seen.
  for (const HostSyscall& h : kHostSyscalls) {
    registry.Notify(
        h.nr,
        [r](SyscallContext& ctx) {
          r->Record(LeakCategory::kHost, ctx.thread.id, Name(ctx.notification.nr), "");
          return Leaked(*r);
        },
        absl::StrCat(kReason, h.why));
  }
}

void RegisterLeakOpenChecks(Registry& registry, LeakReport& report) {
  registry.BeginModule(-1, "leaks");
  LeakReport* r = &report;
  const pid_t detrun_pid = getpid();
  for (int nr : {SYS_open, SYS_creat, SYS_openat, SYS_openat2}) {
    registry.Notify(
        nr, [r, detrun_pid](SyscallContext& ctx) { return HandleOpen(ctx, *r, detrun_pid); },
        absl::StrCat(kReason, "/proc and /sys reads not virtualized"));
  }
}

}  // namespace detrun
