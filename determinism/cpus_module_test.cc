#include "determinism/cpus_module.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "determinism/provided_files_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CpusModuleTest, CpuList) {
  EXPECT_EQ(CpusModule::CpuList(1), "0\n");
  EXPECT_EQ(CpusModule::CpuList(2), "0-1\n");
  EXPECT_EQ(CpusModule::CpuList(64), "0-63\n");
  EXPECT_EQ(CpusModule::CpuList(1024), "0-1023\n");
}

// The value of `field` in each block of /proc/cpuinfo text.
std::vector<std::string> Field(const std::string& cpuinfo, const std::string& field) {
  std::vector<std::string> values;
  for (absl::string_view line : absl::StrSplit(cpuinfo, '\n')) {
    std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (kv.size() != 2) continue;
    std::string name = kv[0];
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name == field) values.push_back(kv[1].empty() ? "" : kv[1].substr(1));
  }
  return values;
}

TEST(CpusModuleTest, CpuInfoBlocksNumberTheCpusAndHoldNoHostField) {
  const std::string info = CpusModule::CpuInfo(3);
  EXPECT_EQ(Field(info, "processor"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(Field(info, "core id"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(Field(info, "apicid"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(Field(info, "initial apicid"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(Field(info, "siblings"), (std::vector<std::string>(3, "3")));
  EXPECT_EQ(Field(info, "cpu cores"), (std::vector<std::string>(3, "3")));
  EXPECT_EQ(Field(info, "physical id"), (std::vector<std::string>(3, "0")));
  EXPECT_EQ(Field(info, "model name"), (std::vector<std::string>(3, "detrun virtual CPU")));
  EXPECT_EQ(Field(info, "cpu MHz"), (std::vector<std::string>(3, "2000.000")));
  EXPECT_EQ(Field(info, "bogomips"), (std::vector<std::string>(3, "4000.00")));
  EXPECT_EQ(Field(info, "bugs"), (std::vector<std::string>(3, "")));
  const std::vector<std::string> flags = Field(info, "flags");
  ASSERT_EQ(flags.size(), 3u);
  std::vector<std::string> each = absl::StrSplit(flags[0], ' ');
  for (const char* f : {"fpu", "tsc", "cx8", "cmov", "mmx", "fxsr", "sse", "sse2", "syscall", "lm"}) {
    EXPECT_THAT(each, Contains(f));
  }
  EXPECT_THAT(each, Not(Contains("avx2")));
  // The kernel's layout: tab-separated names, a blank line after each block.
  EXPECT_THAT(info, ::testing::StartsWith("processor\t: 0\nvendor_id\t: GenuineIntel\n"));
  EXPECT_THAT(info, HasSubstr("\ncore id\t\t: 1\n"));
  EXPECT_THAT(info, ::testing::EndsWith("power management:\n\n"));
  // None of the host's own identification.
  std::ifstream host("/proc/cpuinfo");
  std::stringstream text;
  text << host.rdbuf();
  for (const std::string& model : Field(text.str(), "model name")) {
    if (model != "detrun virtual CPU") {
      EXPECT_THAT(info, Not(HasSubstr(model)));
    }
  }
}

TEST(CpusModuleTest, ProcStat) {
  EXPECT_EQ(CpusModule::ProcStat(2, 946684700),
            "cpu  0 0 0 0 0 0 0 0 0 0\n"
            "cpu0 0 0 0 0 0 0 0 0 0 0\n"
            "cpu1 0 0 0 0 0 0 0 0 0 0\n"
            "intr 0\n"
            "ctxt 0\n"
            "btime 946684700\n"
            "processes 1\n"
            "procs_running 1\n"
            "procs_blocked 0\n"
            "softirq 0 0 0 0 0 0 0 0 0 0 0\n");
}

TEST(CpusModuleTest, BootTimeIsTheStartLessTheVirtualUptime) {
  EXPECT_EQ(CpusModule::BootEpochSeconds(absl::FromUnixSeconds(946684800)), 946684700);
  EXPECT_EQ(CpusModule::BootEpochSeconds(absl::FromUnixMillis(1'000'500)), 900);
  EXPECT_EQ(CpusModule::BootEpochSeconds(absl::FromUnixSeconds(50)), 0);
  EXPECT_EQ(CpusModule::BootEpochSeconds(absl::FromUnixSeconds(-5000)), 0);
}

TEST(CpusModuleTest, ProvidesItsFiles) {
  Config config;
  config.cpus = 4;
  config.start_time = absl::FromUnixSeconds(1577836800);  // 2020-01-01
  CpusModule cpus(config);
  testing::ProvidedFiles files({&cpus}, config);
  for (const char* list : {"online", "possible", "present"}) {
    EXPECT_EQ(files.ReadOr(absl::StrCat("/sys/devices/system/cpu/", list)), "0-3\n");
  }
  EXPECT_EQ(files.ReadOr("/sys/devices/system/cpu/offline"), "\n");
  EXPECT_EQ(files.ReadOr("/proc/cpuinfo"), CpusModule::CpuInfo(4));
  EXPECT_EQ(files.ReadOr("/proc/stat"), CpusModule::ProcStat(4, 1577836700));
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(files.ReadOr(absl::StrCat("/sys/devices/system/cpu/cpu", k,
                                        "/cpufreq/scaling_cur_freq")),
              "2000000\n");
  }
  EXPECT_FALSE(files.Read("/sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq").ok());
  EXPECT_EQ(files.Paths().size(), 4u + 2u + 4u);  // cpu lists, cpuinfo and stat, cpufreq
}

}  // namespace
}  // namespace detrun
