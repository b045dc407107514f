// Host name, kernel identity and CPU count, on real programs: uname,
// hostname, nproc, Python and Node print exact values given by --hostname
// and --cpus (each run twice, identical), whatever the host is; the probes
// check the syscalls' edge cases (buffer sizes, NULL and bad pointers,
// refused changes). Natively the same programs print the host's name.
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// nproc honours OMP_NUM_THREADS/OMP_THREAD_LIMIT before the affinity mask:
// keep the test's environment out of it.
const std::vector<std::string> kNproc = {"env", "-u", "OMP_NUM_THREADS", "-u",
                                         "OMP_THREAD_LIMIT", "nproc"};

const char kUnameAll[] = "Linux detrun 6.1.0-detrun #1 SMP PREEMPT_DYNAMIC detrun x86_64";

TEST(UtsTest, UnameNodenameIsTheHostnameOption) {
  EXPECT_EQ(Twice({}, {"uname", "-n"}), "detrun\n");
  EXPECT_EQ(Twice({"--hostname=buildhost"}, {"uname", "-n"}), "buildhost\n");
  // The longest name the option takes fills the 65-byte field but for its NUL.
  const std::string longest(64, 'h');
  EXPECT_EQ(Twice({"--hostname=" + longest}, {"uname", "-n"}), longest + "\n");
  // Natively: the host's own name.
  struct utsname host;
  ASSERT_EQ(uname(&host), 0);
  EXPECT_EQ(RunProgram({"uname", "-n"}).out, std::string(host.nodename) + "\n");
  ASSERT_NE(std::string(host.nodename), "detrun") << "cannot tell detrun from the host";
}

TEST(UtsTest, HostnameCommand) {
  EXPECT_EQ(Twice({}, {"hostname"}), "detrun\n");
  EXPECT_EQ(Twice({"--hostname=buildhost"}, {"hostname"}), "buildhost\n");
  EXPECT_NE(RunProgram({"hostname"}).out, "detrun\n");
  // The NIS domain name reads "(none)", which hostname(1) reports as unset.
  for (int run = 0; run < 2; ++run) {
    Output o = Detrun({"--", "hostname", "-y"});
    EXPECT_EQ(o.exit_code, 1) << o.err;
    EXPECT_EQ(o.out, "hostname: Local domain name not set\n");
  }
}

TEST(UtsTest, UnameAllIsFixedAndNotTheHosts) {
  const std::string all = Twice({}, {"uname", "-a"});
  EXPECT_THAT(all, ::testing::StartsWith(kUnameAll));
  struct utsname host;
  ASSERT_EQ(uname(&host), 0);
  EXPECT_THAT(all, Not(HasSubstr(host.release)));
  EXPECT_THAT(all, Not(HasSubstr(host.version)));
  EXPECT_EQ(Twice({"--hostname=buildhost"}, {"uname", "-s", "-n", "-r", "-v", "-m"}),
            "Linux buildhost 6.1.0-detrun #1 SMP PREEMPT_DYNAMIC detrun x86_64\n");
  EXPECT_EQ(Twice({}, {"uname", "-r"}), "6.1.0-detrun\n");
  EXPECT_NE(RunProgram({"uname", "-r"}).out, "6.1.0-detrun\n");
}

TEST(UtsTest, Linux32PersonalitySaysI686) {
  // setarch checks uname's answer after setting the persona: natively...
  EXPECT_EQ(RunProgram({"setarch", "i686", "uname", "-m"}).out, "i686\n");
  // ...and under detrun, where it must keep ADDR_NO_RANDOMIZE (-R).
  EXPECT_EQ(Twice({}, {"setarch", "i686", "-R", "uname", "-m"}), "i686\n");
  EXPECT_EQ(Twice({}, {"setarch", "x86_64", "-R", "uname", "-m"}), "x86_64\n");
}

TEST(UtsTest, Python) {
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  EXPECT_EQ(Twice({"--hostname=buildhost"},
                  {"/usr/bin/python3", "-c",
                   "import os, platform, socket\n"
                   "print(socket.gethostname())\n"
                   "print(tuple(os.uname()))\n"
                   "print(platform.node(), platform.release(), platform.machine())\n"}),
            "buildhost\n"
            "('Linux', 'buildhost', '6.1.0-detrun', '#1 SMP PREEMPT_DYNAMIC detrun', "
            "'x86_64')\n"
            "buildhost 6.1.0-detrun x86_64\n");
}

TEST(UtsTest, Node) {
  if (!IsExecutable("/usr/bin/node")) GTEST_SKIP() << "no /usr/bin/node";
  EXPECT_EQ(Twice({"--hostname=buildhost"},
                  {"/usr/bin/node", "-e",
                   "const os = require('os'); console.log(os.hostname(), os.release())"}),
            "buildhost 6.1.0-detrun\n");
}

TEST(UtsTest, SyscallEdgeCases) {
  const std::string probe = Probe("try_syscall");
  // uname with a bad pointer.
  EXPECT_EQ(Twice({}, {probe, std::to_string(SYS_uname), "1"}), "errno=EFAULT\n");
  // Changes are refused. The arguments would not change anything even if
  // they reached the kernel (a NULL name: EFAULT, or EPERM unprivileged),
  // so a broken module cannot rename the test machine.
  EXPECT_EQ(Twice({}, {probe, std::to_string(SYS_sethostname), "0", "5"}), "errno=EPERM\n");
  EXPECT_EQ(Twice({}, {probe, std::to_string(SYS_setdomainname), "0", "5"}), "errno=EPERM\n");
  EXPECT_EQ(Twice({}, {"uname", "-n"}), "detrun\n");
}

TEST(CpusTest, Nproc) {
  EXPECT_EQ(Twice({}, kNproc), "1\n");
  EXPECT_EQ(Twice({"--cpus=4"}, kNproc), "4\n");
  // More than the host has, and the largest --cpus.
  EXPECT_EQ(Twice({"--cpus=1000"}, kNproc), "1000\n");
  EXPECT_EQ(Twice({"--cpus=1024"}, kNproc), "1024\n");
}

TEST(CpusTest, Python) {
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  // os.sched_getaffinity starts with an 8-byte mask and doubles it on EINVAL.
  const std::vector<std::string> command = {
      "/usr/bin/python3", "-c", "import os; s = os.sched_getaffinity(0); print(len(s), max(s))"};
  EXPECT_EQ(Twice({}, command), "1 0\n");
  EXPECT_EQ(Twice({"--cpus=4"}, command), "4 3\n");
  EXPECT_EQ(Twice({"--cpus=65"}, command), "65 64\n");
  EXPECT_EQ(Twice({"--cpus=1000"}, command), "1000 999\n");
}

// Cpus_allowed's expected lines for N CPUs (the kernel's %*pb with
// nr_cpu_ids = N, and its cpulist).
std::string CpusAllowedLines(int n) {
  const int groups = (n + 31) / 32;
  const int top = n - (groups - 1) * 32;  // bits in the first group
  char first[24];
  snprintf(first, sizeof first, "%llx", (1ULL << top) - 1);
  std::string mask = first;
  for (int g = 1; g < groups; ++g) mask += ",ffffffff";
  const std::string list = n == 1 ? "0" : "0-" + std::to_string(n - 1);
  return "Cpus_allowed:\t" + mask + "\nCpus_allowed_list:\t" + list + "\n";
}

TEST(CpusTest, ProcSelfStatusShowsTheVirtualCpus) {
  EXPECT_EQ(CpusAllowedLines(1000).substr(0, 17), "Cpus_allowed:\tff,");  // the helper
  for (int n : {1, 4, 64, 1000}) {
    const std::string flag = "--cpus=" + std::to_string(n);
    EXPECT_EQ(Twice({flag}, {"grep", "Cpus_allowed", "/proc/self/status"}), CpusAllowedLines(n))
        << n;
    // The rest is the opener's own file.
    EXPECT_EQ(Twice({flag}, {"grep", "-E", "^(Name|Cpus_allowed)", "/proc/thread-self/status"}),
              "Name:\tgrep\n" + CpusAllowedLines(n))
        << n;
  }
  EXPECT_EQ(Twice({}, {"grep", "Cpus_allowed:", "/proc/self/status"}), "Cpus_allowed:\t1\n");
  EXPECT_EQ(
      Twice({"--cpus=64"}, {"sh", "-c", "cd /proc/self/. && grep Cpus_allowed_list ./status"}),
      "Cpus_allowed_list:\t0-63\n");
}

TEST(CpusTest, PythonReadsItsStatusByPid) {
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  // In the run's pid namespace os.getpid() is 2, and /proc is the host's:
  // /proc/2/status is some other process's file, with the virtual CPUs too.
  const std::vector<std::string> by_pid = {
      "/usr/bin/python3", "-c",
      "import os\n"
      "print(''.join(l for l in open(f'/proc/{os.getpid()}/status') if l.startswith('Cpus')),"
      " end='')\n"
      "print(len(os.sched_getaffinity(0)))\n"};
  // Host pids: the process's own file, and its thread's.
  const std::vector<std::string> own = {
      "/usr/bin/python3", "-c",
      "import os, threading\n"
      "for path in (f'/proc/{os.getpid()}/status',\n"
      "             f'/proc/{os.getpid()}/task/{threading.get_native_id()}/status'):\n"
      "    lines = [l for l in open(path) if l.startswith(('Cpus', 'Pid:'))]\n"
      "    assert lines[0] == f'Pid:\\t{os.getpid()}\\n', lines\n"
      "    print(''.join(lines[1:]), end='')\n"};
  for (int n : {1, 4, 64, 1000}) {
    const std::string flag = "--cpus=" + std::to_string(n);
    EXPECT_EQ(Twice({flag}, by_pid), CpusAllowedLines(n) + std::to_string(n) + "\n") << n;
    Output o = Detrun({flag, "--pid-namespace=off", "--", own[0], own[1], own[2]});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out, CpusAllowedLines(n) + CpusAllowedLines(n)) << n;
  }
}

TEST(CpusTest, CpuDirectoryListsTheVirtualCpus) {
  const std::string count = "ls -f /sys/devices/system/cpu | grep -c '^cpu[0-9]'";
  for (const char* dirs : {"--dirs=sorted", "--dirs=shuffle", "--dirs=native"}) {
    for (int n : {1, 2, 4, 64, 1000}) {
      EXPECT_EQ(Twice({dirs, "--cpus=" + std::to_string(n)}, {"sh", "-c", count}),
                std::to_string(n) + "\n")
          << dirs << " " << n;
    }
  }
  // Exactly cpu0..cpu{N-1}; every other entry as the host lists it.
  std::string expected;
  for (int k = 0; k < 70; ++k) expected += "cpu" + std::to_string(k) + "\n";
  EXPECT_EQ(Twice({"--cpus=70"},
                  {"sh", "-c", "ls /sys/devices/system/cpu | grep '^cpu[0-9]' | sort -V"}),
            expected);
  const std::string others = "ls /sys/devices/system/cpu | grep -v '^cpu[0-9]' | sort";
  Output host = RunProgram({"sh", "-c", others});
  ASSERT_EQ(host.exit_code, 0);
  for (const char* dirs : {"--dirs=sorted", "--dirs=native"}) {
    EXPECT_EQ(Twice({dirs, "--cpus=70"}, {"sh", "-c", others}), host.out) << dirs;
  }
  // Added entries are directories (d_type), through os.scandir.
  if (IsExecutable("/usr/bin/python3")) {
    EXPECT_EQ(Twice({"--cpus=300"},
                    {"/usr/bin/python3", "-c",
                     "import os\n"
                     "c = [e for e in os.scandir('/sys/devices/system/cpu')\n"
                     "     if e.name[:3] == 'cpu' and e.name[3:].isdigit()]\n"
                     "print(len(c), all(e.is_dir(follow_symlinks=False) for e in c),\n"
                     "      len(os.sched_getaffinity(0)), os.cpu_count())\n"}),
              "300 True 300 300\n");
  }
}

TEST(CpusTest, AnAddedCpuDirectoryIsOnlyInTheListing) {
  // README "Known limits": stat of a cpuK the host lacks fails.
  const long host_cpus = sysconf(_SC_NPROCESSORS_CONF);
  ASSERT_LT(host_cpus, 1000);
  Output o = Detrun({"--cpus=1000", "--", "sh", "-c",
                     "ls /sys/devices/system/cpu | grep -qx cpu999 && echo listed;"
                     " test -e /sys/devices/system/cpu/cpu999 || echo missing"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "listed\nmissing\n");
}

TEST(CpusTest, NodeAvailableParallelism) {
  if (!IsExecutable("/usr/bin/node")) GTEST_SKIP() << "no /usr/bin/node";
  Output has = RunProgram(
      {"/usr/bin/node", "-e", "console.log(typeof require('os').availableParallelism)"});
  if (has.out != "function\n") GTEST_SKIP() << "this node has no os.availableParallelism";
  const std::vector<std::string> command = {
      "/usr/bin/node", "-e", "console.log(require('os').availableParallelism())"};
  EXPECT_EQ(Twice({}, command), "1\n");
  EXPECT_EQ(Twice({"--cpus=4"}, command), "4\n");
  EXPECT_EQ(Twice({"--cpus=1000"}, command), "1000\n");
}

TEST(CpusTest, JavaAvailableProcessors) {
  if (!IsExecutable("/usr/bin/java") || !IsExecutable("/usr/bin/javac")) GTEST_SKIP() << "no java/javac";
  const std::string dir = MakeTempDir();
  const std::string source = dir + "/Cpus.java";
  std::ofstream(source) << "class Cpus { public static void main(String[] a) {\n"
                           "  System.out.println(Runtime.getRuntime().availableProcessors());\n"
                           "} }\n";
  Output compiled = RunProgram({"/usr/bin/javac", "-d", dir, source}, "", 120);
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  const std::vector<std::string> command = Java({"-cp", dir, "Cpus"});
  EXPECT_EQ(Twice({}, command), "1\n");
  EXPECT_EQ(Twice({"--cpus=3"}, command), "3\n");
  // The JVM also reads the (real) cgroup CPU quota and takes the smaller
  // count: only when none applies here can more CPUs show.
  Output native = RunProgram(command);
  Output native_nproc = RunProgram(kNproc);
  if (native.out == native_nproc.out) {
    EXPECT_EQ(Twice({"--cpus=4"}, command), "4\n");
    EXPECT_EQ(Twice({"--cpus=64"}, command), "64\n");
    EXPECT_EQ(Twice({"--cpus=1000"}, command), "1000\n");
  }
  RemoveTree(dir);
}

// What cpu_probe prints under --cpus=n.
std::string ExpectedProbe(int n) {
  const int mask = std::max(1, (n + 63) / 64) * 8;
  std::string out =
      "getcpu_raw ret=0\n"
      "getcpu_raw cpu=0 node=0\n"
      "getcpu_cpu_only ret=0\n"
      "getcpu_cpu_only cpu=0\n"
      "getcpu_node_only ret=0\n"
      "getcpu_node_only node=0\n"
      "getcpu_null ret=0\n"
      "getcpu_efault errno=EFAULT\n"
      "getcpu_glibc ret=0\n"
      "getcpu_glibc cpu=0 node=0\n"
      "sched_getcpu 0\n";
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
  out += "rseq_registered 0\n";
#endif
  for (int len : {0, 4, 8, 12, 16, 24, 32, 64, 128, 136, 256}) {
    out += "getaffinity_raw_" + std::to_string(len);
    if (len * 8 < n || len % 8 != 0) {
      out += " errno=EINVAL\n";
    } else {
      out += " ret=" + std::to_string(mask) + " bits=" + std::to_string(n) + " next_untouched=1\n";
    }
  }
  out += "getaffinity_bad_pid errno=ESRCH\n";
  out += "getaffinity_efault errno=EFAULT\n";
  out += "getaffinity_self_pid ret=" + std::to_string(mask) + "\n";
  const std::string count = std::to_string(n);
  out += "glibc_count " + count + "\n";
  out += "glibc_bits_in_set " + count + "\n";
  out += "getattr_count " + count + "\n";
  out += "thread_count " + count + "\n";
  out += "thread_getcpu ret=0 cpu=0\n";
  out += "setaffinity_cpu0 ret=0\n";
  out += "setaffinity_last ret=0\n";
  out += "setaffinity_beyond errno=EINVAL\n";
  out += "setaffinity_empty errno=EINVAL\n";
  out += "setaffinity_short ret=0\n";
  out += "setaffinity_len0 errno=EINVAL\n";
  out += "setaffinity_efault errno=EFAULT\n";
  out += "setaffinity_bad_pid errno=ESRCH\n";
  out += "glibc_count_after_set " + count + "\n";
  return out;
}

TEST(CpusTest, ProbeEveryCall) {
  EXPECT_EQ(Twice({}, {Probe("cpu_probe")}), ExpectedProbe(1));
  EXPECT_EQ(Twice({"--cpus=4"}, {Probe("cpu_probe")}), ExpectedProbe(4));
  EXPECT_EQ(Twice({"--cpus=65"}, {Probe("cpu_probe")}), ExpectedProbe(65));
  EXPECT_EQ(Twice({"--cpus=1000"}, {Probe("cpu_probe")}), ExpectedProbe(1000));
  EXPECT_EQ(Twice({"--cpus=1024"}, {Probe("cpu_probe")}), ExpectedProbe(1024));
}

TEST(CpusTest, TasksetDoesNotMoveTheCommandOrNarrowWhatItSees) {
  if (!IsExecutable("/usr/bin/taskset")) GTEST_SKIP() << "no /usr/bin/taskset";
  // sched_setaffinity is accepted without effect (cpus_module.h).
  std::vector<std::string> command = {"taskset", "-c", "0"};
  command.insert(command.end(), kNproc.begin(), kNproc.end());
  EXPECT_EQ(Twice({"--cpus=4"}, command), "4\n");
  // A CPU the run does not have is refused as the kernel refuses it.
  Output o = Detrun({"--cpus=4", "--", "taskset", "-c", "7", "true"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_THAT(o.err, HasSubstr("Invalid argument"));
}

}  // namespace
}  // namespace detrun::testing
