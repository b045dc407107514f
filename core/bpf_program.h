// A tiny assembler for classic-BPF seccomp programs.
//
// Seccomp filters are classic BPF: forward-only jumps, conditional jumps with
// 8-bit offsets, at most BPF_MAXINSNS instructions. Counting offsets by hand
// is how filters end up jumping to the wrong rule, so detrun emits every
// filter through Builder, which names jump targets with labels and resolves
// them at the end.
//
// Life: construct a Builder, make Labels with NewLabel(), emit instructions
// (binding each label exactly once, before the instruction it names), then
// call Assemble() once. Mistakes in emission (binding a label twice, a label
// from nowhere, a backward jump) are remembered and reported by Assemble(),
// so emission code stays free of error plumbing.
//
// Assemble() relaxes long branches: when a conditional jump's target is more
// than 255 instructions away, it emits an unconditional BPF_JA (32-bit
// offset) right after the conditional and points the short branch at it,
// repeating until every branch fits.
//
// Pure: nothing here touches a process. core/launcher installs programs;
// bpf_interpreter.h evaluates them in tests.
#ifndef DETRUN_CORE_BPF_PROGRAM_H_
#define DETRUN_CORE_BPF_PROGRAM_H_

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace detrun::bpf {

using Program = std::vector<sock_filter>;

// Byte offsets of the 32-bit words of struct seccomp_data (x86-64 is
// little-endian: an argument's low word comes first).
uint32_t ArgLowOffset(int arg);
uint32_t ArgHighOffset(int arg);

// A jump target. Only meaningful to the Builder that made it.
struct Label {
  int id = -1;
};

// The conditions a conditional jump can test, against a constant.
enum class Cond {
  kJeq,   // A == k
  kJgt,   // A > k   (unsigned)
  kJge,   // A >= k  (unsigned)
  kJset,  // (A & k) != 0
};

class Builder {
 public:
  Label NewLabel();
  // The next instruction emitted is the label's target.
  void Bind(Label label);

  // A = 32-bit word at `offset` in seccomp_data.
  void LoadAbs(uint32_t offset);
  void LoadArch();
  void LoadNr();
  void LoadArgLow(int arg);   // bits 0..31 of args[arg]
  void LoadArgHigh(int arg);  // bits 32..63 of args[arg]

  void AndK(uint32_t k);  // A &= k

  // Unconditional jump (32-bit offset, never needs relaxing).
  void Jump(Label target);
  // if (A <op> k) goto jt; else goto jf.
  void JumpIf(Cond op, uint32_t k, Label jt, Label jf);

  // Ends the filter with this SECCOMP_RET_* value.
  void Return(uint32_t seccomp_ret);

  // Resolves labels and relaxes long branches. Errors: an emission mistake
  // (see above), a jump to the end of the program or backwards, an unbound
  // label, a program that can fall off its end, or a result longer than
  // BPF_MAXINSNS.
  absl::StatusOr<Program> Assemble() const;

  // Instructions emitted so far, before relaxation (for size estimates).
  size_t size() const { return insns_.size(); }

 private:
  // One emitted instruction; jump targets are still label ids.
  struct PendingInsn {
    sock_filter insn;
    int jt_label = -1;  // conditional jumps
    int jf_label = -1;  // conditional jumps
    int ja_label = -1;  // BPF_JA
  };

  void Emit(uint16_t code, uint32_t k);
  void RecordError(absl::Status error);
  bool KnownLabel(Label label, const char* use);

  std::vector<PendingInsn> insns_;
  std::vector<int> label_positions_;  // index into insns_, -1 while unbound
  absl::Status first_error_;
};

// One line per instruction, e.g. "0003: jge #0x27 (getpid) -> 0010 : 0004".
// Loads from seccomp_data are named ("ld nr", "ld args[1].hi") and return
// values decoded ("ret ERRNO(1)"). Meant for test failure messages.
std::string Disassemble(const Program& program);

}  // namespace detrun::bpf

#endif  // DETRUN_CORE_BPF_PROGRAM_H_
