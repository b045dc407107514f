#include "vdso/vdso_patch.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
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

// The constants StepClockGettimeStub's bytes spell out.
static_assert(offsetof(ClockPageHeader, tick_ns) == 0x18);
static_assert(offsetof(ClockPageHeader, id_mask) == 0x20);
static_assert(offsetof(ClockPageHeader, base_ns) == 0x28);
static_assert(offsetof(ClockPageSlot, elapsed_ns) == 8 && offsetof(ClockPageSlot, limit_ns) == 16);
static_assert(kClockPageSlotsOffset == 0x1000 && kClockPageSlots == 128 &&
              kClockPageSize == 0x2000);
static_assert((MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE) == 0x100022);
static_assert((PROT_READ | PROT_WRITE) == 3 && SYS_mmap == 9 && SYS_gettid == 186);

std::vector<uint8_t> StepClockGettimeStub(const std::array<uint64_t, 2>& magic) {
  // The in-process path (vdso_patch.h), from 00 to 97: r8 = the page,
  // r9 = the clock's base, rdx = the slot; the step is committed with
  // cmpxchg, so a signal handler that reads the clock in between (in
  // either path) is not lost: the read starts over. Then .marked (98),
  // the setup request (e6) and .plain (143); the flag byte is at 14b.
  // Offsets and listing are GNU as/objdump's (Intel syntax).
  // 0x100022 at fa is MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE.
  static_assert(kStepStubWrote == INT64_MIN && kStepStubSetup == kStepStubWrote + 1);
  std::vector<uint8_t> code;
  // clang-format off
  code.insert(code.end(), {
      0x83, 0xff, 0x0b,                          // 00 cmp edi,0xb
      0x0f, 0x87, 0x3a, 0x01, 0x00, 0x00,        // 03 ja 143 <plain>
      0x80, 0x3d, 0x3b, 0x01, 0x00, 0x00, 0x00,  // 09 cmp byte [rip+0x13b],0x0 (the flag)
      0x0f, 0x84, 0x82, 0x00, 0x00, 0x00,        // 10 je 98 <marked>
      0x49, 0xb8,                                // 16 movabs r8,kClockPageAddr
  });
  AppendLe(code, kClockPageAddr, 8);
  code.insert(code.end(), {
      0x48, 0xb8,  // 20 movabs rax,kClockPageMagic
  });
  AppendLe(code, kClockPageMagic, 8);
  code.insert(code.end(), {
      0x49, 0x39, 0x00,                                // 2a cmp [r8],rax
      0x75, 0x69,                                      // 2d jne 98 <marked>
      0x89, 0xf8,                                      // 2f mov eax,edi
      0x49, 0x8b, 0x48, 0x20,                          // 31 mov rcx,[r8+0x20]
      0x48, 0x0f, 0xa3, 0xc1,                          // 35 bt rcx,rax
      0x73, 0x5d,                                      // 39 jae 98 <marked> (bit clear in id_mask)
      0x4d, 0x8b, 0x4c, 0xc0, 0x28,                    // 3b mov r9,[r8+rax*8+0x28] (base_ns[id])
      0xb8, 0xba, 0x00, 0x00, 0x00,                    // 40 mov eax,0xba (gettid)
      0x0f, 0x05,                                      // 45 syscall
      0x89, 0xc2,                                      // 47 mov edx,eax
      0x83, 0xe2, 0x7f,                                // 49 and edx,0x7f
      0xc1, 0xe2, 0x05,                                // 4c shl edx,0x5
      0x49, 0x8d, 0x94, 0x10, 0x00, 0x10, 0x00, 0x00,  // 4f lea rdx,[r8+rdx*1+0x1000]
      0x48, 0x39, 0x02,                                // 57 cmp [rdx],rax (slot.tid)
      0x75, 0x3c,                                      // 5a jne 98 <marked>
      0x48, 0x8b, 0x42, 0x08,                          // 5c .load: mov rax,[rdx+0x8] (elapsed)
      0x48, 0x89, 0xc1,                                // 60 mov rcx,rax
      0x49, 0x03, 0x48, 0x18,                          // 63 add rcx,[r8+0x18] (tick)
      0x70, 0x2f,                                      // 67 jo 98 <marked>
      0x48, 0x3b, 0x4a, 0x10,                          // 69 cmp rcx,[rdx+0x10] (limit)
      0x7d, 0x29,                                      // 6d jge 98 <marked>
      0x49, 0x89, 0xc2,                                // 6f mov r10,rax
      0x4d, 0x01, 0xca,                                // 72 add r10,r9
      0x70, 0x21,                                      // 75 jo 98 <marked>
      0x78, 0x1f,                                      // 77 js 98 <marked> (before 1970)
      0xf0, 0x48, 0x0f, 0xb1, 0x4a, 0x08,              // 79 lock cmpxchg [rdx+0x8],rcx
      0x75, 0xdb,                                      // 7f jne 5c <load> (handler read)
      0x4c, 0x89, 0xd0,                                // 81 mov rax,r10
      0xb9, 0x00, 0xca, 0x9a, 0x3b,                    // 84 mov ecx,0x3b9aca00
      0x31, 0xd2,                                      // 89 xor edx,edx
      0x48, 0xf7, 0xf1,                                // 8b div rcx
      0x48, 0x89, 0x06,                                // 8e mov [rsi],rax
      0x48, 0x89, 0x56, 0x08,                          // 91 mov [rsi+0x8],rdx
      0x31, 0xc0,                                      // 95 xor eax,eax
      0xc3,                                            // 97 ret
      0x48, 0xba,                                      // 98 .marked: movabs rdx,magic[0]
  });
  AppendLe(code, magic[0], 8);
  code.insert(code.end(), {
      0x49, 0xba,  // a2 movabs r10,magic[1]
  });
  AppendLe(code, magic[1], 8);
  code.insert(code.end(), {
      0x45, 0x31, 0xc0,              // ac xor r8d,r8d
      0xb8, 0xe4, 0x00, 0x00, 0x00,  // af mov eax,0xe4 (clock_gettime)
      0x0f, 0x05,                    // b4 syscall
      0x48, 0x85, 0xc0,              // b6 test rax,rax
      0x78, 0x14,                    // b9 js cf <negative>
      0xb9, 0x00, 0xca, 0x9a, 0x3b,  // bb mov ecx,0x3b9aca00
      0x31, 0xd2,                    // c0 xor edx,edx
      0x48, 0xf7, 0xf1,              // c2 div rcx
      0x48, 0x89, 0x06,              // c5 mov [rsi],rax
      0x48, 0x89, 0x56, 0x08,        // c8 mov [rsi+0x8],rdx
      0x31, 0xc0,                    // cc xor eax,eax
      0xc3,                          // ce ret
      0x48, 0xb9,                    // cf .negative: movabs rcx,kStepStubWrote
  });
  AppendLe(code, static_cast<uint64_t>(kStepStubWrote), 8);
  code.insert(code.end(), {
      0x48, 0x39, 0xc8,  // d9 cmp rax,rcx
      0x74, 0x62,        // dc je 140 <zero>
      0x48, 0xff, 0xc1,  // de inc rcx (kStepStubSetup)
      0x48, 0x39, 0xc8,  // e1 cmp rax,rcx
      0x75, 0x5c,        // e4 jne 142 <done>
      0x48, 0xbf,        // e6 movabs rdi,kClockPageAddr
  });
  AppendLe(code, kClockPageAddr, 8);
  code.insert(code.end(), {
      0xbe, 0x00, 0x20, 0x00, 0x00,              // f0 mov esi,0x2000
      0xba, 0x03, 0x00, 0x00, 0x00,              // f5 mov edx,0x3
      0x41, 0xba, 0x22, 0x00, 0x10, 0x00,        // fa mov r10d,0x100022 (see above)
      0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,  // 100 mov r8,0xffffffffffffffff
      0x45, 0x31, 0xc9,                          // 107 xor r9d,r9d
      0xb8, 0x09, 0x00, 0x00, 0x00,              // 10a mov eax,0x9 (mmap)
      0x0f, 0x05,                                // 10f syscall
      0x49, 0x89, 0xc1,                          // 111 mov r9,rax
      0x48, 0x8d, 0x35, 0x30, 0x00, 0x00, 0x00,  // 114 lea rsi,[rip+0x30] (the flag)
      0x48, 0xba,                                // 11b movabs rdx,magic[0]
  });
  AppendLe(code, magic[0], 8);
  code.insert(code.end(), {
      0x49, 0xba,  // 125 movabs r10,magic[1]
  });
  AppendLe(code, magic[1], 8);
  code.insert(code.end(), {
      0x49, 0xb8,  // 12f movabs r8,kStepStubSetupDone
  });
  AppendLe(code, kStepStubSetupDone, 8);
  code.insert(code.end(), {
      0xb8, 0xe4, 0x00, 0x00, 0x00,  // 139 mov eax,0xe4
      0x0f, 0x05,                    // 13e syscall
      0x31, 0xc0,                    // 140 .zero: xor eax,eax
      0xc3,                          // 142 .done: ret
  });
  // clang-format on
  const std::vector<uint8_t> plain = SyscallStub(SYS_clock_gettime);  // 143 .plain
  code.insert(code.end(), plain.begin(), plain.end());
  code.push_back(0);  // 14b flag: 1 once the page is ready (set by the supervisor)
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
