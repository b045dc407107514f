#include "vdso/vdso_image.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("vDSO image: ", absl::string_view(what.data(), what.size())));
}

// Every read of the image goes through here: `offset` and `len` come from
// the image itself, so the check must not overflow.
class BoundedImage {
 public:
  explicit BoundedImage(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t size() const { return bytes_.size(); }

  bool Contains(uint64_t offset, uint64_t len) const {
    return offset <= bytes_.size() && len <= bytes_.size() - offset;
  }

  // Copies a T out of the image (memcpy: the image need not be aligned).
  template <typename T>
  absl::StatusOr<T> Read(uint64_t offset, std::string_view what) const {
    if (!Contains(offset, sizeof(T))) {
      return Malformed(absl::StrCat(std::string(what), " (", sizeof(T), " bytes at ",
                                    HexString(offset), ") lies outside the ", bytes_.size(),
                                    "-byte image"));
    }
    T value;
    memcpy(&value, bytes_.data() + offset, sizeof(T));
    return value;
  }

  // The NUL-terminated string at `offset` within [table, table + table_len).
  absl::StatusOr<std::string> String(uint64_t table, uint64_t table_len,
                                     uint64_t offset) const {
    // The caller has checked Contains(table, table_len).
    if (offset >= table_len) {
      return Malformed(absl::StrCat("symbol name offset ", offset,
                                    " is past the string table's ",
                                    table_len, " bytes"));
    }
    const char* start =
        reinterpret_cast<const char*>(bytes_.data() + table + offset);
    const void* nul = memchr(start, '\0', table_len - offset);
    if (nul == nullptr) {
      return Malformed(absl::StrCat("symbol name at string table offset ",
                                    offset, " has no terminating NUL"));
    }
    return std::string(start, static_cast<const char*>(nul) - start);
  }

 private:
  absl::Span<const uint8_t> bytes_;
};

// Where the dynamic symbols are: image offsets, already bounds-checked.
struct SymbolTables {
  uint64_t symtab = 0;
  uint64_t count = 0;  // number of Elf64_Sym entries, index 0 included
  uint64_t strtab = 0;
  uint64_t strsz = 0;
};

class Parser {
 public:
  explicit Parser(absl::Span<const uint8_t> bytes) : image_(bytes) {}

  absl::StatusOr<VdsoImage> Parse() {
    if (absl::Status s = ReadHeader(); !s.ok()) return s;
    if (absl::Status s = ReadProgramHeaders(); !s.ok()) return s;
    absl::StatusOr<SymbolTables> tables =
        dynamic_.has_value() ? TablesFromDynamic() : TablesFromSections();
    if (!tables.ok()) return tables.status();
    return ReadSymbols(*tables);
  }

 private:
  absl::Status ReadHeader() {
    if (image_.size() < sizeof(Elf64_Ehdr)) {
      return Malformed(absl::StrCat("truncated: ", image_.size(),
                                    " bytes is shorter than an ELF64 header (",
                                    sizeof(Elf64_Ehdr), " bytes)"));
    }
    absl::StatusOr<Elf64_Ehdr> eh = image_.Read<Elf64_Ehdr>(0, "ELF header");
    if (!eh.ok()) return eh.status();
    ehdr_ = *eh;
    if (memcmp(ehdr_.e_ident, ELFMAG, SELFMAG) != 0) {
      return Malformed("no ELF magic (\\x7fELF) at offset 0");
    }
    if (ehdr_.e_ident[EI_CLASS] != ELFCLASS64) {
      return Malformed(absl::StrCat("ELF class ", ehdr_.e_ident[EI_CLASS],
                                    " is not ELFCLASS64"));
    }
    if (ehdr_.e_ident[EI_DATA] != ELFDATA2LSB) {
      return Malformed(absl::StrCat("ELF data encoding ",
                                    ehdr_.e_ident[EI_DATA],
                                    " is not little-endian"));
    }
    if (ehdr_.e_ident[EI_VERSION] != EV_CURRENT) {
      return Malformed(absl::StrCat("ELF version ", ehdr_.e_ident[EI_VERSION],
                                    " is not EV_CURRENT"));
    }
    if (ehdr_.e_machine != EM_X86_64) {
      return Malformed(absl::StrCat("machine ", ehdr_.e_machine,
                                    " is not x86-64 (", EM_X86_64, ")"));
    }
    if (ehdr_.e_type != ET_DYN) {
      return Malformed(absl::StrCat("ELF type ", ehdr_.e_type,
                                    " is not ET_DYN (a shared object)"));
    }
    return absl::OkStatus();
  }

  // Records the PT_LOAD segments and PT_DYNAMIC. A vDSO is mapped as one
  // contiguous copy of its image, so every PT_LOAD must sit in the image at
  // the offset its address has from the first PT_LOAD (the kernel's vdso2c
  // is stricter still: one PT_LOAD at offset 0). That is what makes "offset
  // in the image" and "offset from the mapping base" the same number.
  absl::Status ReadProgramHeaders() {
    if (ehdr_.e_phnum == 0) return Malformed("no program headers");
    if (ehdr_.e_phentsize != sizeof(Elf64_Phdr)) {
      return Malformed(absl::StrCat("program header size ", ehdr_.e_phentsize,
                                    " is not ", sizeof(Elf64_Phdr)));
    }
    const uint64_t table_len = uint64_t{ehdr_.e_phnum} * sizeof(Elf64_Phdr);
    if (!image_.Contains(ehdr_.e_phoff, table_len)) {
      return Malformed(absl::StrCat("truncated: program header table (", ehdr_.e_phnum,
                                    " entries at ", HexString(ehdr_.e_phoff), ") ends past the ",
                                    image_.size(), "-byte image"));
    }
    for (uint64_t i = 0; i < ehdr_.e_phnum; ++i) {
      absl::StatusOr<Elf64_Phdr> ph = image_.Read<Elf64_Phdr>(
          ehdr_.e_phoff + i * sizeof(Elf64_Phdr), "program header");
      if (!ph.ok()) return ph.status();
      if (ph->p_type == PT_LOAD) {
        if (absl::Status s = AddLoad(i, *ph); !s.ok()) return s;
      } else if (ph->p_type == PT_DYNAMIC && !dynamic_.has_value()) {
        dynamic_ = *ph;
      }
    }
    if (loads_.empty()) return Malformed("no PT_LOAD segment");
    return absl::OkStatus();
  }

  absl::Status AddLoad(uint64_t index, const Elf64_Phdr& ph) {
    const std::string where = absl::StrCat("PT_LOAD (program header ", index, ")");
    if (!image_.Contains(ph.p_offset, ph.p_filesz)) {
      return Malformed(absl::StrCat("truncated: ", where, " spans ", ph.p_filesz, " bytes at ",
                                    HexString(ph.p_offset), ", past the ", image_.size(),
                                    "-byte image"));
    }
    if (loads_.empty()) first_vaddr_ = ph.p_vaddr;
    if (ph.p_vaddr < first_vaddr_ ||
        ph.p_vaddr - first_vaddr_ != ph.p_offset) {
      return Malformed(absl::StrCat(where, " maps file offset ", HexString(ph.p_offset),
                                    " at address ", HexString(ph.p_vaddr),
                                    ", but a vDSO image must be laid out as it is "
                                    "mapped (first PT_LOAD at ",
                                    HexString(first_vaddr_), ")"));
    }
    loads_.push_back(ph);
    return absl::OkStatus();
  }

  // Image offset of the `len` bytes at address `vaddr`, which must lie
  // inside one PT_LOAD's file bytes.
  absl::StatusOr<uint64_t> Offset(uint64_t vaddr, uint64_t len,
                                  std::string_view what) const {
    for (const Elf64_Phdr& ph : loads_) {
      if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr <= ph.p_filesz &&
          len <= ph.p_filesz - (vaddr - ph.p_vaddr)) {
        return ph.p_offset + (vaddr - ph.p_vaddr);
      }
    }
    return Malformed(absl::StrCat(std::string(what), " (", len, " bytes at ", HexString(vaddr),
                                  ") is not inside a PT_LOAD segment"));
  }

  absl::StatusOr<SymbolTables> TablesFromDynamic() const {
    const Elf64_Phdr& dyn = *dynamic_;
    if (!image_.Contains(dyn.p_offset, dyn.p_filesz)) {
      return Malformed(absl::StrCat("truncated: PT_DYNAMIC spans ", dyn.p_filesz, " bytes at ",
                                    HexString(dyn.p_offset), ", past the ", image_.size(),
                                    "-byte image"));
    }
    std::optional<uint64_t> symtab, strtab, strsz, syment, hash, gnu_hash;
    const uint64_t entries = dyn.p_filesz / sizeof(Elf64_Dyn);
    for (uint64_t i = 0; i < entries; ++i) {
      absl::StatusOr<Elf64_Dyn> d = image_.Read<Elf64_Dyn>(
          dyn.p_offset + i * sizeof(Elf64_Dyn), "dynamic entry");
      if (!d.ok()) return d.status();
      if (d->d_tag == DT_NULL) break;
      const uint64_t v = d->d_un.d_val;
      switch (d->d_tag) {
        case DT_SYMTAB: symtab = v; break;
        case DT_STRTAB: strtab = v; break;
        case DT_STRSZ: strsz = v; break;
        case DT_SYMENT: syment = v; break;
        case DT_HASH: hash = v; break;
        case DT_GNU_HASH: gnu_hash = v; break;
        default: break;
      }
    }
    if (!symtab) return Malformed("PT_DYNAMIC has no DT_SYMTAB");
    if (!strtab) return Malformed("PT_DYNAMIC has no DT_STRTAB");
    if (!strsz) return Malformed("PT_DYNAMIC has no DT_STRSZ");
    if (syment && *syment != sizeof(Elf64_Sym)) {
      return Malformed(absl::StrCat("DT_SYMENT is ", *syment, ", not ",
                                    sizeof(Elf64_Sym)));
    }
    if (!hash && !gnu_hash) {
      return Malformed("PT_DYNAMIC has neither DT_HASH nor DT_GNU_HASH, so "
                       "the symbols cannot be counted");
    }
    absl::StatusOr<uint64_t> count =
        hash ? CountFromHash(*hash) : CountFromGnuHash(*gnu_hash);
    if (!count.ok()) return count.status();
    return Tables(*symtab, *count, *strtab, *strsz);
  }

  // DT_HASH: {nbucket, nchain, ...}; nchain is the number of symbols.
  absl::StatusOr<uint64_t> CountFromHash(uint64_t vaddr) const {
    absl::StatusOr<uint64_t> at = Offset(vaddr, 8, "DT_HASH header");
    if (!at.ok()) return at.status();
    absl::StatusOr<uint32_t> nchain =
        image_.Read<uint32_t>(*at + 4, "DT_HASH nchain");
    if (!nchain.ok()) return nchain.status();
    return uint64_t{*nchain};
  }

  // DT_GNU_HASH records only the hashed symbols: the count is one past the
  // last chain entry of the highest bucket, or symoffset if no bucket is
  // used. Layout: {nbuckets, symoffset, bloom_size, bloom_shift},
  // uint64 bloom[bloom_size], uint32 buckets[nbuckets], uint32 chain[].
  absl::StatusOr<uint64_t> CountFromGnuHash(uint64_t vaddr) const {
    absl::StatusOr<uint64_t> at = Offset(vaddr, 16, "DT_GNU_HASH header");
    if (!at.ok()) return at.status();
    uint32_t header[4];
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<uint32_t> w =
          image_.Read<uint32_t>(*at + 4 * i, "DT_GNU_HASH header");
      if (!w.ok()) return w.status();
      header[i] = *w;
    }
    const uint64_t nbuckets = header[0], symoffset = header[1];
    const uint64_t buckets = *at + 16 + uint64_t{header[2]} * 8;
    if (!image_.Contains(buckets, nbuckets * 4)) {
      return Malformed(absl::StrCat("truncated: DT_GNU_HASH buckets (", nbuckets, " at ",
                                    HexString(buckets), ") end past the image"));
    }
    uint64_t last = 0;
    for (uint64_t b = 0; b < nbuckets; ++b) {
      absl::StatusOr<uint32_t> v =
          image_.Read<uint32_t>(buckets + 4 * b, "DT_GNU_HASH bucket");
      if (!v.ok()) return v.status();
      last = std::max<uint64_t>(last, *v);
    }
    if (last == 0) return symoffset;
    if (last < symoffset) {
      return Malformed(absl::StrCat("DT_GNU_HASH bucket points at symbol ",
                                    last, ", below symoffset ", symoffset));
    }
    // Every step reads a further 4 bytes, so a chain with no end bit runs
    // out of image and stops with an error.
    const uint64_t chain = buckets + nbuckets * 4;
    for (uint64_t index = last;; ++index) {
      absl::StatusOr<uint32_t> v = image_.Read<uint32_t>(
          chain + 4 * (index - symoffset), "DT_GNU_HASH chain entry");
      if (!v.ok()) return v.status();
      if (*v & 1) return index + 1;
    }
  }

  // Checks the table extents (the address forms come from PT_DYNAMIC).
  absl::StatusOr<SymbolTables> Tables(uint64_t symtab_vaddr, uint64_t count,
                                      uint64_t strtab_vaddr,
                                      uint64_t strsz) const {
    if (count > image_.size() / sizeof(Elf64_Sym)) {
      return Malformed(absl::StrCat("symbol count ", count,
                                    " cannot fit in the ", image_.size(),
                                    "-byte image"));
    }
    SymbolTables t;
    t.count = count;
    t.strsz = strsz;
    absl::StatusOr<uint64_t> sym =
        Offset(symtab_vaddr, count * sizeof(Elf64_Sym), "dynamic symbol table");
    if (!sym.ok()) return sym.status();
    t.symtab = *sym;
    absl::StatusOr<uint64_t> str =
        Offset(strtab_vaddr, strsz, "dynamic string table");
    if (!str.ok()) return str.status();
    t.strtab = *str;
    return t;
  }

  // Without PT_DYNAMIC: the SHT_DYNSYM section and the string table its
  // sh_link names. Section offsets are image offsets already.
  absl::StatusOr<SymbolTables> TablesFromSections() const {
    if (ehdr_.e_shnum == 0) {
      return Malformed("no PT_DYNAMIC and no section headers: cannot find "
                       "the dynamic symbol table");
    }
    if (ehdr_.e_shentsize != sizeof(Elf64_Shdr)) {
      return Malformed(absl::StrCat("section header size ", ehdr_.e_shentsize,
                                    " is not ", sizeof(Elf64_Shdr)));
    }
    const uint64_t table_len = uint64_t{ehdr_.e_shnum} * sizeof(Elf64_Shdr);
    if (!image_.Contains(ehdr_.e_shoff, table_len)) {
      return Malformed(absl::StrCat("truncated: section header table (", ehdr_.e_shnum,
                                    " entries at ", HexString(ehdr_.e_shoff), ") ends past the ",
                                    image_.size(), "-byte image"));
    }
    auto section = [&](uint64_t i) {
      return image_.Read<Elf64_Shdr>(ehdr_.e_shoff + i * sizeof(Elf64_Shdr),
                                     "section header");
    };
    for (uint64_t i = 0; i < ehdr_.e_shnum; ++i) {
      absl::StatusOr<Elf64_Shdr> sh = section(i);
      if (!sh.ok()) return sh.status();
      if (sh->sh_type != SHT_DYNSYM) continue;
      if (sh->sh_entsize != sizeof(Elf64_Sym)) {
        return Malformed(absl::StrCat(".dynsym entry size ", sh->sh_entsize,
                                      " is not ", sizeof(Elf64_Sym)));
      }
      if (sh->sh_link >= ehdr_.e_shnum) {
        return Malformed(absl::StrCat(".dynsym links to section ",
                                      sh->sh_link, " of ", ehdr_.e_shnum));
      }
      absl::StatusOr<Elf64_Shdr> str = section(sh->sh_link);
      if (!str.ok()) return str.status();
      if (str->sh_type != SHT_STRTAB) {
        return Malformed(".dynsym's string table is not SHT_STRTAB");
      }
      if (!image_.Contains(sh->sh_offset, sh->sh_size) ||
          !image_.Contains(str->sh_offset, str->sh_size)) {
        return Malformed("truncated: .dynsym or its string table ends past "
                         "the image");
      }
      return SymbolTables{sh->sh_offset, sh->sh_size / sizeof(Elf64_Sym),
                          str->sh_offset, str->sh_size};
    }
    return Malformed("no PT_DYNAMIC and no SHT_DYNSYM section");
  }

  absl::StatusOr<VdsoImage> ReadSymbols(const SymbolTables& t) const {
    VdsoImage out;
    out.image_size = image_.size();
    // Entry 0 is the reserved undefined symbol.
    for (uint64_t i = 1; i < t.count; ++i) {
      absl::StatusOr<Elf64_Sym> sym = image_.Read<Elf64_Sym>(
          t.symtab + i * sizeof(Elf64_Sym), "dynamic symbol");
      if (!sym.ok()) return sym.status();
      const unsigned type = ELF64_ST_TYPE(sym->st_info);
      const unsigned bind = ELF64_ST_BIND(sym->st_info);
      if (type != STT_FUNC || sym->st_shndx == SHN_UNDEF ||
          (bind != STB_GLOBAL && bind != STB_WEAK)) {
        continue;
      }
      absl::StatusOr<std::string> name =
          image_.String(t.strtab, t.strsz, sym->st_name);
      if (!name.ok()) return name.status();
      if (name->empty()) {
        return Malformed(absl::StrCat("function symbol ", i, " has no name"));
      }
      absl::StatusOr<uint64_t> offset =
          Offset(sym->st_value, sym->st_size,
                 absl::StrCat("code of symbol `", *name, "`"));
      if (!offset.ok()) return offset.status();
      out.symbols.push_back(VdsoSymbol{*std::move(name), *offset, sym->st_size});
    }
    return out;
  }

  BoundedImage image_;
  Elf64_Ehdr ehdr_{};
  std::vector<Elf64_Phdr> loads_;
  uint64_t first_vaddr_ = 0;
  std::optional<Elf64_Phdr> dynamic_;
};

// The "start-end" of the [vdso] line of /proc/self/maps.
absl::StatusOr<std::pair<uint64_t, uint64_t>> VdsoMappingFromMaps() {
  UniqueFd fd(open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return absl::ErrnoToStatus(errno, "open /proc/self/maps");
  std::string maps;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "read /proc/self/maps");
    if (n == 0) break;
    maps.append(buf, n);
  }
  std::string_view rest = maps;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    constexpr std::string_view kTag = " [vdso]";
    if (line.size() < kTag.size() ||
        line.substr(line.size() - kTag.size()) != kTag) {
      continue;
    }
    uint64_t start = 0, end = 0;
    const char* p = line.data();
    const char* last = line.data() + line.size();
    auto [after_start, e1] = std::from_chars(p, last, start, 16);
    if (e1 != std::errc() || after_start == last || *after_start != '-') break;
    auto [after_end, e2] = std::from_chars(after_start + 1, last, end, 16);
    if (e2 != std::errc() || end <= start) break;
    return std::make_pair(start, end);
  }
  return absl::NotFoundError("no well-formed [vdso] line in /proc/self/maps");
}

}  // namespace

std::string HexString(uint64_t v) { return absl::StrCat("0x", absl::Hex(v)); }

const VdsoSymbol* VdsoImage::Find(std::string_view name) const {
  for (const VdsoSymbol& s : symbols) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

absl::StatusOr<VdsoImage> ParseVdsoImage(absl::Span<const uint8_t> image) {
  return Parser(image).Parse();
}

absl::StatusOr<std::vector<uint8_t>> ReadOwnVdso() {
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    return absl::NotFoundError(
        "this process has no vDSO (no AT_SYSINFO_EHDR in its auxv)");
  }
  absl::StatusOr<std::pair<uint64_t, uint64_t>> range = VdsoMappingFromMaps();
  if (!range.ok()) return range.status();
  if (range->first != base) {
    return absl::InternalError(absl::StrCat("AT_SYSINFO_EHDR is ", HexString(base),
                                            " but /proc/self/maps puts [vdso] at ",
                                            HexString(range->first)));
  }
  const auto* start = reinterpret_cast<const uint8_t*>(base);
  return std::vector<uint8_t>(start, start + (range->second - range->first));
}

}  // namespace detrun
