// Virtual files, on real programs under the real detrun: what cat, free,
// nproc, getconf, Python, Node and Java read from /proc, /sys and /etc is a
// function of the options (each run twice, identical), under any name that
// reaches the file (symlinks, dirfd- and cwd-relative, dots); the probe
// open_probe checks what the descriptor is (read-only, sealed, regular,
// O_CLOEXEC honoured) and that writes and odd flags are refused as the
// kernel would refuse them for a read-only file.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/landlock.h"
#include "determinism/cpus_module.h"
#include "determinism/procfs_module.h"
#include "determinism/time_module.h"
#include "determinism/uts_module.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What open_probe prints for a read-only open of `content` (content and
// mmap/pread as the probe escapes them), before the exec line.
std::string ProbeRead(const std::string& content, bool cloexec = false) {
  std::string escaped;
  for (char c : content) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  auto prefix = [&](size_t from, size_t n) {
    std::string part = content.substr(std::min(from, content.size()), n);
    std::string e;
    for (char c : part) e += c == '\n' ? std::string("\\n") : std::string(1, c);
    return e;
  };
  const std::string flag = cloexec ? "1" : "0";
  return absl::StrCat("open: ok\ncontent: ", escaped, "\nsize: ", content.size(),
                      "\ntype: regular\nmode: 0444\naccmode: RDONLY\nnonblock: 0\ncloexec: ",
                      flag, "\nfdinfo_cloexec: ", flag, "\npread: ", prefix(1, 4),
                      "\nmmap: ", prefix(0, 4), "\nwrite: errno=EBADF\n");
}

TEST(VfilesTest, UptimeIsTheVirtualClock) {
  // MONOTONIC (and BOOTTIME) start at 100 s; frozen, they stay there.
  EXPECT_EQ(Twice({"--clock=frozen"}, {"cat", "/proc/uptime"}), "100.00 0.00\n");
  EXPECT_EQ(Twice({"--clock=frozen", "--time=2020-01-01"}, {"cat", "/proc/uptime"}),
            "100.00 0.00\n");
  // Step: whatever cat read of the clock before, the same in every run.
  EXPECT_THAT(Twice({}, {"cat", "/proc/uptime"}), StartsWith("100.0"));
  // Natively the host's.
  EXPECT_NE(RunProgram({"cat", "/proc/uptime"}).out, "100.00 0.00\n");
  // A shell that sleeps sees the uptime move by the sleep.
  EXPECT_EQ(Twice({"--clock=frozen"}, {"sh", "-c", "cat /proc/uptime; cat /proc/uptime"}),
            "100.00 0.00\n100.00 0.00\n");
  EXPECT_THAT(Twice({}, {"sh", "-c", "sleep 5; cat /proc/uptime"}), StartsWith("105.0"));
}

TEST(VfilesTest, Loadavg) {
  EXPECT_EQ(Twice({}, {"cat", "/proc/loadavg"}), "0.00 0.00 0.00 1/1 1\n");
}

TEST(VfilesTest, FreeAgreesWithSysinfo) {
  const std::string total = std::to_string(SysinfoFigures::kTotalRam);
  const std::string free = std::to_string(SysinfoFigures::kFreeRam);
  const std::string used = std::to_string(SysinfoFigures::kTotalRam - SysinfoFigures::kFreeRam);
  const std::string out = Twice({}, {"free", "-b"});
  std::istringstream lines(out);
  std::string header, mem, swap;
  std::getline(lines, header);
  std::getline(lines, mem);
  std::getline(lines, swap);
  std::istringstream m(mem);
  std::string label, f_total, f_used, f_free, f_shared, f_cache, f_available;
  m >> label >> f_total >> f_used >> f_free >> f_shared >> f_cache >> f_available;
  EXPECT_EQ(label, "Mem:") << out;
  EXPECT_EQ(f_total, total);
  EXPECT_EQ(f_used, used);
  EXPECT_EQ(f_free, free);
  EXPECT_EQ(f_shared, std::to_string(SysinfoFigures::kSharedRam));
  EXPECT_EQ(f_cache, std::to_string(SysinfoFigures::kBufferRam));
  EXPECT_EQ(f_available, free);
  std::istringstream s(swap);
  std::string s_label, s_total, s_used, s_free;
  s >> s_label >> s_total >> s_used >> s_free;
  EXPECT_EQ(s_label, "Swap:");
  EXPECT_EQ(s_total, std::to_string(SysinfoFigures::kTotalSwap));
  EXPECT_EQ(s_free, std::to_string(SysinfoFigures::kFreeSwap));
  // sysinfo(2), which glibc's _SC_PHYS_PAGES and _SC_AVPHYS_PAGES read,
  // tells the same machine.
  if (IsExecutable("/usr/bin/python3")) {
    EXPECT_EQ(Twice({}, {"/usr/bin/python3", "-c",
                         "import os\n"
                         "p = os.sysconf('SC_PAGE_SIZE')\n"
                         "print(os.sysconf('SC_PHYS_PAGES') * p, os.sysconf('SC_AVPHYS_PAGES') * p)"}),
              total + " " + free + "\n");
  }
  EXPECT_EQ(Twice({}, {"cat", "/proc/meminfo"}), ProcfsModule::Meminfo());
}

TEST(VfilesTest, HostnameFiles) {
  EXPECT_EQ(Twice({}, {"cat", "/etc/hostname"}), "detrun\n");
  EXPECT_EQ(Twice({"--hostname=buildhost"}, {"cat", "/etc/hostname", "/proc/sys/kernel/hostname"}),
            "buildhost\nbuildhost\n");
  EXPECT_EQ(Twice({}, {"cat", "/proc/sys/kernel/domainname", "/proc/sys/kernel/osrelease",
                       "/proc/sys/kernel/version", "/proc/sys/kernel/ostype"}),
            "(none)\n6.1.0-detrun\n#1 SMP PREEMPT_DYNAMIC detrun\nLinux\n");
  // Agrees with uname(2) under detrun; natively the host's.
  EXPECT_EQ(Twice({"--hostname=buildhost"},
                  {"sh", "-c", "uname -n; cat /proc/sys/kernel/hostname; uname -r; "
                               "cat /proc/sys/kernel/osrelease"}),
            "buildhost\nbuildhost\n6.1.0-detrun\n6.1.0-detrun\n");
  EXPECT_NE(RunProgram({"cat", "/proc/sys/kernel/hostname"}).out, "detrun\n");
}

TEST(VfilesTest, ProcVersion) {
  EXPECT_EQ(Twice({}, {"cat", "/proc/version"}), UtsModule::ProcVersion());
  EXPECT_EQ(UtsModule::ProcVersion(),
            "Linux version 6.1.0-detrun (detrun@detrun) (gcc (detrun) 12.2.0, GNU ld (detrun) "
            "2.40) #1 SMP PREEMPT_DYNAMIC detrun\n");
  EXPECT_NE(RunProgram({"cat", "/proc/version"}).out, UtsModule::ProcVersion());
}

TEST(VfilesTest, MachineIdAndBootIdComeFromTheSeed) {
  const std::vector<std::string> cat = {"cat", "/etc/machine-id",
                                        "/proc/sys/kernel/random/boot_id"};
  const std::string seed1 = Twice({"--seed=1"}, cat);
  const std::string seed2 = Twice({"--seed=2"}, cat);
  EXPECT_NE(seed1, seed2);
  EXPECT_EQ(seed1, UtsModule::MachineId(1) + UtsModule::BootId(1));
  EXPECT_FALSE(RegexFullMatch(seed1,
                              "[0-9a-f]{32}\n[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                              "[0-9a-f]{12}\n")
                   .empty())
      << seed1;
  // The same in every process of the run.
  EXPECT_EQ(Twice({"--seed=1"}, {"sh", "-c", "cat /etc/machine-id; (cat /etc/machine-id)"}),
            UtsModule::MachineId(1) + UtsModule::MachineId(1));
  // Not the host's.
  const std::string host = ReadFile("/etc/machine-id");
  EXPECT_NE(UtsModule::MachineId(1), host);
}

TEST(VfilesTest, UuidIsNewAtEachOpenAndTheSameAcrossRuns) {
  const std::string out = Twice({"--seed=7"}, {"cat", "/proc/sys/kernel/random/uuid",
                                               "/proc/sys/kernel/random/uuid"});
  const std::vector<std::string> m = RegexFullMatch(out, "([0-9a-f-]{36})\n([0-9a-f-]{36})\n");
  ASSERT_FALSE(m.empty()) << out;
  EXPECT_NE(m[1], m[2]);
  EXPECT_NE(Twice({"--seed=8"}, {"cat", "/proc/sys/kernel/random/uuid"}), m[1] + "\n");
}

class VfilesPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_EQ(symlink("/etc/hostname", (dir_ + "/link").c_str()), 0);
    ASSERT_EQ(symlink("/proc/sys/kernel", (dir_ + "/kernel").c_str()), 0);
    ASSERT_EQ(symlink("link", (dir_ + "/link2").c_str()), 0);
  }
  void TearDown() override { RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(VfilesPathTest, AnyNameThatReachesTheFile) {
  const std::vector<std::string> flags = {"--hostname=buildhost"};
  for (const std::string& path :
       {dir_ + "/link", dir_ + "/link2", dir_ + "/kernel/hostname", dir_ + "/kernel/../kernel/./hostname",
        std::string("//etc//hostname"), std::string("/etc/./hostname"),
        std::string("/tmp/../etc/hostname"), std::string("/proc/self/../sys/kernel/hostname")}) {
    EXPECT_EQ(Twice(flags, {"cat", path}), "buildhost\n") << path;
  }
  // ".." goes up from where a symlink led, not lexically: kernel/../..
  // is /proc, so this is /proc/etc/hostname.
  EXPECT_EQ(Detrun({"--", "cat", dir_ + "/kernel/../../etc/hostname"}).exit_code, 1);
  EXPECT_EQ(Twice(flags, {"cat", dir_ + "/kernel/../../sys/kernel/hostname"}), "buildhost\n");
  // Relative to a directory descriptor and to the working directory.
  const std::string probe = Probe("open_probe");
  EXPECT_EQ(Twice(flags, {probe, "-d", "/etc", "openat", "hostname"}), ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {probe, "-d", dir_, "openat", "link"}), ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {probe, "-C", "/proc/sys/kernel", "open", "hostname"}),
            ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {probe, "-C", "/proc/sys/kernel/random", "openat", "../hostname"}),
            ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {"sh", "-c", "cd /etc && cat hostname ./hostname ../etc/hostname"}),
            "buildhost\nbuildhost\nbuildhost\n");
  // openat2 and its RESOLVE_* scoping.
  EXPECT_EQ(Twice(flags, {probe, "-d", "/etc", "openat2", "hostname", "RESOLVE_BENEATH"}),
            ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {probe, "-d", "/etc", "openat2", "/hostname", "RESOLVE_IN_ROOT"}),
            ProbeRead("buildhost\n"));
  EXPECT_EQ(Twice(flags, {probe, "-d", dir_, "openat2", "../../etc/hostname", "RESOLVE_BENEATH"}),
            "open: errno=EXDEV\n");
  EXPECT_EQ(Twice(flags, {probe, "openat2", dir_ + "/link", "RESOLVE_NO_SYMLINKS"}),
            "open: errno=ELOOP\n");
}

TEST_F(VfilesPathTest, WhatIsNotAVirtualFileIsTheKernels) {
  const std::string probe = Probe("open_probe");
  // O_NOFOLLOW on a symlink to one: the kernel's ELOOP.
  EXPECT_EQ(Twice({}, {probe, "open", dir_ + "/link", "O_NOFOLLOW"}), "open: errno=ELOOP\n");
  EXPECT_EQ(Twice({}, {probe, "open", "/etc/hostname/"}), "open: errno=ENOTDIR\n");
  EXPECT_EQ(Twice({}, {probe, "open", "/etc/hostname/x"}), "open: errno=ENOTDIR\n");
  EXPECT_EQ(Twice({}, {probe, "open", "/proc/uptime2"}), "open: errno=ENOENT\n");
  EXPECT_EQ(Twice({}, {probe, "open", ""}), "open: errno=ENOENT\n");
  EXPECT_EQ(Twice({}, {probe, "-d", "/etc/passwd", "openat", "hostname"}), "open: errno=ENOTDIR\n");
  // An ordinary file reads as it is.
  std::ofstream(dir_ + "/plain") << "plain\n";
  EXPECT_EQ(Twice({}, {"cat", dir_ + "/plain"}), "plain\n");
  EXPECT_THAT(Twice({}, {probe, "open", dir_ + "/plain", "O_RDWR"}), StartsWith("open: ok\n"));
  // Per-process /proc files are the kernel's (the probe's own pid).
  EXPECT_THAT(Twice({}, {"sh", "-c", "head -1 /proc/self/status"}), StartsWith("Name:"));
}

TEST(VfilesTest, DescriptorIsReadOnlySealedAndRegular) {
  const std::string probe = Probe("open_probe");
  EXPECT_EQ(Twice({"--clock=frozen"}, {probe, "open", "/proc/uptime"}), ProbeRead("100.00 0.00\n"));
  EXPECT_EQ(Twice({"--hostname=h"}, {probe, "openat", "/etc/hostname", "O_RDONLY"}),
            ProbeRead("h\n"));
  // O_NONBLOCK is kept.
  EXPECT_THAT(Twice({}, {probe, "open", "/etc/hostname", "O_NONBLOCK"}), HasSubstr("nonblock: 1\n"));
  // O_PATH: seccomp cannot install an O_PATH descriptor, so it gets a
  // read-only one of the content (fstat still tells the content's size,
  // never the host file's).
  EXPECT_EQ(Twice({}, {probe, "open", "/etc/hostname", "O_PATH"}), ProbeRead("detrun\n"));
}

TEST(VfilesTest, WritesAndOddFlagsAreRefusedAsForAReadOnlyFile) {
  // Only flags that would change nothing if they reached the real file (the
  // probe writes through no descriptor it did not open read-only), so a
  // broken build cannot rename or truncate the test machine's files.
  const std::string probe = Probe("open_probe");
  for (const char* path : {"/etc/hostname", "/proc/sys/kernel/hostname", "/proc/uptime",
                                  "/sys/devices/system/cpu/online", "/etc/machine-id"}) {
    EXPECT_EQ(Twice({}, {probe, "open", path, "O_WRONLY"}), "open: errno=EACCES\n") << path;
    EXPECT_EQ(Twice({}, {probe, "openat", path, "O_RDWR"}), "open: errno=EACCES\n") << path;
    EXPECT_EQ(Twice({}, {probe, "open", path, "O_WRONLY", "O_APPEND"}), "open: errno=EACCES\n");
    EXPECT_EQ(Twice({}, {probe, "open", path, "O_CREAT", "O_EXCL"}), "open: errno=EEXIST\n");
    EXPECT_EQ(Twice({}, {probe, "open", path, "O_DIRECTORY"}), "open: errno=ENOTDIR\n");
  }
  // Truncating opens on files whose truncation means nothing to the kernel.
  for (const char* path : {"/proc/uptime", "/sys/devices/system/cpu/online"}) {
    EXPECT_EQ(Twice({}, {probe, "open", path, "O_RDONLY", "O_TRUNC"}), "open: errno=EACCES\n");
    EXPECT_EQ(Twice({}, {probe, "creat", path}), "open: errno=EACCES\n") << path;
  }
}

TEST(VfilesTest, CloexecIsHonoured) {
  const std::string probe = Probe("open_probe");
  EXPECT_EQ(Twice({"--hostname=h"}, {probe, "-x", "open", "/etc/hostname"}),
            ProbeRead("h\n", false) + "exec_sees: yes\n");
  EXPECT_EQ(Twice({"--hostname=h"}, {probe, "-x", "open", "/etc/hostname", "O_CLOEXEC"}),
            ProbeRead("h\n", true) + "exec_sees: no\n");
}

TEST(VfilesTest, CpuFiles) {
  EXPECT_EQ(Twice({"--cpus=3"}, {"cat", "/sys/devices/system/cpu/online",
                                 "/sys/devices/system/cpu/possible",
                                 "/sys/devices/system/cpu/present",
                                 "/sys/devices/system/cpu/offline"}),
            "0-2\n0-2\n0-2\n\n");
  EXPECT_EQ(Twice({}, {"cat", "/sys/devices/system/cpu/online"}), "0\n");
  EXPECT_EQ(Twice({"--cpus=3"}, {"cat", "/proc/cpuinfo"}), CpusModule::CpuInfo(3));
  EXPECT_EQ(Twice({"--cpus=2", "--time=2020-01-01"}, {"cat", "/proc/stat"}),
            CpusModule::ProcStat(2, 1577836800 - 100));
  EXPECT_EQ(Twice({"--cpus=3"}, {"sh", "-c", "grep -c ^processor /proc/cpuinfo"}), "3\n");
}

// nproc honours OMP_NUM_THREADS/OMP_THREAD_LIMIT before the affinity mask.
const std::vector<std::string> kEnv = {"env", "-u", "OMP_NUM_THREADS", "-u", "OMP_THREAD_LIMIT"};

std::vector<std::string> WithEnv(std::vector<std::string> command) {
  command.insert(command.begin(), kEnv.begin(), kEnv.end());
  return command;
}

TEST(VfilesTest, EveryCpuCountReaderAgrees) {
  for (int n : {3, 64}) {
    const std::vector<std::string> flag = {"--cpus=" + std::to_string(n)};
    const std::string want = std::to_string(n) + "\n";
    EXPECT_EQ(Twice(flag, WithEnv({"nproc"})), want);
    EXPECT_EQ(Twice(flag, {"getconf", "_NPROCESSORS_CONF"}), want);
    EXPECT_EQ(Twice(flag, {"getconf", "_NPROCESSORS_ONLN"}), want);
    if (IsExecutable("/usr/bin/python3")) {
      EXPECT_EQ(Twice(flag, {"/usr/bin/python3", "-c",
                             "import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))"}),
                std::to_string(n) + " " + want);
    }
    if (IsExecutable("/usr/bin/node")) {
      EXPECT_EQ(Twice(flag, {"/usr/bin/node", "-e",
                             "const os = require('os'); const c = os.cpus();"
                             "console.log(c.length, c[c.length - 1].model, c[0].speed)"}),
                std::to_string(n) + " detrun virtual CPU 2000\n");
    }
  }
}

TEST(VfilesTest, LandlockStillDecides) {
  if (LandlockAbiVersion() <= 0) GTEST_SKIP() << "SKIPPED: Landlock is not available";
  // /etc is not allowed: the virtual file is refused like the real one.
  Output o = Detrun({"--allow-read=/usr", "--allow-read=/lib", "--allow-read=/lib64",
                     "--allow-read=/bin", "--", "/usr/bin/cat", "/etc/hostname"});
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_THAT(o.err, HasSubstr("Permission denied"));
  o = Detrun({"--allow-read=/", "--hostname=h", "--", "/usr/bin/cat", "/etc/hostname"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "h\n");
}

}  // namespace
}  // namespace detrun::testing
