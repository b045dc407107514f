// Deterministic getrandom, on real programs: each run twice with one
// --seed (identical), with another seed (different); natively the same
// programs vary. Where the kernel's answer is not random (return values,
// errors) it is the same under detrun as natively.
// /dev/urandom and /dev/random: endless seeded streams, one per open
// (determinism/random_module.h); Perl (which seeds rand() from
// /dev/urandom) and bash's $RANDOM are covered through them.
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "determinism/random_stream.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;

// The first 16 getrandom bytes of the root process with --seed=42
// (pinned in determinism/random_module_test.cc too).
const char kSeed42First16[] = "3bc4363072aaaf599e6e6fe9d0a8e798";

std::string Native(const std::vector<std::string>& command) {
  Output o = RunProgram(command);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  return o.out;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The probe's output with the random parts (hashes, hex bytes) blanked:
// what must be the same under detrun as natively.
std::string Shape(const std::string& out) {
  return RegexReplace(out, "[0-9a-f]{16,}", "X");
}

TEST(RandomTest, ProbeIsIdenticalAcrossRunsDiffersAcrossSeedsAndMatchesTheKernel) {
  const std::string a = Twice({"--seed=42"}, {Probe("getrandom_probe")});
  const std::string b = Twice({"--seed=43"}, {Probe("getrandom_probe")});
  EXPECT_NE(a, b);
  EXPECT_EQ(Shape(a),
            "size=16 ret=16 fnv=X head=X\n"
            "size=4096 ret=4096 fnv=X head=X\n"
            "size=1048577 ret=1048577 fnv=X head=X\n"
            "flags=0x0 ret=16 head=X\n"
            "flags=0x1 ret=16 head=X\n"
            "flags=0x2 ret=16 head=X\n"
            "flags=0x3 ret=16 head=X\n"
            "flags=0x4 ret=16 head=X\n"
            "flags=0x5 ret=16 head=X\n"
            "flags=0x6 ret=-EINVAL head=X\n"
            "flags=0x7 ret=-EINVAL head=X\n"
            "flags=0x8 ret=-EINVAL head=X\n"
            "flags=0x80000000 ret=-EINVAL head=X\n"
            "flags=0x100000001 ret=16 head=X\n"
            "len0 ret=0\n"
            "len0 untouched=1\n"
            "null_len0 ret=0\n"
            "null_len16 ret=-EFAULT\n"
            "kernel_len0 ret=-EFAULT\n"
            "after ret=16 X\n");
  EXPECT_EQ(Shape(a), Shape(Native({Probe("getrandom_probe")})));
  // A refused call leaves the buffer as it was.
  EXPECT_THAT(a, HasSubstr("flags=0x6 ret=-EINVAL head=eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\n"));
  // Every line carrying bytes differs between the seeds.
  std::vector<std::string> la = Lines(a), lb = Lines(b);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    if (la[i].find("EINVAL") == std::string::npos && la[i].find("ret=16 ") != std::string::npos) {
      EXPECT_NE(la[i], lb[i]);
    }
  }
  // Natively two runs differ.
  EXPECT_NE(Native({Probe("getrandom_probe")}), Native({Probe("getrandom_probe")}));
}

// The seed-42 getrandom stream of process "1", as hex, from `offset`.
std::string Seed42StreamHex(size_t offset, size_t size) {
  RandomStream stream("getrandom", 42, ProcessIdentity::Root());
  std::vector<uint8_t> bytes(offset + size);
  stream.Fill(bytes.data(), bytes.size());
  std::string hex;
  char buf[3];
  for (size_t i = offset; i < bytes.size(); ++i) {
    snprintf(buf, sizeof buf, "%02x", bytes[i]);
    hex += buf;
  }
  return hex;
}

TEST(RandomTest, FirstBytesArePinned) {
  // The stream itself is pinned...
  ASSERT_EQ(Seed42StreamHex(0, 16), kSeed42First16);
  // ...and the probe's first read continues it where the process's start-up
  // left it: at 0, or at 8 when something called malloc before main (glibc
  // draws an 8-byte tcache key from getrandom at the first malloc; the
  // Bazel-linked probe loads libstdc++, which allocates at start-up).
  const std::string out = Twice({"--seed=42"}, {Probe("getrandom_probe"), "first"});
  EXPECT_THAT(out, ::testing::AnyOf(
                       ::testing::Eq("first ret=16 " + Seed42StreamHex(0, 16) + "\n"),
                       ::testing::Eq("first ret=16 " + Seed42StreamHex(8, 16) + "\n")));
  // The default seed is 0: a different stream, but a fixed one.
  EXPECT_NE(Twice({}, {Probe("getrandom_probe"), "first"}), out);
}

TEST(RandomTest, PartialReadConsumesOnlyWhatItWrote) {
  // 100 of 200 bytes writable: ret 100, as natively; the next read
  // continues right after them.
  const std::string whole = Twice({"--seed=42"}, {Probe("getrandom_probe"), "whole"});
  const std::string partial = Twice({"--seed=42"}, {Probe("getrandom_probe"), "partial"});
  ASSERT_THAT(whole, ::testing::StartsWith("whole ret=116 "));
  ASSERT_THAT(partial, ::testing::StartsWith("partial ret=100 "));
  EXPECT_EQ(whole.substr(14), partial.substr(16, 232) + "\n");
  EXPECT_THAT(partial, ::testing::EndsWith(" then ret=16\n"));
  EXPECT_THAT(Native({Probe("getrandom_probe"), "partial"}),
              ::testing::StartsWith("partial ret=100 "));
}

TEST(RandomTest, FailedReadConsumesNothing) {
  // After a failed read, the next read returns what a first read returns.
  const std::string first = Twice({"--seed=42"}, {Probe("getrandom_probe"), "first"});
  ASSERT_THAT(first, ::testing::StartsWith("first ret=16 "));
  const std::string out = Twice({"--seed=42"}, {Probe("getrandom_probe"), "efault"});
  EXPECT_EQ(out, "then" + first.substr(5) + "unmapped ret=-EFAULT\n");
  EXPECT_THAT(Native({Probe("getrandom_probe"), "efault"}), HasSubstr("unmapped ret=-EFAULT\n"));
}

const char kPython[] = "/usr/bin/python3";
// os.urandom and uuid4 read getrandom; random seeds itself from it at import
// and str hashing is keyed by it unless PYTHONHASHSEED is set.
const char kPythonCode[] =
    "import os, random, uuid\n"
    "print(os.urandom(16).hex())\n"
    "print(random.random())\n"
    "print(uuid.uuid4())\n"
    "print(hash('abc'))";

TEST(RandomTest, Python) {
  if (!IsExecutable(kPython)) GTEST_SKIP() << "SKIPPED: " << kPython << " is not installed";
  const std::vector<std::string> cmd = {"env", "-u", "PYTHONHASHSEED", kPython, "-c", kPythonCode};
  const std::string a = Twice({"--seed=42"}, cmd);
  const std::string b = Twice({"--seed=43"}, cmd);
  std::vector<std::string> la = Lines(a), lb = Lines(b);
  ASSERT_EQ(la.size(), 4u) << a;
  ASSERT_EQ(lb.size(), 4u) << b;
  for (size_t i = 0; i < 4; ++i) EXPECT_NE(la[i], lb[i]) << "line " << i;
  EXPECT_EQ(la[0].size(), 32u);
  EXPECT_EQ(la[2][14], '4') << "a version 4 UUID: " << la[2];
  // Natively every line varies.
  std::vector<std::string> n1 = Lines(Native(cmd)), n2 = Lines(Native(cmd));
  ASSERT_EQ(n1.size(), 4u);
  ASSERT_EQ(n2.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NE(n1[i], n2[i]) << "line " << i;
}

TEST(RandomTest, TwoPythonProcessesOfOneRunDiffer) {
  if (!IsExecutable(kPython)) GTEST_SKIP() << "SKIPPED: " << kPython << " is not installed";
  const std::string py = std::string("env -u PYTHONHASHSEED ") + kPython +
                         " -c 'import os; print(os.urandom(16).hex(), hash(\"abc\"))'";
  const std::string out = Twice({"--seed=42"}, {"sh", "-c", py + "; " + py});
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_NE(lines[0], lines[1]);
}

TEST(RandomTest, CoreutilsShufAndMktemp) {
  // Both seed from getrandom (gnulib's randread and tempname).
  const std::vector<std::string> cmd = {"sh", "-c", "shuf -i 1-20 | tr '\\n' ' '; echo; mktemp -u"};
  const std::string a = Twice({"--seed=42"}, cmd);
  const std::string b = Twice({"--seed=43"}, cmd);
  EXPECT_NE(a, b);
  ASSERT_EQ(Lines(a).size(), 2u) << a;
  ASSERT_EQ(Lines(b).size(), 2u) << b;
  EXPECT_NE(Lines(a)[0], Lines(b)[0]);
  EXPECT_NE(Lines(a)[1], Lines(b)[1]);
  EXPECT_NE(Native(cmd), Native(cmd));
}

TEST(RandomTest, ThreadsShareTheProcessStream) {
  // Python's os.urandom from two threads, one after the other: the second
  // continues the process's stream, whichever thread reads.
  if (!IsExecutable(kPython)) GTEST_SKIP() << "SKIPPED: " << kPython << " is not installed";
  const char code[] =
      "import os, threading\n"
      "out = []\n"
      "t = threading.Thread(target=lambda: out.append(os.urandom(8).hex()))\n"
      "t.start(); t.join()\n"
      "out.append(os.urandom(8).hex())\n"
      "print(*out)";
  const std::string out = Twice({"--seed=42"}, {"env", "PYTHONHASHSEED=0", kPython, "-c", code});
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0].size(), 33u);
  EXPECT_NE(lines[0].substr(0, 16), lines[0].substr(17));
}

// Several MiB of each device, hashed: the same for one seed, different
// for another and natively; a second open continues with new bytes; every
// spelling of the path reaches the virtual device.
TEST(UrandomTest, DevicesAreEndlessSeededStreams) {
  const std::string script =
      "head -c 5000000 /dev/urandom | sha256sum; head -c 3000000 /dev/random | sha256sum";
  const std::string a = Twice({"--seed=1"}, {"sh", "-c", script});
  EXPECT_EQ(Lines(a).size(), 2u);
  EXPECT_NE(Lines(a)[0], Lines(a)[1]);
  EXPECT_NE(Twice({"--seed=2"}, {"sh", "-c", script}), a);
  EXPECT_NE(Native({"sh", "-c", script}), a);
  // dd with full blocks past a pty's buffer: 4 MiB exactly.
  EXPECT_EQ(Twice({}, {"sh", "-c", "dd if=/dev/urandom bs=1M count=4 iflag=fullblock 2>/dev/null | wc -c"}),
            "4194304\n");
  const std::string dir = MakeTempDir();
  const std::string spellings =
      "cd " + dir + " && ln -sf /dev/urandom link && "
      "for p in /dev/urandom /dev/./urandom //dev/urandom link; do "
      "head -c 8 $p | od -An -tx1; done; cd /tmp && head -c 8 ../dev/urandom | od -An -tx1; "
      "cd /dev && head -c 8 urandom | od -An -tx1";
  const std::string out = Twice({}, {"sh", "-c", spellings});
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 6u) << out;
  // Each head is a new process: six different, deterministic streams.
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(std::unique(lines.begin(), lines.end()), lines.end()) << out;
  // Writing is accepted (the kernel mixes it in; detrun drops it).
  EXPECT_EQ(Detrun({"sh", "-c", "echo hello > /dev/urandom"}).exit_code, 0);
  RemoveTree(dir);
}

TEST(UrandomTest, ACharacterDeviceWithTheCallersFlags) {
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "SKIPPED: no /usr/bin/python3";
  const char* script =
      "import os, stat, fcntl\n"
      "f = os.open('/dev/urandom', os.O_RDONLY)\n"
      "g = os.open('/dev/urandom', os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)\n"
      "print(stat.S_ISCHR(os.fstat(f).st_mode))\n"
      "print(bool(fcntl.fcntl(g, fcntl.F_GETFL) & os.O_NONBLOCK), len(os.read(g, 4000)))\n"
      "a, b = os.read(f, 16), os.read(g, 16)\n"
      "print(a != b, a.hex())\n"
      "try:\n  os.write(f, b'x')\nexcept OSError as e:\n  print('write', e.errno)\n";
  const std::string out = Twice({"--seed=7"}, {"/usr/bin/python3", "-c", script});
  EXPECT_THAT(out, ::testing::StartsWith("True\nTrue 4000\nTrue "));
  EXPECT_THAT(out, HasSubstr("write 9\n"));  // EBADF: opened read-only
  // O_CLOEXEC as asked: a shell's redirection leaves it off (Python's
  // os.open always sets it), and the descriptor is a character device.
  const std::string flags = Twice(
      {}, {"bash", "-c",
           "exec 3</dev/urandom; [ -c /dev/fd/3 ] && echo chr; "
           "while read -r k v; do [ \"$k\" = flags: ] && echo $(( 0$v & 02000000 )); "
           "done < /proc/self/fdinfo/3; true"});
  EXPECT_EQ(flags, "chr\n0\n");
}

TEST(UrandomTest, PerlRandAndBashRandomAreSeeded) {
  if (IsExecutable("/usr/bin/perl")) {
    const std::string a = Twice({"--seed=1"}, {"/usr/bin/perl", "-e", "print rand(), \"\\n\""});
    EXPECT_NE(Twice({"--seed=2"}, {"/usr/bin/perl", "-e", "print rand(), \"\\n\""}), a);
    EXPECT_NE(Native({"/usr/bin/perl", "-e", "print rand(), \"\\n\""}), a);
  }
  // bash seeds $RANDOM from the time of day and its pid: both virtual.
  const std::string b = Twice({"--time=2020-01-01"}, {"bash", "-c", "echo $RANDOM $RANDOM $$"});
  EXPECT_NE(Twice({"--time=2021-01-01"}, {"bash", "-c", "echo $RANDOM $RANDOM $$"}), b);
}

// Four processes started at once, each printing its own bytes: the same
// every run, whatever order they ran in.
TEST(UrandomTest, ParallelProcessesEachGetTheirOwnStream) {
  // Each writer puts its lines into the shared pipe with one write(2), which
  // a pipe keeps whole: print() would write the text and its newline
  // separately when PYTHONUNBUFFERED is set (as in CI), and the four
  // writers' pieces could then interleave differently in each run.
  const std::string out = Twice(
      {"--seed=5"},
      {"sh", "-c",
       "{ for i in 1 2 3 4; do (head -c 8 /dev/urandom | od -An -tx1; "
       "/usr/bin/python3 -c 'import os; os.write(1, (os.urandom(8).hex() + \"\\n\").encode())') "
       "& done; wait; } | sort"});
  std::vector<std::string> lines = Lines(out);
  EXPECT_EQ(lines.size(), 8u);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(std::unique(lines.begin(), lines.end()), lines.end()) << out;
}

}  // namespace
}  // namespace detrun::testing
