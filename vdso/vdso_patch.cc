#include "vdso/vdso_patch.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

void AppendLe(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back((value >> (8 * i)) & 0xff);
}

struct Range {
  size_t start;
  size_t len;
};

// The smallest range [start, start + len) outside which `a` and `b` (same
// size) are equal; len 0 when they are equal throughout.
Range DifferingSpan(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b) {
  size_t first = 0;
  while (first < a.size() && a[first] == b[first]) ++first;
  if (first == a.size()) return Range{first, 0};
  size_t end = a.size();
  while (a[end - 1] == b[end - 1]) --end;
  return Range{first, end - first};
}

}  // namespace

std::vector<uint8_t> SyscallStub(int nr) {
  std::vector<uint8_t> code = {0xb8};  // mov eax, imm32
  AppendLe(code, static_cast<uint32_t>(nr), 4);
  code.insert(code.end(), {0x0f, 0x05,  // syscall
                           0xc3});      // ret
  return code;
}

std::vector<uint8_t> ReturnStub(int64_t value) {
  std::vector<uint8_t> code;
  if (value >= INT32_MIN && value <= INT32_MAX) {
    code = {0x48, 0xc7, 0xc0};  // mov rax, imm32 (sign-extended)
    AppendLe(code, static_cast<uint64_t>(value), 4);
  } else {
    code = {0x48, 0xb8};  // movabs rax, imm64
    AppendLe(code, static_cast<uint64_t>(value), 8);
  }
  code.push_back(0xc3);  // ret
  return code;
}

std::vector<uint8_t> GetrandomSyscallStub() {
  std::vector<uint8_t> code = {
      0x49, 0x83, 0xf8, 0xff,  // cmp r8, -1  (opaque_len == ~0: the query)
      0x75, 0x08,              // jne +8      (to the syscall)
  };
  const std::vector<uint8_t> enosys = ReturnStub(-ENOSYS);  // 8 bytes
  code.insert(code.end(), enosys.begin(), enosys.end());
  const std::vector<uint8_t> syscall = SyscallStub(SYS_getrandom);
  code.insert(code.end(), syscall.begin(), syscall.end());
  return code;
}

std::vector<uint8_t> ConstantClockGettimeStub(const ConstantClocks& clocks) {
  std::vector<uint8_t> code = {
      0x83, 0xff, 0x0b,                          // cmp edi, 11
      0x77, 0x26,                                // ja .syscall (0x2b)
      0x89, 0xf8,                                // mov eax, edi
      0x48, 0xc1, 0xe0, 0x04,                    // shl rax, 4
      0x48, 0x8d, 0x0d, 0x26, 0x00, 0x00, 0x00,  // lea rcx, [rip + 0x26] (table)
      0x48, 0x8b, 0x14, 0x01,                    // mov rdx, [rcx + rax]
      0x4c, 0x8b, 0x44, 0x01, 0x08,              // mov r8, [rcx + rax + 8]
      0x49, 0x83, 0xf8, 0xff,                    // cmp r8, -1
      0x74, 0x0a,                                // je .syscall (0x2b)
      0x48, 0x89, 0x16,                          // mov [rsi], rdx
      0x4c, 0x89, 0x46, 0x08,                    // mov [rsi + 8], r8
      0x31, 0xc0,                                // xor eax, eax
      0xc3,                                      // ret
  };
  const std::vector<uint8_t> syscall = SyscallStub(SYS_clock_gettime);  // .syscall
  code.insert(code.end(), syscall.begin(), syscall.end());
  code.resize(0x38, 0xcc);  // int3 up to the 8-aligned table
  for (const std::optional<ConstantClocks::Value>& v : clocks.by_id) {
    AppendLe(code, v ? static_cast<uint64_t>(v->sec) : 0, 8);
    AppendLe(code, v ? static_cast<uint64_t>(v->nsec) : ~uint64_t{0}, 8);
  }
  return code;
}

std::vector<uint8_t> OffsetClockGettimeStub(const OffsetClocks& clocks,
                                            const std::array<uint64_t, 2>& magic) {
  std::vector<uint8_t> code = {
      0x83, 0xff, 0x0b,                          // 00 cmp edi, 11
      0x77, 0x6d,                                // 03 ja .plain (0x72)
      0x89, 0xf8,                                // 05 mov eax, edi
      0x48, 0x8d, 0x0d, 0x72, 0x00, 0x00, 0x00,  // 07 lea rcx, [rip + 0x72] (table, 0x80)
      0x4c, 0x8b, 0x04, 0xc1,                    // 0e mov r8, [rcx + rax*8]
      0x49, 0xb9,                                // 12 movabs r9, INT64_MIN
  };
  AppendLe(code, uint64_t{1} << 63, 8);
  code.insert(code.end(), {
                              0x4d, 0x39, 0xc8,              // 1c cmp r8, r9
                              0x74, 0x51,                    // 1f je .plain (0x72)
                              0xbf, 0x01, 0x00, 0x00, 0x00,  // 21 mov edi, CLOCK_MONOTONIC
                              0x48, 0xba,                    // 26 movabs rdx, magic[0]
                          });
  AppendLe(code, magic[0], 8);
  code.insert(code.end(), {0x49, 0xba});  // 30 movabs r10, magic[1]
  AppendLe(code, magic[1], 8);
  code.insert(code.end(), {
                              0xb8, 0xe4, 0x00, 0x00, 0x00,              // 3a mov eax, 228
                              0x0f, 0x05,                                // 3f syscall
                              0x85, 0xc0,                                // 41 test eax, eax
                              0x75, 0x2c,                                // 43 jnz .ret (0x71)
                              0x48, 0x69, 0x06, 0x00, 0xca, 0x9a, 0x3b,  // 45 imul rax, [rsi], 1e9
                              0x48, 0x03, 0x46, 0x08,                    // 4c add rax, [rsi + 8]
                              0x4c, 0x01, 0xc0,                          // 50 add rax, r8
                              0x48, 0x99,                                // 53 cqo
                              0xb9, 0x00, 0xca, 0x9a, 0x3b,              // 55 mov ecx, 1e9
                              0x48, 0xf7, 0xf9,                          // 5a idiv rcx
                              0x48, 0x85, 0xd2,                          // 5d test rdx, rdx
                              0x79, 0x06,                                // 60 jns .store (0x68)
                              0x48, 0x01, 0xca,                          // 62 add rdx, rcx
                              0x48, 0xff, 0xc8,                          // 65 dec rax
                              0x48, 0x89, 0x06,                          // 68 mov [rsi], rax
                              0x48, 0x89, 0x56, 0x08,                    // 6b mov [rsi + 8], rdx
                              0x31, 0xc0,                                // 6f xor eax, eax
                              0xc3,                                      // 71 .ret: ret
                          });
  const std::vector<uint8_t> plain = SyscallStub(SYS_clock_gettime);  // 72 .plain
  code.insert(code.end(), plain.begin(), plain.end());
  code.resize(0x80, 0xcc);  // int3 up to the table
  for (const std::optional<int64_t>& offset : clocks.offset_ns) {
    AppendLe(code, static_cast<uint64_t>(offset.value_or(INT64_MIN)), 8);
  }
  return code;
}

std::vector<uint8_t> StepClockGettimeStub(const std::array<uint64_t, 2>& magic) {
  std::vector<uint8_t> code = {
      0x83, 0xff, 0x0b,  // 00 cmp edi, 11
      0x77, 0x46,        // 03 ja .plain (0x4b): other ids (CPU clocks of others, PTP fds)
      0x48, 0xba,        // 05 movabs rdx, magic[0]
  };
  AppendLe(code, magic[0], 8);
  code.insert(code.end(), {0x49, 0xba});  // 0f movabs r10, magic[1]
  AppendLe(code, magic[1], 8);
  code.insert(code.end(), {
                              0xb8, 0xe4, 0x00, 0x00, 0x00,  // 19 mov eax, 228 (clock_gettime)
                              0x0f, 0x05,                    // 1e syscall
                              0x48, 0x85, 0xc0,              // 20 test rax, rax
                              0x78, 0x14,                    // 23 js .negative (0x39)
                              0xb9, 0x00, 0xca, 0x9a, 0x3b,  // 25 mov ecx, 1e9
                              0x31, 0xd2,                    // 2a xor edx, edx
                              0x48, 0xf7, 0xf1,              // 2c div rcx
                              0x48, 0x89, 0x06,              // 2f mov [rsi], rax
                              0x48, 0x89, 0x56, 0x08,        // 32 mov [rsi + 8], rdx
                              0x31, 0xc0,                    // 36 xor eax, eax
                              0xc3,                          // 38 ret
                              0x48, 0xb9,                    // 39 .negative: movabs rcx, kStepStubWrote
                          });
  AppendLe(code, static_cast<uint64_t>(kStepStubWrote), 8);
  code.insert(code.end(), {
                              0x48, 0x39, 0xc8,  // 43 cmp rax, rcx
                              0x75, 0x02,        // 46 jne .ret (0x4a)
                              0x31, 0xc0,        // 48 xor eax, eax
                              0xc3,              // 4a .ret: ret
                          });
  const std::vector<uint8_t> plain = SyscallStub(SYS_clock_gettime);  // 4b .plain
  code.insert(code.end(), plain.begin(), plain.end());
  return code;
}

std::vector<uint8_t> ConstantGettimeofdayStub(int64_t sec, int64_t usec) {
  std::vector<uint8_t> code = {
      0x48, 0x85, 0xff,  // test rdi, rdi
      0x74, 0x15,        // je .tz (0x1a)
      0x48, 0xb8,        // movabs rax, sec
  };
  AppendLe(code, static_cast<uint64_t>(sec), 8);
  code.insert(code.end(), {0x48, 0x89, 0x07,           // mov [rdi], rax
                           0x48, 0xc7, 0x47, 0x08});   // mov qword [rdi + 8], usec
  AppendLe(code, static_cast<uint32_t>(usec), 4);
  code.insert(code.end(), {
                              0x48, 0x85, 0xf6,  // .tz: test rsi, rsi
                              0x74, 0x07,        // je .done (0x26)
                              0x48, 0xc7, 0x06, 0x00, 0x00, 0x00, 0x00,  // mov qword [rsi], 0
                              0x31, 0xc0,        // .done: xor eax, eax
                              0xc3,              // ret
                          });
  return code;
}

std::vector<uint8_t> ConstantTimeStub(int64_t sec) {
  std::vector<uint8_t> code = {0x48, 0xb8};  // movabs rax, sec
  AppendLe(code, static_cast<uint64_t>(sec), 8);
  code.insert(code.end(), {0x48, 0x85, 0xff,   // test rdi, rdi
                           0x74, 0x03,         // je .ret
                           0x48, 0x89, 0x07,   // mov [rdi], rax
                           0xc3});             // .ret: ret
  return code;
}

std::vector<PatchSpec> SyscallForwardingPatches(const InProcessClocks& in_process) {
  std::vector<PatchSpec> specs = {
      {"__vdso_clock_gettime", SyscallStub(SYS_clock_gettime), true},
      {"__vdso_gettimeofday", SyscallStub(SYS_gettimeofday), true},
      {"__vdso_time", SyscallStub(SYS_time), true},
      {"__vdso_clock_getres", SyscallStub(SYS_clock_getres), true},
      {"__vdso_getcpu", SyscallStub(SYS_getcpu), false},
      {"__vdso_getrandom", GetrandomSyscallStub(), false},
  };
  if (in_process.offset) {
    specs[0].code = OffsetClockGettimeStub(*in_process.offset, in_process.magic);
  }
  if (in_process.step) specs[0].code = StepClockGettimeStub(in_process.magic);
  if (const std::optional<ConstantClocks>& constant = in_process.constant) {
    const std::optional<ConstantClocks::Value>& realtime = constant->by_id[CLOCK_REALTIME];
    const int64_t sec = realtime ? realtime->sec : 0;
    const int64_t nsec = realtime ? realtime->nsec : 0;
    specs[0].code = ConstantClockGettimeStub(*constant);
    specs[1].code = ConstantGettimeofdayStub(sec, nsec / 1000);
    specs[2].code = ConstantTimeStub(sec);
  }
  return specs;
}

absl::StatusOr<std::vector<uint8_t>> BuildPatchedImage(
    absl::Span<const uint8_t> original, const VdsoImage& image,
    const std::vector<PatchSpec>& specs) {
  if (original.size() != image.image_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the vDSO image is ", original.size(), " bytes but was parsed as ",
        image.image_size, " bytes"));
  }
  std::vector<uint8_t> patched(original.begin(), original.end());
  // offset -> the spec already written there.
  std::map<uint64_t, const PatchSpec*> written;
  for (const PatchSpec& spec : specs) {
    const VdsoSymbol* sym = image.Find(spec.symbol);
    if (sym == nullptr) {
      if (!spec.required) continue;
      return absl::NotFoundError(absl::StrCat(
          "the vDSO has no `", spec.symbol, "` to patch"));
    }
    if (spec.code.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty patch for `", spec.symbol, "`"));
    }
    if (spec.code.size() > sym->size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", spec.code.size(), "-byte stub for `", spec.symbol,
          "` does not fit: the symbol is ", sym->size, " bytes"));
    }
    // Symbols were checked against the parsed image; check again against
    // these bytes in case `image` describes a different buffer.
    if (sym->offset > patched.size() ||
        spec.code.size() > patched.size() - sym->offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`", spec.symbol, "` at offset ", sym->offset,
          " lies outside the ", patched.size(), "-byte image"));
    }
    const uint64_t end = sym->offset + spec.code.size();
    if (auto it = written.find(sym->offset); it != written.end()) {
      if (it->second->code != spec.code) {
        return absl::InvalidArgumentError(
            absl::StrCat("`", spec.symbol, "` and `", it->second->symbol, "` share address ",
                         HexString(sym->offset), " but get different code"));
      }
      continue;  // an alias: already patched
    }
    // No two patches may overlap (the neighbour below, or the one above).
    auto above = written.lower_bound(sym->offset);
    if (above != written.end() && above->first < end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the patch for `", spec.symbol, "` overlaps the one for `",
          above->second->symbol, "`"));
    }
    if (above != written.begin()) {
      auto below = std::prev(above);
      if (below->first + below->second->code.size() > sym->offset) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the patch for `", spec.symbol, "` overlaps the one for `",
            below->second->symbol, "`"));
      }
    }
    memcpy(patched.data() + sym->offset, spec.code.data(), spec.code.size());
    written.emplace(sym->offset, &spec);
  }
  return patched;
}

absl::Status PatchProcessVdso(pid_t pid, uint64_t vdso_base,
                              absl::Span<const uint8_t> expected_original,
                              absl::Span<const uint8_t> patched) {
  ProcMem mem(pid);
  return PatchProcessVdso(mem, vdso_base, expected_original, patched);
}

absl::Status PatchProcessVdso(ProcMem& mem, uint64_t vdso_base,
                              absl::Span<const uint8_t> expected_original,
                              absl::Span<const uint8_t> patched) {
  const pid_t pid = mem.pid();
  if (expected_original.size() != patched.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the original vDSO image is ", expected_original.size(),
        " bytes but the patched one is ", patched.size()));
  }
  if (vdso_base == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("process ", pid, " has no vDSO to patch"));
  }
  std::vector<uint8_t> current(expected_original.size());
  if (absl::Status s = mem.Read(vdso_base, current.data(), current.size()); !s.ok()) {
    return s;
  }
  if (memcmp(current.data(), expected_original.data(), current.size()) != 0) {
    auto mismatch = std::mismatch(current.begin(), current.end(), expected_original.begin());
    return absl::FailedPreconditionError(
        absl::StrCat("the vDSO of process ", pid, " at ", HexString(vdso_base),
                     " differs from the expected image at offset ",
                     mismatch.first - current.begin(), "; re-read and re-parse it"));
  }
  // One write from the first changed byte to the last: the bytes in between
  // equal the child's (checked just above) and the child is stopped, so
  // rewriting them is harmless, and every write through /proc/PID/mem costs
  // a syscall and a page-table walk (the stubs of all clocks lie within a
  // few hundred bytes). Then one read proves the write landed.
  const Range r = DifferingSpan(expected_original, patched);
  if (r.len == 0) return absl::OkStatus();
  if (absl::Status s = mem.Write(vdso_base + r.start, patched.data() + r.start, r.len);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = mem.Read(vdso_base + r.start, current.data(), r.len); !s.ok()) {
    return s;
  }
  if (memcmp(current.data(), patched.data() + r.start, r.len) != 0) {
    return absl::InternalError(absl::StrCat("a write of ", r.len, " bytes to the vDSO of process ",
                                            pid, " at ", HexString(vdso_base + r.start),
                                            " did not land"));
  }
  return absl::OkStatus();
}

}  // namespace detrun
