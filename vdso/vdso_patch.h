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

// clock_gettime(id, ts) for --clock=step. Two paths:
//
// In-process (no syscall to the supervisor), once the process has a clock
// page (below) and the stub's flag byte is set: for ids 0..11 whose bit is
// set in the page's id mask, the stub makes a gettid syscall (the filter
// lets it through), finds the thread's slot at (tid & 127), and when the
// slot is this thread's and `elapsed + tick < limit` (and nothing
// overflows, and the time is not before 1970) it stores base[id] +
// elapsed, advances elapsed by tick and returns 0. That is exactly what
// the supervisor would answer (TimeModule::Read): the supervisor keeps
// `limit` at the next point where it must see the read itself (a timer
// deadline; at once while a timed wait or a reaped child is pending).
//
// Marked (every other case): the stub makes the syscall marked by `magic`
// (rdx, r10; r8 = 0), the supervisor answers with the clock in nanoseconds
// (>= 0), and the stub stores tv_sec/tv_nsec itself; that saves the
// supervisor a validity check and a process_vm_writev per read.
// -4095..-1 is an error, returned as the syscall's. kStepStubWrote (a time
// the value cannot carry, before 1970) means the supervisor wrote *ts
// itself: the stub returns 0. kStepStubSetup means the same, and asks the
// stub to map the clock page: mmap(kClockPageAddr, kClockPageSize,
// PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE),
// then report with one more marked call, clock_gettime(kClockPageAddr,
// &flag, magic, r8 = kStepStubSetupDone, r9 = what mmap returned); the
// supervisor fills the page and sets the flag (the byte after the code,
// kStepStubFlagOffset, written through /proc/PID/mem). The stub returns 0.
//
// A bad `ts` faults in the stub, as in the kernel's own vDSO. Other ids
// make the plain syscall. 332 bytes; the layout is spelled out in
// vdso_patch.cc.
inline constexpr int64_t kStepStubWrote = INT64_MIN;
inline constexpr int64_t kStepStubSetup = INT64_MIN + 1;
inline constexpr uint64_t kStepStubSetupDone = 0x656e'6f64'2070'7573ULL;  // "sup done"
inline constexpr size_t kStepStubFlagOffset = 0x14b;
// The marker of StepClockGettimeStub's call: "detrun s" "tep clk\0".
inline constexpr std::array<uint64_t, 2> kStepClockMagic = {0x7320'6e75'7274'6564ULL,
                                                            0x006b'6c63'2070'6574ULL};
std::vector<uint8_t> StepClockGettimeStub(const std::array<uint64_t, 2>& magic);

// The clock page of --clock=step, one per process (its threads share it;
// a fork gets its own copy, which the supervisor takes over). Fixed, so
// the stub needs no per-process code: far below where Linux places
// mappings (top down from under the stack) and above the ranges
// sanitizers reserve; MAP_FIXED_NOREPLACE never takes it from the program.
// Page 0 is the header, written once by the supervisor; page 1 holds 128
// slots of 32 bytes, slot (tid & 127) {tid, elapsed_ns, limit_ns, 0}, each
// written by the supervisor only while its thread is stopped (limit_ns
// also while it runs: a late limit costs at most a read answered early).
inline constexpr uint64_t kClockPageAddr = 0x7e00'0000'0000ULL;
inline constexpr size_t kClockPageSize = 8192;
struct ClockPageHeader {
  uint64_t magic;  // kClockPageMagic once the supervisor filled it
  uint64_t owner;  // the process (tgid) it belongs to
  uint64_t reserved;
  int64_t tick_ns;
  uint64_t id_mask;  // bit i: clock id i is answered in-process
  int64_t base_ns[12];
};
inline constexpr uint64_t kClockPageMagic = 0x6567'6170'6b63'6c63ULL;  // "clckpage"
inline constexpr size_t kClockPageSlots = 128;
inline constexpr uint64_t kClockPageSlotsOffset = 4096;
struct ClockPageSlot {
  int64_t tid;  // 0: free
  int64_t elapsed_ns;
  int64_t limit_ns;
  int64_t reserved;
};
static_assert(sizeof(ClockPageHeader) == 136 && sizeof(ClockPageSlot) == 32);
// The slot of the thread the program knows as `tid` (the stub's tid & 127).
inline size_t ClockPageSlotIndex(pid_t tid) {
  return static_cast<size_t>(tid) & (kClockPageSlots - 1);
}
inline uint64_t ClockPageSlotAddr(pid_t tid) {
  return kClockPageAddr + kClockPageSlotsOffset + ClockPageSlotIndex(tid) * sizeof(ClockPageSlot);
}

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
