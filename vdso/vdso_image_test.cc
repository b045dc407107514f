#include "vdso/vdso_image.h"
#include "vdso/vdso_test_util.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

bool KernelAtLeast(int want_major, int want_minor) {
  utsname u;
  if (uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > want_major || (major == want_major && minor >= want_minor);
}

template <typename T>
T Get(const std::vector<uint8_t>& image, uint64_t offset) {
  T v;
  memcpy(&v, image.data() + offset, sizeof v);
  return v;
}

template <typename T>
void Put(std::vector<uint8_t>& image, uint64_t offset, const T& v) {
  memcpy(image.data() + offset, &v, sizeof v);
}

Elf64_Ehdr Header(const std::vector<uint8_t>& image) {
  return Get<Elf64_Ehdr>(image, 0);
}

// Image offset of the first program header of `type`.
uint64_t ProgramHeaderOffset(const std::vector<uint8_t>& image, uint32_t type) {
  Elf64_Ehdr eh = Header(image);
  for (int i = 0; i < eh.e_phnum; ++i) {
    uint64_t at = eh.e_phoff + i * sizeof(Elf64_Phdr);
    if (Get<Elf64_Phdr>(image, at).p_type == type) return at;
  }
  ADD_FAILURE() << "no program header of type " << type;
  return 0;
}

// Image offset of the dynamic entry with `tag` (the vDSO's first PT_LOAD is
// at address 0, file offset 0, so addresses are offsets).
uint64_t DynamicEntryOffset(const std::vector<uint8_t>& image, int64_t tag) {
  Elf64_Phdr dyn = Get<Elf64_Phdr>(image, ProgramHeaderOffset(image, PT_DYNAMIC));
  for (uint64_t at = dyn.p_offset; at < dyn.p_offset + dyn.p_filesz;
       at += sizeof(Elf64_Dyn)) {
    Elf64_Dyn d = Get<Elf64_Dyn>(image, at);
    if (d.d_tag == tag) return at;
    if (d.d_tag == DT_NULL) break;
  }
  ADD_FAILURE() << "no dynamic entry with tag " << tag;
  return 0;
}

void SetDynamicTag(std::vector<uint8_t>& image, int64_t from, int64_t to) {
  uint64_t at = DynamicEntryOffset(image, from);
  Elf64_Dyn d = Get<Elf64_Dyn>(image, at);
  d.d_tag = to;
  Put(image, at, d);
}

void ExpectSameSymbols(const VdsoImage& a, const VdsoImage& b) {
  ASSERT_EQ(a.symbols.size(), b.symbols.size());
  for (size_t i = 0; i < a.symbols.size(); ++i) {
    EXPECT_EQ(a.symbols[i].name, b.symbols[i].name);
    EXPECT_EQ(a.symbols[i].offset, b.symbols[i].offset);
    EXPECT_EQ(a.symbols[i].size, b.symbols[i].size);
  }
}

// Every successful parse must describe code inside the image.
void ExpectSymbolsInside(const VdsoImage& image, uint64_t size) {
  EXPECT_EQ(image.image_size, size);
  for (const VdsoSymbol& s : image.symbols) {
    EXPECT_FALSE(s.name.empty());
    EXPECT_LE(s.offset, size);
    EXPECT_LE(s.size, size - s.offset) << s.name;
  }
}

TEST(ReadOwnVdsoTest, CopiesTheWholeMapping) {
  const std::vector<uint8_t>& image = OwnVdso();
  ASSERT_GE(image.size(), 4096u);
  EXPECT_EQ(image.size() % 4096, 0u);
  EXPECT_EQ(memcmp(image.data(), reinterpret_cast<const void*>(
                                     getauxval(AT_SYSINFO_EHDR)),
                   image.size()),
            0);
}

TEST(ParseVdsoImageTest, FindsTheTimeFunctionsAndTheirAliases) {
  absl::StatusOr<VdsoImage> image = ParseVdsoImage(OwnVdso());
  ASSERT_TRUE(image.ok()) << image.status();
  ExpectSymbolsInside(*image, OwnVdso().size());
  std::vector<std::string> names = {"clock_gettime", "gettimeofday", "time",
                                    "clock_getres", "getcpu"};
  if (KernelAtLeast(6, 11)) names.push_back("getrandom");
  for (const std::string& name : names) {
    const VdsoSymbol* versioned = image->Find("__vdso_" + name);
    const VdsoSymbol* alias = image->Find(name);
    ASSERT_NE(versioned, nullptr) << name;
    ASSERT_NE(alias, nullptr) << name;
    EXPECT_EQ(versioned->offset, alias->offset) << name;
    EXPECT_EQ(versioned->size, alias->size) << name;
    EXPECT_GT(versioned->size, 0u) << name;
    printf("  %-22s offset 0x%04llx size %llu\n", versioned->name.c_str(),
           static_cast<unsigned long long>(versioned->offset),
           static_cast<unsigned long long>(versioned->size));
  }
  EXPECT_EQ(image->Find("no_such_function"), nullptr);
  EXPECT_EQ(image->Find(""), nullptr);
}

TEST(ParseVdsoImageTest, OffsetsPointAtTheLiveFunctions) {
  absl::StatusOr<VdsoImage> image = ParseVdsoImage(OwnVdso());
  ASSERT_TRUE(image.ok()) << image.status();
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);

  using ClockGettime = int (*)(clockid_t, timespec*);
  auto vdso_clock_gettime = reinterpret_cast<ClockGettime>(
      base + image->Find("__vdso_clock_gettime")->offset);
  timespec via_vdso{}, via_syscall{};
  ASSERT_EQ(syscall(SYS_clock_gettime, CLOCK_REALTIME, &via_syscall), 0);
  ASSERT_EQ(vdso_clock_gettime(CLOCK_REALTIME, &via_vdso), 0);
  EXPECT_LE(via_syscall.tv_sec, via_vdso.tv_sec);
  EXPECT_LE(via_vdso.tv_sec, via_syscall.tv_sec + 2);

  using Time = time_t (*)(time_t*);
  auto vdso_time =
      reinterpret_cast<Time>(base + image->Find("time")->offset);
  const time_t t = vdso_time(nullptr);
  // time() reads the coarse clock, updated once per tick: just after a
  // second begins it can still say the previous one (seen in CI).
  EXPECT_GE(t, via_syscall.tv_sec - 1);
  EXPECT_LE(t, via_syscall.tv_sec + 2);
}

TEST(ParseVdsoImageTest, CountsThroughGnuHashWithoutDtHash) {
  std::vector<uint8_t> image = OwnVdso();
  absl::StatusOr<VdsoImage> full = ParseVdsoImage(image);
  ASSERT_TRUE(full.ok()) << full.status();
  SetDynamicTag(image, DT_HASH, DT_DEBUG);  // DT_DEBUG is ignored
  absl::StatusOr<VdsoImage> gnu = ParseVdsoImage(image);
  ASSERT_TRUE(gnu.ok()) << gnu.status();
  ExpectSameSymbols(*full, *gnu);
}

TEST(ParseVdsoImageTest, FallsBackToSectionsWithoutPtDynamic) {
  std::vector<uint8_t> image = OwnVdso();
  absl::StatusOr<VdsoImage> full = ParseVdsoImage(image);
  ASSERT_TRUE(full.ok()) << full.status();
  uint64_t at = ProgramHeaderOffset(image, PT_DYNAMIC);
  Elf64_Phdr ph = Get<Elf64_Phdr>(image, at);
  ph.p_type = PT_NULL;
  Put(image, at, ph);
  absl::StatusOr<VdsoImage> sections = ParseVdsoImage(image);
  ASSERT_TRUE(sections.ok()) << sections.status();
  ExpectSameSymbols(*full, *sections);
}

TEST(ParseVdsoImageTest, NoHashTableIsAnError) {
  std::vector<uint8_t> image = OwnVdso();
  SetDynamicTag(image, DT_HASH, DT_DEBUG);
  SetDynamicTag(image, DT_GNU_HASH, DT_DEBUG);
  absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("DT_GNU_HASH"));
}

TEST(ParseVdsoImageTest, GnuHashChainWithoutEndMarkerStopsAtImageEnd) {
  std::vector<uint8_t> image = OwnVdso();
  SetDynamicTag(image, DT_HASH, DT_DEBUG);
  // A hand-made DT_GNU_HASH in the zero padding at the end of the mapping
  // (made part of the PT_LOAD): one bucket pointing at symbol 1, and a
  // chain of zeros that never sets the end bit before the image ends.
  const uint64_t load_at = ProgramHeaderOffset(image, PT_LOAD);
  Elf64_Phdr load = Get<Elf64_Phdr>(image, load_at);
  load.p_filesz = load.p_memsz = image.size();
  Put(image, load_at, load);
  const uint64_t table = image.size() - 256;
  for (uint64_t at = table; at < image.size(); ++at) image[at] = 0;
  const uint32_t header[4] = {1, 1, 1, 0};  // nbuckets, symoffset, bloom_size, shift
  Put(image, table, header);
  Put<uint32_t>(image, table + 16 + 8, 1);  // bucket[0] = symbol 1
  const uint64_t dyn_at = DynamicEntryOffset(image, DT_GNU_HASH);
  Elf64_Dyn d = Get<Elf64_Dyn>(image, dyn_at);
  d.d_un.d_ptr = table;
  Put(image, dyn_at, d);
  absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("DT_GNU_HASH chain"));
}

TEST(ParseVdsoImageTest, SymbolNamePastStringTableIsAnError) {
  std::vector<uint8_t> image = OwnVdso();
  uint64_t at = DynamicEntryOffset(image, DT_STRSZ);
  Elf64_Dyn d = Get<Elf64_Dyn>(image, at);
  d.d_un.d_val = 2;
  Put(image, at, d);
  absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("string table"));
}

TEST(ParseVdsoImageTest, SymbolCodeOutsideTheLoadedSegmentIsAnError) {
  std::vector<uint8_t> image = OwnVdso();
  uint64_t at = ProgramHeaderOffset(image, PT_LOAD);
  Elf64_Phdr ph = Get<Elf64_Phdr>(image, at);
  ph.p_filesz = 0x700;  // headers and tables, but no .text
  Put(image, at, ph);
  absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("not inside a PT_LOAD"));
}

TEST(ParseVdsoImageTest, RejectsWrongHeaders) {
  struct Case {
    const char* description;
    void (*mutate)(Elf64_Ehdr&);
    const char* expected;
  };
  const Case cases[] = {
      {"bad magic", [](Elf64_Ehdr& h) { h.e_ident[1] = 'X'; }, "magic"},
      {"32-bit", [](Elf64_Ehdr& h) { h.e_ident[EI_CLASS] = ELFCLASS32; }, "ELFCLASS64"},
      {"big-endian", [](Elf64_Ehdr& h) { h.e_ident[EI_DATA] = ELFDATA2MSB; }, "little-endian"},
      {"version", [](Elf64_Ehdr& h) { h.e_ident[EI_VERSION] = 7; }, "EV_CURRENT"},
      {"aarch64", [](Elf64_Ehdr& h) { h.e_machine = EM_AARCH64; }, "x86-64"},
      {"executable", [](Elf64_Ehdr& h) { h.e_type = ET_EXEC; }, "ET_DYN"},
      {"no phdrs", [](Elf64_Ehdr& h) { h.e_phnum = 0; }, "no program headers"},
      {"phentsize", [](Elf64_Ehdr& h) { h.e_phentsize = 32; }, "program header size"},
      {"phoff overflows", [](Elf64_Ehdr& h) { h.e_phoff = ~uint64_t{0} - 8; }, "program header table"},
      {"phnum too big", [](Elf64_Ehdr& h) { h.e_phnum = 0xffff; }, "program header table"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> image = OwnVdso();
    Elf64_Ehdr h = Header(image);
    c.mutate(h);
    Put(image, 0, h);
    absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
    ASSERT_FALSE(parsed.ok()) << c.description;
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << c.description;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.expected)) << c.description;
  }
}

TEST(ParseVdsoImageTest, EveryTruncationFailsCleanlyOrParsesTheSame) {
  const std::vector<uint8_t>& full_image = OwnVdso();
  absl::StatusOr<VdsoImage> full = ParseVdsoImage(full_image);
  ASSERT_TRUE(full.ok()) << full.status();
  // The parse needs at least the whole PT_LOAD's file bytes.
  const Elf64_Phdr load = Get<Elf64_Phdr>(full_image, ProgramHeaderOffset(full_image, PT_LOAD));
  for (size_t len = 0; len <= full_image.size(); ++len) {
    // A fresh allocation of exactly `len` bytes, so ASan sees any overread.
    std::vector<uint8_t> prefix(full_image.begin(), full_image.begin() + len);
    absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(prefix);
    if (len < load.p_offset + load.p_filesz) {
      ASSERT_FALSE(parsed.ok()) << "length " << len;
    }
    if (parsed.ok()) {
      ExpectSymbolsInside(*parsed, len);
      ExpectSameSymbols(*full, *parsed);
    } else {
      EXPECT_THAT(std::string(parsed.status().message()), StartsWith("vDSO image: "));
      EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
    }
  }
}

TEST(ParseVdsoImageTest, RandomCorruptionNeverCrashes) {
  const std::vector<uint8_t>& original = OwnVdso();
  const Elf64_Phdr load = Get<Elf64_Phdr>(original, ProgramHeaderOffset(original, PT_LOAD));
  // Where the headers and tables live (before .text): most corruptions go
  // there, where they change what the parser reads.
  const size_t metadata_end = 0x780;
  ASSERT_LT(metadata_end, load.p_filesz);
  std::mt19937_64 rng(20240611);
  int ok = 0, failed = 0;
  for (int iteration = 0; iteration < 30000; ++iteration) {
    std::vector<uint8_t> image = original;
    const int flips = 1 + rng() % 8;
    for (int f = 0; f < flips; ++f) {
      const size_t limit = (rng() % 4 == 0) ? image.size() : metadata_end;
      const size_t at = rng() % limit;
      switch (rng() % 3) {
        case 0: image[at] ^= 1u << (rng() % 8); break;
        case 1: image[at] = static_cast<uint8_t>(rng()); break;
        default: image[at] = (rng() % 2) ? 0xff : 0x00; break;
      }
    }
    // Sometimes also cut it short.
    if (rng() % 8 == 0) image.resize(rng() % image.size());
    absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
    if (parsed.ok()) {
      ++ok;
      ExpectSymbolsInside(*parsed, image.size());
    } else {
      ++failed;
      EXPECT_THAT(std::string(parsed.status().message()), StartsWith("vDSO image: "));
    }
  }
  printf("  30000 corrupted images: %d parsed, %d rejected\n", ok, failed);
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace detrun
