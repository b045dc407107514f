#include "cli/culprit.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;

// A failing and a passing setting that differ in every source.
Setting Passing() { return Setting{}; }
Setting Failing() {
  Setting s;
  s.seed = 17;
  s.start_time = absl::FromUnixSeconds(1709208000);  // 2024-02-29T12:00:00Z
  s.dirs = DirOrder::kShuffle;
  s.cpus = 64;
  s.hostname = "BUILDHOST";
  return s;
}

// A tester from a predicate "does the program fail under this setting",
// counting the settings it was asked about.
struct Oracle {
  std::function<bool(const Setting&)> fails;
  int asked = 0;
  BatchTester Tester() {
    return [this](const std::vector<Setting>& settings) {
      std::vector<Verdict> out;
      for (const Setting& s : settings) {
        ++asked;
        out.push_back(fails(s) ? Verdict::kFail : Verdict::kPass);
      }
      return out;
    };
  }
};

TEST(DifferingSourcesTest, NamesEachDifference) {
  EXPECT_TRUE(DifferingSources(Passing(), Passing()).empty());
  EXPECT_EQ(DifferingSources(Failing(), Passing()).ToString(), "random+time+dirs+cpus+hostname");
  Setting chaos = Passing();
  chaos.chaos_seed = 3;
  EXPECT_EQ(DifferingSources(chaos, Passing()), SourceSet({Source::kChaos}));
}

TEST(BlendTest, TakesOnlyTheChosenSourcesAndDirsBringsItsSeed) {
  const Setting time = Blend(Passing(), Failing(), {Source::kTime});
  EXPECT_EQ(DifferingSources(time, Passing()), SourceSet({Source::kTime}));
  const Setting dirs = Blend(Passing(), Failing(), {Source::kDirs});
  EXPECT_EQ(dirs.dirs, DirOrder::kShuffle);
  EXPECT_EQ(dirs.seed, 17u);  // the shuffled order is the failing seed's
  EXPECT_EQ(Blend(Passing(), Failing(), SourceSet{}), Passing());
  EXPECT_EQ(Blend(Passing(), Failing(), DifferingSources(Failing(), Passing())), Failing());
}

TEST(SubsetsOfSizeTest, SmallestFirstInSourceOrder) {
  const SourceSet three = {Source::kHostname, Source::kRandom, Source::kDirs};
  std::vector<std::string> ones, twos;
  for (const SourceSet& s : SubsetsOfSize(three, 1)) ones.push_back(s.ToString());
  for (const SourceSet& s : SubsetsOfSize(three, 2)) twos.push_back(s.ToString());
  EXPECT_THAT(ones, ElementsAre("random", "dirs", "hostname"));
  EXPECT_THAT(twos, ElementsAre("random+dirs", "random+hostname", "dirs+hostname"));
  EXPECT_EQ(SubsetsOfSize(three, 3).size(), 1u);
  EXPECT_TRUE(SubsetsOfSize(three, 4).empty());
  EXPECT_EQ(SubsetsOfSize(DifferingSources(Failing(), Passing()), 2).size(), 10u);
}

struct OneSourceCase {
  const char* name;
  std::function<bool(const Setting&)> fails;
  const char* culprit;
};

TEST(FindCulpritTest, NamesTheOneSourceInTheFirstLevel) {
  const std::vector<OneSourceCase> cases = {
      {"random", [](const Setting& s) { return s.seed == 17; }, "random (seed 17)"},
      {"time", [](const Setting& s) { return s.start_time == absl::FromUnixSeconds(1709208000); },
       "time (start 2024-02-29T12:00:00Z: Feb 29 of a leap year)"},
      // The order matters, and the order is a function of the seed: the
      // program fails only with the failing seed's shuffle, not with that
      // seed's random bytes alone.
      {"dirs", [](const Setting& s) { return s.dirs == DirOrder::kShuffle && s.seed == 17; },
       "dirs (--dirs=shuffle, seed 17)"},
      {"cpus", [](const Setting& s) { return s.cpus > 4; }, "cpus (64)"},
      {"hostname", [](const Setting& s) { return s.hostname != "detrun"; }, "hostname (BUILDHOST)"},
  };
  for (const OneSourceCase& c : cases) {
    SCOPED_TRACE(c.name);
    Oracle oracle{c.fails};
    const Culprit culprit = FindCulprit(Failing(), Passing(), oracle.Tester());
    ASSERT_TRUE(culprit.found);
    EXPECT_EQ(culprit.sources.ToString(), c.name);
    EXPECT_EQ(DescribeCulprit(culprit), c.culprit);
    EXPECT_EQ(oracle.asked, 5);  // one level, one candidate per source
    EXPECT_TRUE(c.fails(culprit.failing));
    EXPECT_EQ(culprit.candidates_tried, 5);
  }
}

TEST(FindCulpritTest, FindsTheSmallestPairWhenNoSourceFailsAlone) {
  Oracle oracle{[](const Setting& s) { return s.cpus == 64 && s.hostname == "BUILDHOST"; }};
  const Culprit culprit = FindCulprit(Failing(), Passing(), oracle.Tester());
  ASSERT_TRUE(culprit.found);
  EXPECT_EQ(culprit.sources.ToString(), "cpus+hostname");
  EXPECT_EQ(DescribeCulprit(culprit), "cpus (64) + hostname (BUILDHOST)");
  EXPECT_EQ(oracle.asked, 5 + 10);
}

TEST(FindCulpritTest, OnlyTheSourcesThatDifferAreSearched) {
  Setting failing = Passing();
  failing.start_time = absl::FromUnixSeconds(0);
  failing.cpus = 2;
  Oracle oracle{[](const Setting& s) { return s.start_time == absl::FromUnixSeconds(0); }};
  const Culprit culprit = FindCulprit(failing, Passing(), oracle.Tester());
  ASSERT_TRUE(culprit.found);
  EXPECT_EQ(DescribeCulprit(culprit), "time (start 1970-01-01T00:00:00Z: the Unix epoch, time 0)");
  EXPECT_EQ(oracle.asked, 2);
}

TEST(FindCulpritTest, SchedulingWhenNothingFailsEveryTime) {
  // Nothing fails deterministically: every candidate, the failing setting
  // included, only fails sometimes.
  int asked = 0;
  const BatchTester unstable = [&](const std::vector<Setting>& settings) {
    asked += static_cast<int>(settings.size());
    return std::vector<Verdict>(settings.size(), Verdict::kUnstable);
  };
  const Culprit culprit = FindCulprit(Failing(), Passing(), unstable);
  EXPECT_FALSE(culprit.found);
  EXPECT_EQ(DescribeCulprit(culprit), "scheduling");
  EXPECT_EQ(asked, 31);  // every non-empty subset of five sources
}

TEST(FindCulpritTest, SchedulingWhenTheSettingsDoNotDiffer) {
  Oracle oracle{[](const Setting&) { return true; }};
  EXPECT_FALSE(FindCulprit(Passing(), Passing(), oracle.Tester()).found);
  EXPECT_EQ(oracle.asked, 0);
}

TEST(FindCulpritTest, ChaosNamesScheduling) {
  Setting failing = Passing();
  failing.chaos_seed = 9;
  failing.seed = 9;
  Oracle oracle{[](const Setting& s) { return s.chaos_seed == 9u; }};
  const Culprit culprit = FindCulprit(failing, Passing(), oracle.Tester());
  ASSERT_TRUE(culprit.found);
  EXPECT_EQ(DescribeCulprit(culprit), "scheduling (surfaced by --chaos=9)");
}

}  // namespace
}  // namespace detrun
