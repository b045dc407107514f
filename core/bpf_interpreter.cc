#include "core/bpf_interpreter.h"

#include <linux/filter.h>

#include <array>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace detrun::bpf {
namespace {

absl::Status Invalid(size_t pc, const sock_filter& f, const char* what) {
  return absl::InvalidArgumentError(
      absl::StrFormat("BPF instruction %d (code=%#x jt=%d jf=%d k=%#x): %s",
                      pc, f.code, f.jt, f.jf, f.k, what));
}

// Applies one of the ALU operations seccomp accepts.
absl::StatusOr<uint32_t> Alu(uint16_t op, uint32_t a, uint32_t operand,
                             size_t pc, const sock_filter& f) {
  switch (op) {
    case BPF_ADD:
      return a + operand;
    case BPF_SUB:
      return a - operand;
    case BPF_MUL:
      return a * operand;
    case BPF_DIV:
      if (operand == 0) return Invalid(pc, f, "division by zero");
      return a / operand;
    case BPF_AND:
      return a & operand;
    case BPF_OR:
      return a | operand;
    case BPF_XOR:
      return a ^ operand;
    case BPF_LSH:
      if (operand >= 32) return Invalid(pc, f, "shift by 32 or more");
      return a << operand;
    case BPF_RSH:
      if (operand >= 32) return Invalid(pc, f, "shift by 32 or more");
      return a >> operand;
    case BPF_NEG:
      return 0u - a;
  }
  return Invalid(pc, f, "ALU operation seccomp does not accept");
}

absl::StatusOr<bool> Condition(uint16_t op, uint32_t a, uint32_t operand,
                               size_t pc, const sock_filter& f) {
  switch (op) {
    case BPF_JEQ:
      return a == operand;
    case BPF_JGT:
      return a > operand;
    case BPF_JGE:
      return a >= operand;
    case BPF_JSET:
      return (a & operand) != 0;
  }
  return Invalid(pc, f, "jump operation seccomp does not accept");
}

}  // namespace

absl::StatusOr<uint32_t> Evaluate(const Program& program,
                                  const struct seccomp_data& data) {
  const size_t n = program.size();
  if (n == 0) return absl::InvalidArgumentError("empty BPF program");
  if (n > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "BPF program has %d instructions; the kernel accepts at most %d", n,
        BPF_MAXINSNS));
  }

  // Loads read the bytes of seccomp_data exactly as the kernel lays them
  // out, so a filter's offsets are tested, not re-derived.
  unsigned char bytes[sizeof(seccomp_data)];
  std::memcpy(bytes, &data, sizeof(data));

  uint32_t a = 0;
  uint32_t x = 0;
  std::array<uint32_t, BPF_MEMWORDS> mem{};
  std::array<bool, BPF_MEMWORDS> mem_written{};

  // Jumps only go forward, so the program counter strictly increases and
  // the loop runs at most n times.
  size_t pc = 0;
  while (pc < n) {
    const sock_filter& f = program[pc];
    const uint16_t code = f.code;
    size_t next = pc + 1;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        if (f.k >= sizeof(seccomp_data) || f.k % 4 != 0) {
          return Invalid(pc, f, "load outside seccomp_data or misaligned");
        }
        std::memcpy(&a, bytes + f.k, sizeof(a));
        break;
      }
      case BPF_LD | BPF_W | BPF_LEN:
        a = sizeof(seccomp_data);
        break;
      case BPF_LDX | BPF_W | BPF_LEN:
        x = sizeof(seccomp_data);
        break;
      case BPF_LD | BPF_IMM:
        a = f.k;
        break;
      case BPF_LDX | BPF_IMM:
        x = f.k;
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if (f.k >= BPF_MEMWORDS) return Invalid(pc, f, "scratch index out of range");
        if (!mem_written[f.k]) {
          return Invalid(pc, f, "reads scratch memory never written");
        }
        (BPF_CLASS(code) == BPF_LD ? a : x) = mem[f.k];
        break;
      case BPF_ST:
      case BPF_STX:
        if (f.k >= BPF_MEMWORDS) return Invalid(pc, f, "scratch index out of range");
        mem[f.k] = code == BPF_ST ? a : x;
        mem_written[f.k] = true;
        break;
      case BPF_MISC | BPF_TAX:
        x = a;
        break;
      case BPF_MISC | BPF_TXA:
        a = x;
        break;
      case BPF_RET | BPF_K:
        return f.k;
      case BPF_RET | BPF_A:
        return a;
      case BPF_JMP | BPF_JA:
        next = pc + 1 + static_cast<size_t>(f.k);
        break;
      default: {
        const uint16_t op = BPF_OP(code);
        const bool use_x = BPF_SRC(code) == BPF_X;
        if (BPF_CLASS(code) == BPF_ALU &&
            (code & ~(BPF_OP(0xffff) | BPF_SRC(0xffff))) == BPF_ALU &&
            op != BPF_MOD && !(op == BPF_NEG && use_x)) {
          absl::StatusOr<uint32_t> result = Alu(op, a, use_x ? x : f.k, pc, f);
          if (!result.ok()) return result.status();
          a = *result;
          break;
        }
        if (BPF_CLASS(code) == BPF_JMP &&
            (code & ~(BPF_OP(0xffff) | BPF_SRC(0xffff))) == BPF_JMP) {
          absl::StatusOr<bool> taken = Condition(op, a, use_x ? x : f.k, pc, f);
          if (!taken.ok()) return taken.status();
          next = pc + 1 + (*taken ? f.jt : f.jf);
          break;
        }
        return Invalid(pc, f, "opcode seccomp does not accept");
      }
    }
    if (next >= n) {
      return BPF_CLASS(code) == BPF_JMP
                 ? Invalid(pc, f, "jumps past the end of the program")
                 : Invalid(pc, f, "falls off the end of the program");
    }
    pc = next;
  }
  return absl::InvalidArgumentError("BPF program fell off its end");
}

}  // namespace detrun::bpf
