#include "determinism/cpus_module.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/child_path.h"
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

TEST(CpusModuleTest, CpusAllowedMaskIsTheKernelsBitmapFormat) {
  // The first 32-bit group holds the top N % 32 bits in as many digits as
  // they need; the others are 8 digits each.
  EXPECT_EQ(CpusModule::CpusAllowedMask(1), "1");
  EXPECT_EQ(CpusModule::CpusAllowedMask(2), "3");
  EXPECT_EQ(CpusModule::CpusAllowedMask(4), "f");
  EXPECT_EQ(CpusModule::CpusAllowedMask(5), "1f");
  EXPECT_EQ(CpusModule::CpusAllowedMask(12), "fff");
  EXPECT_EQ(CpusModule::CpusAllowedMask(32), "ffffffff");
  EXPECT_EQ(CpusModule::CpusAllowedMask(33), "1,ffffffff");
  EXPECT_EQ(CpusModule::CpusAllowedMask(64), "ffffffff,ffffffff");
  std::string k1000 = "ff";
  for (int i = 0; i < 31; ++i) k1000 += ",ffffffff";
  EXPECT_EQ(CpusModule::CpusAllowedMask(1000), k1000);
  const std::string k1024 = CpusModule::CpusAllowedMask(1024);
  EXPECT_EQ(k1024.size(), 32u * 9 - 1);
  EXPECT_TRUE(k1024.starts_with("ffffffff,"));
}

TEST(CpusModuleTest, EditStatusRewritesOnlyTheCpuLines) {
  const std::string host =
      "Name:\tcat\nPid:\t42\nCpus_allowed:\tff\nCpus_allowed_list:\t0-7\n"
      "Mems_allowed:\t00000001\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t1\n";
  EXPECT_EQ(CpusModule::EditStatus(host, 4),
            "Name:\tcat\nPid:\t42\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\n"
            "Mems_allowed:\t00000001\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t1\n");
  EXPECT_EQ(CpusModule::EditStatus(host, 1),
            "Name:\tcat\nPid:\t42\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n"
            "Mems_allowed:\t00000001\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t1\n");
  EXPECT_EQ(CpusModule::EditStatus("Name:\tx\n", 4), "Name:\tx\n");
  EXPECT_EQ(CpusModule::EditStatus("", 4), "");
}

TEST(CpusModuleTest, EditStatusPidsShowsTheCommandsNamespace) {
  // Host pids 500 (this process, 3 in the namespace), 499 (its parent,
  // 2), 400 (detrun, outside; also the tracer).
  auto nstgid_of = [](std::string_view pid) -> std::vector<std::string> {
    if (pid == "499") return {"499", "2"};
    if (pid == "400") return {"400"};
    return {};
  };
  const std::string host =
      "Name:\tcat\nTgid:\t500\nNgid:\t0\nPid:\t500\nPPid:\t499\nTracerPid:\t400\n"
      "Uid:\t0\t0\t0\t0\nNStgid:\t500\t3\nNSpid:\t501\t4\nNSpgid:\t498\t1\n"
      "NSsid:\t300\t0\nVmRSS:\t100 kB\n";
  EXPECT_EQ(CpusModule::EditStatusPids(host, nstgid_of),
            "Name:\tcat\nTgid:\t3\nNgid:\t0\nPid:\t4\nPPid:\t2\nTracerPid:\t0\n"
            "Uid:\t0\t0\t0\t0\nNStgid:\t3\nNSpid:\t4\nNSpgid:\t1\nNSsid:\t0\n"
            "VmRSS:\t100 kB\n");
  // The namespace's init: its parent is detrun, outside.
  EXPECT_THAT(CpusModule::EditStatusPids(
                  "Tgid:\t498\nPid:\t498\nPPid:\t400\nTracerPid:\t0\nNStgid:\t498\t1\n"
                  "NSpid:\t498\t1\n",
                  nstgid_of),
              "Tgid:\t1\nPid:\t1\nPPid:\t0\nTracerPid:\t0\nNStgid:\t1\nNSpid:\t1\n");
  // A parent that is gone reads as 0.
  EXPECT_THAT(CpusModule::EditStatusPids("PPid:\t7\nNStgid:\t500\t3\nNSpid:\t500\t3\n",
                                         nstgid_of),
              "PPid:\t0\nNStgid:\t3\nNSpid:\t3\n");
  // No namespace (--pid-namespace=off): the host's lines stay.
  const std::string flat = "Tgid:\t500\nPid:\t500\nPPid:\t499\nNStgid:\t500\nNSpid:\t500\n";
  EXPECT_EQ(CpusModule::EditStatusPids(flat, nstgid_of), flat);
  EXPECT_EQ(CpusModule::EditStatusPids("", nstgid_of), "");
}

std::vector<DirectoryEntry> Entries(const std::vector<std::string>& names) {
  std::vector<DirectoryEntry> out;
  uint64_t ino = 100;
  for (const std::string& n : names) out.push_back({ino++, DT_DIR, n});
  return out;
}

std::vector<std::string> Names(const std::vector<DirectoryEntry>& entries) {
  std::vector<std::string> out;
  for (const DirectoryEntry& e : entries) out.push_back(e.name);
  return out;
}

TEST(CpusModuleTest, EditCpuDirectoryListsExactlyTheVirtualCpus) {
  const std::vector<std::string> host = {".", "cpu1", "online", "cpu0", "cpu10", "cpufreq",
                                         "..", "cpu2", "cpuidle", "cpu01", "cpu"};
  // Fewer than the host: the others are dropped, the rest keep their place.
  std::vector<DirectoryEntry> e = Entries(host);
  CpusModule::EditCpuDirectory(2, e);
  EXPECT_EQ(Names(e), (std::vector<std::string>{".", "cpu1", "online", "cpu0", "cpufreq", "..",
                                                "cpuidle", "cpu"}));
  EXPECT_EQ(e[1].ino, 101u);  // the host's own entry
  // More: the missing ones are added at the end as directories.
  e = Entries(host);
  CpusModule::EditCpuDirectory(5, e);
  EXPECT_EQ(Names(e), (std::vector<std::string>{".", "cpu1", "online", "cpu0", "cpufreq", "..",
                                                "cpu2", "cpuidle", "cpu", "cpu3", "cpu4"}));
  EXPECT_EQ(e[9].ino, CpusModule::kSyntheticCpuIno + 3);
  EXPECT_EQ(e[9].type, DT_DIR);
  EXPECT_EQ(e[10].ino, CpusModule::kSyntheticCpuIno + 4);
  // Every count: cpu0..cpu{N-1} once each.
  for (uint32_t n : {1u, 3u, 11u, 1024u}) {
    e = Entries(host);
    CpusModule::EditCpuDirectory(n, e);
    std::vector<std::string> cpus;
    for (const std::string& name : Names(e)) {
      if (name.size() > 3 && name.starts_with("cpu") &&
          name.find_first_not_of("0123456789", 3) == std::string::npos) {
        cpus.push_back(name);
      }
    }
    std::sort(cpus.begin(), cpus.end(), [](const std::string& a, const std::string& b) {
      return std::stoi(a.substr(3)) < std::stoi(b.substr(3));
    });
    ASSERT_EQ(cpus.size(), n);
    for (uint32_t k = 0; k < n; ++k) EXPECT_EQ(cpus[k], absl::StrCat("cpu", k));
  }
}

TEST(CpusModuleTest, StatusFilesOfEveryProcessAndTheCpuDirectory) {
  Config config;
  config.cpus = 64;
  CpusModule cpus(config);
  testing::ProvidedFiles files({&cpus}, config);
  const std::string self = absl::StrCat("/proc/", getpid());
  for (const std::string& path :
       {self + "/status", absl::StrCat(self, "/task/", getpid(), "/status")}) {
    absl::StatusOr<std::string> status = files.Read(path);
    ASSERT_TRUE(status.ok()) << path << ": " << status.status();
    EXPECT_THAT(*status, ::testing::HasSubstr("\nCpus_allowed:\tffffffff,ffffffff\n"));
    EXPECT_THAT(*status, ::testing::HasSubstr("\nCpus_allowed_list:\t0-63\n"));
    EXPECT_THAT(*status, ::testing::HasSubstr(absl::StrCat("\nPid:\t", getpid(), "\n")));
  }
  // A pid with no process: the kernel's ENOENT.
  absl::StatusOr<std::string> gone = files.Read("/proc/999999999/status");
  EXPECT_EQ(ErrnoOf(gone.status()), ENOENT);
  EXPECT_FALSE(files.Read("/proc/self/status").ok()) << "the core resolves self first";

  const std::vector<Registry::EditedDirectory>& edits = files.registry().TakeEditedDirectories();
  ASSERT_EQ(edits.size(), 1u);
  EXPECT_EQ(edits[0].path, "/sys/devices/system/cpu");
  std::vector<DirectoryEntry> e = Entries({"cpu0", "cpu1", "cpu2", "online"});
  edits[0].editor(e);
  EXPECT_EQ(e.size(), 65u);
}

}  // namespace
}  // namespace detrun
