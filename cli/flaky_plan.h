// Sweep planning for `detrun flaky`: which configurations to run, and how
// a configuration is written as detrun flags. Pure functions, no I/O.
//
// A Setting is one value for each source of nondeterminism detrun
// controls (seed, start time, directory order, CPU count, host name, and
// the chaos seed of --chaos). A sweep of N runs is the Settings for the
// indices 0..N-1:
//   index 0   the baseline: what plain `detrun [RUN OPTIONS] -- COMMAND`
//             uses (detrun's defaults, or what the run options fixed);
//   index i   the baseline with every varied source changed: seed i,
//             the i-th interesting start time (InterestingTimes(), then
//             pseudo-random times), --dirs=shuffle, and a CPU count and
//             host name picked from fixed lists by a hash of i; with
//             --chaos, chaos seed i.
// A Setting depends only on its index, so a sweep split into shards (the
// Bazel protocol: shard k of n runs the indices i with i % n == k) covers
// exactly the same configurations as one unsplit sweep.
#ifndef DETRUN_CLI_FLAKY_PLAN_H_
#define DETRUN_CLI_FLAKY_PLAN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config.h"

namespace detrun {

// The sources, in the order delta debugging tries them (culprit.h): random
// before dirs, because a shuffled order is a function of the seed.
enum class Source { kRandom, kTime, kDirs, kCpus, kHostname, kChaos };
inline constexpr Source kAllSources[] = {Source::kRandom, Source::kTime,     Source::kDirs,
                                         Source::kCpus,   Source::kHostname, Source::kChaos};

// "random", "time", "dirs", "cpus", "hostname", "chaos".
const char* SourceName(Source source);
// The run option that fixes `source` ("seed" for kRandom, ...).
const char* FixingOption(Source source);

class SourceSet {
 public:
  SourceSet() = default;
  SourceSet(std::initializer_list<Source> sources) {
    for (Source s : sources) insert(s);
  }
  bool contains(Source s) const { return (bits_ >> static_cast<int>(s)) & 1; }
  void insert(Source s) { bits_ |= 1u << static_cast<int>(s); }
  void erase(Source s) { bits_ &= ~(1u << static_cast<int>(s)); }
  bool empty() const { return bits_ == 0; }
  size_t size() const { return static_cast<size_t>(__builtin_popcount(bits_)); }
  // In kAllSources order.
  std::vector<Source> members() const;
  // "random", "time+dirs"; "" when empty.
  std::string ToString() const;
  bool operator==(const SourceSet&) const = default;

 private:
  uint32_t bits_ = 0;
};

// --vary's value: a comma-separated list of source names (not chaos, which
// --chaos turns on), or "all". InvalidArgument naming the bad word.
absl::StatusOr<SourceSet> ParseVary(std::string_view text);

struct Setting {
  uint64_t seed = 0;
  absl::Time start_time = absl::FromUnixSeconds(kDefaultStartEpochSeconds);
  DirOrder dirs = DirOrder::kSorted;
  uint32_t cpus = 1;
  std::string hostname = "detrun";
  std::optional<uint64_t> chaos_seed;
  bool operator==(const Setting&) const = default;
};

// The Setting a run under `config` uses.
Setting SettingFromConfig(const Config& config);

// The run options that select `setting` on top of `baseline`: --seed and
// --time always (so a reproducer does not depend on defaults or on
// $SOURCE_DATE_EPOCH), the others only where they differ from `baseline`.
std::vector<std::string> SettingFlags(const Setting& setting, const Setting& baseline);

// Start times that break date code: month and year ends, Feb 29, DST
// transitions (US and EU), the last second of 32-bit time_t, dates before
// 1980, and a few more. UTC. The first entries come first in a sweep.
struct InterestingTime {
  absl::Time time;
  std::string_view why;
};
const std::vector<InterestingTime>& InterestingTimes();
// The reason `time` is in the list, or "" when it is not.
std::string_view WhyInteresting(absl::Time time);

// The values the cpus and hostname sources take in a sweep.
const std::vector<uint32_t>& SweepCpuCounts();
const std::vector<std::string>& SweepHostnames();

// The Setting of sweep index `index` (see the top of the file).
Setting SettingForIndex(uint64_t index, const SourceSet& vary, bool chaos, const Setting& baseline);

// Bazel's test-sharding protocol: TEST_TOTAL_SHARDS and TEST_SHARD_INDEX
// (both or neither), and TEST_SHARD_STATUS_FILE, which a test that
// supports sharding touches.
struct Shard {
  uint64_t index = 0;
  uint64_t total = 1;
  std::string status_file;  // empty: none asked for
  bool owns(uint64_t run_index) const { return run_index % total == index; }
  bool sharded() const { return total > 1; }
};
absl::StatusOr<Shard> ShardFromEnvironment(const std::function<const char*(const char*)>& getenv);

// The indices in 0..runs-1 that `shard` runs, in increasing order.
std::vector<uint64_t> PlanSweep(uint64_t runs, const Shard& shard);

// `words` as one line a POSIX shell reads back as the same words.
std::string ShellQuote(const std::vector<std::string>& words);

}  // namespace detrun

#endif  // DETRUN_CLI_FLAKY_PLAN_H_
