#include "core/loader_tsc.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace detrun {
namespace {

constexpr uint8_t kRdtsc[2] = {0x0f, 0x31};
constexpr uint8_t kXorEaxEax[2] = {0x31, 0xc0};

// Program headers and notes beyond these are not a loader's.
constexpr uint16_t kMaxProgramHeaders = 64;
constexpr uint64_t kMaxNotesSize = 4096;
// Learned sites within this span of each other are read back in one read
// (a window of OnExec).
constexpr uint64_t kMaxSpanRead = 64 * 1024;

// The GNU build ID in a PT_NOTE segment's bytes, or "".
std::string BuildIdIn(const std::vector<uint8_t>& notes) {
  size_t at = 0;
  auto align4 = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
  while (notes.size() - at >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr header;
    memcpy(&header, notes.data() + at, sizeof header);
    at += sizeof header;
    const uint64_t name_size = align4(header.n_namesz);
    const uint64_t desc_size = align4(header.n_descsz);
    if (name_size > notes.size() - at || desc_size > notes.size() - at - name_size) break;
    const char* name = reinterpret_cast<const char*>(notes.data() + at);
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        memcmp(name, "GNU", 4) == 0 && header.n_descsz > 0) {
      return std::string(reinterpret_cast<const char*>(notes.data() + at + name_size),
                         header.n_descsz);
    }
    at += name_size + desc_size;
  }
  return "";
}

}  // namespace

absl::StatusOr<ElfTextAndBuildId> ReadElfTextAndBuildId(uint64_t base, const ReadMemory& read) {
  Elf64_Ehdr ehdr;
  if (absl::Status s = read(base, &ehdr, sizeof ehdr); !s.ok()) return s;
  if (memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0 || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
      ehdr.e_machine != EM_X86_64 || ehdr.e_phentsize != sizeof(Elf64_Phdr) ||
      ehdr.e_phnum == 0 || ehdr.e_phnum > kMaxProgramHeaders) {
    return absl::InvalidArgumentError("not a 64-bit x86-64 ELF image with program headers");
  }
  std::vector<Elf64_Phdr> phdrs(ehdr.e_phnum);
  if (absl::Status s = read(base + ehdr.e_phoff, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr));
      !s.ok()) {
    return s;
  }
  // The headers were read at base + e_phoff: right only when the image's
  // first segment maps file offset 0 at address 0 (every loader does).
  const bool first_at_zero = std::any_of(phdrs.begin(), phdrs.end(), [](const Elf64_Phdr& p) {
    return p.p_type == PT_LOAD && p.p_offset == 0 && p.p_vaddr == 0;
  });
  if (!first_at_zero) {
    return absl::InvalidArgumentError("the image's first segment does not start at address 0");
  }
  ElfTextAndBuildId out;
  int executable = 0;
  for (const Elf64_Phdr& p : phdrs) {
    if (p.p_type == PT_LOAD && (p.p_flags & PF_X)) {
      ++executable;
      out.text_begin = p.p_vaddr;
      out.text_end = p.p_vaddr + p.p_memsz;
    }
  }
  if (executable != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the image has ", executable, " executable segments, not one"));
  }
  for (const Elf64_Phdr& p : phdrs) {
    if (p.p_type != PT_NOTE || p.p_filesz == 0 || p.p_filesz > kMaxNotesSize) continue;
    std::vector<uint8_t> notes(p.p_filesz);
    if (absl::Status s = read(base + p.p_vaddr, notes.data(), notes.size()); !s.ok()) return s;
    out.build_id = BuildIdIn(notes);
    if (!out.build_id.empty()) break;
  }
  return out;
}

absl::StatusOr<LoaderText> LoaderTsc::OnExec(ProcMem& mem, uint64_t interpreter_base) {
  if (interpreter_base == 0) return LoaderText{};  // a static program
  absl::StatusOr<ElfTextAndBuildId> image = ReadElfTextAndBuildId(
      interpreter_base,
      [&mem](uint64_t addr, void* buf, size_t len) { return mem.Read(addr, buf, len); });
  // An interpreter detrun cannot make sense of is only not sped up.
  if (absl::IsInvalidArgument(image.status())) return LoaderText{};
  if (!image.ok()) return image.status();
  LoaderText text{interpreter_base, interpreter_base + image->text_begin,
                  interpreter_base + image->text_end, -1};
  if (image->build_id.empty()) return text;
  auto it = std::find_if(loaders_.begin(), loaders_.end(),
                         [&](const Loader& l) { return l.build_id == image->build_id; });
  if (it == loaders_.end()) {
    loaders_.push_back(Loader{image->build_id, {}});
    it = std::prev(loaders_.end());
  }
  text.loader = static_cast<int>(it - loaders_.begin());
  const std::set<uint64_t>& sites = it->sites;
  if (sites.empty()) return text;

  // Sites are patched a window at a time: one read of the window's bytes
  // (glibc's eight sites span about 14 KiB: one window), the patch made in
  // that copy, then written back one page at a time, from the first patched
  // site on the page to the end of its last (three pages for glibc: three
  // writes instead of eight). Each write still touches (copies on write)
  // only pages that hold a site.
  for (auto window = sites.begin(); window != sites.end();) {
    const uint64_t first = *window;
    auto window_end = window;
    while (window_end != sites.end() && *window_end + sizeof kRdtsc - first <= kMaxSpanRead) {
      ++window_end;
    }
    const uint64_t span = *std::prev(window_end) + sizeof kRdtsc - first;
    std::vector<uint8_t> bytes(span);
    if (absl::Status s = mem.Read(interpreter_base + first, bytes.data(), span); !s.ok()) return s;
    uint64_t run_begin = 0, run_end = 0;  // offsets into `bytes`; empty when equal
    auto flush = [&]() -> absl::Status {
      if (run_begin == run_end) return absl::OkStatus();
      absl::Status s = mem.Write(interpreter_base + first + run_begin, bytes.data() + run_begin,
                                 run_end - run_begin);
      run_begin = run_end = 0;
      return s;
    };
    for (; window != window_end; ++window) {
      const uint64_t at = *window - first;
      uint8_t* code = bytes.data() + at;
      if (memcmp(code, kRdtsc, sizeof kRdtsc) != 0) continue;
      memcpy(code, kXorEaxEax, sizeof kXorEaxEax);
      ++patched_;
      const bool same_page =
          run_begin != run_end && (interpreter_base + first + run_begin) / kPageSize ==
                                      (interpreter_base + first + at) / kPageSize;
      if (!same_page) {
        if (absl::Status s = flush(); !s.ok()) return s;
        run_begin = at;
      }
      run_end = at + sizeof kXorEaxEax;
    }
    if (absl::Status s = flush(); !s.ok()) return s;
  }
  return text;
}

bool LoaderTsc::Learn(const LoaderText& text, uint64_t rip) {
  if (text.loader < 0 || static_cast<size_t>(text.loader) >= loaders_.size()) return false;
  if (rip < text.begin || rip >= text.end || text.end - rip < sizeof kRdtsc) return false;
  loaders_[text.loader].sites.insert(rip - text.base);
  return true;
}

}  // namespace detrun
