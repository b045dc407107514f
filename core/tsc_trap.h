// Emulation of rdtsc and rdtscp for --tsc=emulate|trap (config.h TscMode).
//
// The time-stamp counter is a clock no syscall filter sees: Go mixes it
// into the seed of its map iteration order, glibc's loader and OpenSSL read
// it. With PR_SET_TSC(PR_TSC_SIGSEGV), set by the launcher before the
// command's exec and inherited by every child and kept across exec, each
// rdtsc/rdtscp raises SIGSEGV (si_code SI_KERNEL, no address). The
// supervisor traces every process of the run (ptrace, the signal-delivery
// stop), recognizes the instruction at the stopped thread's rip here, and
// answers it: EDX:EAX = the value a module gives (the thread's virtual
// monotonic clock, 1 tick per ns), ECX = TSC_AUX for rdtscp, rip past the
// instruction, the signal suppressed. Any other SIGSEGV is delivered.
//
// The filter refuses prctl(PR_SET_TSC) to the command (syscall_policy), so
// it cannot turn the trap off.
#ifndef DETRUN_CORE_TSC_TRAP_H_
#define DETRUN_CORE_TSC_TRAP_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/statusor.h"

namespace detrun {

enum class TscInstruction { kRdtsc, kRdtscp };

// The trapping instruction at the start of `code` (what rip points at):
// rdtsc is 0f 31, rdtscp 0f 01 f9. The kernel traps only these two for
// PR_TSC_SIGSEGV; a redundant prefix in front of them is not accepted
// (compilers and assemblers do not emit one).
std::optional<TscInstruction> DecodeTscInstruction(const uint8_t* code, size_t size);

// Length in bytes of `instruction`.
size_t TscInstructionLength(TscInstruction instruction);

// TSC_AUX as Linux sets it: (node << 12) | cpu. detrun's command is always on
// CPU 0 of node 0 (cpus_module's getcpu answer).
inline constexpr uint32_t kVirtualTscAux = 0;

struct TscTrap {
  TscInstruction instruction;
  uint64_t rip;  // where the instruction was
};

// How to answer one trapped instruction.
struct TscAnswer {
  uint64_t value = 0;  // EDX:EAX
  // Answer as `xor %eax,%eax` instead: EAX (and RAX) 0, EDX as it was
  // (the dynamic loader's sites, core/loader_tsc.h). rdtsc only.
  bool clear_eax_only = false;
};

// For a thread `tid` in a SIGSEGV signal-delivery stop: whether the signal
// is a trapped rdtsc/rdtscp. If so, asks `answer` what to answer, sets the
// registers as the instruction would have and moves rip past it, and
// returns what it emulated (the caller then resumes the thread without the
// signal); nullopt when the SIGSEGV is anything else (deliver it). An error
// means ptrace failed (e.g. the thread died).
absl::StatusOr<std::optional<TscTrap>> EmulateTrappedTsc(
    pid_t tid, const std::function<TscAnswer(const TscTrap&)>& answer);

// While it lives, the calling thread (the supervisor's) traps rdtsc too.
//
// Switching the CPU between a task with the trap (CR4.TSD set) and one
// without rewrites CR4, and in a virtual machine a CR4 write is an exit to
// the hypervisor: every notification and every ptrace stop is two switches
// between the command's task and the supervisor. Measured here, a seccomp
// notification round trip took 12.3 µs with only the child trapping and
// 9.6 µs with both (9.9 µs with neither). So the supervisor traps as well,
// and its own rdtsc/rdtscp (the vDSO's clock_gettime, Abseil's cycle clock;
// rare: its hot path reads no clock) are answered by a SIGSEGV handler that
// turns the trap off, executes the instruction, and turns it back on: the
// real counter, a few microseconds late. Any other SIGSEGV goes to the
// action that was installed before (the default: a crash, as without the
// handler). When prctl refuses (e.g. under another detrun, whose filter
// keeps the trap as it is) nothing changes.
class SupervisorTscTrap {
 public:
  SupervisorTscTrap();
  ~SupervisorTscTrap();
  SupervisorTscTrap(const SupervisorTscTrap&) = delete;
  SupervisorTscTrap& operator=(const SupervisorTscTrap&) = delete;

  // Whether the thread's trap is on (prctl accepted it).
  bool active() const { return active_; }

 private:
  bool active_ = false;
};

}  // namespace detrun

#endif  // DETRUN_CORE_TSC_TRAP_H_
