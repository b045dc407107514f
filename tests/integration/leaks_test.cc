// The leak report (--report-leaks, --strict, and the leak section of every
// trace) on real programs under the real detrun: cat, df, ls, echo and
// Python reading /proc, inode numbers, statfs figures and a TCP connection
// to a listener of the test's own; virtual files are not leaks; --strict
// fails the leaking calls with EPERM and leaves other programs alone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The "detrun: leak KIND: ..." line, or "".
std::string LeakLine(const std::string& err, const std::string& kind) {
  const std::string start = "detrun: leak " + kind + ": ";
  const size_t at = err.find(start);
  if (at == std::string::npos) return "";
  return err.substr(at, err.find('\n', at) + 1 - at);
}

// The count on the "detrun: leak KIND: N ..." line, or 0.
long LeakCount(const std::string& err, const std::string& kind) {
  const std::vector<std::string> m = RegexSearch(err, "detrun: leak " + kind + ": ([0-9]+) ");
  return m.empty() ? 0 : std::stol(m[1]);
}

class LeaksTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(LeaksTest, CatProcSelfStatIsReported) {
  Output o = Detrun({"--report-leaks", "--", "cat", "/proc/self/stat"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, ContainsRegex("^[0-9]+ \\(cat\\) R "));
  EXPECT_EQ(o.err,
            "detrun: leaks: 1 call reached host facts detrun does not control\n"
            "detrun: leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/stat [1]\n");
}

TEST_F(LeaksTest, VirtualizedFilesAreNotLeaks) {
  Output o = Detrun({"--report-leaks", "--", "cat", "/proc/uptime", "/etc/hostname",
                     "/proc/sys/kernel/hostname", "/sys/devices/system/cpu/online"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "100.00 0.00\ndetrun\ndetrun\n0\n");
  EXPECT_EQ(o.err, "detrun: leaks: none\n");
  Output echo = Detrun({"--report-leaks", "--", "echo", "hi"});
  EXPECT_EQ(echo.out, "hi\n");
  EXPECT_EQ(echo.err, "detrun: leaks: none\n");
}

TEST_F(LeaksTest, WithoutTheOptionNothingIsPrinted) {
  Output o = Detrun({"--", "cat", "/proc/self/stat"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.err, "");
}

// Python's own start-up stats many paths; one os.stat more is one inode
// number more, the same on every run.
TEST_F(LeaksTest, PythonStInoIsAnInodeLeak) {
  const std::vector<std::string> base = {"--report-leaks", "--", "python3", "-c"};
  auto run = [&](const std::string& code) {
    std::vector<std::string> args = base;
    args.push_back(code);
    return Detrun(args);
  };
  Output without = run("import os\nprint(True)");
  Output with = run("import os\nprint(os.stat('/etc/passwd').st_ino > 0)");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.out, "True\n");
  EXPECT_GT(LeakCount(without.err, "inode"), 0);
  EXPECT_EQ(LeakCount(with.err, "inode"), LeakCount(without.err, "inode") + 1) << with.err;
  Output again = run("import os\nprint(os.stat('/etc/passwd').st_ino > 0)");
  EXPECT_EQ(again.err, with.err);
}

TEST_F(LeaksTest, DfSeesStatfsAndMountinfo) {
  Output o = Detrun({"--report-leaks", "--", "df", "/"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, StartsWith("Filesystem"));
  EXPECT_EQ(o.err,
            "detrun: leaks: 3 calls reached host facts detrun does not control\n"
            "detrun: leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/mountinfo [1]\n"
            "detrun: leak inode: 1 inode numbers seen, e.g. newfstatat / [1]\n"
            "detrun: leak statfs: 1 file system figures seen, e.g. statfs / [1]\n");
}

// A listener on 127.0.0.1 with a kernel-chosen port; connections complete
// in its backlog without an accept.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

constexpr char kConnect[] =
    "import socket, sys\n"
    "s = socket.socket()\n"
    "try:\n"
    "    s.connect(('127.0.0.1', int(sys.argv[1])))\n"
    "    print('connected')\n"
    "except PermissionError as e:\n"
    "    print('PermissionError', e.errno)\n";

TEST_F(LeaksTest, TcpConnectionIsReported) {
  Listener listener;
  const std::string port = std::to_string(listener.port());
  Output o = Detrun({"--report-leaks", "--", "python3", "-c", kConnect, port});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "connected\n");
  EXPECT_THAT(o.err, HasSubstr("detrun: leak network: 1 network connections, e.g. connect 127.0.0.1:" +
                               port + " [1]\n"));
}

TEST_F(LeaksTest, StrictRefusesTheConnection) {
  Listener listener;
  const std::string port = std::to_string(listener.port());
  Output o = Detrun({"--strict", "--", "python3", "-c", kConnect, port});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "PermissionError 1\n");
  EXPECT_THAT(o.err, HasSubstr("detrun: leak network: 1 network connections, e.g. connect 127.0.0.1:" +
                               port + " [1]\n"));
  EXPECT_THAT(o.err, EndsWith("detrun: strict: 1 call refused with EPERM\n"));
}

TEST_F(LeaksTest, StrictFailsProcReadsWithEperm) {
  Output o = Detrun({"--strict", "--", "cat", "/proc/self/stat"});
  EXPECT_EQ(o.exit_code, 1);  // cat's own status
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err,
            "cat: /proc/self/stat: Operation not permitted\n"
            "detrun: leaks: 1 call reached host facts detrun does not control\n"
            "detrun: leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/stat [1]\n"
            "detrun: strict: 1 call refused with EPERM\n");
}

TEST_F(LeaksTest, StrictFailsStatfsButNotStat) {
  constexpr char kCode[] =
      "import os\n"
      "print(os.stat('/etc/passwd').st_ino > 0)\n"
      "try:\n"
      "    os.statvfs('/')\n"
      "    print('statvfs ok')\n"
      "except PermissionError as e:\n"
      "    print('PermissionError', e.errno)\n"
      "try:\n"
      "    open('/proc/self/stat').read()\n"
      "    print('read ok')\n"
      "except PermissionError as e:\n"
      "    print('PermissionError', e.errno)\n";
  Output o = Detrun({"--strict", "--", "python3", "-c", kCode});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "True\nPermissionError 1\nPermissionError 1\n");
  EXPECT_THAT(o.err, HasSubstr("detrun: leak statfs: 1 file system figures seen, e.g. statfs / [1]\n"));
  EXPECT_THAT(o.err, HasSubstr("detrun: leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/stat [1]\n"));
  EXPECT_GT(LeakCount(o.err, "inode"), 0);
  EXPECT_THAT(o.err, EndsWith("detrun: strict: 2 calls refused with EPERM\n"));
}

TEST_F(LeaksTest, StrictLeavesOrdinaryProgramsAlone) {
  Output echo = Detrun({"--strict", "--", "echo", "hi"});
  EXPECT_EQ(echo.exit_code, 0);
  EXPECT_EQ(echo.out, "hi\n");
  EXPECT_EQ(echo.err, "detrun: leaks: none\ndetrun: strict: 0 calls refused with EPERM\n");
  ASSERT_TRUE(std::ofstream(dir_ + "/b").good());
  ASSERT_TRUE(std::ofstream(dir_ + "/a").good());
  Output ls = Detrun({"--strict", "--", "ls", dir_});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "a\nb\n");
  EXPECT_THAT(ls.err, HasSubstr("detrun: leak inode: "));  // the listing
}

TEST_F(LeaksTest, ReportToAFileKeepsStderrAndTheExitStatus) {
  const std::string file = dir_ + "/leaks.txt";
  Output o = Detrun({"--report-leaks=" + file, "--", "sh", "-c",
                     "/bin/cat /proc/self/stat >/dev/null; echo own >&2; exit 3"});
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.err, "own\n");
  // (The shell also stats its working directory: inode numbers.)
  const std::string report = ReadFile(file);
  EXPECT_THAT(report, StartsWith("detrun: leaks: "));
  EXPECT_EQ(LeakLine(report, "proc"),
            "detrun: leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/stat [1.1]\n");
  Output bad = Detrun({"--report-leaks=" + dir_ + "/no/such/dir/x", "--", "true"});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_THAT(bad.err, HasSubstr("--report-leaks: cannot write"));
  Output empty = Detrun({"--report-leaks=", "--", "true"});
  EXPECT_EQ(empty.exit_code, 125);
}

// Examples are chosen by process identity and each process's own order,
// not by which process ran first.
TEST_F(LeaksTest, ExamplesDoNotDependOnScheduling) {
  const std::vector<std::string> command = {
      "sh", "-c",
      "/bin/cat /proc/self/io >/dev/null & /bin/cat /proc/self/stat >/dev/null & "
      "/bin/cat /proc/loadavg /proc/self/maps /proc/self/limits >/dev/null; wait"};
  std::string first;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> args = {"--report-leaks", "--"};
    args.insert(args.end(), command.begin(), command.end());
    Output o = Detrun(args);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    if (i == 0) {
      first = o.err;
      // /proc/loadavg is virtual: no leak. 1.3 also read /proc/self/limits.
      EXPECT_EQ(LeakLine(first, "proc"),
                "detrun: leak proc: 4 /proc and /sys reads, e.g. openat /proc/self/io [1.1]; "
                "openat /proc/self/stat [1.2]; openat /proc/self/maps [1.3]; ...\n");
    } else {
      EXPECT_EQ(o.err, first);
    }
  }
}

TEST_F(LeaksTest, EveryTraceHoldsTheReport) {
  const std::string a = dir_ + "/a.trace";
  const std::string b = dir_ + "/b.trace";
  for (const std::string& t : {a, b}) {
    Output o = Detrun({"--record=" + t, "--", "cat", "/proc/self/stat"});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.err, "");  // recording alone prints no report
  }
  Output show = Detrun({"show", a});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, EndsWith("leaks: 1 call reached host facts detrun does not control\n"
                                 "leak proc: 1 /proc and /sys reads, e.g. openat /proc/self/stat [1]\n"));
  Output json = Detrun({"show", "--json", a});
  EXPECT_EQ(json.out, ReadFile(a));
  EXPECT_THAT(json.out, HasSubstr("\"leaks\":{\"strict\":false,\"refused\":0,\"kinds\":[{\"kind\":\"proc\","
                                  "\"count\":1,\"examples\":[{\"t\":\"1\",\"n\":\"openat\",\"d\":"
                                  "\"/proc/self/stat\"}]}]}"));
  // The two runs' stat lines differ (times, memory): diff names the leak.
  Output diff = Detrun({"diff", a, b});
  EXPECT_EQ(diff.exit_code, 1) << diff.out << diff.err;
  EXPECT_THAT(diff.out, HasSubstr("note: host facts detrun does not control reached the command "
                                  "(leak report of both): proc 1 (e.g. openat /proc/self/stat [1])\n"));
  // A run that leaks nothing diffs clean, without a note.
  for (const std::string& t : {a, b}) {
    ASSERT_EQ(Detrun({"--record=" + t, "--", "echo", "hi"}).exit_code, 0);
  }
  Output same = Detrun({"diff", a, b});
  EXPECT_EQ(same.exit_code, 0) << same.out;
  EXPECT_THAT(same.out, Not(HasSubstr("leak")));
}

TEST_F(LeaksTest, StrictIsRecordedAndReplayed) {
  const std::string t = dir_ + "/strict.trace";
  Output o = Detrun({"--strict", "--record=" + t, "--", "cat", "/proc/self/stat"});
  EXPECT_EQ(o.exit_code, 1);
  Output show = Detrun({"show", t});
  EXPECT_THAT(show.out, HasSubstr(" strict"));
  EXPECT_THAT(show.out, HasSubstr("= -1 EPERM  (leaks)"));
  EXPECT_THAT(show.out, EndsWith("strict: 1 call refused with EPERM\n"));
  Output replay = Detrun({"replay", t});
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
}

}  // namespace
}  // namespace detrun::testing
