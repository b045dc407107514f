#include "core/leak_report.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

ThreadIdentity Thread(std::vector<uint32_t> path, uint32_t index = 0) {
  return ThreadIdentity{ProcessIdentity{std::move(path)}, index};
}

TEST(LeakReportTest, NamesRoundTrip) {
  for (int i = 0; i < kLeakCategoryCount; ++i) {
    const auto c = static_cast<LeakCategory>(i);
    EXPECT_EQ(LeakCategoryFromName(LeakCategoryName(c)), c);
  }
  EXPECT_EQ(LeakCategoryFromName("nope"), std::nullopt);
  EXPECT_EQ(LeakCategoryName(LeakCategory::kProc), "proc");
  EXPECT_EQ(LeakCategoryName(LeakCategory::kRdtsc), "rdtsc");
}

TEST(LeakReportTest, NothingLeakedSaysNone) {
  LeakReport report(false);
  EXPECT_EQ(FormatLeakReport(report.Summary()), "detrun: leaks: none\n");
  LeakReport strict(true);
  EXPECT_EQ(FormatLeakReport(strict.Summary()),
            "detrun: leaks: none\ndetrun: strict: 0 calls refused with EPERM\n");
}

TEST(LeakReportTest, CountsAndFormatsInCategoryOrder) {
  LeakReport report(false);
  report.Record(LeakCategory::kNetwork, Thread({1}), "connect", "127.0.0.1:80");
  report.Record(LeakCategory::kProc, Thread({1}), "openat", "/proc/self/stat");
  report.Record(LeakCategory::kProc, Thread({1}), "openat", "/proc/self/stat");
  report.Record(LeakCategory::kHost, Thread({1, 2}, 1), "syslog", "");
  EXPECT_EQ(report.count(LeakCategory::kProc), 2u);
  EXPECT_EQ(FormatLeakReport(report.Summary()),
            "detrun: leaks: 4 calls reached host facts detrun does not control\n"
            "detrun: leak proc: 2 /proc and /sys reads, e.g. openat /proc/self/stat [1]; ...\n"
            "detrun: leak network: 1 network connections, e.g. connect 127.0.0.1:80 [1]\n"
            "detrun: leak host: 1 host-wide syscalls, e.g. syslog [1.2:1]\n");
}

TEST(LeakReportTest, StrictEndsWithTheRefusedCount) {
  LeakReport report(true);
  EXPECT_TRUE(report.strict());
  report.Record(LeakCategory::kStatfs, Thread({1}), "statfs", "/");
  report.CountRefused();
  EXPECT_EQ(FormatLeakReport(report.Summary()),
            "detrun: leaks: 1 call reached host facts detrun does not control\n"
            "detrun: leak statfs: 1 file system figures seen, e.g. statfs / [1]\n"
            "detrun: strict: 1 call refused with EPERM\n");
}

// The kept examples depend on each thread's own order only, never on how
// the threads' calls interleave.
TEST(LeakReportTest, ExamplesDoNotDependOnInterleaving) {
  struct Call {
    ThreadIdentity thread;
    std::string path;
  };
  const std::vector<Call> calls = {
      {Thread({1, 2}), "/proc/a"}, {Thread({1}), "/proc/b"},    {Thread({1, 1}), "/proc/c"},
      {Thread({1}), "/proc/d"},    {Thread({1, 2}), "/proc/e"}, {Thread({1}), "/proc/f"},
      {Thread({1}), "/proc/g"},    {Thread({1, 1}), "/proc/b"},
  };
  std::vector<size_t> order(calls.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::optional<LeakSummary> first;
  int permutations = 0;
  // Every interleaving that keeps each thread's own order.
  do {
    bool keeps_order = true;
    for (size_t i = 0; i < order.size() && keeps_order; ++i) {
      for (size_t j = i + 1; j < order.size(); ++j) {
        if (calls[order[i]].thread == calls[order[j]].thread && order[i] > order[j]) {
          keeps_order = false;
          break;
        }
      }
    }
    if (!keeps_order) continue;
    ++permutations;
    LeakReport report(false);
    for (size_t i : order) {
      const ThreadIdentity& t = calls[i].thread;
      const uint64_t key = report.NextKey(t);
      report.Record(LeakCategory::kProc, t, key, "openat",
                    report.WantsDetail(LeakCategory::kProc, t, key) ? calls[i].path : "");
    }
    const LeakSummary s = report.Summary();
    if (!first) {
      first = s;
    } else {
      ASSERT_TRUE(s == *first) << FormatLeakReport(s) << " vs " << FormatLeakReport(*first);
    }
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_GT(permutations, 100);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->categories.size(), 1u);
  EXPECT_EQ(first->categories[0].count, 8u);
  // Thread 1 first (b, d, f), each distinct detail once.
  ASSERT_EQ(first->categories[0].examples.size(), 3u);
  EXPECT_EQ(first->categories[0].examples[0].detail, "/proc/b");
  EXPECT_EQ(first->categories[0].examples[1].detail, "/proc/d");
  EXPECT_EQ(first->categories[0].examples[2].detail, "/proc/f");
}

TEST(LeakReportTest, RepeatedDetailsAreOneExample) {
  LeakReport report(false);
  for (int i = 0; i < 5; ++i) report.Record(LeakCategory::kInode, Thread({1}), "stat", "/etc");
  report.Record(LeakCategory::kInode, Thread({1}), "stat", "/usr");
  const LeakSummary s = report.Summary();
  ASSERT_EQ(s.categories.size(), 1u);
  EXPECT_EQ(s.categories[0].count, 6u);
  ASSERT_EQ(s.categories[0].examples.size(), 2u);
  EXPECT_EQ(s.categories[0].examples[0].detail, "/etc");
  EXPECT_EQ(s.categories[0].examples[1].detail, "/usr");
  EXPECT_EQ(s.total(), 6u);
}

TEST(LeakReportTest, WantsDetailOnlyWhileTheExampleCouldBeKept) {
  LeakReport report(false);
  const ThreadIdentity t = Thread({1});
  for (int i = 0; i < 3; ++i) {
    const uint64_t key = report.NextKey(t);
    EXPECT_TRUE(report.WantsDetail(LeakCategory::kProc, t, key));
    report.Record(LeakCategory::kProc, t, key, "openat", "/proc/" + std::to_string(i));
  }
  EXPECT_FALSE(report.WantsDetail(LeakCategory::kProc, t, report.NextKey(t)));
  // A thread that sorts after the kept ones cannot either.
  EXPECT_FALSE(report.WantsDetail(LeakCategory::kProc, Thread({1, 1}), 0));
  EXPECT_TRUE(report.WantsDetail(LeakCategory::kInode, t, 99));
}

}  // namespace
}  // namespace detrun
