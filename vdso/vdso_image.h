// VdsoImage: the functions a vDSO exports, found by parsing its ELF image.
//
// The kernel maps the same vDSO image into every process it starts (on one
// kernel, for one ABI), so detrun reads its own copy once (ReadOwnVdso),
// parses it (ParseVdsoImage) and uses the symbol offsets to patch the entry
// points of every child's copy after each exec (vdso_patch.h).
//
// The parser trusts nothing in the image: every header, table, string and
// symbol range is bounds-checked against the bytes given, so a truncated or
// corrupted image yields an InvalidArgument status, never an out-of-bounds
// read. It reads the dynamic symbol table the way the dynamic loader does
// (PT_DYNAMIC -> DT_SYMTAB/DT_STRTAB/DT_STRSZ, counted through DT_HASH or
// DT_GNU_HASH) and falls back to the .dynsym section only when the image has
// no PT_DYNAMIC at all.
#ifndef DETRUN_VDSO_VDSO_IMAGE_H_
#define DETRUN_VDSO_VDSO_IMAGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace detrun {

// One defined function the vDSO exports.
struct VdsoSymbol {
  // Without the version suffix: "__vdso_clock_gettime", "clock_gettime".
  std::string name;
  // From the start of the image (== from the mapping's base address in a
  // process): st_value minus the p_vaddr of the first PT_LOAD.
  uint64_t offset = 0;
  // st_size: how many bytes of code a patch may overwrite at `offset`.
  uint64_t size = 0;
};

struct VdsoImage {
  // Size in bytes of the image that was parsed.
  uint64_t image_size = 0;
  // Every defined STT_FUNC symbol (global or weak) of the dynamic symbol
  // table, in table order. Aliases are separate entries with the same
  // offset: x86-64 exports both `__vdso_time` and its weak alias `time`.
  std::vector<VdsoSymbol> symbols;

  // The first symbol called `name`, or nullptr.
  const VdsoSymbol* Find(std::string_view name) const;
};

// Parses an x86-64 vDSO image (ELF64, little-endian, ET_DYN). Errors are
// InvalidArgument and say what is wrong and where.
absl::StatusOr<VdsoImage> ParseVdsoImage(absl::Span<const uint8_t> image);

// "0x" and `v` in lower-case hex: how vDSO offsets and addresses appear in
// messages.
std::string HexString(uint64_t v);

// A copy of this process's vDSO mapping: from AT_SYSINFO_EHDR for as many
// bytes as the [vdso] line of /proc/self/maps spans. NotFound when the
// process has no vDSO (kernel booted with vdso=0).
absl::StatusOr<std::vector<uint8_t>> ReadOwnVdso();

}  // namespace detrun

#endif  // DETRUN_VDSO_VDSO_IMAGE_H_
