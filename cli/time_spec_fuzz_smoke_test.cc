// Runs the libFuzzer entry point (time_spec_fuzz.cc) over the seed time
// specs and systematic damage to them, under any compiler: every
// truncation, every byte dropped or doubled, every byte changed to a few
// interesting values and every digit to each other digit. The entry point
// aborts when a property breaks; the real fuzzer (clang, libFuzzer) explores
// further in `ctest -L fuzz`. This keeps the entry point and the seeds
// honest in every build, Bazel's included.
//
// Seed names say what they are: start_* is accepted by ParseStartTime,
// sde_* by ParseSourceDateEpoch (and not by ParseStartTime), bad_* by
// neither.
#include <dirent.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "cli/time_spec.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace detrun {
namespace {

std::string SeedsDir() {
  const char* dir = getenv("DETRUN_FUZZ_SEEDS");
  return dir != nullptr && *dir != '\0' ? dir : DETRUN_FUZZ_SEEDS_DEFAULT;
}

// By file name.
std::map<std::string, std::string> Seeds() {
  std::map<std::string, std::string> seeds;
  DIR* d = opendir(SeedsDir().c_str());
  if (d == nullptr) return seeds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(SeedsDir() + "/" + e->d_name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    seeds[e->d_name] = s.str();
  }
  closedir(d);
  return seeds;
}

void Fuzz(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(TimeSpecFuzzSmokeTest, SeedsAreWhatTheirNamesSay) {
  const std::map<std::string, std::string> seeds = Seeds();
  ASSERT_GE(seeds.size(), 12u) << "too few seeds in " << SeedsDir();
  for (const auto& [name, text] : seeds) {
    SCOPED_TRACE(name);
    const std::string kind = name.substr(0, name.find('_'));
    ASSERT_TRUE(kind == "start" || kind == "sde" || kind == "bad") << "unknown kind of seed";
    EXPECT_EQ(ParseStartTime(text).ok(), kind == "start");
    EXPECT_EQ(ParseSourceDateEpoch(text).ok(), kind == "sde");
    Fuzz(text);
  }
}

// A NUL, a line break, quotes, a backslash, DEL, bytes that are not ASCII
// (0xb1 ends a UTF-8 '±'), and the spec's own punctuation.
constexpr char kBytes[] = "\0\n\"'\\\x7f\x80\xb1\xff -+.:@TZ";

TEST(TimeSpecFuzzSmokeTest, DamagedSeedsKeepTheProperties) {
  // Damage that still parses exercises the round trips, damage that does
  // not the messages: both must happen often.
  int accepted = 0, refused = 0;
  auto fuzz = [&](const std::string& input) {
    Fuzz(input);
    ++(ParseStartTime(input).ok() ? accepted : refused);
  };
  for (const auto& [name, seed] : Seeds()) {
    for (size_t len = 0; len < seed.size(); ++len) fuzz(seed.substr(0, len));
    for (size_t i = 0; i < seed.size(); ++i) {
      fuzz(seed.substr(0, i) + seed.substr(i + 1));
      fuzz(seed.substr(0, i + 1) + seed.substr(i));
      for (const char v : std::string_view(kBytes, sizeof(kBytes) - 1)) {
        if (seed[i] == v) continue;
        std::string damaged = seed;
        damaged[i] = v;
        fuzz(damaged);
      }
      if (seed[i] >= '0' && seed[i] <= '9') {
        for (char digit = '0'; digit <= '9'; ++digit) {
          if (digit == seed[i]) continue;
          std::string changed = seed;
          changed[i] = digit;
          fuzz(changed);
        }
      }
    }
  }
  EXPECT_GT(accepted, 500);
  EXPECT_GT(refused, 500);
}

}  // namespace
}  // namespace detrun
