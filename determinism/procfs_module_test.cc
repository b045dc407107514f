#include "determinism/procfs_module.h"

#include <sys/sysinfo.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "determinism/provided_files_test_util.h"
#include "determinism/time_module.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::UnorderedElementsAre;

TEST(ProcfsModuleTest, UptimeIsSecondsAndHundredthsTruncated) {
  EXPECT_EQ(ProcfsModule::FormatUptime(100'000'000'000, 0), "100.00 0.00\n");
  EXPECT_EQ(ProcfsModule::FormatUptime(123'456'789'012, 0), "123.45 0.00\n");
  EXPECT_EQ(ProcfsModule::FormatUptime(999'999'999, 0), "0.99 0.00\n");
  EXPECT_EQ(ProcfsModule::FormatUptime(100'010'000'000, 5'070'000'000), "100.01 5.07\n");
}

TEST(ProcfsModuleTest, Loadavg) { EXPECT_EQ(ProcfsModule::Loadavg(), "0.00 0.00 0.00 1/1 1\n"); }

// "Name:   value kB" lines into a map (kB figures) and the order of names.
std::map<std::string, uint64_t> ParseMeminfo(const std::string& text,
                                             std::vector<std::string>* order) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string name;
  uint64_t value;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    fields >> name >> value;
    name.pop_back();  // ':'
    out[name] = value;
    order->push_back(name);
  }
  return out;
}

TEST(ProcfsModuleTest, MeminfoAgreesWithSysinfoInTheKernelsFormat) {
  const std::string m = ProcfsModule::Meminfo();
  std::vector<std::string> order;
  std::map<std::string, uint64_t> kb = ParseMeminfo(m, &order);
  EXPECT_EQ(kb["MemTotal"] * 1024, SysinfoFigures::kTotalRam);
  EXPECT_EQ(kb["MemFree"] * 1024, SysinfoFigures::kFreeRam);
  EXPECT_EQ(kb["MemAvailable"], kb["MemFree"]);
  EXPECT_EQ(kb["Buffers"] * 1024, SysinfoFigures::kBufferRam);
  EXPECT_EQ(kb["Shmem"] * 1024, SysinfoFigures::kSharedRam);
  EXPECT_EQ(kb["SwapTotal"] * 1024, SysinfoFigures::kTotalSwap);
  EXPECT_EQ(kb["SwapFree"] * 1024, SysinfoFigures::kFreeSwap);
  EXPECT_EQ(kb["Cached"], 0u);
  EXPECT_EQ(kb["SReclaimable"], 0u);
  EXPECT_EQ(kb["CommitLimit"], kb["MemTotal"] / 2);
  // The kernel's order for what free(1) and friends read.
  const std::vector<std::string> head(order.begin(), order.begin() + 6);
  EXPECT_EQ(head, (std::vector<std::string>{"MemTotal", "MemFree", "MemAvailable", "Buffers",
                                            "Cached", "SwapCached"}));
  EXPECT_EQ(order.back(), "DirectMap1G");
  // The kernel's columns.
  EXPECT_THAT(m, ::testing::StartsWith("MemTotal:        8388608 kB\n"
                                       "MemFree:         4194304 kB\n"
                                       "MemAvailable:    4194304 kB\n"));
  EXPECT_THAT(m, ::testing::HasSubstr("\nHugePages_Total:       0\n"));
  EXPECT_THAT(m, ::testing::HasSubstr("\nHugepagesize:       2048 kB\n"));
  EXPECT_THAT(m, ::testing::HasSubstr("\nVmallocTotal:   34359738367 kB\n"));
}

Config WithClock(ClockMode mode) {
  Config c;
  c.clock = mode;
  return c;
}

TEST(ProcfsModuleTest, ProvidesItsFiles) {
  const Config config = WithClock(ClockMode::kFrozen);
  TimeModule time(config);
  ProcfsModule procfs(time, config);
  testing::ProvidedFiles files({&time, &procfs}, config);
  EXPECT_THAT(files.Paths(), UnorderedElementsAre("/proc/uptime", "/proc/loadavg", "/proc/meminfo"));
  EXPECT_EQ(files.ReadOr("/proc/uptime"), "100.00 0.00\n");
  EXPECT_EQ(files.ReadOr("/proc/loadavg"), ProcfsModule::Loadavg());
  EXPECT_EQ(files.ReadOr("/proc/meminfo"), ProcfsModule::Meminfo());
}

TEST(ProcfsModuleTest, ReadingUptimeDoesNotAdvanceTheClock) {
  Config config = WithClock(ClockMode::kStep);
  config.tick = absl::Seconds(1);
  TimeModule time(config);
  ProcfsModule procfs(time, config);
  testing::ProvidedFiles files({&time, &procfs}, config);
  EXPECT_EQ(files.ReadOr("/proc/uptime"), "100.00 0.00\n");
  EXPECT_EQ(files.ReadOr("/proc/uptime"), "100.00 0.00\n");
}

}  // namespace
}  // namespace detrun
