// vDSO patching: make a child's vDSO functions visible to seccomp.
//
// clock_gettime, gettimeofday, time, clock_getres, getcpu and (Linux 6.11+)
// getrandom run inside the vDSO without entering the kernel, so the seccomp
// filter never sees them. detrun overwrites each entry point with a tiny
// stub that makes the real syscall (which the supervisor then answers) or
// returns a fixed value.
//
// Life of a patch:
//   1. once per run: ReadOwnVdso + ParseVdsoImage (vdso_image.h), then
//      BuildPatchedImage(original, image, SyscallForwardingPatches()) —
//      pure, no process touched;
//   2. after every exec of a child, while it is stopped before its first
//      instruction: ReadAuxv(pid) for the vDSO base, then
//      PatchProcessVdso(pid, base, original, patched).
// All processes on one kernel map the same vDSO image, so step 1's bytes
// fit every child; PatchProcessVdso checks that before it writes and
// returns FailedPrecondition when they do not, so the caller can re-read
// and re-parse the child's image instead.
//
// The stubs are raw x86-64 machine code. The vDSO functions take their
// arguments in rdi, rsi, rdx like the syscalls they shortcut; `syscall`
// clobbers rcx and r11, which the C ABI lets a callee clobber anyway.
#ifndef DETRUN_VDSO_VDSO_PATCH_H_
#define DETRUN_VDSO_VDSO_PATCH_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/child_memory.h"
#include "vdso/vdso_image.h"

namespace detrun {

// `mov eax, nr; syscall; ret` — 8 bytes:
//   b8 <nr:le32>   mov eax, imm32   (zero-extends into rax)
//   0f 05          syscall
//   c3             ret
// e.g. SyscallStub(228 /* clock_gettime */) = b8 e4 00 00 00 0f 05 c3.
std::vector<uint8_t> SyscallStub(int nr);

// Returns `value` in rax without touching memory. Values that fit in a
// sign-extended imm32 take 8 bytes:
//   48 c7 c0 <value:le32>   mov rax, imm32 (sign-extended)
//   c3                      ret
// e.g. ReturnStub(-38 /* -ENOSYS */) = 48 c7 c0 da ff ff ff c3;
// others take 11 bytes: 48 b8 <value:le64> (movabs rax, imm64), c3.
// The stub ignores its arguments: a patched time(tloc) or clock_gettime(id,
// ts) does not store through its pointer.
std::vector<uint8_t> ReturnStub(int64_t value);

// For the vDSO getrandom(buf, len, flags, opaque_state, opaque_len), 22
// bytes:
//   49 83 f8 ff            cmp r8, -1
//   75 08                  jne .syscall
//   48 c7 c0 da ff ff ff   mov rax, -ENOSYS
//   c3                     ret
// .syscall:
//   b8 3e 01 00 00         mov eax, 318 (getrandom)
//   0f 05                  syscall
//   c3                     ret
// opaque_len == ~0 is the "tell me your state size" query that glibc
// (2.41+) and Go (1.24+) make once before using the vDSO getrandom; failing
// it makes them fall back to the getrandom syscall for good. Every other
// call becomes the syscall getrandom(buf, len, flags).
std::vector<uint8_t> GetrandomSyscallStub();

// One entry point to overwrite.
struct PatchSpec {
  std::string symbol;
  std::vector<uint8_t> code;
  // A missing required symbol fails BuildPatchedImage; a missing optional
  // one (a function older kernels lack) is skipped.
  bool required = true;
};

// What each clock id 0..11 reads when the clocks never move
// (--clock=frozen): nullopt for an id the supervisor must answer (an
// invalid one, so it says EINVAL).
struct ConstantClocks {
  static constexpr int kIds = 12;  // CLOCK_REALTIME (0) .. CLOCK_TAI (11)
  struct Value {
    int64_t sec;
    int64_t nsec;  // 0 <= nsec < 1e9
  };
  std::array<std::optional<Value>, kIds> by_id;
};

// clock_gettime(id, ts) answered in-process from `clocks`, for ids 0..11
// with a value; any other id (negative CPU-clock ids of other processes,
// clock fds, invalid ones) makes the clock_gettime syscall. 51 bytes of
// code, then the table (16 bytes per id) 8-aligned at offset 0x38:
//   83 ff 0b               cmp edi, 11
//   77 26                  ja .syscall           (unsigned: negatives too)
//   89 f8                  mov eax, edi
//   48 c1 e0 04            shl rax, 4
//   48 8d 0d 26 00 00 00   lea rcx, [rip + table]
//   48 8b 14 01            mov rdx, [rcx + rax]      (tv_sec)
//   4c 8b 44 01 08         mov r8, [rcx + rax + 8]   (tv_nsec; -1: none)
//   49 83 f8 ff            cmp r8, -1
//   74 0a                  je .syscall
//   48 89 16               mov [rsi], rdx
//   4c 89 46 08            mov [rsi + 8], r8
//   31 c0                  xor eax, eax
//   c3                     ret
// .syscall:
//   b8 e4 00 00 00 0f 05 c3   (SyscallStub(clock_gettime))
// A bad `ts` faults in the caller, as with the kernel's own vDSO.
std::vector<uint8_t> ConstantClockGettimeStub(const ConstantClocks& clocks);

// What each clock id 0..11 reads when the clocks run at the host's rate
// (--clock=real): host CLOCK_MONOTONIC + offset_ns; nullopt for an id the
// supervisor must answer.
struct OffsetClocks {
  static constexpr int kIds = 12;
  std::array<std::optional<int64_t>, kIds> offset_ns;
};

// clock_gettime(id, ts) answered in-process for ids 0..11 with an offset:
// the stub reads the host's CLOCK_MONOTONIC with its own syscall, marked
// by `magic` in the otherwise unused argument registers rdx and r10 (the
// filter lets exactly that call through, Registry::Allow), adds the
// offset and normalises (floor division, so times before 1970 keep
// 0 <= tv_nsec < 1e9). Other ids make the plain clock_gettime syscall,
// answered by the supervisor. 122 bytes of code, then the offsets
// (8 bytes per id, INT64_MIN: none) at offset 0x80. The layout is spelled
// out in vdso_patch.cc.
std::vector<uint8_t> OffsetClockGettimeStub(const OffsetClocks& clocks,
                                            const std::array<uint64_t, 2>& magic);

// gettimeofday(tv, tz): tv (when not NULL) = {sec, usec}, tz (when not
// NULL) = {0, 0}; returns 0. 41 bytes.
std::vector<uint8_t> ConstantGettimeofdayStub(int64_t sec, int64_t usec);

// clock_gettime(id, ts) for --clock=step, answered by the supervisor
// through the return value instead of memory: for ids 0..11 the stub makes
// the syscall marked by `magic` (rdx, r10), the supervisor answers with
// the clock in nanoseconds (>= 0), and the stub stores tv_sec/tv_nsec
// itself; that saves the supervisor a validity check and a
// process_vm_writev per read (about a quarter of the round trip).
// -4095..-1 is an error, returned as the syscall's. kStepStubWrote (a time
// the value cannot carry, before 1970) means the supervisor wrote *ts
// itself: the stub returns 0. A bad `ts` faults in the stub, as in the
// kernel's own vDSO. Other ids make the plain syscall. 83 bytes.
inline constexpr int64_t kStepStubWrote = INT64_MIN;
// The marker of StepClockGettimeStub's call: "detrun s" "tep clk\0".
inline constexpr std::array<uint64_t, 2> kStepClockMagic = {0x7320'6e75'7274'6564ULL,
                                                            0x006b'6c63'2070'6574ULL};
std::vector<uint8_t> StepClockGettimeStub(const std::array<uint64_t, 2>& magic);

// time(tloc): returns `sec`, also stored at tloc when not NULL. 19 bytes.
std::vector<uint8_t> ConstantTimeStub(int64_t sec);

// Every vDSO function turned into its syscall, so the supervisor answers
// all of them: __vdso_{clock_gettime,gettimeofday,time,clock_getres}
// (required: every x86-64 vDSO since 2.6 has them), __vdso_getcpu and
// __vdso_getrandom (optional; getrandom is only in Linux 6.11+).
// With `constant` (frozen clocks), clock_gettime, gettimeofday and time
// answer in-process instead: no syscall, no supervisor.
// With `offset` (real clocks), clock_gettime answers in-process with its
// marked syscall (see OffsetClockGettimeStub). With `step`, clock_gettime
// is StepClockGettimeStub.
struct InProcessClocks {
  std::optional<ConstantClocks> constant;
  std::optional<OffsetClocks> offset;
  bool step = false;
  std::array<uint64_t, 2> magic{};  // for `offset` and `step`
};
std::vector<PatchSpec> SyscallForwardingPatches(const InProcessClocks& in_process = {});

// A copy of `original` with each spec's code written over its symbol's
// entry. Aliases (`time` and `__vdso_time`) share one address: two specs
// for the same address must carry the same code, which is written once.
// Errors: NotFound for a missing required symbol; InvalidArgument naming
// the symbol and both sizes when the code is longer than the symbol's
// st_size, or when `original` is not the image `image` was parsed from.
absl::StatusOr<std::vector<uint8_t>> BuildPatchedImage(
    absl::Span<const uint8_t> original, const VdsoImage& image,
    const std::vector<PatchSpec>& specs);

// ProcessAuxv, ParseAuxv and ReadAuxv: core/child_memory.h.

// Patches the vDSO of stopped process `pid`, mapped at `vdso_base`: reads
// it through /proc/PID/mem, checks it equals `expected_original`
// (FailedPrecondition, with the first differing offset, when not), writes
// the span from the first byte where `patched` differs to the last in one
// write through /proc/PID/mem, and reads it back to prove it landed.
// The vDSO pages are copied on write, so no other process sees the change.
absl::Status PatchProcessVdso(ProcMem& mem, uint64_t vdso_base,
                              absl::Span<const uint8_t> expected_original,
                              absl::Span<const uint8_t> patched);
absl::Status PatchProcessVdso(pid_t pid, uint64_t vdso_base,
                              absl::Span<const uint8_t> expected_original,
                              absl::Span<const uint8_t> patched);

}  // namespace detrun

#endif  // DETRUN_VDSO_VDSO_PATCH_H_
