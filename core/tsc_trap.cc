#include "core/tsc_trap.h"

#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>

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

}  // namespace detrun
