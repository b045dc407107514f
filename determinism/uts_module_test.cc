#include "determinism/uts_module.h"

#include <sys/personality.h>

#include <string>

#include "determinism/provided_files_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::UnorderedElementsAre;

TEST(UtsModuleTest, ProcVersionIsTheKernelBannerOfTheFixedIdentity) {
  EXPECT_EQ(UtsModule::ProcVersion(),
            "Linux version 6.1.0-detrun (detrun@detrun) (gcc (detrun) 12.2.0, GNU ld (detrun) "
            "2.40) #1 SMP PREEMPT_DYNAMIC detrun\n");
}

TEST(UtsModuleTest, MachineFollowsThePersonaAsTheKernelDoes) {
  EXPECT_STREQ(UtsModule::Machine(PER_LINUX), "x86_64");
  EXPECT_STREQ(UtsModule::Machine(uint32_t{PER_LINUX} | ADDR_NO_RANDOMIZE), "x86_64");
  EXPECT_STREQ(UtsModule::Machine(PER_LINUX32), "i686");
  EXPECT_STREQ(UtsModule::Machine(uint32_t{PER_LINUX32} | ADDR_NO_RANDOMIZE), "i686");
  // The low byte names the persona; the rest are flags.
  EXPECT_STREQ(UtsModule::Machine(PER_LINUX32_3GB), "i686");
  EXPECT_STREQ(UtsModule::Machine(PER_SVR4), "x86_64");
}

TEST(UtsModuleTest, BootIdAndMachineIdComeFromTheSeed) {
  // GoogleTest's regular expressions (POSIX extended here), not std::regex:
  // that costs about 13 s of compile time under ASan.
  const auto uuid =
      ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n");
  const auto machine_id = ::testing::MatchesRegex("[0-9a-f]{32}\n");
  for (uint64_t seed : {0ull, 1ull, 42ull, ~0ull}) {
    EXPECT_THAT(UtsModule::BootId(seed), uuid);
    EXPECT_THAT(UtsModule::MachineId(seed), machine_id);
    EXPECT_EQ(UtsModule::BootId(seed), UtsModule::BootId(seed));
    EXPECT_EQ(UtsModule::MachineId(seed), UtsModule::MachineId(seed));
  }
  EXPECT_NE(UtsModule::BootId(0), UtsModule::BootId(1));
  EXPECT_NE(UtsModule::MachineId(0), UtsModule::MachineId(1));
  // Separate streams: the machine id is not the boot id without dashes.
  std::string boot = UtsModule::BootId(0);
  boot.erase(std::remove(boot.begin(), boot.end(), '-'), boot.end());
  EXPECT_NE(boot, UtsModule::MachineId(0));
}

TEST(UtsModuleTest, ProvidesItsFiles) {
  Config config;
  config.hostname = "buildhost";
  config.seed = 42;
  UtsModule uts(config);
  testing::ProvidedFiles files({&uts}, config);
  EXPECT_THAT(files.Paths(),
              UnorderedElementsAre("/etc/hostname", "/proc/sys/kernel/hostname",
                                   "/proc/sys/kernel/domainname", "/proc/sys/kernel/osrelease",
                                   "/proc/sys/kernel/version", "/proc/sys/kernel/ostype",
                                   "/proc/version", "/proc/sys/kernel/random/boot_id",
                                   "/etc/machine-id", "/var/lib/dbus/machine-id"));
  EXPECT_EQ(files.ReadOr("/etc/hostname"), "buildhost\n");
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/hostname"), "buildhost\n");
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/domainname"), "(none)\n");
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/osrelease"), "6.1.0-detrun\n");
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/version"), "#1 SMP PREEMPT_DYNAMIC detrun\n");
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/ostype"), "Linux\n");
  EXPECT_EQ(files.ReadOr("/proc/version"), UtsModule::ProcVersion());
  EXPECT_EQ(files.ReadOr("/proc/sys/kernel/random/boot_id"), UtsModule::BootId(42));
  EXPECT_EQ(files.ReadOr("/etc/machine-id"), UtsModule::MachineId(42));
  EXPECT_EQ(files.ReadOr("/var/lib/dbus/machine-id"), UtsModule::MachineId(42));
}

}  // namespace
}  // namespace detrun
