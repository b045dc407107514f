// What the trace needs to know about each intercepted syscall, in one
// declarative table (syscall_catalog.cc): which arguments are values worth
// recording, which source of nondeterminism it belongs to, and whether its
// payload is secret-like (random bytes: digest only).
//
// Pointer arguments are never recorded: their addresses say nothing about
// what the program observed, and they move with the size of the
// environment. What a pointer's target received is the call's payload
// (TraceEvent::out). A syscall missing from the table is still recorded,
// with its name and answer but no arguments; add an entry when a module
// starts answering a new call.
#ifndef DETRUN_REPLAY_SYSCALL_CATALOG_H_
#define DETRUN_REPLAY_SYSCALL_CATALOG_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace detrun {

struct SyscallInfo {
  std::string_view name;
  // One letter per argument, in order: 'v' a 64-bit value, 'i' a signed
  // and 'u' an unsigned 32-bit value (recorded); '-' a pointer or unused
  // (not recorded).
  std::string_view args;
  // time, random, hostname, cpus, dirs, exec (process creation and exec).
  std::string_view source;
  // The payload is shown only as a digest, never as bytes.
  bool secret = false;
};

// nullptr for a syscall the table does not know.
const SyscallInfo* FindSyscallInfo(std::string_view name);
// The same by x86-64 number, in constant time (the recorder's hot path).
const SyscallInfo* FindSyscallInfo(int nr);

// The recorded (value) arguments of a call into `out`; none when `info` is
// nullptr.
void RecordedArgs(const SyscallInfo* info, const std::array<uint64_t, 6>& args,
                  std::vector<int64_t>* out);

// The source of nondeterminism a call belongs to, for diff's
// classification: from the answering module when there is one ("uts" is
// the hostname), else from the table; "" when neither knows.
std::string_view SourceOfCall(std::string_view syscall, std::string_view module);

// A short description of an answer for people: the time a clock read
// returned, the host name uname gave, the CPU count of an affinity mask...
// `payload` holds the first bytes the handler wrote, `value` is the
// answer's value. "" when there is nothing to say (random bytes: their
// digest says all).
std::string DescribePayload(std::string_view name, const std::vector<int64_t>& args,
                            std::string_view payload, int64_t value);

}  // namespace detrun

#endif  // DETRUN_REPLAY_SYSCALL_CATALOG_H_
