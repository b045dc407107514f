#include "cli/flaky_plan.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/options.h"
#include "cli/time_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

SourceSet AllButChaos() {
  return {Source::kRandom, Source::kTime, Source::kDirs, Source::kCpus, Source::kHostname};
}

absl::StatusOr<Shard> ShardFrom(const Env& env) {
  return ShardFromEnvironment([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(ParseVaryTest, ListsAndAll) {
  EXPECT_EQ(*ParseVary("random"), SourceSet({Source::kRandom}));
  EXPECT_EQ(*ParseVary("time,cpus"), SourceSet({Source::kTime, Source::kCpus}));
  EXPECT_EQ(*ParseVary("all"), AllButChaos());
  EXPECT_EQ(ParseVary("hostname,dirs")->ToString(), "dirs+hostname");
}

TEST(ParseVaryTest, RefusesBadWordsNamingThem) {
  EXPECT_THAT(std::string(ParseVary("").status().message()), HasSubstr("invalid --vary value ''"));
  EXPECT_THAT(std::string(ParseVary("random,clock").status().message()),
              HasSubstr("unknown source 'clock'"));
  EXPECT_THAT(std::string(ParseVary("time,").status().message()), HasSubstr("unknown source ''"));
  EXPECT_THAT(std::string(ParseVary("chaos").status().message()), HasSubstr("give --chaos"));
}

TEST(SettingForIndexTest, IndexZeroIsTheBaseline) {
  Setting baseline;
  baseline.hostname = "mine";
  EXPECT_EQ(SettingForIndex(0, AllButChaos(), true, baseline), baseline);
}

TEST(SettingForIndexTest, SeedIsTheIndexAndInterestingTimesComeFirst) {
  const Setting baseline;
  const std::vector<InterestingTime>& times = InterestingTimes();
  for (uint64_t i = 1; i <= times.size(); ++i) {
    const Setting s = SettingForIndex(i, AllButChaos(), false, baseline);
    EXPECT_EQ(s.seed, i);
    EXPECT_EQ(s.start_time, times[i - 1].time);
    EXPECT_EQ(s.dirs, DirOrder::kShuffle);
    EXPECT_FALSE(s.chaos_seed.has_value());
  }
  // Then pseudo-random times within 1980..2037, different from each other.
  std::set<int64_t> later;
  for (uint64_t i = times.size() + 1; i < times.size() + 200; ++i) {
    const int64_t t =
        absl::ToUnixSeconds(SettingForIndex(i, AllButChaos(), false, baseline).start_time);
    EXPECT_GE(t, 315532800);
    EXPECT_LT(t, 2145916800);
    later.insert(t);
  }
  EXPECT_GT(later.size(), 190u);
}

TEST(SettingForIndexTest, OnlyVariedSourcesChange) {
  Setting baseline;
  baseline.seed = 99;
  baseline.hostname = "fixed";
  baseline.cpus = 3;
  for (uint64_t i = 1; i < 50; ++i) {
    const Setting s = SettingForIndex(i, {Source::kTime}, false, baseline);
    EXPECT_EQ(s.seed, 99u);
    EXPECT_EQ(s.hostname, "fixed");
    EXPECT_EQ(s.cpus, 3u);
    EXPECT_EQ(s.dirs, DirOrder::kSorted);
    EXPECT_NE(s.start_time, baseline.start_time);
  }
}

TEST(SettingForIndexTest, CpusAndHostnamesCoverTheirListsAndChaosFollowsTheIndex) {
  std::set<uint32_t> cpus;
  std::set<std::string> names;
  for (uint64_t i = 1; i < 200; ++i) {
    const Setting s = SettingForIndex(i, AllButChaos(), true, Setting{});
    cpus.insert(s.cpus);
    names.insert(s.hostname);
    EXPECT_EQ(s.chaos_seed, i);
  }
  EXPECT_EQ(cpus, std::set<uint32_t>(SweepCpuCounts().begin(), SweepCpuCounts().end()));
  EXPECT_EQ(names, std::set<std::string>(SweepHostnames().begin(), SweepHostnames().end()));
}

TEST(SweepValuesTest, EveryValueIsOneDetrunAccepts) {
  auto accepts = [](const std::string& flag) {
    return ParseCommandLine({flag, "true"}, [](const char*) { return nullptr; }).ok();
  };
  for (const std::string& name : SweepHostnames()) {
    EXPECT_TRUE(accepts("--hostname=" + name)) << name;
  }
  for (uint32_t n : SweepCpuCounts()) EXPECT_TRUE(accepts("--cpus=" + std::to_string(n))) << n;
  for (const InterestingTime& t : InterestingTimes()) {
    absl::StatusOr<absl::Time> back = ParseStartTime(FormatTimeUtc(t.time));
    ASSERT_TRUE(back.ok()) << t.why;
    EXPECT_EQ(*back, t.time) << t.why;
  }
}

TEST(InterestingTimesTest, HaveTheDatesThatBreakCode) {
  std::set<std::string> texts;
  for (const InterestingTime& t : InterestingTimes()) {
    EXPECT_FALSE(t.why.empty());
    texts.insert(FormatTimeUtc(t.time));
  }
  EXPECT_EQ(texts.size(), InterestingTimes().size()) << "duplicates";
  for (const char* expected :
       {"2024-02-29T12:00:00Z", "2023-12-31T23:59:59Z", "2024-01-31T23:59:59Z",
        "2038-01-19T03:14:07Z", "1979-12-31T23:59:59Z", "2024-03-10T06:59:59Z",
        "2024-10-27T00:59:59Z", "1970-01-01T00:00:00Z"}) {
    EXPECT_TRUE(texts.contains(expected)) << expected;
  }
  EXPECT_EQ(FormatTimeUtc(InterestingTimes()[0].time), "2024-02-29T12:00:00Z");
  EXPECT_EQ(WhyInteresting(InterestingTimes()[0].time), "Feb 29 of a leap year");
  EXPECT_EQ(WhyInteresting(absl::FromUnixSeconds(12345)), "");
}

TEST(SettingFlagsTest, SeedAndTimeAlwaysOthersWhenTheyDiffer) {
  const Setting baseline;
  EXPECT_THAT(SettingFlags(baseline, baseline),
              ElementsAre("--seed=0", "--time=2000-01-01T00:00:00Z"));
  Setting s = baseline;
  s.seed = 7;
  s.start_time = absl::FromUnixSeconds(1709208000);
  s.dirs = DirOrder::kShuffle;
  s.cpus = 8;
  s.hostname = "BUILDHOST";
  s.chaos_seed = 7;
  EXPECT_THAT(SettingFlags(s, baseline),
              ElementsAre("--seed=7", "--time=2024-02-29T12:00:00Z", "--dirs=shuffle", "--cpus=8",
                          "--hostname=BUILDHOST", "--chaos=7"));
}

TEST(ShardTest, UnshardedWithoutTheVariables) {
  absl::StatusOr<Shard> shard = ShardFrom({});
  ASSERT_TRUE(shard.ok());
  EXPECT_FALSE(shard->sharded());
  EXPECT_EQ(shard->status_file, "");
  EXPECT_THAT(PlanSweep(4, *shard), ElementsAre(0, 1, 2, 3));
}

TEST(ShardTest, ReadsBazelsVariables) {
  absl::StatusOr<Shard> shard = ShardFrom(
      {{"TEST_TOTAL_SHARDS", "3"}, {"TEST_SHARD_INDEX", "1"}, {"TEST_SHARD_STATUS_FILE", "/s"}});
  ASSERT_TRUE(shard.ok());
  EXPECT_TRUE(shard->sharded());
  EXPECT_EQ(shard->status_file, "/s");
  EXPECT_THAT(PlanSweep(10, *shard), ElementsAre(1, 4, 7));
}

TEST(ShardTest, RefusesInconsistentVariables) {
  EXPECT_THAT(std::string(ShardFrom({{"TEST_TOTAL_SHARDS", "3"}}).status().message()),
              HasSubstr("must be set together"));
  EXPECT_THAT(std::string(ShardFrom({{"TEST_SHARD_INDEX", "0"}}).status().message()),
              HasSubstr("must be set together"));
  EXPECT_THAT(
      std::string(
          ShardFrom({{"TEST_TOTAL_SHARDS", "0"}, {"TEST_SHARD_INDEX", "0"}}).status().message()),
      HasSubstr("invalid TEST_TOTAL_SHARDS value '0'"));
  EXPECT_THAT(
      std::string(
          ShardFrom({{"TEST_TOTAL_SHARDS", "3"}, {"TEST_SHARD_INDEX", "3"}}).status().message()),
      HasSubstr("invalid TEST_SHARD_INDEX value '3': expected 0 to 2"));
  EXPECT_FALSE(ShardFrom({{"TEST_TOTAL_SHARDS", "x"}, {"TEST_SHARD_INDEX", "0"}}).ok());
  EXPECT_FALSE(ShardFrom({{"TEST_TOTAL_SHARDS", "2"}, {"TEST_SHARD_INDEX", "-1"}}).ok());
}

TEST(ShardTest, ShardsSplitEverySweepDisjointlyAndCoverIt) {
  for (uint64_t runs : {1, 2, 7, 100, 101}) {
    for (uint64_t total = 1; total <= 9; ++total) {
      std::vector<int> seen(runs, 0);
      for (uint64_t index = 0; index < total; ++index) {
        for (uint64_t i : PlanSweep(runs, Shard{index, total, ""})) {
          ASSERT_LT(i, runs);
          ++seen[i];
        }
      }
      for (uint64_t i = 0; i < runs; ++i) {
        EXPECT_EQ(seen[i], 1) << "runs " << runs << " total " << total << " index " << i;
      }
    }
  }
}

TEST(ShellQuoteTest, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote({"detrun", "--seed=1", "--", "./t.py", "a/b"}),
            "detrun --seed=1 -- ./t.py a/b");
  EXPECT_EQ(ShellQuote({"sh", "-c", "exit 1", "", "it's"}), "sh -c 'exit 1' '' 'it'\\''s'");
}

}  // namespace
}  // namespace detrun
