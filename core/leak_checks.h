// Leak checks: the handlers that feed LeakReport (core/leak_report.h).
//
// Installed by the supervisor only when the run asks for the report
// (--report-leaks, --strict) or records a trace (--record: every trace
// holds the report); otherwise nothing is registered and the seccomp
// filter is exactly what it would be without this feature.
//
// Two registration points, both as the core's "leaks":
//   RegisterLeakChecks      before every module, so it sees the stat
//                           family, directory listings, statfs, network
//                           calls and host-wide syscalls even when a module
//                           (fs_times, dirs, chaos) answers them afterwards
//   RegisterLeakOpenChecks  after VirtualFiles::Install, so it only sees
//                           the opens no virtual file answered (a provided
//                           file such as /proc/uptime is no leak)
//
// Every handler records and returns nullopt (the next handler, or the
// kernel, answers), except under --strict, where a leaking call is
// answered EPERM and counted as refused. Inode numbers are reported but
// never refused: the stat family and directory listings are how every
// program finds its files (Python's import system stats each directory of
// sys.path, ls lists with getdents), so refusing them would refuse
// everything rather than prove anything.
//
// Which calls count:
//   proc     an open (open, creat, openat, openat2; not O_PATH) of a file
//            that resolves (core/child_open.h) to /proc, /sys or below,
//            except what only describes the caller itself as the program
//            made it: its own /proc/PID/{cmdline,comm,environ} and the
//            listings of its own fd/ and task/ directories. A path reaching
//            /proc through a magic link (/proc/self/fd/N, /dev/stdin) is
//            the caller's own descriptor: not counted. Cost: an absolute
//            path is resolved only when it names "proc" or "sys", has a
//            ".." or ends in a symbolic link; a relative one when its
//            starting directory is under /proc or /sys or by the same rule.
//            Details show the caller's own entries as /proc/self/... and
//            other processes' as /proc/[pid]/... .
//   inode    stat, lstat, newfstatat and statx with a non-empty path (statx
//            only when its mask asks for STATX_INO); getdents64, getdents.
//            fstat of a descriptor is not counted: the dynamic loader and
//            stdio call it on every library and on stdout, so every program
//            would report it.
//   statfs   statfs, fstatfs (and ustat: see host).
//   network  connect, bind on an AF_INET/AF_INET6 address; sendto with one.
//            Not sendmsg/sendmmsg (leak_checks.cc says why): a datagram
//            sent with them to an address, on a socket never connected,
//            is not seen.
//   host     see kHostSyscalls in leak_checks.cc.
// The proc category counts attempts: an open that then fails in the kernel
// (a file that does not exist) was still a try at reading the host.
#ifndef DETRUN_CORE_LEAK_CHECKS_H_
#define DETRUN_CORE_LEAK_CHECKS_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/leak_report.h"
#include "core/module.h"

namespace detrun {

void RegisterLeakChecks(Registry& registry, LeakReport& report);
void RegisterLeakOpenChecks(Registry& registry, LeakReport& report);

// Exposed for tests.
//
// Whether the canonical path `path` is under /proc or /sys, and leaks when
// process `pid` (thread `tid`) opens it; `detail` gets what the report
// shows (own entries as /proc/self/..., see above). Both `pid` and
// `detrun_pid` stand for the caller in a resolved path: CanonicalChildPath
// walks procfs's "self" link as detrun, so /proc/self/stat resolves to
// /proc/DETRUN_PID/stat.
bool IsProcLeak(std::string_view path, pid_t pid, pid_t tid, pid_t detrun_pid,
                std::string* detail);

// The cheap filter: whether `path` (as the child wrote it) might reach
// /proc or /sys and is worth resolving.
bool MayNameProcOrSys(std::string_view path);

// "127.0.0.1:8080", "[::1]:443"; "" when `len` bytes at `addr` are not an
// AF_INET/AF_INET6 address.
std::string DescribeInetAddress(const void* addr, size_t len);

}  // namespace detrun

#endif  // DETRUN_CORE_LEAK_CHECKS_H_
