#include "core/leak_checks.h"

#include <arpa/inet.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cstring>
#include <set>
#include <string>

#include "core/bpf_interpreter.h"
#include "core/config.h"
#include "core/supervisor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

std::string Detail(std::string_view path, pid_t pid = 42, pid_t tid = 43, pid_t detrun = 7) {
  std::string detail;
  if (!IsProcLeak(path, pid, tid, detrun, &detail)) return "(no leak)";
  return detail;
}

TEST(IsProcLeakTest, ProcAndSysFilesAreLeaks) {
  EXPECT_EQ(Detail("/proc/stat"), "/proc/stat");
  EXPECT_EQ(Detail("/proc/sys/kernel/random/entropy_avail"),
            "/proc/sys/kernel/random/entropy_avail");
  EXPECT_EQ(Detail("/sys/fs/cgroup/cpu.max"), "/sys/fs/cgroup/cpu.max");
  EXPECT_EQ(Detail("/proc"), "/proc");
  EXPECT_EQ(Detail("/sys"), "/sys");
}

TEST(IsProcLeakTest, OtherFilesAreNot) {
  EXPECT_EQ(Detail("/etc/passwd"), "(no leak)");
  EXPECT_EQ(Detail("/procfoo/stat"), "(no leak)");
  EXPECT_EQ(Detail("/system/x"), "(no leak)");
  EXPECT_EQ(Detail("/usr/include/sys/types.h"), "(no leak)");
  EXPECT_EQ(Detail("/"), "(no leak)");
}

TEST(IsProcLeakTest, TheCallersOwnEntriesReadAsSelf) {
  EXPECT_EQ(Detail("/proc/42/stat"), "/proc/self/stat");
  // procfs's "self" followed by detrun names detrun's pid.
  EXPECT_EQ(Detail("/proc/7/status"), "/proc/self/status");
  EXPECT_EQ(Detail("/proc/42/task/43/stat"), "/proc/thread-self/stat");
  EXPECT_EQ(Detail("/proc/42/task/44/stat"), "/proc/self/task/44/stat");
  EXPECT_EQ(Detail("/proc/99/stat"), "/proc/[pid]/stat");
  EXPECT_EQ(Detail("/proc/42/maps"), "/proc/self/maps");
}

TEST(IsProcLeakTest, WhatOnlyDescribesTheProgramItselfIsNoLeak) {
  for (const char* own : {"cmdline", "comm", "environ", "fd", "task"}) {
    EXPECT_EQ(Detail(std::string("/proc/42/") + own), "(no leak)") << own;
    EXPECT_EQ(Detail(std::string("/proc/42/task/43/") + own), "(no leak)") << own;
  }
  // Another process's command line is a host fact.
  EXPECT_EQ(Detail("/proc/99/cmdline"), "/proc/[pid]/cmdline");
  EXPECT_EQ(Detail("/proc/42/fdinfo/3"), "/proc/self/fdinfo/3");
}

TEST(MayNameProcOrSysTest, CheapFilter) {
  EXPECT_TRUE(MayNameProcOrSys("/proc/self/stat"));
  EXPECT_TRUE(MayNameProcOrSys("//proc//uptime"));
  EXPECT_TRUE(MayNameProcOrSys("/sys/class/net"));
  EXPECT_TRUE(MayNameProcOrSys("../x"));
  EXPECT_TRUE(MayNameProcOrSys("stat/../../proc"));
  EXPECT_FALSE(MayNameProcOrSys("/etc/passwd"));
  EXPECT_FALSE(MayNameProcOrSys("foo.c"));
  EXPECT_FALSE(MayNameProcOrSys("/usr/lib/procps/x"));
}

TEST(DescribeInetAddressTest, Ipv4Ipv6AndOthers) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(8080);
  inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
  EXPECT_EQ(DescribeInetAddress(&in, sizeof in), "127.0.0.1:8080");
  EXPECT_EQ(DescribeInetAddress(&in, sizeof in - 1), "");
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  inet_pton(AF_INET6, "::1", &in6.sin6_addr);
  EXPECT_EQ(DescribeInetAddress(&in6, sizeof in6), "[::1]:443");
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  strcpy(un.sun_path, "/run/x.sock");
  EXPECT_EQ(DescribeInetAddress(&un, sizeof un), "");
  EXPECT_EQ(DescribeInetAddress(&un, 1), "");
}

uint32_t Action(const bpf::Program& program, int nr, uint64_t arg3 = 0, uint64_t arg4 = 0) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_X86_64;
  data.nr = nr;
  data.args[3] = arg3;
  data.args[4] = arg4;
  absl::StatusOr<uint32_t> r = bpf::Evaluate(program, data);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r & SECCOMP_RET_ACTION_FULL : 0;
}

const int kLeakOnly[] = {SYS_statfs, SYS_fstatfs, SYS_ustat,  SYS_connect,
                         SYS_bind,   SYS_syslog,  SYS_kcmp,   SYS_keyctl, SYS_sysfs};

// Runs that ask for no report register nothing: the calls only the leak
// checks want stay in the kernel.
TEST(LeakChecksFilterTest, NothingNewWithoutTheOptions) {
  Config config;
  config.fs_times = FsTimes::kReal;  // so that stat is not notified for file times
  Supervisor plain(config, {});
  EXPECT_EQ(plain.leaks(), nullptr);
  absl::StatusOr<bpf::Program> filter = plain.BuildFilter();
  ASSERT_TRUE(filter.ok()) << filter.status();
  for (int nr : kLeakOnly) EXPECT_EQ(Action(*filter, nr), SECCOMP_RET_ALLOW) << nr;
  EXPECT_EQ(Action(*filter, SYS_newfstatat), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Action(*filter, SYS_sendto, 0, 1), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Action(*filter, SYS_openat), SECCOMP_RET_ALLOW);
}

TEST(LeakChecksFilterTest, ReportStrictAndRecordNotifyThem) {
  for (int which = 0; which < 3; ++which) {
    Config config;
    config.fs_times = FsTimes::kReal;
    if (which == 0) config.report_leaks = "";
    if (which == 1) config.strict = true;
    if (which == 2) config.record_path = "/tmp/x.trace";
    Supervisor s(config, {});
    ASSERT_NE(s.leaks(), nullptr);
    EXPECT_EQ(s.leaks()->strict(), which == 1);
    absl::StatusOr<bpf::Program> filter = s.BuildFilter();
    ASSERT_TRUE(filter.ok()) << filter.status();
    for (int nr : kLeakOnly) EXPECT_EQ(Action(*filter, nr), SECCOMP_RET_USER_NOTIF) << nr;
    EXPECT_EQ(Action(*filter, SYS_newfstatat), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(Action(*filter, SYS_openat), SECCOMP_RET_USER_NOTIF);
    // Argument conditions keep the common cases in the kernel.
    EXPECT_EQ(Action(*filter, SYS_sendto, 0, 0), SECCOMP_RET_ALLOW);  // connected socket
    EXPECT_EQ(Action(*filter, SYS_sendto, 0, 1), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(Action(*filter, SYS_statx, 0x7ff & ~0x100), SECCOMP_RET_ALLOW);  // no STATX_INO
    EXPECT_EQ(Action(*filter, SYS_statx, 0x100), SECCOMP_RET_USER_NOTIF);
    // fstat of a descriptor is not a leak (leak_checks.h).
    EXPECT_EQ(Action(*filter, SYS_fstat), SECCOMP_RET_ALLOW);
    // The launcher hands its listener over with sendmsg under the filter.
    EXPECT_EQ(Action(*filter, SYS_sendmsg), SECCOMP_RET_ALLOW);
  }
}

}  // namespace
}  // namespace detrun
