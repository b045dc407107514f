#include "core/bpf_program.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/syscall_table.h"

namespace detrun::bpf {
namespace {

// Classic BPF conditional jumps encode each target in 8 bits.
constexpr uint32_t kMaxShortJump = 255;

bool IsConditionalJump(uint16_t code) {
  return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA;
}

uint16_t JumpCode(Cond op) {
  switch (op) {
    case Cond::kJeq:
      return BPF_JMP | BPF_JEQ | BPF_K;
    case Cond::kJgt:
      return BPF_JMP | BPF_JGT | BPF_K;
    case Cond::kJge:
      return BPF_JMP | BPF_JGE | BPF_K;
    case Cond::kJset:
      return BPF_JMP | BPF_JSET | BPF_K;
  }
  return BPF_JMP | BPF_JEQ | BPF_K;
}

}  // namespace

uint32_t ArgLowOffset(int arg) {
  return static_cast<uint32_t>(offsetof(seccomp_data, args) +
                               sizeof(uint64_t) * arg);
}

uint32_t ArgHighOffset(int arg) { return ArgLowOffset(arg) + 4; }

Label Builder::NewLabel() {
  label_positions_.push_back(-1);
  return Label{static_cast<int>(label_positions_.size()) - 1};
}

void Builder::RecordError(absl::Status error) {
  if (first_error_.ok()) first_error_ = std::move(error);
}

bool Builder::KnownLabel(Label label, const char* use) {
  if (label.id >= 0 && label.id < static_cast<int>(label_positions_.size())) {
    return true;
  }
  RecordError(absl::InvalidArgumentError(absl::StrFormat(
      "%s of label %d, which this builder never made (instruction %d)", use,
      label.id, insns_.size())));
  return false;
}

void Builder::Bind(Label label) {
  if (!KnownLabel(label, "bind")) return;
  int& position = label_positions_[label.id];
  if (position != -1) {
    RecordError(absl::InvalidArgumentError(absl::StrFormat(
        "label %d bound twice (at instructions %d and %d)", label.id, position,
        insns_.size())));
    return;
  }
  position = static_cast<int>(insns_.size());
}

void Builder::Emit(uint16_t code, uint32_t k) {
  PendingInsn pending;
  pending.insn = sock_filter{code, 0, 0, k};
  insns_.push_back(pending);
}

void Builder::LoadAbs(uint32_t offset) { Emit(BPF_LD | BPF_W | BPF_ABS, offset); }

void Builder::LoadArch() {
  LoadAbs(static_cast<uint32_t>(offsetof(seccomp_data, arch)));
}

void Builder::LoadNr() {
  LoadAbs(static_cast<uint32_t>(offsetof(seccomp_data, nr)));
}

void Builder::LoadArgLow(int arg) { LoadAbs(ArgLowOffset(arg)); }
void Builder::LoadArgHigh(int arg) { LoadAbs(ArgHighOffset(arg)); }

void Builder::AndK(uint32_t k) { Emit(BPF_ALU | BPF_AND | BPF_K, k); }

void Builder::Jump(Label target) {
  if (!KnownLabel(target, "jump")) return;
  Emit(BPF_JMP | BPF_JA, 0);
  insns_.back().ja_label = target.id;
}

void Builder::JumpIf(Cond op, uint32_t k, Label jt, Label jf) {
  if (!KnownLabel(jt, "jump") || !KnownLabel(jf, "jump")) return;
  Emit(JumpCode(op), k);
  insns_.back().jt_label = jt.id;
  insns_.back().jf_label = jf.id;
}

void Builder::Return(uint32_t seccomp_ret) { Emit(BPF_RET | BPF_K, seccomp_ret); }

absl::StatusOr<Program> Builder::Assemble() const {
  if (!first_error_.ok()) return first_error_;
  const int n = static_cast<int>(insns_.size());
  if (n == 0) return absl::InvalidArgumentError("empty BPF program");
  if (BPF_CLASS(insns_.back().insn.code) != BPF_RET) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the last instruction (%d) is not a return: the program could fall "
        "off its end",
        n - 1));
  }

  // Every target must be bound, strictly ahead, and inside the program.
  auto check_target = [&](int from, int label) -> absl::Status {
    if (label < 0) return absl::OkStatus();
    const int to = label_positions_[label];
    if (to == -1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "instruction %d jumps to label %d, which was never bound", from,
          label));
    }
    if (to <= from) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "instruction %d jumps backwards to label %d (instruction %d); BPF "
          "jumps only forward",
          from, label, to));
    }
    if (to >= n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "instruction %d jumps to label %d, bound past the last instruction",
          from, label));
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < n; ++i) {
    for (int label : {insns_[i].jt_label, insns_[i].jf_label,
                      insns_[i].ja_label}) {
      if (absl::Status s = check_target(i, label); !s.ok()) return s;
    }
  }

  // Relax to a fixed point. Trampolines only ever get added, and adding one
  // only lengthens other branches, so the loop ends after at most 2n rounds.
  std::vector<bool> far_jt(n, false), far_jf(n, false);
  std::vector<int> start(n + 1, 0);  // physical index of each instruction
  auto trampolines_after = [&](int i) {
    if (far_jt[i] && far_jf[i] &&
        insns_[i].jt_label == insns_[i].jf_label) {
      return 1;  // both branches share one trampoline
    }
    return (far_jt[i] ? 1 : 0) + (far_jf[i] ? 1 : 0);
  };
  auto physical = [&](int label) { return start[label_positions_[label]]; };
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < n; ++i) start[i + 1] = start[i] + 1 + trampolines_after(i);
    for (int i = 0; i < n; ++i) {
      if (!IsConditionalJump(insns_[i].insn.code)) continue;
      const int next = start[i] + 1;
      if (!far_jt[i] &&
          physical(insns_[i].jt_label) - next > static_cast<int>(kMaxShortJump)) {
        far_jt[i] = changed = true;
      }
      if (!far_jf[i] &&
          physical(insns_[i].jf_label) - next > static_cast<int>(kMaxShortJump)) {
        far_jf[i] = changed = true;
      }
    }
  }

  const int total = start[n];
  if (total > BPF_MAXINSNS) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "BPF program has %d instructions (%d before relaxing long branches); "
        "the kernel accepts at most %d",
        total, n, BPF_MAXINSNS));
  }

  Program out;
  out.reserve(total);
  auto ja_to = [&](int label) {
    const int from_next = static_cast<int>(out.size()) + 1;
    return sock_filter{BPF_JMP | BPF_JA, 0, 0,
                       static_cast<uint32_t>(physical(label) - from_next)};
  };
  for (int i = 0; i < n; ++i) {
    const PendingInsn& p = insns_[i];
    sock_filter insn = p.insn;
    if (p.ja_label >= 0) {
      out.push_back(ja_to(p.ja_label));
      continue;
    }
    if (!IsConditionalJump(insn.code)) {
      out.push_back(insn);
      continue;
    }
    const int next = start[i] + 1;
    const bool shared = trampolines_after(i) == 1 && far_jt[i] && far_jf[i];
    insn.jt = far_jt[i] ? 0 : static_cast<uint8_t>(physical(p.jt_label) - next);
    insn.jf = far_jf[i] ? static_cast<uint8_t>(far_jt[i] && !shared ? 1 : 0)
                        : static_cast<uint8_t>(physical(p.jf_label) - next);
    out.push_back(insn);
    if (far_jt[i]) out.push_back(ja_to(p.jt_label));
    if (far_jf[i] && !shared) out.push_back(ja_to(p.jf_label));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Disassembly.

namespace {

std::string FieldName(uint32_t offset) {
  if (offset == offsetof(seccomp_data, nr)) return "nr";
  if (offset == offsetof(seccomp_data, arch)) return "arch";
  if (offset == offsetof(seccomp_data, instruction_pointer)) return "ip.lo";
  if (offset == offsetof(seccomp_data, instruction_pointer) + 4) return "ip.hi";
  const uint32_t args = offsetof(seccomp_data, args);
  if (offset >= args && offset < args + 6 * sizeof(uint64_t) &&
      offset % 4 == 0) {
    const uint32_t rel = offset - args;
    return absl::StrFormat("args[%d].%s", rel / 8, rel % 8 ? "hi" : "lo");
  }
  return absl::StrFormat("[%d]", offset);
}

std::string ReturnName(uint32_t k) {
  const uint32_t data = k & SECCOMP_RET_DATA;
  switch (k & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS:
      return "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD:
      return "KILL_THREAD";
    case SECCOMP_RET_TRAP:
      return absl::StrFormat("TRAP(%d)", data);
    case SECCOMP_RET_ERRNO:
      return absl::StrFormat("ERRNO(%d)", data);
    case SECCOMP_RET_USER_NOTIF:
      return "USER_NOTIF";
    case SECCOMP_RET_TRACE:
      return absl::StrFormat("TRACE(%d)", data);
    case SECCOMP_RET_LOG:
      return "LOG";
    case SECCOMP_RET_ALLOW:
      return "ALLOW";
  }
  return absl::StrFormat("%#x", k);
}

const char* AluName(uint16_t op) {
  switch (op) {
    case BPF_ADD: return "add";
    case BPF_SUB: return "sub";
    case BPF_MUL: return "mul";
    case BPF_DIV: return "div";
    case BPF_MOD: return "mod";
    case BPF_AND: return "and";
    case BPF_OR: return "or";
    case BPF_XOR: return "xor";
    case BPF_LSH: return "lsh";
    case BPF_RSH: return "rsh";
    case BPF_NEG: return "neg";
  }
  return nullptr;
}

const char* JumpName(uint16_t op) {
  switch (op) {
    case BPF_JEQ: return "jeq";
    case BPF_JGT: return "jgt";
    case BPF_JGE: return "jge";
    case BPF_JSET: return "jset";
  }
  return nullptr;
}

// What the accumulator holds on entry to each instruction, as far as a
// one-pass forward analysis can tell: the seccomp_data offset it was loaded
// from, or kUnknown. Used only to annotate comparisons with syscall names.
constexpr int64_t kUnreached = -2;
constexpr int64_t kUnknown = -1;

std::vector<int64_t> AccumulatorSources(const Program& program) {
  const size_t n = program.size();
  std::vector<int64_t> source(n, kUnreached);
  auto flow = [&](size_t to, int64_t value) {
    if (to >= n) return;
    if (source[to] == kUnreached) {
      source[to] = value;
    } else if (source[to] != value) {
      source[to] = kUnknown;
    }
  };
  if (n > 0) source[0] = kUnknown;
  for (size_t pc = 0; pc < n; ++pc) {
    const sock_filter& f = program[pc];
    const int64_t in = source[pc] == kUnreached ? kUnknown : source[pc];
    switch (BPF_CLASS(f.code)) {
      case BPF_LD:
        flow(pc + 1, f.code == (BPF_LD | BPF_W | BPF_ABS) ? int64_t{f.k}
                                                           : kUnknown);
        break;
      case BPF_ALU:
        flow(pc + 1, kUnknown);
        break;
      case BPF_MISC:
        flow(pc + 1, BPF_MISCOP(f.code) == BPF_TXA ? kUnknown : in);
        break;
      case BPF_JMP:
        if (BPF_OP(f.code) == BPF_JA) {
          flow(pc + 1 + f.k, in);
        } else {
          flow(pc + 1 + f.jt, in);
          flow(pc + 1 + f.jf, in);
        }
        break;
      case BPF_RET:
        break;
      default:  // LDX, ST, STX leave A alone
        flow(pc + 1, in);
    }
  }
  return source;
}

std::string Annotation(int64_t accumulator_source, uint32_t k) {
  if (accumulator_source == static_cast<int64_t>(offsetof(seccomp_data, nr))) {
    const std::string_view name = SyscallName(static_cast<int>(k));
    if (k <= 1023 && !name.empty()) return " (" + std::string(name) + ")";
  }
  if (accumulator_source ==
          static_cast<int64_t>(offsetof(seccomp_data, arch)) &&
      k == AUDIT_ARCH_X86_64) {
    return " (AUDIT_ARCH_X86_64)";
  }
  return "";
}

std::string DisassembleOne(const sock_filter& f, size_t pc,
                           int64_t accumulator_source) {
  const uint16_t code = f.code;
  switch (BPF_CLASS(code)) {
    case BPF_LD:
    case BPF_LDX: {
      const char* op = BPF_CLASS(code) == BPF_LD ? "ld" : "ldx";
      switch (BPF_MODE(code)) {
        case BPF_ABS:
          if (BPF_SIZE(code) == BPF_W) return absl::StrCat(op, " ", FieldName(f.k));
          break;
        case BPF_IMM:
          return absl::StrFormat("%s #%#x", op, f.k);
        case BPF_MEM:
          return absl::StrFormat("%s M[%d]", op, f.k);
        case BPF_LEN:
          return absl::StrCat(op, " len");
      }
      break;
    }
    case BPF_ST:
      return absl::StrFormat("st M[%d]", f.k);
    case BPF_STX:
      return absl::StrFormat("stx M[%d]", f.k);
    case BPF_ALU: {
      const char* name = AluName(BPF_OP(code));
      if (name == nullptr) break;
      if (BPF_OP(code) == BPF_NEG) return name;
      if (BPF_SRC(code) == BPF_X) return absl::StrCat(name, " x");
      return absl::StrFormat("%s #%#x", name, f.k);
    }
    case BPF_JMP: {
      if (BPF_OP(code) == BPF_JA) {
        return absl::StrFormat("ja %04d", pc + 1 + f.k);
      }
      const char* name = JumpName(BPF_OP(code));
      if (name == nullptr) break;
      const std::string operand =
          BPF_SRC(code) == BPF_X
              ? std::string("x")
              : absl::StrFormat("#%#x%s", f.k, Annotation(accumulator_source, f.k));
      return absl::StrFormat("%s %s -> %04d : %04d", name, operand,
                             pc + 1 + f.jt, pc + 1 + f.jf);
    }
    case BPF_RET:
      if (BPF_RVAL(code) == BPF_A) return "ret a";
      if (BPF_RVAL(code) == BPF_K) return absl::StrCat("ret ", ReturnName(f.k));
      break;
    case BPF_MISC:
      if (BPF_MISCOP(code) == BPF_TAX) return "tax";
      if (BPF_MISCOP(code) == BPF_TXA) return "txa";
      break;
  }
  return absl::StrFormat("unknown code=%#x jt=%d jf=%d k=%#x", code, f.jt,
                         f.jf, f.k);
}

}  // namespace

std::string Disassemble(const Program& program) {
  const std::vector<int64_t> sources = AccumulatorSources(program);
  std::string out;
  for (size_t pc = 0; pc < program.size(); ++pc) {
    absl::StrAppendFormat(&out, "%04d: %s\n", pc,
                          DisassembleOne(program[pc], pc, sources[pc]));
  }
  return out;
}

}  // namespace detrun::bpf
