// Runs the libFuzzer entry point (trace_reader_fuzz.cc) over the seed
// traces and systematic damage to them, under any compiler: every
// truncation, every single-byte change to a few values, and lines swapped,
// repeated or dropped. The real fuzzer (clang, libFuzzer) explores further
// in `ctest -L fuzz`; this keeps the entry point and the seeds honest in
// every build, Bazel's included.
#include <dirent.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replay/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace detrun {
namespace {

std::string SeedsDir() {
  const char* dir = getenv("DETRUN_FUZZ_SEEDS");
  return dir != nullptr && *dir != '\0' ? dir : DETRUN_FUZZ_SEEDS_DEFAULT;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  DIR* d = opendir(SeedsDir().c_str());
  if (d == nullptr) return seeds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(SeedsDir() + "/" + e->d_name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    seeds.push_back(s.str());
  }
  closedir(d);
  return seeds;
}

void Fuzz(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(TraceReaderFuzzSmokeTest, SeedsAreValidTraces) {
  const std::vector<std::string> seeds = Seeds();
  ASSERT_GE(seeds.size(), 2u) << "no seeds in " << SeedsDir();
  for (const std::string& s : seeds) {
    absl::StatusOr<TraceContents> c = ReadTraceBytes(s, nullptr);
    EXPECT_TRUE(c.ok()) << c.status();
  }
}

TEST(TraceReaderFuzzSmokeTest, DamagedSeedsNeverCrashNorPass) {
  for (const std::string& seed : Seeds()) {
    for (size_t len = 0; len < seed.size(); ++len) {
      Fuzz(seed.substr(0, len));
      EXPECT_FALSE(ReadTraceBytes(seed.substr(0, len), nullptr).ok()) << len;
    }
    for (size_t i = 0; i < seed.size(); ++i) {
      // A NUL, a line break, a quote and a byte that is not UTF-8.
      for (unsigned char v : {0x00, 0x0a, 0x22, 0xff}) {
        if (static_cast<unsigned char>(seed[i]) == v) continue;
        std::string damaged = seed;
        damaged[i] = static_cast<char>(v);
        Fuzz(damaged);
        EXPECT_FALSE(ReadTraceBytes(damaged, nullptr).ok()) << "byte " << i << " = " << int{v};
      }
    }
    // Whole lines dropped, repeated and swapped.
    std::vector<std::string> lines;
    std::stringstream in(seed);
    for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string dropped, repeated, swapped;
      for (size_t k = 0; k < lines.size(); ++k) {
        if (k != i) dropped += lines[k];
        repeated += lines[k];
        if (k == i) repeated += lines[k];
        swapped += lines[k == i ? (i + 1) % lines.size() : (k == (i + 1) % lines.size() ? i : k)];
      }
      for (const std::string& d : {dropped, repeated, swapped}) {
        Fuzz(d);
        if (d != seed) {
          EXPECT_FALSE(ReadTraceBytes(d, nullptr).ok()) << "line " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace detrun
