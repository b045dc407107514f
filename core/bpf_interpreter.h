// A userspace interpreter for seccomp classic-BPF programs.
//
// It lets tests ask "what does this filter answer for clock_gettime on
// x86-64? for an i386 number? for the x32 bit?" without installing a filter
// (which can never be removed from the test process). It accepts the subset
// the kernel's seccomp_check_filter() accepts:
//   LD  W ABS (4-byte aligned, inside struct seccomp_data), LD/LDX W LEN,
//   LD/LDX IMM, LD/LDX MEM, ST, STX,
//   ALU ADD SUB MUL DIV AND OR XOR LSH RSH with K or X, NEG,
//   JMP JA, JEQ JGT JGE JSET with K or X,
//   RET K, RET A, MISC TAX, TXA.
// Anything the kernel would refuse at load time, or where the kernel's
// behaviour is not a filter author's intent, is an error rather than a
// guess: out-of-bounds or misaligned loads, unknown opcodes (BPF_MOD
// included: seccomp rejects it), jumps past the end, falling off the end,
// division by zero, shifts by 32 or more, reads of scratch memory never
// written, an empty or over-long (> BPF_MAXINSNS) program.
//
// Pure and stateless: one call evaluates one program on one seccomp_data.
#ifndef DETRUN_CORE_BPF_INTERPRETER_H_
#define DETRUN_CORE_BPF_INTERPRETER_H_

#include <linux/seccomp.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/bpf_program.h"

namespace detrun::bpf {

// Runs `program` on `data`; returns the SECCOMP_RET_* value it returns.
absl::StatusOr<uint32_t> Evaluate(const Program& program,
                                  const struct seccomp_data& data);

}  // namespace detrun::bpf

#endif  // DETRUN_CORE_BPF_INTERPRETER_H_
