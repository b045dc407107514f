#include "core/tsc_trap.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include <ucontext.h>

#include <cstring>

#include "absl/status/status.h"

namespace detrun {

std::optional<TscInstruction> DecodeTscInstruction(const uint8_t* code, size_t size) {
  if (size >= 2 && code[0] == 0x0f && code[1] == 0x31) return TscInstruction::kRdtsc;
  if (size >= 3 && code[0] == 0x0f && code[1] == 0x01 && code[2] == 0xf9) {
    return TscInstruction::kRdtscp;
  }
  return std::nullopt;
}

size_t TscInstructionLength(TscInstruction instruction) {
  return instruction == TscInstruction::kRdtsc ? 2 : 3;
}

absl::StatusOr<std::optional<TscTrap>> EmulateTrappedTsc(
    pid_t tid, const std::function<TscAnswer(const TscTrap&)>& answer) {
  siginfo_t info{};
  if (ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) != 0) {
    return absl::ErrnoToStatus(errno, "PTRACE_GETSIGINFO");
  }
  // The trap is a #GP the kernel turns into SIGSEGV with SI_KERNEL; a
  // program's own raise(SIGSEGV) or kill has another code, a page fault
  // SEGV_MAPERR/SEGV_ACCERR.
  if (info.si_signo != SIGSEGV || info.si_code != SI_KERNEL) return std::nullopt;
  user_regs_struct regs{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) {
    return absl::ErrnoToStatus(errno, "PTRACE_GETREGS");
  }
  // One word at rip holds both encodings. A #GP at the last bytes of a
  // mapping could make the read fail: then it is no rdtsc of ours.
  errno = 0;
  const long word = ptrace(PTRACE_PEEKTEXT, tid, reinterpret_cast<void*>(regs.rip), nullptr);
  if (errno != 0) return std::nullopt;
  uint8_t code[sizeof word];
  memcpy(code, &word, sizeof word);
  const std::optional<TscInstruction> instruction = DecodeTscInstruction(code, sizeof code);
  if (!instruction.has_value()) return std::nullopt;
  const TscTrap trap{*instruction, regs.rip};
  const TscAnswer a = answer(trap);
  if (a.clear_eax_only && *instruction == TscInstruction::kRdtsc) {
    regs.rax = 0;  // a 32-bit write clears the upper half too
  } else {
    // As the instructions do: the upper halves of rax, rdx and rcx cleared.
    regs.rax = a.value & 0xffffffffu;
    regs.rdx = a.value >> 32;
    if (*instruction == TscInstruction::kRdtscp) regs.rcx = kVirtualTscAux;
  }
  regs.rip += TscInstructionLength(*instruction);
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0) {
    return absl::ErrnoToStatus(errno, "PTRACE_SETREGS");
  }
  return trap;
}

namespace {

// The action SIGSEGV had before the handler was installed (once per
// process; the handler stays, harmless without the trap).
struct sigaction previous_segv_action;

void AnswerOwnTsc(int sig, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  greg_t* regs = uc->uc_mcontext.gregs;
  const auto* code = reinterpret_cast<const uint8_t*>(regs[REG_RIP]);
  // A trapped rdtsc/rdtscp is a #GP (SI_KERNEL) at an executable, hence
  // readable, rip; the third byte is read only for a 0f 01 instruction,
  // which has one.
  std::optional<TscInstruction> instruction;
  if (info->si_code == SI_KERNEL && code[0] == 0x0f) {
    if (code[1] == 0x31) {
      instruction = TscInstruction::kRdtsc;
    } else if (code[1] == 0x01 && code[2] == 0xf9) {
      instruction = TscInstruction::kRdtscp;
    }
  }
  if (!instruction.has_value()) {
    // Not ours: the previous action takes the fault when it recurs.
    sigaction(sig, &previous_segv_action, nullptr);
    return;
  }
  const int saved_errno = errno;
  uint32_t lo = 0, hi = 0, aux = 0;
  prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
  if (*instruction == TscInstruction::kRdtsc) {
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  } else {
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  }
  prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
  errno = saved_errno;
  regs[REG_RAX] = lo;
  regs[REG_RDX] = hi;
  if (*instruction == TscInstruction::kRdtscp) regs[REG_RCX] = aux;
  regs[REG_RIP] += static_cast<greg_t>(TscInstructionLength(*instruction));
}

void InstallOwnTscHandlerOnce() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_sigaction = AnswerOwnTsc;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSEGV, &action, &previous_segv_action) == 0;
  }();
  (void)installed;
}

}  // namespace

SupervisorTscTrap::SupervisorTscTrap() {
  int mode = 0;
  if (prctl(PR_GET_TSC, &mode, 0, 0, 0) != 0 || mode != PR_TSC_ENABLE) return;
  InstallOwnTscHandlerOnce();
  active_ = prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) == 0;
}

SupervisorTscTrap::~SupervisorTscTrap() {
  if (active_) prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
}

}  // namespace detrun
