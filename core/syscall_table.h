// Names of x86-64 Linux syscalls, both ways.
//
// Used wherever a syscall number meets a person: disassembly, --verbose
// policy listings, trace output, and parsing syscall names in flags and
// tests. Covers every x86-64 number up to DETRUN_NR_listns (470), from the
// 6.1 UAPI header plus the newer numbers in core/linux_compat.h; the table
// is checked against those headers at compile time.
//
// Pure constant data, no initialisation order to worry about. SyscallName
// and SyscallNumber never allocate (safe between fork and execve);
// SyscallNameOrNumber builds a string.
#ifndef DETRUN_CORE_SYSCALL_TABLE_H_
#define DETRUN_CORE_SYSCALL_TABLE_H_

#include <optional>
#include <string>
#include <string_view>

namespace detrun {

// One past the highest syscall number the table knows.
inline constexpr int kSyscallTableSize = 471;

// The name of x86-64 syscall `nr` ("getpid"), or "" when the number is
// unassigned or beyond the table. Empty rather than a made-up "syscall_N"
// so callers can tell "unknown" apart and so the view can point at
// constant storage; use SyscallNameOrNumber() for display.
std::string_view SyscallName(int nr);

// "getpid" for a known number, "syscall_999" otherwise.
std::string SyscallNameOrNumber(int nr);

// The number of the x86-64 syscall called `name`, if there is one.
std::optional<int> SyscallNumber(std::string_view name);

}  // namespace detrun

#endif  // DETRUN_CORE_SYSCALL_TABLE_H_
