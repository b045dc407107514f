// SyscallPolicy: what the seccomp filter does with each x86-64 syscall.
//
// A policy is a pure value: rules merged from the core (denied escape
// syscalls, --no-network) and from the determinism modules (syscalls they
// want to answer), compiled into a classic-BPF seccomp program by
// Compile(). Nothing here touches a process; core/launcher installs the
// compiled program. Tests evaluate it with bpf::Evaluate (bpf_interpreter.h).
//
// Life: construct, Add() rules (the order of Add calls for one syscall is
// the order rules are tried; the first rule whose matchers all hold wins),
// Compile(). A syscall with no matching rule is allowed.
//
// Every compiled program:
//   1. kills the process when seccomp_data.arch is not AUDIT_ARCH_X86_64
//      (so `int 0x80` with i386 numbers cannot bypass the number checks);
//   2. fails syscalls carrying the x32 bit (0x40000000) with ENOSYS, as a
//      kernel without x32 support would;
//   3. dispatches on the syscall number through a balanced comparison tree.
#ifndef DETRUN_CORE_SYSCALL_POLICY_H_
#define DETRUN_CORE_SYSCALL_POLICY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bpf_program.h"

namespace detrun {

// What the filter answers for a matched rule.
struct SyscallAction {
  enum class Kind { kAllow, kNotify, kErrno, kKillProcess };
  Kind kind = Kind::kAllow;
  int errno_value = 0;  // for kErrno

  static SyscallAction Allow() { return {Kind::kAllow, 0}; }
  static SyscallAction Notify() { return {Kind::kNotify, 0}; }
  static SyscallAction Errno(int e) { return {Kind::kErrno, e}; }
  static SyscallAction KillProcess() { return {Kind::kKillProcess, 0}; }
  // The SECCOMP_RET_* value the filter returns.
  uint32_t ToSeccompRet() const;
  bool operator==(const SyscallAction&) const = default;
};

// One condition on one syscall argument. Arguments are 64-bit in
// seccomp_data; kernel `int` arguments (flags, fds, domains) must be matched
// with width k32 so that the upper half (which may hold sign-extension or
// garbage) is ignored. k64 compares both halves. With k32 only the low 32
// bits of `mask` are used, and `value` must fit in 32 bits.
struct ArgMatcher {
  enum class Op {
    kEqual,        // (arg & mask) == value
    kNotEqual,     // (arg & mask) != value
    kAnyBitsSet,   // (arg & value) != 0
    kNoBitsSet,    // (arg & value) == 0
  };
  enum class Width { k32, k64 };
  int arg = 0;  // 0..5
  Op op = Op::kEqual;
  uint64_t value = 0;
  uint64_t mask = ~uint64_t{0};  // kEqual/kNotEqual only
  Width width = Width::k64;

  static ArgMatcher Eq32(int arg, uint32_t v) {
    return {arg, Op::kEqual, v, 0xffffffffu, Width::k32};
  }
  static ArgMatcher Ne32(int arg, uint32_t v) {
    return {arg, Op::kNotEqual, v, 0xffffffffu, Width::k32};
  }
  static ArgMatcher MaskedEq32(int arg, uint32_t mask, uint32_t v) {
    return {arg, Op::kEqual, v, mask, Width::k32};
  }
  static ArgMatcher Eq64(int arg, uint64_t v) {
    return {arg, Op::kEqual, v, ~uint64_t{0}, Width::k64};
  }
  static ArgMatcher Ne64(int arg, uint64_t v) {
    return {arg, Op::kNotEqual, v, ~uint64_t{0}, Width::k64};
  }
  static ArgMatcher AnyBits32(int arg, uint32_t bits) {
    return {arg, Op::kAnyBitsSet, bits, 0, Width::k32};
  }
  static ArgMatcher NoBits32(int arg, uint32_t bits) {
    return {arg, Op::kNoBitsSet, bits, 0, Width::k32};
  }
  // Evaluates the matcher directly (the reference the BPF code is tested
  // against).
  bool Matches(const uint64_t args[6]) const;
};

struct SyscallRule {
  std::vector<ArgMatcher> all_of;  // empty: always matches
  SyscallAction action;
  std::string reason;  // one line: why this rule exists (shown by --verbose)
};

class SyscallPolicy {
 public:
  // Appends a rule for syscall `nr` (0 <= nr < 1024, x86-64 numbering).
  void Add(int nr, SyscallRule rule);
  void Add(int nr, SyscallAction action, std::string reason) {
    Add(nr, SyscallRule{{}, action, std::move(reason)});
  }

  // The action for a call, evaluated directly on the rules (no BPF): the
  // reference the compiled program must agree with.
  SyscallAction Decide(uint32_t arch, int nr, const uint64_t args[6]) const;

  // Compiles to a seccomp program. Fails (rather than truncating) if the
  // program would exceed BPF_MAXINSNS (ResourceExhausted) or a rule is
  // malformed (InvalidArgument, naming the syscall and the rule's reason).
  // Malformed: nr outside 0..1023, an argument index outside 0..5, an errno
  // outside 1..4095, or a k32 matcher whose value has bits above bit 31
  // (usually a sign-extended negative int). Add() only records; every check
  // is here, so a bad rule is reported once, with context, not asserted.
  absl::StatusOr<bpf::Program> Compile() const;

  const std::map<int, std::vector<SyscallRule>>& rules() const {
    return rules_;
  }

 private:
  std::map<int, std::vector<SyscallRule>> rules_;
};

// A syscall detrun refuses because it would let the child escape
// interception (or wedge the supervisor).
struct DeniedSyscall {
  int nr;
  std::vector<ArgMatcher> all_of;  // empty: every call
  int errno_value;
  const char* reason;
};

// The escape list, each entry with a one-line reason. Applied to every
// intercepted run.
const std::vector<DeniedSyscall>& DeniedEscapeSyscalls();

// Adds DeniedEscapeSyscalls() to `policy` (call before module rules so that
// a denial always wins).
void AddEscapeDenials(SyscallPolicy& policy);

// --no-network: socket() for AF_INET / AF_INET6 fails with EACCES.
void AddNoNetworkRules(SyscallPolicy& policy);

}  // namespace detrun

#endif  // DETRUN_CORE_SYSCALL_POLICY_H_
