#include "core/syscall_policy.h"

#include <asm/prctl.h>
#include <asm/unistd_64.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/linux_compat.h"
#include "core/syscall_table.h"

namespace detrun {
namespace {

// Syscall numbers at or above this carry the x32 ABI bit (0x40000000) or
// are not syscalls at all (-1 from a tracer's skip, for instance).
constexpr uint32_t kX32SyscallBit = 0x40000000;
// Policies key on 10 bits of number: every real x86-64 syscall fits.
constexpr int kMaxPolicySyscall = 1023;
// The kernel caps SECCOMP_RET_ERRNO data at MAX_ERRNO.
constexpr int kMaxErrno = 4095;

constexpr uint32_t Low32(uint64_t v) { return static_cast<uint32_t>(v); }
constexpr uint32_t High32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

absl::Status ValidateRule(int nr, const SyscallRule& rule) {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rule for %s (\"%s\"): %s", SyscallNameOrNumber(nr),
                        rule.reason, what));
  };
  if (nr < 0 || nr > kMaxPolicySyscall) {
    return error(absl::StrFormat("syscall number %d outside 0..%d", nr,
                                 kMaxPolicySyscall));
  }
  for (const ArgMatcher& m : rule.all_of) {
    if (m.arg < 0 || m.arg > 5) {
      return error(absl::StrFormat("argument index %d outside 0..5", m.arg));
    }
    switch (m.op) {
      case ArgMatcher::Op::kEqual:
      case ArgMatcher::Op::kNotEqual:
      case ArgMatcher::Op::kAnyBitsSet:
      case ArgMatcher::Op::kNoBitsSet:
        break;
      default:
        return error("unknown matcher operation");
    }
    if (m.width == ArgMatcher::Width::k32 && High32(m.value) != 0) {
      // Almost always a sign-extended negative int: say so rather than
      // compare a value the low word can never hold.
      return error(absl::StrFormat(
          "32-bit matcher on args[%d] has value %#x wider than 32 bits",
          m.arg, m.value));
    }
    if (m.width != ArgMatcher::Width::k32 &&
        m.width != ArgMatcher::Width::k64) {
      return error("unknown matcher width");
    }
  }
  switch (rule.action.kind) {
    case SyscallAction::Kind::kErrno:
      if (rule.action.errno_value < 1 || rule.action.errno_value > kMaxErrno) {
        return error(absl::StrFormat("errno %d outside 1..%d",
                                     rule.action.errno_value, kMaxErrno));
      }
      break;
    case SyscallAction::Kind::kAllow:
    case SyscallAction::Kind::kNotify:
    case SyscallAction::Kind::kKillProcess:
      break;
    default:
      return error("unknown action");
  }
  return absl::OkStatus();
}

// Emits a test of one matcher: falls through when it holds, jumps to `fail`
// when it does not. 32-bit matchers read only the low word, so whatever the
// upper half holds (sign extension, stale register bits) cannot matter.
void EmitMatcher(bpf::Builder& b, const ArgMatcher& m, bpf::Label fail) {
  using bpf::Cond;
  const bpf::Label ok = b.NewLabel();
  auto load_masked = [&](bool high, uint32_t mask) {
    high ? b.LoadArgHigh(m.arg) : b.LoadArgLow(m.arg);
    if (mask != 0xffffffffu) b.AndK(mask);
  };
  const uint32_t value_lo = Low32(m.value);
  const uint32_t value_hi = High32(m.value);
  const uint32_t mask_lo = Low32(m.mask);
  const uint32_t mask_hi = High32(m.mask);

  if (m.width == ArgMatcher::Width::k64) {
    // Decide on the high word first; fall through to the low word only when
    // the high word leaves the answer open.
    const bpf::Label check_low = b.NewLabel();
    switch (m.op) {
      case ArgMatcher::Op::kEqual:
        load_masked(true, mask_hi);
        b.JumpIf(Cond::kJeq, value_hi, check_low, fail);
        break;
      case ArgMatcher::Op::kNotEqual:
        load_masked(true, mask_hi);
        b.JumpIf(Cond::kJeq, value_hi, check_low, ok);
        break;
      case ArgMatcher::Op::kAnyBitsSet:
        b.LoadArgHigh(m.arg);
        b.JumpIf(Cond::kJset, value_hi, ok, check_low);
        break;
      case ArgMatcher::Op::kNoBitsSet:
        b.LoadArgHigh(m.arg);
        b.JumpIf(Cond::kJset, value_hi, fail, check_low);
        break;
    }
    b.Bind(check_low);
  }

  switch (m.op) {
    case ArgMatcher::Op::kEqual:
      load_masked(false, mask_lo);
      b.JumpIf(Cond::kJeq, value_lo, ok, fail);
      break;
    case ArgMatcher::Op::kNotEqual:
      load_masked(false, mask_lo);
      b.JumpIf(Cond::kJeq, value_lo, fail, ok);
      break;
    case ArgMatcher::Op::kAnyBitsSet:
      b.LoadArgLow(m.arg);
      b.JumpIf(Cond::kJset, value_lo, ok, fail);
      break;
    case ArgMatcher::Op::kNoBitsSet:
      b.LoadArgLow(m.arg);
      b.JumpIf(Cond::kJset, value_lo, fail, ok);
      break;
  }
  b.Bind(ok);
}

// Emits one syscall's rules in order; a rule whose matchers fail jumps to
// the next. Returns true when the last emitted rule always returns (no
// matchers), so nothing after it is reachable.
bool EmitRules(bpf::Builder& b, const std::vector<SyscallRule>& rules) {
  for (const SyscallRule& rule : rules) {
    if (rule.all_of.empty()) {
      b.Return(rule.action.ToSeccompRet());
      return true;  // later rules for this syscall can never match
    }
    const bpf::Label next_rule = b.NewLabel();
    for (const ArgMatcher& m : rule.all_of) EmitMatcher(b, m, next_rule);
    b.Return(rule.action.ToSeccompRet());
    b.Bind(next_rule);
  }
  return false;
}

// Emits a balanced comparison tree over `numbers` (sorted). On entry the
// accumulator holds nr and nr is known to lie in [lo, hi].
void EmitDispatch(bpf::Builder& b,
                  const std::map<int, std::vector<SyscallRule>>& rules,
                  std::span<const int> numbers, uint32_t lo, uint32_t hi) {
  if (numbers.size() == 1) {
    const uint32_t nr = static_cast<uint32_t>(numbers[0]);
    const std::vector<SyscallRule>& leaf_rules = rules.at(numbers[0]);
    if (lo == nr && hi == nr) {
      // The tree has already pinned nr down: no comparison needed.
      if (!EmitRules(b, leaf_rules)) b.Return(SECCOMP_RET_ALLOW);
      return;
    }
    const bpf::Label match = b.NewLabel();
    const bpf::Label other = b.NewLabel();
    b.JumpIf(bpf::Cond::kJeq, nr, match, other);
    b.Bind(match);
    EmitRules(b, leaf_rules);
    b.Bind(other);
    b.Return(SECCOMP_RET_ALLOW);
    return;
  }
  const size_t mid = numbers.size() / 2;
  const uint32_t pivot = static_cast<uint32_t>(numbers[mid]);
  const bpf::Label left = b.NewLabel();
  const bpf::Label right = b.NewLabel();
  b.JumpIf(bpf::Cond::kJge, pivot, right, left);
  b.Bind(left);
  EmitDispatch(b, rules, numbers.first(mid), lo, pivot - 1);
  b.Bind(right);
  EmitDispatch(b, rules, numbers.subspan(mid), pivot, hi);
}

}  // namespace

uint32_t SyscallAction::ToSeccompRet() const {
  switch (kind) {
    case Kind::kAllow:
      return SECCOMP_RET_ALLOW;
    case Kind::kNotify:
      return SECCOMP_RET_USER_NOTIF;
    case Kind::kErrno:
      return SECCOMP_RET_ERRNO |
             (static_cast<uint32_t>(errno_value) & SECCOMP_RET_DATA);
    case Kind::kKillProcess:
      return SECCOMP_RET_KILL_PROCESS;
  }
  return SECCOMP_RET_KILL_PROCESS;  // an invalid kind fails closed
}

bool ArgMatcher::Matches(const uint64_t args[6]) const {
  if (arg < 0 || arg > 5) return false;
  uint64_t a = args[arg];
  uint64_t v = value;
  uint64_t m = mask;
  if (width == Width::k32) {
    a = Low32(a);
    v = Low32(v);
    m = Low32(m);
  }
  switch (op) {
    case Op::kEqual:
      return (a & m) == v;
    case Op::kNotEqual:
      return (a & m) != v;
    case Op::kAnyBitsSet:
      return (a & v) != 0;
    case Op::kNoBitsSet:
      return (a & v) == 0;
  }
  return false;
}

void SyscallPolicy::Add(int nr, SyscallRule rule) {
  rules_[nr].push_back(std::move(rule));
}

SyscallAction SyscallPolicy::Decide(uint32_t arch, int nr,
                                    const uint64_t args[6]) const {
  if (arch != AUDIT_ARCH_X86_64) return SyscallAction::KillProcess();
  if (static_cast<uint32_t>(nr) >= kX32SyscallBit) {
    return SyscallAction::Errno(ENOSYS);
  }
  auto it = rules_.find(nr);
  if (it == rules_.end()) return SyscallAction::Allow();
  for (const SyscallRule& rule : it->second) {
    bool all = true;
    for (const ArgMatcher& m : rule.all_of) all = all && m.Matches(args);
    if (all) return rule.action;
  }
  return SyscallAction::Allow();
}

absl::StatusOr<bpf::Program> SyscallPolicy::Compile() const {
  std::vector<int> numbers;
  numbers.reserve(rules_.size());
  for (const auto& [nr, rules] : rules_) {
    for (const SyscallRule& rule : rules) {
      if (absl::Status s = ValidateRule(nr, rule); !s.ok()) return s;
    }
    numbers.push_back(nr);  // std::map iterates in ascending order
  }

  bpf::Builder b;
  // 1. Wrong architecture: i386 numbers via `int 0x80` mean other syscalls.
  const bpf::Label arch_ok = b.NewLabel();
  const bpf::Label kill = b.NewLabel();
  b.LoadArch();
  b.JumpIf(bpf::Cond::kJeq, AUDIT_ARCH_X86_64, arch_ok, kill);
  b.Bind(kill);
  b.Return(SECCOMP_RET_KILL_PROCESS);
  b.Bind(arch_ok);

  // 2. x32 numbers (and anything else that high) fail as on a kernel
  //    without x32.
  const bpf::Label x32 = b.NewLabel();
  const bpf::Label native = b.NewLabel();
  b.LoadNr();
  b.JumpIf(bpf::Cond::kJge, kX32SyscallBit, x32, native);
  b.Bind(x32);
  b.Return(SECCOMP_RET_ERRNO | ENOSYS);
  b.Bind(native);

  // 3. Dispatch on the number.
  if (numbers.empty()) {
    b.Return(SECCOMP_RET_ALLOW);
  } else {
    EmitDispatch(b, rules_, numbers, 0, kX32SyscallBit - 1);
  }
  return b.Assemble();
}

const std::vector<DeniedSyscall>& DeniedEscapeSyscalls() {
  static const auto* const kDenied = new std::vector<DeniedSyscall>{
      // io_uring runs its requests in kernel workers that seccomp never
      // sees. ENOSYS: runtimes (libuv, tokio, liburing users) then fall
      // back to plain syscalls, exactly as on a kernel without io_uring.
      {__NR_io_uring_setup, {}, ENOSYS,
       "io_uring requests run in kernel workers seccomp never sees"},
      {__NR_io_uring_enter, {}, ENOSYS,
       "io_uring requests run in kernel workers seccomp never sees"},
      {__NR_io_uring_register, {}, ENOSYS,
       "io_uring requests run in kernel workers seccomp never sees"},
      // Reaching into another process's registers or memory.
      {__NR_ptrace, {}, EPERM,
       "a tracer can rewrite a tracee's syscalls after seccomp ran"},
      {__NR_process_vm_readv, {}, EPERM,
       "reads another process's memory behind the supervisor's back"},
      {__NR_process_vm_writev, {}, EPERM,
       "writes another process's memory, e.g. undoing vDSO patches"},
      {__NR_pidfd_getfd, {}, EPERM,
       "could copy descriptors out of detrun, such as its listener"},
      // Kernel-side programs and probes.
      {__NR_bpf, {}, EPERM,
       "eBPF programs run in the kernel, outside interception"},
      // EACCES is what an unprivileged caller gets when perf_event_paranoid
      // forbids perf (Debian's default), so tools take that known path.
      {__NR_perf_event_open, {}, EACCES,
       "hardware counters and samples expose real timing"},
      {__NR_userfaultfd, {}, EPERM,
       "a registered page would block the supervisor's reads of child memory"},
      // ENOSYS: what kernels with secretmem disabled answer, a case callers
      // already handle.
      {__NR_memfd_secret, {}, ENOSYS,
       "secret pages cannot be read by the supervisor, hiding syscall args"},
      // Changing the kernel itself.
      {__NR_kexec_load, {}, EPERM, "replaces the running kernel"},
      {__NR_kexec_file_load, {}, EPERM, "replaces the running kernel"},
      {__NR_init_module, {}, EPERM, "loads code into the kernel"},
      {__NR_finit_module, {}, EPERM, "loads code into the kernel"},
      {__NR_delete_module, {}, EPERM, "unloads kernel code"},
      // Reshaping the file system view under the path interception.
      {__NR_mount, {}, EPERM, "could hide or replace intercepted paths"},
      {__NR_umount2, {}, EPERM, "could uncover paths hidden from the child"},
      {__NR_pivot_root, {}, EPERM, "replaces the root under interception"},
      {__NR_move_mount, {}, EPERM, "could hide or replace intercepted paths"},
      {__NR_open_tree, {}, EPERM, "clones mounts for move_mount"},
      {DETRUN_NR_open_tree_attr, {}, EPERM, "clones mounts for move_mount"},
      {__NR_fsopen, {}, EPERM, "creates file systems to mount"},
      {__NR_fsconfig, {}, EPERM, "configures file systems to mount"},
      {__NR_fsmount, {}, EPERM, "makes mounts from file systems"},
      {__NR_fspick, {}, EPERM, "reconfigures existing mounts"},
      {__NR_mount_setattr, {}, EPERM, "changes existing mounts"},
      {__NR_open_by_handle_at, {}, EPERM,
       "opens files by handle, bypassing path checks and Landlock"},
      // prctl(PR_SET_DUMPABLE, 0) would stop detrun writing the child's
      // vDSO through /proc/PID/mem (and reading its memory).
      {__NR_prctl,
       {ArgMatcher::Eq32(0, PR_SET_DUMPABLE)},
       EPERM,
       "non-dumpable children lock detrun out of /proc/PID/mem"},
      // detrun starts the command with ADDR_NO_RANDOMIZE (launcher.cc), so
      // that addresses, and what programs derive from them (hash seeds,
      // pointer-keyed orders), are the same in every run. A personality
      // without it (`setarch x86_64`, `linux32`) would give the next exec a
      // random layout again. The query (0xffffffff) and every persona that
      // keeps the bit (`setarch -R linux32`) still run.
      {__NR_personality,
       {ArgMatcher::Ne32(0, 0xffffffffu), ArgMatcher::NoBits32(0, ADDR_NO_RANDOMIZE)},
       EPERM,
       "a persona without ADDR_NO_RANDOMIZE would randomize the next exec's addresses"},
      // arch_prctl(ARCH_MAP_VDSO_*) maps a fresh, unpatched vDSO (after the
      // child unmaps ours), whose clocks run without any syscall.
      {__NR_arch_prctl,
       {ArgMatcher::Eq32(0, ARCH_MAP_VDSO_64)},
       EPERM,
       "maps a fresh vDSO that bypasses detrun's patched clocks"},
      {__NR_arch_prctl,
       {ArgMatcher::Eq32(0, ARCH_MAP_VDSO_32)},
       EPERM,
       "maps a fresh vDSO that bypasses detrun's patched clocks"},
      {__NR_arch_prctl,
       {ArgMatcher::Eq32(0, ARCH_MAP_VDSO_X32)},
       EPERM,
       "maps a fresh vDSO that bypasses detrun's patched clocks"},
      // Typing into the terminal detrun was started from runs commands
      // outside detrun (CVE-2017-5226, CVE-2023-28100). ioctl's request is
      // an unsigned int: compared as 32 bits (CVE-2019-10063).
      {__NR_ioctl,
       {ArgMatcher::Eq32(1, TIOCSTI)},
       EPERM,
       "injects input that the shell outside detrun would run"},
      {__NR_ioctl,
       {ArgMatcher::Eq32(1, TIOCLINUX)},
       EPERM,
       "pastes console input that the shell outside detrun would run"},
  };
  return *kDenied;
}

void AddEscapeDenials(SyscallPolicy& policy) {
  for (const DeniedSyscall& denied : DeniedEscapeSyscalls()) {
    policy.Add(denied.nr,
               SyscallRule{denied.all_of,
                           SyscallAction::Errno(denied.errno_value),
                           denied.reason});
  }
}

void AddNoNetworkRules(SyscallPolicy& policy) {
  // Only IP sockets: AF_UNIX stays (local IPC, X11, D-Bus, build servers)
  // and AF_NETLINK stays (glibc's getaddrinfo and if_nameindex use it).
  // EACCES is what a socket denied by policy (e.g. SELinux) reports.
  policy.Add(__NR_socket,
             SyscallRule{{ArgMatcher::Eq32(0, AF_INET)},
                         SyscallAction::Errno(EACCES),
                         "--no-network: no IPv4 sockets"});
  policy.Add(__NR_socket,
             SyscallRule{{ArgMatcher::Eq32(0, AF_INET6)},
                         SyscallAction::Errno(EACCES),
                         "--no-network: no IPv6 sockets"});
}

}  // namespace detrun
