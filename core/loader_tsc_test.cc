#include "core/loader_tsc.h"

#include <elf.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "gtest/gtest.h"

namespace detrun {
namespace {

ReadMemory OwnMemory() {
  return [](uint64_t addr, void* buf, size_t len) {
    memcpy(buf, reinterpret_cast<const void*>(addr), len);
    return absl::OkStatus();
  };
}

// Reads from `bytes` as if they were mapped at address 0.
ReadMemory FromBytes(const std::vector<uint8_t>& bytes) {
  return [&bytes](uint64_t addr, void* buf, size_t len) {
    if (addr > bytes.size() || bytes.size() - addr < len) {
      return absl::OutOfRangeError("past the end");
    }
    memcpy(buf, bytes.data() + addr, len);
    return absl::OkStatus();
  };
}

std::vector<uint8_t> FileBytes(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A child that only waits to be inspected; killed on destruction.
class PausedChild {
 public:
  PausedChild() : pid_(fork()) {
    if (pid_ == 0) {
      for (;;) pause();
    }
  }
  ~PausedChild() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

TEST(ReadElfTextAndBuildIdTest, OwnLoaderInMemoryMatchesItsFile) {
  const uint64_t base = getauxval(AT_BASE);
  ASSERT_NE(base, 0u) << "this test binary is dynamic";
  absl::StatusOr<ElfTextAndBuildId> live = ReadElfTextAndBuildId(base, OwnMemory());
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_LT(live->text_begin, live->text_end);
  EXPECT_EQ(live->build_id.size(), 20u);  // SHA-1, as Debian links
  // The file's headers and notes sit at the same offsets as in memory.
  const std::vector<uint8_t> file = FileBytes("/lib64/ld-linux-x86-64.so.2");
  absl::StatusOr<ElfTextAndBuildId> on_disk = ReadElfTextAndBuildId(0, FromBytes(file));
  ASSERT_TRUE(on_disk.ok()) << on_disk.status();
  EXPECT_EQ(on_disk->build_id, live->build_id);
  EXPECT_EQ(on_disk->text_begin, live->text_begin);
  EXPECT_EQ(on_disk->text_end, live->text_end);
}

TEST(ReadElfTextAndBuildIdTest, RefusesWhatIsNotAnElfImage) {
  std::vector<uint8_t> junk(4096, 0xab);
  EXPECT_TRUE(absl::IsInvalidArgument(ReadElfTextAndBuildId(0, FromBytes(junk)).status()));
  // A real header whose executable segment is made read-only: no text.
  std::vector<uint8_t> file = FileBytes("/lib64/ld-linux-x86-64.so.2");
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, file.data(), sizeof ehdr);
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    auto* p = reinterpret_cast<Elf64_Phdr*>(file.data() + ehdr.e_phoff + i * sizeof(Elf64_Phdr));
    if (p->p_type == PT_LOAD) p->p_flags &= ~PF_X;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(ReadElfTextAndBuildId(0, FromBytes(file)).status()));
  // Truncated: the reader's error comes back.
  std::vector<uint8_t> header_only(file.begin(), file.begin() + sizeof(Elf64_Ehdr));
  EXPECT_TRUE(absl::IsOutOfRange(ReadElfTextAndBuildId(0, FromBytes(header_only)).status()));
}

TEST(ReadElfTextAndBuildIdTest, NoBuildIdNoteIsEmpty) {
  std::vector<uint8_t> file = FileBytes("/lib64/ld-linux-x86-64.so.2");
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, file.data(), sizeof ehdr);
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    auto* p = reinterpret_cast<Elf64_Phdr*>(file.data() + ehdr.e_phoff + i * sizeof(Elf64_Phdr));
    if (p->p_type == PT_NOTE) p->p_type = PT_NULL;
  }
  absl::StatusOr<ElfTextAndBuildId> image = ReadElfTextAndBuildId(0, FromBytes(file));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->build_id, "");
}

// The offset of an rdtsc in this process's loader text (the loader's own
// timing code), found by its bytes: good enough for a child that never
// runs it.
uint64_t SomeRdtscOffset(uint64_t base, const ElfTextAndBuildId& image) {
  const auto* text = reinterpret_cast<const uint8_t*>(base);
  for (uint64_t at = image.text_begin; at + 1 < image.text_end; ++at) {
    if (text[at] == 0x0f && text[at + 1] == 0x31) return at;
  }
  return 0;
}

TEST(LoaderTscTest, LearnedSitesArePatchedInLaterProcessesOnly) {
  const uint64_t base = getauxval(AT_BASE);
  absl::StatusOr<ElfTextAndBuildId> image = ReadElfTextAndBuildId(base, OwnMemory());
  ASSERT_TRUE(image.ok()) << image.status();
  const uint64_t site = SomeRdtscOffset(base, *image);
  ASSERT_NE(site, 0u);

  LoaderTsc loader;
  PausedChild first;
  ProcMem first_mem(first.pid());
  absl::StatusOr<LoaderText> text = loader.OnExec(first_mem, base);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->loader, 0);
  EXPECT_EQ(text->begin, base + image->text_begin);
  EXPECT_EQ(text->end, base + image->text_end);
  EXPECT_EQ(loader.patched(), 0u);  // nothing learned yet

  EXPECT_FALSE(loader.Learn(*text, text->begin - 1));
  EXPECT_FALSE(loader.Learn(*text, text->end));
  EXPECT_FALSE(loader.Learn(LoaderText{}, base + site));
  EXPECT_TRUE(loader.Learn(*text, base + site));

  PausedChild second;
  ProcMem second_mem(second.pid());
  text = loader.OnExec(second_mem, base);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(loader.patched(), 1u);
  uint8_t code[2];
  ASSERT_TRUE(second_mem.Read(base + site, code, sizeof code).ok());
  EXPECT_EQ(code[0], 0x31);
  EXPECT_EQ(code[1], 0xc0);
  // Copy on write: the loader's text of this process is untouched.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(base)[site], 0x0f);
  // A site that no longer holds rdtsc is left alone (here: already patched).
  text = loader.OnExec(second_mem, base);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(loader.patched(), 1u);
}

// Every rdtsc byte pair in 100 KiB of the loader's text (the child never
// runs it), learned, then patched at the next exec: more than one read
// window (64 KiB) when the pairs reach that far, writes of a page at most;
// each site reads xor %eax,%eax and every byte around them is still the
// loader's own.
TEST(LoaderTscTest, SitesOnSeveralPagesArePatchedAndNothingElse) {
  const uint64_t base = getauxval(AT_BASE);
  absl::StatusOr<ElfTextAndBuildId> image = ReadElfTextAndBuildId(base, OwnMemory());
  ASSERT_TRUE(image.ok()) << image.status();
  const auto* own = reinterpret_cast<const uint8_t*>(base);
  const uint64_t first_site = SomeRdtscOffset(base, *image);
  ASSERT_NE(first_site, 0u);
  std::vector<uint64_t> sites;
  for (uint64_t at = first_site; at + 1 < image->text_end && at - first_site <= 100 * 1024; ++at) {
    if (own[at] == 0x0f && own[at + 1] == 0x31) sites.push_back(at++);
  }
  ASSERT_GE(sites.size(), 2u);
  if ((base + sites.front()) / kPageSize == (base + sites.back()) / kPageSize) {
    GTEST_SKIP() << "this loader's rdtsc byte pairs all lie on one page";
  }

  LoaderTsc loader;
  PausedChild first;
  ProcMem first_mem(first.pid());
  absl::StatusOr<LoaderText> text = loader.OnExec(first_mem, base);
  ASSERT_TRUE(text.ok()) << text.status();
  for (uint64_t site : sites) ASSERT_TRUE(loader.Learn(*text, base + site));

  PausedChild second;
  ProcMem second_mem(second.pid());
  ASSERT_TRUE(loader.OnExec(second_mem, base).ok());
  EXPECT_EQ(loader.patched(), sites.size());
  const uint64_t span = sites.back() + 2 - sites.front() + 2 * kPageSize;
  const uint64_t from = sites.front() - kPageSize;
  std::vector<uint8_t> now(span);
  ASSERT_TRUE(second_mem.Read(base + from, now.data(), span).ok());
  std::vector<uint8_t> expected(own + from, own + from + span);
  for (uint64_t site : sites) {
    expected[site - from] = 0x31;
    expected[site - from + 1] = 0xc0;
  }
  EXPECT_EQ(now, expected);
}

TEST(LoaderTscTest, StaticProgramHasNoLoader) {
  LoaderTsc loader;
  ProcMem mem(getpid());
  absl::StatusOr<LoaderText> text = loader.OnExec(mem, 0);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->loader, -1);
  EXPECT_FALSE(loader.Learn(*text, 0x1000));
}

}  // namespace
}  // namespace detrun
