#include "cli/flaky_plan.h"

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "cli/time_spec.h"

namespace detrun {
namespace {

// SplitMix64's finaliser: a well-mixed value from an index and a salt, so
// that each source picks its value independently of the others.
uint64_t Mix(uint64_t index, uint64_t salt) {
  uint64_t x = index * 0x9e3779b97f4a7c15u + salt;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

constexpr uint64_t kTimeSalt = 0x74696d65;  // "time"
constexpr uint64_t kCpusSalt = 0x63707573;  // "cpus"
constexpr uint64_t kHostSalt = 0x686f7374;  // "host"

// Pseudo-random start times, once the interesting ones are used up:
// whole seconds from 1980-01-01 to 2037-12-31, where most programs work.
constexpr int64_t kRandomTimeFirst = 315532800;  // 1980-01-01T00:00:00Z
constexpr int64_t kRandomTimeLast = 2145830400;  // 2037-12-31T00:00:00Z

absl::Time Utc(int year, int month, int day, int hour, int minute, int second) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

bool ParseIndex(const char* text, uint64_t* value) {
  if (text == nullptr || *text == '\0') return false;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}

}  // namespace

namespace {

// Per source, in Source order: the word --vary and reports use, and the
// run option fixing it.
struct SourceWords {
  const char* name;
  const char* option;
};
constexpr SourceWords kSourceWords[] = {
    {"random", "seed"}, {"time", "time"},         {"dirs", "dirs"},
    {"cpus", "cpus"},   {"hostname", "hostname"}, {"chaos", "chaos"},
};
static_assert(std::size(kSourceWords) == std::size(kAllSources));

}  // namespace

const char* SourceName(Source source) { return kSourceWords[static_cast<int>(source)].name; }

const char* FixingOption(Source source) { return kSourceWords[static_cast<int>(source)].option; }

std::vector<Source> SourceSet::members() const {
  std::vector<Source> out;
  for (Source s : kAllSources) {
    if (contains(s)) out.push_back(s);
  }
  return out;
}

std::string SourceSet::ToString() const {
  std::vector<const char*> names;
  for (Source s : members()) names.push_back(SourceName(s));
  return absl::StrJoin(names, "+");
}

absl::StatusOr<SourceSet> ParseVary(std::string_view text) {
  const absl::string_view value(text.data(), text.size());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --vary value '", value, "': ", why));
  };
  if (value.empty()) return bad("expected a list such as random,time (or all)");
  SourceSet set;
  for (absl::string_view word : absl::StrSplit(value, ',')) {
    if (word == "all") {
      for (Source s : kAllSources) {
        if (s != Source::kChaos) set.insert(s);
      }
      continue;
    }
    if (word == "chaos") return bad("chaos is not a --vary source: give --chaos");
    bool known = false;
    for (Source s : kAllSources) {
      if (s != Source::kChaos && word == SourceName(s)) {
        set.insert(s);
        known = true;
      }
    }
    if (!known) {
      return bad(absl::StrCat("unknown source '", word,
                              "' (sources: random, time, dirs, cpus, hostname, all)"));
    }
  }
  return set;
}

Setting SettingFromConfig(const Config& config) {
  Setting s;
  s.seed = config.seed;
  s.start_time = config.start_time;
  s.dirs = config.dirs;
  s.cpus = config.cpus;
  s.hostname = config.hostname;
  s.chaos_seed = config.chaos_seed;
  return s;
}

std::vector<std::string> SettingFlags(const Setting& setting, const Setting& baseline) {
  std::vector<std::string> flags = {absl::StrCat("--seed=", setting.seed),
                                    absl::StrCat("--time=", FormatTimeUtc(setting.start_time))};
  if (setting.dirs != baseline.dirs) {
    flags.push_back(absl::StrCat("--dirs=", ModeWord(setting.dirs)));
  }
  if (setting.cpus != baseline.cpus) flags.push_back(absl::StrCat("--cpus=", setting.cpus));
  if (setting.hostname != baseline.hostname) {
    flags.push_back(absl::StrCat("--hostname=", setting.hostname));
  }
  if (setting.chaos_seed && setting.chaos_seed != baseline.chaos_seed) {
    flags.push_back(absl::StrCat("--chaos=", *setting.chaos_seed));
  }
  return flags;
}

const std::vector<InterestingTime>& InterestingTimes() {
  static const auto* kTimes = new std::vector<InterestingTime>{
      {Utc(2024, 2, 29, 12, 0, 0), "Feb 29 of a leap year"},
      {Utc(2023, 12, 31, 23, 59, 59), "the last second of a year"},
      {Utc(2024, 1, 31, 23, 59, 59), "the last second of a 31-day month"},
      {Utc(2038, 1, 19, 3, 14, 7), "the last second a signed 32-bit time_t holds"},
      {Utc(1979, 12, 31, 23, 59, 59), "before 1980, which ZIP and FAT cannot store"},
      {Utc(2024, 3, 10, 6, 59, 59), "a second before US daylight saving time starts"},
      {Utc(2024, 11, 3, 5, 59, 59), "a second before US daylight saving time ends"},
      {Utc(2024, 3, 31, 0, 59, 59), "a second before EU summer time starts"},
      {Utc(2024, 10, 27, 0, 59, 59), "a second before EU summer time ends"},
      {Utc(2023, 2, 28, 23, 59, 59), "the last second of February in a common year"},
      {Utc(2024, 4, 30, 23, 59, 59), "the last second of a 30-day month"},
      {Utc(2024, 12, 30, 12, 0, 0), "in ISO week 1 of 2025, where %G and %Y differ"},
      {Utc(2024, 12, 31, 12, 0, 0), "day 366 of a leap year"},
      {Utc(1970, 1, 1, 0, 0, 0), "the Unix epoch, time 0"},
      {Utc(1999, 12, 31, 23, 59, 59), "the last second of the 1900s"},
      {Utc(2000, 2, 29, 12, 0, 0), "Feb 29 of a century leap year"},
      {Utc(2100, 2, 28, 23, 59, 59), "the end of February 2100, not a leap year"},
      {Utc(2001, 9, 9, 1, 46, 39), "a second before the epoch seconds reach 10 digits"},
  };
  return *kTimes;
}

std::string_view WhyInteresting(absl::Time time) {
  for (const InterestingTime& t : InterestingTimes()) {
    if (t.time == time) return t.why;
  }
  return "";
}

const std::vector<uint32_t>& SweepCpuCounts() {
  static const auto* kCpus = new std::vector<uint32_t>{1, 2, 3, 4, 6, 8, 16, 64, 256, 1024};
  return *kCpus;
}

const std::vector<std::string>& SweepHostnames() {
  static const auto* kNames = new std::vector<std::string>{
      "detrun",
      "localhost",
      "ci-runner-07",
      "build.example.com",
      "BUILDHOST",
      "h",
      "xn--bcher-kva.example",
      std::string(64, 'n'),  // the longest name uname can hold
  };
  return *kNames;
}

Setting SettingForIndex(uint64_t index, const SourceSet& vary, bool chaos,
                        const Setting& baseline) {
  Setting s = baseline;
  if (index == 0) return s;
  if (vary.contains(Source::kRandom)) s.seed = index;
  if (vary.contains(Source::kTime)) {
    const std::vector<InterestingTime>& times = InterestingTimes();
    if (index - 1 < times.size()) {
      s.start_time = times[index - 1].time;
    } else {
      const uint64_t span = kRandomTimeLast - kRandomTimeFirst;
      s.start_time = absl::FromUnixSeconds(kRandomTimeFirst +
                                           static_cast<int64_t>(Mix(index, kTimeSalt) % span));
    }
  }
  if (vary.contains(Source::kDirs)) s.dirs = DirOrder::kShuffle;
  if (vary.contains(Source::kCpus)) {
    s.cpus = SweepCpuCounts()[Mix(index, kCpusSalt) % SweepCpuCounts().size()];
  }
  if (vary.contains(Source::kHostname)) {
    s.hostname = SweepHostnames()[Mix(index, kHostSalt) % SweepHostnames().size()];
  }
  if (chaos) s.chaos_seed = index;
  return s;
}

absl::StatusOr<Shard> ShardFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  Shard shard;
  const char* total = getenv("TEST_TOTAL_SHARDS");
  const char* index = getenv("TEST_SHARD_INDEX");
  if (const char* status = getenv("TEST_SHARD_STATUS_FILE"); status != nullptr) {
    shard.status_file = status;
  }
  if (total == nullptr && index == nullptr) return shard;
  if (total == nullptr || index == nullptr) {
    return absl::InvalidArgumentError(
        "TEST_TOTAL_SHARDS and TEST_SHARD_INDEX must be set together (Bazel's test sharding)");
  }
  if (!ParseIndex(total, &shard.total) || shard.total < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid TEST_TOTAL_SHARDS value '", total, "': expected an integer >= 1"));
  }
  if (!ParseIndex(index, &shard.index) || shard.index >= shard.total) {
    return absl::InvalidArgumentError(absl::StrCat("invalid TEST_SHARD_INDEX value '", index,
                                                   "': expected 0 to ", shard.total - 1,
                                                   " (TEST_TOTAL_SHARDS is ", shard.total, ")"));
  }
  return shard;
}

std::vector<uint64_t> PlanSweep(uint64_t runs, const Shard& shard) {
  std::vector<uint64_t> indices;
  for (uint64_t i = shard.index; i < runs; i += shard.total) indices.push_back(i);
  return indices;
}

std::string ShellQuote(const std::vector<std::string>& words) {
  std::vector<std::string> quoted;
  for (const std::string& w : words) {
    bool plain = !w.empty();
    for (char c : w) {
      const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') ||
                        std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
      if (!safe) plain = false;
    }
    if (plain) {
      quoted.push_back(w);
      continue;
    }
    std::string q = "'";
    for (char c : w) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    q += "'";
    quoted.push_back(q);
  }
  return absl::StrJoin(quoted, " ");
}

}  // namespace detrun
