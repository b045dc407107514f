// Tests for the BPF assembler (bpf_program.h) and the userspace interpreter
// (bpf_interpreter.h). Programs are checked by running them, not only by
// comparing bytes, so relaxation bugs show up as wrong answers.
#include "core/bpf_program.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/bpf_interpreter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun::bpf {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | 1;

seccomp_data DataWithNr(int nr) {
  seccomp_data data{};
  data.nr = nr;
  data.arch = AUDIT_ARCH_X86_64;
  return data;
}

sock_filter Insn(uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) {
  return sock_filter{code, jt, jf, k};
}

uint32_t MustEvaluate(const Program& program, const seccomp_data& data) {
  absl::StatusOr<uint32_t> result = Evaluate(program, data);
  EXPECT_TRUE(result.ok()) << result.status() << "\n" << Disassemble(program);
  return result.ok() ? *result : 0xdeadbeef;
}

// Emits `count` instructions that do nothing but keep the program long.
void Filler(Builder& b, int count) {
  for (int i = 0; i < count; ++i) b.LoadNr();
}

int CountJa(const Program& program) {
  int n = 0;
  for (const sock_filter& f : program) n += f.code == (BPF_JMP | BPF_JA);
  return n;
}

// ---------------------------------------------------------------------------
// Builder

TEST(BuilderTest, ResolvesLabelsToShortOffsets) {
  Builder b;
  Label yes = b.NewLabel();
  Label no = b.NewLabel();
  b.LoadNr();
  b.JumpIf(Cond::kJeq, 39, yes, no);
  b.Bind(yes);
  b.Return(kAllow);
  b.Bind(no);
  b.Return(kDeny);
  absl::StatusOr<Program> program = b.Assemble();
  ASSERT_TRUE(program.ok()) << program.status();
  ASSERT_EQ(program->size(), 4u);
  EXPECT_EQ((*program)[1].jt, 0);
  EXPECT_EQ((*program)[1].jf, 1);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(39)), kAllow);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(40)), kDeny);
  EXPECT_EQ(Disassemble(*program),
            "0000: ld nr\n"
            "0001: jeq #0x27 (getpid) -> 0002 : 0003\n"
            "0002: ret ALLOW\n"
            "0003: ret ERRNO(1)\n");
}

TEST(BuilderTest, LoadsAddressEachSeccompDataWord) {
  EXPECT_EQ(ArgLowOffset(0), 16u);
  EXPECT_EQ(ArgHighOffset(0), 20u);
  EXPECT_EQ(ArgLowOffset(5), 56u);
  EXPECT_EQ(ArgHighOffset(5), 60u);
  seccomp_data data = DataWithNr(7);
  data.args[3] = 0x1122334455667788ull;
  for (bool high : {false, true}) {
    Builder b;
    high ? b.LoadArgHigh(3) : b.LoadArgLow(3);
    b.AndK(0xffff0000u);
    Label yes = b.NewLabel();
    Label no = b.NewLabel();
    b.JumpIf(Cond::kJeq, high ? 0x11220000u : 0x55660000u, yes, no);
    b.Bind(yes);
    b.Return(kAllow);
    b.Bind(no);
    b.Return(kDeny);
    absl::StatusOr<Program> program = b.Assemble();
    ASSERT_TRUE(program.ok()) << program.status();
    EXPECT_EQ(MustEvaluate(*program, data), kAllow) << Disassemble(*program);
  }
}

// Jump distance exactly 255 fits the 8-bit field; 256 needs a trampoline.
TEST(BuilderTest, RelaxesOnlyBranchesBeyond255) {
  for (int distance : {254, 255, 256, 257, 600}) {
    SCOPED_TRACE(distance);
    Builder b;
    Label far = b.NewLabel();
    Label near = b.NewLabel();
    b.LoadNr();                                 // 0
    b.JumpIf(Cond::kJeq, 39, far, near);       // 1
    b.Bind(near);
    b.Return(kDeny);                            // 2
    Filler(b, distance - 1);                    // 3 .. distance+1
    b.Bind(far);
    b.Return(kAllow);                           // distance + 2
    absl::StatusOr<Program> program = b.Assemble();
    ASSERT_TRUE(program.ok()) << program.status();
    const bool relaxed = distance > 255;
    EXPECT_EQ(CountJa(*program), relaxed ? 1 : 0);
    EXPECT_EQ(program->size(), static_cast<size_t>(distance + 3 + relaxed));
    EXPECT_EQ(MustEvaluate(*program, DataWithNr(39)), kAllow);
    EXPECT_EQ(MustEvaluate(*program, DataWithNr(38)), kDeny);
  }
}

TEST(BuilderTest, RelaxesEitherOrBothBranches) {
  struct Shape {
    const char* name;
    bool jt_far;
    bool jf_far;
    bool same_target;
    int expected_trampolines;
  };
  for (const Shape& shape : {Shape{"jt far", true, false, false, 1},
                             Shape{"jf far", false, true, false, 1},
                             Shape{"both far, two targets", true, true, false, 2},
                             Shape{"both far, one target", true, true, true, 1}}) {
    SCOPED_TRACE(shape.name);
    Builder b;
    Label near = b.NewLabel();
    Label far1 = b.NewLabel();
    Label far2 = b.NewLabel();
    Label jt = shape.jt_far ? far1 : near;
    Label jf = shape.jf_far ? (shape.same_target || !shape.jt_far ? far1 : far2)
                            : near;
    b.LoadNr();
    b.JumpIf(Cond::kJeq, 39, jt, jf);
    b.Bind(near);
    b.Return(SECCOMP_RET_ERRNO | 3);
    Filler(b, 300);
    b.Bind(far1);
    b.Return(SECCOMP_RET_ERRNO | 1);
    Filler(b, 300);
    b.Bind(far2);
    b.Return(SECCOMP_RET_ERRNO | 2);
    absl::StatusOr<Program> program = b.Assemble();
    ASSERT_TRUE(program.ok()) << program.status();
    EXPECT_EQ(CountJa(*program), shape.expected_trampolines);
    const uint32_t want_true =
        shape.jt_far ? SECCOMP_RET_ERRNO | 1 : SECCOMP_RET_ERRNO | 3;
    const uint32_t want_false =
        !shape.jf_far ? SECCOMP_RET_ERRNO | 3
        : (shape.same_target || !shape.jt_far) ? SECCOMP_RET_ERRNO | 1
                                               : SECCOMP_RET_ERRNO | 2;
    EXPECT_EQ(MustEvaluate(*program, DataWithNr(39)), want_true)
        << Disassemble(*program);
    EXPECT_EQ(MustEvaluate(*program, DataWithNr(40)), want_false)
        << Disassemble(*program);
  }
}

// A trampoline inserted for one branch can push a neighbour's branch that
// fitted exactly over the limit: relaxation must iterate.
TEST(BuilderTest, RelaxationReachesAFixedPoint) {
  Builder b;
  Label target_a = b.NewLabel();
  Label target_b = b.NewLabel();
  Label next = b.NewLabel();
  Label next2 = b.NewLabel();
  b.LoadNr();                                      // 0
  b.JumpIf(Cond::kJeq, 1, target_a, next);        // 1: exactly 255 to go
  b.Bind(next);
  b.JumpIf(Cond::kJeq, 2, target_b, next2);       // 2: target_b far away
  b.Bind(next2);
  Filler(b, 254);                                  // 3 .. 256
  b.Bind(target_a);
  b.Return(SECCOMP_RET_ERRNO | 1);                 // 257 before relaxing
  Filler(b, 400);
  b.Bind(target_b);
  b.Return(SECCOMP_RET_ERRNO | 2);
  absl::StatusOr<Program> program = b.Assemble();
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(CountJa(*program), 2) << Disassemble(*program);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(1)), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(2)), SECCOMP_RET_ERRNO | 2);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(3)), SECCOMP_RET_ERRNO | 1);
}

// Many branches all crossing one far region, each pushed further by the
// trampolines of the others; every path must still land right.
TEST(BuilderTest, ManyLongBranchesAllLandOnTheirTargets) {
  constexpr int kBranches = 40;
  Builder b;
  std::vector<Label> targets;
  for (int i = 0; i < kBranches; ++i) targets.push_back(b.NewLabel());
  b.LoadNr();
  for (int i = 0; i < kBranches; ++i) {
    Label next = b.NewLabel();
    b.JumpIf(Cond::kJeq, i, targets[i], next);
    b.Bind(next);
  }
  b.Return(kAllow);
  for (int i = 0; i < kBranches; ++i) {
    Filler(b, 20);
    b.Bind(targets[i]);
    b.Return(SECCOMP_RET_ERRNO | (i + 1));
  }
  absl::StatusOr<Program> program = b.Assemble();
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_GT(CountJa(*program), 0);
  for (int i = 0; i < kBranches; ++i) {
    EXPECT_EQ(MustEvaluate(*program, DataWithNr(i)),
              SECCOMP_RET_ERRNO | (i + 1))
        << i;
  }
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(kBranches)), kAllow);
}

TEST(BuilderTest, UnconditionalJumpNeedsNoTrampoline) {
  Builder b;
  Label end = b.NewLabel();
  b.Jump(end);
  Filler(b, 1000);
  b.Bind(end);
  b.Return(kAllow);
  absl::StatusOr<Program> program = b.Assemble();
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(program->size(), 1002u);
  EXPECT_EQ((*program)[0].k, 1000u);
  EXPECT_EQ(MustEvaluate(*program, DataWithNr(0)), kAllow);
}

absl::Status AssembleError(const Builder& b) {
  absl::StatusOr<Program> program = b.Assemble();
  if (program.ok()) return absl::OkStatus();
  return program.status();
}

TEST(BuilderErrorTest, EmptyProgram) {
  Builder b;
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("empty"));
}

TEST(BuilderErrorTest, UnboundLabel) {
  Builder b;
  Label never = b.NewLabel();
  Label here = b.NewLabel();
  b.LoadNr();
  b.JumpIf(Cond::kJeq, 1, never, here);
  b.Bind(here);
  b.Return(kAllow);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("never bound"));
}

TEST(BuilderErrorTest, LabelBoundTwice) {
  Builder b;
  Label l = b.NewLabel();
  b.Bind(l);
  b.LoadNr();
  b.Bind(l);
  b.Return(kAllow);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("bound twice"));
}

TEST(BuilderErrorTest, LabelFromNowhere) {
  Builder b;
  b.LoadNr();
  b.Jump(Label{});
  b.Return(kAllow);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("never made"));
  Builder c;
  c.Bind(Label{7});
  c.Return(kAllow);
  EXPECT_THAT(AssembleError(c).message(), HasSubstr("never made"));
}

TEST(BuilderErrorTest, BackwardJump) {
  Builder b;
  Label top = b.NewLabel();
  Label out = b.NewLabel();
  b.Bind(top);
  b.LoadNr();
  b.JumpIf(Cond::kJeq, 1, top, out);
  b.Bind(out);
  b.Return(kAllow);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("backwards"));
}

TEST(BuilderErrorTest, JumpToItself) {
  Builder b;
  Label self = b.NewLabel();
  b.LoadNr();
  b.Bind(self);
  b.Jump(self);
  b.Return(kAllow);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("backwards"));
}

TEST(BuilderErrorTest, LabelPastTheEnd) {
  Builder b;
  Label end = b.NewLabel();
  b.LoadNr();
  b.JumpIf(Cond::kJeq, 1, end, end);
  b.Return(kAllow);
  b.Bind(end);
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("past the last"));
}

TEST(BuilderErrorTest, ProgramThatCanFallOffItsEnd) {
  Builder b;
  b.LoadNr();
  EXPECT_THAT(AssembleError(b).message(), HasSubstr("fall off"));
}

TEST(BuilderErrorTest, TooManyInstructions) {
  Builder fits;
  Filler(fits, BPF_MAXINSNS - 1);
  fits.Return(kAllow);
  EXPECT_TRUE(AssembleError(fits).ok());

  Builder b;
  Filler(b, BPF_MAXINSNS);
  b.Return(kAllow);
  absl::Status error = AssembleError(b);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(error.message(), HasSubstr("at most 4096"));
}

// 4096 instructions before relaxing fit; the trampolines push it over.
TEST(BuilderErrorTest, TrampolinesCanMakeAProgramTooLarge) {
  Builder b;
  Label far = b.NewLabel();
  b.LoadNr();
  for (int i = 0; i < 10; ++i) {
    Label next = b.NewLabel();
    b.JumpIf(Cond::kJeq, i, far, next);
    b.Bind(next);
  }
  Filler(b, BPF_MAXINSNS - 13);
  b.Bind(far);
  b.Return(kAllow);
  ASSERT_EQ(b.size(), static_cast<size_t>(BPF_MAXINSNS - 1));
  EXPECT_EQ(AssembleError(b).code(), absl::StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------------------
// Interpreter

absl::Status EvaluateError(const Program& program,
                           const seccomp_data& data = DataWithNr(0)) {
  absl::StatusOr<uint32_t> result = Evaluate(program, data);
  if (result.ok()) return absl::OkStatus();
  return result.status();
}

TEST(InterpreterErrorTest, EachRejectedProgram) {
  struct Case {
    const char* description;
    Program program;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"empty", {}, "empty"},
      {"load past seccomp_data", {Insn(BPF_LD | BPF_W | BPF_ABS, 64), Insn(BPF_RET | BPF_A, 0)}, "outside"},
      {"load far past", {Insn(BPF_LD | BPF_W | BPF_ABS, 0xfffffffc), Insn(BPF_RET | BPF_A, 0)}, "outside"},
      {"misaligned load", {Insn(BPF_LD | BPF_W | BPF_ABS, 2), Insn(BPF_RET | BPF_A, 0)}, "misaligned"},
      {"byte load", {Insn(BPF_LD | BPF_B | BPF_ABS, 0), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"indirect load", {Insn(BPF_LD | BPF_W | BPF_IND, 0), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"mod (refused by seccomp)", {Insn(BPF_ALU | BPF_MOD | BPF_K, 3), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"unknown ALU op", {Insn(BPF_ALU | 0xf0 | BPF_K, 3), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"unknown jump op", {Insn(BPF_JMP | 0x50 | BPF_K, 3), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"garbage opcode", {Insn(0xffff, 0), Insn(BPF_RET | BPF_A, 0)}, "does not accept"},
      {"ja past the end", {Insn(BPF_JMP | BPF_JA, 1), Insn(BPF_RET | BPF_A, 0)}, "past the end"},
      {"ja by 2^32-1", {Insn(BPF_JMP | BPF_JA, 0xffffffff), Insn(BPF_RET | BPF_A, 0)}, "past the end"},
      {"jeq true past the end", {Insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), Insn(BPF_RET | BPF_A, 0)}, "past the end"},
      {"jeq false past the end", {Insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), Insn(BPF_RET | BPF_A, 0)}, "past the end"},
      {"falls off the end", {Insn(BPF_LD | BPF_IMM, 1)}, "falls off"},
      {"div by constant zero", {Insn(BPF_ALU | BPF_DIV | BPF_K, 0), Insn(BPF_RET | BPF_A, 0)}, "division by zero"},
      {"div by x == 0", {Insn(BPF_LDX | BPF_IMM, 0), Insn(BPF_ALU | BPF_DIV | BPF_X, 0), Insn(BPF_RET | BPF_A, 0)}, "division by zero"},
      {"shift by 32", {Insn(BPF_ALU | BPF_LSH | BPF_K, 32), Insn(BPF_RET | BPF_A, 0)}, "shift"},
      {"scratch read before write", {Insn(BPF_LD | BPF_MEM, 3), Insn(BPF_RET | BPF_A, 0)}, "never written"},
      {"scratch index 16", {Insn(BPF_ST, 16), Insn(BPF_RET | BPF_A, 0)}, "out of range"},
  };
  for (const Case& c : cases) {
    absl::Status error = EvaluateError(c.program);
    EXPECT_FALSE(error.ok()) << c.description;
    EXPECT_THAT(error.message(), HasSubstr(c.message)) << c.description;
  }
  Program too_long(BPF_MAXINSNS + 1, Insn(BPF_RET | BPF_K, kAllow));
  EXPECT_THAT(EvaluateError(too_long).message(), HasSubstr("at most"));
}

// Runs "A = a; X = x; A <op>= (K or X); return A".
uint32_t RunAlu(uint16_t op, uint16_t src, uint32_t a, uint32_t operand) {
  const Program program = {
      Insn(BPF_LD | BPF_IMM, a),
      Insn(BPF_LDX | BPF_IMM, operand),
      Insn(BPF_ALU | op | src, operand),
      Insn(BPF_RET | BPF_A, 0),
  };
  return MustEvaluate(program, DataWithNr(0));
}

TEST(InterpreterTest, AluOperationsWithKAndX) {
  struct Case {
    uint16_t op;
    uint32_t a, operand, expected;
  };
  const Case cases[] = {
      {BPF_ADD, 0xffffffff, 2, 1},  // wraps at 32 bits
      {BPF_SUB, 1, 2, 0xffffffff},
      {BPF_MUL, 0x10000, 0x10000, 0},
      {BPF_MUL, 7, 6, 42},
      {BPF_DIV, 0xffffffff, 2, 0x7fffffff},  // unsigned
      {BPF_AND, 0xf0f0, 0xff00, 0xf000},
      {BPF_OR, 0xf0f0, 0x0f00, 0xfff0},
      {BPF_XOR, 0xff00, 0x0ff0, 0xf0f0},
      {BPF_LSH, 1, 31, 0x80000000},
      {BPF_RSH, 0x80000000, 31, 1},  // logical, not arithmetic
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RunAlu(c.op, BPF_K, c.a, c.operand), c.expected) << c.op;
    EXPECT_EQ(RunAlu(c.op, BPF_X, c.a, c.operand), c.expected) << c.op;
  }
  EXPECT_EQ(RunAlu(BPF_NEG, BPF_K, 1, 0), 0xffffffffu);
}

TEST(InterpreterTest, ConditionalJumpsWithKAndX) {
  struct Case {
    uint16_t op;
    uint32_t a, operand;
    bool taken;
  };
  const Case cases[] = {
      {BPF_JEQ, 5, 5, true},          {BPF_JEQ, 5, 6, false},
      {BPF_JGT, 6, 5, true},          {BPF_JGT, 5, 5, false},
      {BPF_JGT, 0xffffffff, 1, true},  // unsigned
      {BPF_JGE, 5, 5, true},          {BPF_JGE, 4, 5, false},
      {BPF_JGE, 0x80000000, 0x7fffffff, true},
      {BPF_JSET, 0x10, 0x30, true},   {BPF_JSET, 0x10, 0x20, false},
  };
  for (const Case& c : cases) {
    for (uint16_t src : {BPF_K, BPF_X}) {
      const Program program = {
          Insn(BPF_LD | BPF_IMM, c.a),
          Insn(BPF_LDX | BPF_IMM, c.operand),
          Insn(BPF_JMP | c.op | src, c.operand, 1, 0),
          Insn(BPF_RET | BPF_K, kDeny),
          Insn(BPF_RET | BPF_K, kAllow),
      };
      EXPECT_EQ(MustEvaluate(program, DataWithNr(0)), c.taken ? kAllow : kDeny)
          << "op " << c.op << " src " << src << " a " << c.a;
    }
  }
}

TEST(InterpreterTest, LoadsEveryFieldOfSeccompData) {
  seccomp_data data{};
  data.nr = 0x11;
  data.arch = 0x22;
  data.instruction_pointer = 0x4444444433333333ull;
  for (int i = 0; i < 6; ++i) {
    data.args[i] = (uint64_t{0xa0u + i} << 32) | (0xb0u + i);
  }
  for (uint32_t offset = 0; offset < sizeof(seccomp_data); offset += 4) {
    uint32_t expected;
    std::memcpy(&expected, reinterpret_cast<const char*>(&data) + offset, 4);
    const Program program = {Insn(BPF_LD | BPF_W | BPF_ABS, offset),
                             Insn(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(MustEvaluate(program, data), expected) << offset;
  }
  const Program len = {Insn(BPF_LD | BPF_W | BPF_LEN, 0),
                       Insn(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(MustEvaluate(len, data), sizeof(seccomp_data));
}

TEST(InterpreterTest, ScratchMemoryAndRegisterMoves) {
  const Program program = {
      Insn(BPF_LD | BPF_IMM, 7),
      Insn(BPF_ST, 15),                   // M[15] = 7
      Insn(BPF_MISC | BPF_TAX, 0),        // X = 7
      Insn(BPF_LD | BPF_IMM, 100),
      Insn(BPF_STX, 0),                   // M[0] = 7
      Insn(BPF_LDX | BPF_MEM, 15),        // X = 7
      Insn(BPF_ALU | BPF_ADD | BPF_X, 0),  // A = 107
      Insn(BPF_LD | BPF_MEM, 0),          // A = 7
      Insn(BPF_ALU | BPF_ADD | BPF_X, 0),  // A = 14
      Insn(BPF_LDX | BPF_W | BPF_LEN, 0),  // X = 64
      Insn(BPF_ALU | BPF_ADD | BPF_X, 0),  // A = 78
      Insn(BPF_MISC | BPF_TAX, 0),
      Insn(BPF_LD | BPF_IMM, 0),
      Insn(BPF_MISC | BPF_TXA, 0),        // A = 78
      Insn(BPF_RET | BPF_A, 0),
  };
  EXPECT_EQ(MustEvaluate(program, DataWithNr(0)), 78u);
}

TEST(DisassembleTest, NamesFieldsAndActions) {
  const Program program = {
      Insn(BPF_LD | BPF_W | BPF_ABS, 4),
      Insn(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      Insn(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      Insn(BPF_LD | BPF_W | BPF_ABS, ArgHighOffset(2)),
      Insn(BPF_ALU | BPF_AND | BPF_K, 0xff),
      Insn(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 1),
      Insn(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      Insn(BPF_JMP | BPF_JA, 0),
      Insn(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 38),
  };
  EXPECT_EQ(Disassemble(program),
            "0000: ld arch\n"
            "0001: jeq #0xc000003e (AUDIT_ARCH_X86_64) -> 0003 : 0002\n"
            "0002: ret KILL_PROCESS\n"
            "0003: ld args[2].hi\n"
            "0004: and #0xff\n"
            "0005: jset x -> 0006 : 0007\n"
            "0006: ret USER_NOTIF\n"
            "0007: ja 0008\n"
            "0008: ret ERRNO(38)\n");
  EXPECT_THAT(Disassemble({Insn(0xffff, 1)}), HasSubstr("unknown code=0xffff"));
}

}  // namespace
}  // namespace detrun::bpf
