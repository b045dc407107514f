// File times under --fs-times, on real programs: every way of asking the
// stat family (stat_probe) reads the start for files written in the run and
// the host's times under --fs-times=real, with the kernel's own errors
// either way; archives of files written in the run (tar, zip, gzip) and
// gcc objects are byte-identical across runs; ls, stat and Python print the
// start; /dev/stdin, <(...) and chroot name the command's own files; and the
// documented price: make cannot see an edit under clamp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kStartTime[] = "1577836800.000000000";
const char k1990[] = "631152000.000000000";  // 1990-01-01T00:00:00Z

// One probe line: "NAME key=value ..." (NAME may contain spaces).
struct Line {
  std::string name;
  std::map<std::string, std::string> fields;
};

std::vector<Line> Parse(const std::string& out) {
  std::vector<Line> lines;
  std::istringstream in(out);
  std::string text;
  while (std::getline(in, text)) {
    Line line;
    std::istringstream words(text);
    std::string word;
    while (words >> word) {
      const size_t eq = word.find('=');
      if (eq == std::string::npos) {
        line.name += (line.name.empty() ? "" : " ") + word;
      } else {
        line.fields[word.substr(0, eq)] = word.substr(eq + 1);
      }
    }
    lines.push_back(line);
  }
  return lines;
}

// The lines that report errors (or "ok"), which must not depend on the
// mode or the run.
std::string Errors(const std::string& out) {
  std::string errors;
  for (const Line& line : Parse(out)) {
    if (!line.fields.contains("mtime")) {
      errors += line.name + " " + (line.fields.contains("errno") ? line.fields.at("errno") : "ok") +
                "\n";
    }
  }
  return errors;
}

std::string TimeOf(const struct timespec& ts) {
  char buf[64];
  snprintf(buf, sizeof buf, "%lld.%09ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
  return buf;
}

// Sets a file's access and modification times to `seconds`.
void SetTimes(const std::string& path, time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

class FsTimesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& d : dirs_) RemoveTree(d);
  }
  std::string NewDir() {
    dirs_.push_back(MakeTempDir());
    return dirs_.back();
  }
  // A fresh directory holding "old", a file dated 1990 (before the start).
  std::string NewDirWithOldFile() {
    std::string dir = NewDir();
    WriteFile(dir + "/old", "old\n");
    SetTimes(dir + "/old", 631152000);
    return dir;
  }
  std::vector<std::string> dirs_;
};

TEST_F(FsTimesTest, EveryStatCallReadsTheStartForFilesWrittenInTheRun) {
  const std::string dir = NewDirWithOldFile();
  Output o = Detrun({kStart, "--", Probe("stat_probe"), dir, dir + "/old"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  struct stat file, link, d;
  ASSERT_EQ(stat((dir + "/probe_file").c_str(), &file), 0);
  ASSERT_EQ(lstat((dir + "/probe_link").c_str(), &link), 0);
  ASSERT_EQ(stat(dir.c_str(), &d), 0);
  int time_lines = 0;
  for (const Line& line : Parse(o.out)) {
    if (!line.fields.contains("mtime")) continue;
    ++time_lines;
    SCOPED_TRACE(line.name);
    if (line.name == "stat " + dir + "/old") {
      // Older than the start: as stored (its ctime is now: the start).
      EXPECT_EQ(line.fields.at("atime"), k1990);
      EXPECT_EQ(line.fields.at("mtime"), k1990);
      EXPECT_EQ(line.fields.at("ctime"), kStartTime);
      continue;
    }
    for (const char* field : {"atime", "mtime", "ctime", "btime"}) {
      if (line.fields.contains(field)) {
        EXPECT_EQ(line.fields.at(field), kStartTime) << field;
      }
    }
    // Everything else is the host's: the file, the link or the directory.
    const struct stat& want = line.name == "lstat" || line.name.ends_with("_nofollow") ? link
                              : line.name == "fstatat_dir"                            ? d
                                                                                      : file;
    EXPECT_EQ(line.fields.at("ino"), std::to_string(want.st_ino));
    EXPECT_EQ(line.fields.at("size"), std::to_string(want.st_size));
  }
  EXPECT_EQ(time_lines, 14) << o.out;
}

TEST_F(FsTimesTest, RealReportsTheHostTimes) {
  const std::string dir = NewDirWithOldFile();
  Output o = Detrun({kStart, "--fs-times=real", "--", Probe("stat_probe"), dir, dir + "/old"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  struct stat file;
  ASSERT_EQ(stat((dir + "/probe_file").c_str(), &file), 0);
  const std::string mtime = TimeOf(file.st_mtim);
  EXPECT_GT(file.st_mtim.tv_sec, 1577836800);
  for (const Line& line : Parse(o.out)) {
    if (!line.fields.contains("mtime")) continue;
    SCOPED_TRACE(line.name);
    if (line.name == "stat " + dir + "/old") {
      EXPECT_EQ(line.fields.at("mtime"), k1990);
    } else {
      EXPECT_NE(line.fields.at("mtime"), kStartTime);
    }
    if (line.fields.at("ino") == std::to_string(file.st_ino)) {
      EXPECT_EQ(line.fields.at("mtime"), mtime);
    }
  }
}

TEST_F(FsTimesTest, ErrorsAreTheKernelsInEveryMode) {
  Output native = RunProgram({Probe("stat_probe"), NewDir()});
  ASSERT_EQ(native.exit_code, 0) << native.err;
  const std::string errors = Errors(native.out);
  EXPECT_THAT(errors, HasSubstr("stat_missing ENOENT\n"));
  EXPECT_THAT(errors, HasSubstr("stat_bad_pointer EFAULT\n"));
  EXPECT_THAT(errors, HasSubstr("fstat_bad_fd EBADF\n"));
  EXPECT_THAT(errors, HasSubstr("statx_bad_flags EINVAL\n"));
  for (const char* mode : {"--fs-times=clamp", "--fs-times=real"}) {
    Output o = Detrun({kStart, mode, "--", Probe("stat_probe"), NewDir()});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(Errors(o.out), errors) << mode;
  }
  // Natively the times are the host's.
  for (const Line& line : Parse(native.out)) {
    if (line.fields.contains("mtime")) {
      EXPECT_NE(line.fields.at("mtime"), kStartTime);
    }
  }
}

TEST_F(FsTimesTest, ToolsPrintTheStart) {
  const std::string dir = NewDirWithOldFile();
  const std::string script =
      "cd \"$1\" && echo x > f && TZ=UTC ls -l --time-style=full-iso f && stat -c %Y f old && "
      "/usr/bin/python3 -c 'import os; print(os.stat(\"f\").st_mtime, os.lstat(\"old\").st_mtime)'";
  Output o = Detrun({kStart, "--", "sh", "-c", script, "sh", dir});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr(" 2 2020-01-01 00:00:00.000000000 +0000 f\n"
                               "1577836800\n"
                               "631152000\n"
                               "1577836800.0 631152000.0\n"));
  Output real = Detrun({kStart, "--fs-times=real", "--", "sh", "-c", script, "sh", dir});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  EXPECT_THAT(real.out, Not(HasSubstr("2020-01-01")));
  EXPECT_THAT(real.out, Not(HasSubstr("1577836800")));
  EXPECT_THAT(real.out, HasSubstr("631152000\n"));
}

// Writes the same small tree in a fresh directory and archives it.
const char kArchiveScript[] =
    "cd \"$1\" && mkdir src src/sub && echo a > src/a && echo b > src/sub/b && "
    "ln -s a src/link && tar --sort=name -czf out.tgz src && sha256sum < out.tgz && "
    "TZ=UTC tar --full-time -tvzf out.tgz";

TEST_F(FsTimesTest, TarOfFilesWrittenInTheRunIsByteIdentical) {
  Output a = Detrun({kStart, "--", "sh", "-c", kArchiveScript, "sh", NewDir()});
  Output b = Detrun({kStart, "--", "sh", "-c", kArchiveScript, "sh", NewDir()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  // Every member (src/, src/a, src/link, src/sub/, src/sub/b) is dated
  // the start.
  std::istringstream listing(a.out);
  std::string line;
  std::getline(listing, line);  // the digest
  int members = 0;
  while (std::getline(listing, line)) {
    ++members;
    EXPECT_THAT(line, HasSubstr(" 2020-01-01 00:00:00 src"));
  }
  EXPECT_EQ(members, 5) << a.out;
  // Natively and under --fs-times=real the members carry the host's times.
  Output native = RunProgram({"sh", "-c", kArchiveScript, "sh", NewDir()});
  ASSERT_EQ(native.exit_code, 0) << native.err;
  EXPECT_THAT(native.out, Not(HasSubstr("2020-01-01")));
  Output real =
      Detrun({kStart, "--fs-times=real", "--", "sh", "-c", kArchiveScript, "sh", NewDir()});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  EXPECT_THAT(real.out, Not(HasSubstr("2020-01-01")));
  EXPECT_NE(real.out.substr(0, 64), a.out.substr(0, 64));
}

TEST_F(FsTimesTest, ZipAndGzipOfFilesWrittenInTheRunAreByteIdentical) {
  if (!IsExecutable("/usr/bin/zip")) GTEST_SKIP() << "no /usr/bin/zip";
  // gzip stores the input file's mtime (4 bytes at offset 4); zip its
  // modification time (DOS and Unix) and access time.
  const char script[] =
      "cd \"$1\" && mkdir src && echo a > src/a && echo b > src/b && zip -qr out.zip src && "
      "gzip -k src/a && sha256sum < out.zip && od -A n -t u4 -j 4 -N 4 src/a.gz";
  Output a = Detrun({kStart, "--", "sh", "-c", script, "sh", NewDir()});
  Output b = Detrun({kStart, "--", "sh", "-c", script, "sh", NewDir()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_THAT(a.out, HasSubstr(" 1577836800\n"));
  Output real = Detrun({kStart, "--fs-times=real", "--", "sh", "-c", script, "sh", NewDir()});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  EXPECT_NE(real.out, a.out);
  EXPECT_THAT(real.out, Not(HasSubstr(" 1577836800\n")));
}

TEST_F(FsTimesTest, GccDateAndTimeStaySecondsApart) {
  if (!IsExecutable("/usr/bin/gcc")) GTEST_SKIP() << "no /usr/bin/gcc";
  // __DATE__ and __TIME__ follow SOURCE_DATE_EPOCH, which detrun exports.
  const char script[] =
      "cd \"$1\" && printf 'const char* stamp = __DATE__ \" \" __TIME__;\\n' > t.c && "
      "gcc -c t.c -o t.o && sha256sum < t.o";
  auto compile = [&](bool under_detrun) {
    std::vector<std::string> command = {"env", "-u", "SOURCE_DATE_EPOCH"};
    if (under_detrun) command.insert(command.end(), {DetrunBin(), kStart, "--"});
    command.insert(command.end(), {"sh", "-c", script, "sh", NewDir()});
    Output o = RunProgram(command, "", 120);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o.out;
  };
  const std::string first = compile(true);
  const std::string native_first = compile(false);
  usleep(1'100'000);  // __TIME__ has whole seconds
  EXPECT_EQ(compile(true), first);
  EXPECT_NE(compile(false), native_first) << "natively the objects should differ";
}

TEST_F(FsTimesTest, StdinAndProcessSubstitutionNameTheCommandsFiles) {
  if (!IsExecutable("/usr/bin/bash")) GTEST_SKIP() << "no /usr/bin/bash";
  const std::string dir = NewDir();
  // /dev/stdin and /dev/fd/63 lead to /proc/self: the command's, not detrun's.
  const char script[] =
      "cd \"$1\" && echo x > f && diff <(echo a) <(echo a) && echo same && "
      "stat -L -c '%F %Y' /dev/stdin < f && echo | stat -L -c %F /dev/stdin && "
      "[ \"$(stat -L -c %i /proc/self/exe)\" = \"$(stat -L -c %i /usr/bin/stat)\" ] && echo exe";
  Output o = Detrun({kStart, "--", "/usr/bin/bash", "-c", script, "bash", dir});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "same\nregular file 1577836800\nfifo\nexe\n");
}

TEST_F(FsTimesTest, ChrootedCommandStatsItsOwnRoot) {
  if (!IsExecutable("/bin/busybox")) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  const std::string root = NewDir();
  ASSERT_EQ(mkdir((root + "/bin").c_str(), 0755), 0);
  ASSERT_EQ(RunProgram({"cp", "/bin/busybox", root + "/bin/busybox"}).exit_code, 0);
  WriteFile(root + "/f", "in the chroot\n");
  ASSERT_EQ(symlink("/f", (root + "/bin/abs").c_str()), 0);
  // As root chroot directly; otherwise in a new user namespace. (By full
  // path: Bazel's PATH has no sbin.)
  std::string chroot_bin;
  for (const char* path : {"/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"}) {
    if (chroot_bin.empty() && IsExecutable(path)) chroot_bin = path;
  }
  if (chroot_bin.empty()) GTEST_SKIP() << "no chroot";
  std::vector<std::string> enter = {chroot_bin, root};
  if (geteuid() != 0) enter.insert(enter.begin(), {"/usr/bin/unshare", "-r"});
  std::vector<std::string> probe = enter;
  probe.insert(probe.end(), {"/bin/busybox", "true"});
  if (RunProgram(probe).exit_code != 0) GTEST_SKIP() << "cannot chroot here";
  std::vector<std::string> command = enter;
  command.insert(command.end(), {"/bin/busybox", "sh", "-c",
                                 "cd /bin && /bin/busybox stat -L -c '%s %Y' /f abs ../../f && "
                                 "[ \"$(/bin/busybox stat -c %i /..)\" = "
                                 "\"$(/bin/busybox stat -c %i /)\" ] && echo root"});
  std::vector<std::string> args = {kStart, "--"};
  args.insert(args.end(), command.begin(), command.end());
  Output o = Detrun(args);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "14 1577836800\n14 1577836800\n14 1577836800\nroot\n");
}

TEST_F(FsTimesTest, LandlockDoesNotGovernStat) {
  const std::string dir = NewDir();
  WriteFile(dir + "/f", "x\n");
  // Only /usr is readable (stat and cat live there): reading f is refused,
  // stat-ing it is not, natively or under detrun.
  Output o = Detrun({kStart, "--allow-read=/usr", "--", "/usr/bin/stat", "-c", "%Y", dir + "/f"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "1577836800\n");
  Output cat = Detrun({kStart, "--allow-read=/usr", "--", "/usr/bin/cat", dir + "/f"});
  EXPECT_NE(cat.exit_code, 0);
}

TEST_F(FsTimesTest, IncrementalMakeSeesEditsOnlyWithReal) {
  if (!IsExecutable("/usr/bin/make")) GTEST_SKIP() << "no /usr/bin/make";
  const std::string dir = NewDir();
  WriteFile(dir + "/Makefile", "out: in\n\tcp in out\n");
  WriteFile(dir + "/in", "v1\n");
  WriteFile(dir + "/out", "v1\n");
  // Built an hour ago, edited since: out of date.
  const time_t now = time(nullptr);
  SetTimes(dir + "/out", now - 3600);
  SetTimes(dir + "/in", now - 60);
  const std::vector<std::string> question = {"make", "-q", "-C", dir};
  EXPECT_EQ(RunProgram(question).exit_code, 1);
  // Under clamp both read as the start: make takes out for up to date
  // (the documented reason to use --fs-times=real for incremental builds).
  std::vector<std::string> clamp = {kStart, "--"};
  clamp.insert(clamp.end(), question.begin(), question.end());
  EXPECT_EQ(Detrun(clamp).exit_code, 0);
  std::vector<std::string> real = {kStart, "--fs-times=real", "--"};
  real.insert(real.end(), question.begin(), question.end());
  EXPECT_EQ(Detrun(real).exit_code, 1);
}

TEST_F(FsTimesTest, PythonReusesAStalePycOnlyUnderClamp) {
  const std::string dir = NewDir();
  WriteFile(dir + "/m.py", "print('v1')\n");
  // Bytecode caching on, in a cache of the test's own (never the system's
  // __pycache__).
  auto import_m = [&](const char* mode) {
    // An empty PYTHONDONTWRITEBYTECODE opts back in to writing .pyc files
    // (detrun exports it as 1 under clamp only when it is unset).
    Output o = RunProgram({"env", "PYTHONDONTWRITEBYTECODE=",
                           "PYTHONPYCACHEPREFIX=" + dir + "/cache", DetrunBin(), kStart, mode, "--",
                           "/usr/bin/python3", "-c",
                           "import sys; sys.path.insert(0, sys.argv[1]); import m", dir});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o.out;
  };
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  EXPECT_EQ(import_m("--fs-times=clamp"), "v1\n");  // writes cache/.../m.*.pyc
  // An edit of the same size: its time reads as the start, like the one
  // recorded in the .pyc, so the old bytecode runs.
  WriteFile(dir + "/m.py", "print('v2')\n");
  EXPECT_EQ(import_m("--fs-times=clamp"), "v1\n");
  EXPECT_EQ(import_m("--fs-times=real"), "v2\n");
}

// A timestamp .pyc records its source's time, which clamp shows as the
// start: its copy in the .pyc reads as the start too, so Python runs the
// .pyc instead of compiling the source again (as outside detrun). Only that
// field differs, only for a timestamp .pyc newer than the start, and only
// when it is opened for reading.
TEST_F(FsTimesTest, PycRecordedSourceTimesReadClampedSoPythonRunsThem) {
  if (!IsExecutable("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  const std::string dir = NewDir();
  WriteFile(dir + "/stamped.py", "X = 41 + 1\n");
  WriteFile(dir + "/hashed.py", "Y = 6 * 7\n");
  // Compiled outside detrun, now (later than the start): one timestamp
  // .pyc, one checked-hash .pyc (PEP 552), where Python puts them.
  Output compiled = RunProgram({"/usr/bin/python3", "-c",
                                "import py_compile as p, sys\n"
                                "p.compile(sys.argv[1] + '/stamped.py', doraise=True,\n"
                                "          invalidation_mode=p.PycInvalidationMode.TIMESTAMP)\n"
                                "p.compile(sys.argv[1] + '/hashed.py', doraise=True,\n"
                                "          invalidation_mode=p.PycInvalidationMode.CHECKED_HASH)\n",
                                dir});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  // Imports both (-v: Python says which .pyc "matches"), then prints each
  // .pyc's flags word and the 8 bytes after it, and whether a write-open of
  // the .pyc reaches the file itself.
  const std::vector<std::string> script = {
      "/usr/bin/python3", "-v", "-c",
      "import importlib.util as u, os, sys\n"
      "sys.path.insert(0, sys.argv[1])\n"
      "import stamped, hashed\n"
      "print(stamped.X, hashed.Y)\n"
      "for name in ('stamped', 'hashed'):\n"
      "    with open(u.cache_from_source(sys.argv[1] + '/' + name + '.py'), 'rb') as f:\n"
      "        d = f.read()\n"
      "        link = os.readlink('/proc/self/fd/%d' % f.fileno())\n"
      "    print(name, int.from_bytes(d[4:8], 'little'), d[8:16].hex(), len(d),\n"
      "          'memfd' if link.startswith('/memfd:') else 'file')\n"
      "with open(u.cache_from_source(sys.argv[1] + '/stamped.py'), 'r+b') as f:\n"
      "    print('write', int.from_bytes(f.read(12)[8:12], 'little'))\n",
      dir};
  Output native = RunProgram(script);
  ASSERT_EQ(native.exit_code, 0) << native.err;
  std::vector<std::string> args = {kStart, "--"};
  args.insert(args.end(), script.begin(), script.end());
  Output clamp = Detrun(args);
  ASSERT_EQ(clamp.exit_code, 0) << clamp.err;
  EXPECT_THAT(clamp.err, HasSubstr(".pyc matches " + dir + "/stamped.py"));
  EXPECT_THAT(clamp.err, Not(HasSubstr("bytecode is stale")));

  // Natively: the source's real time (later than the start) and the hash.
  std::istringstream lines(native.out);
  std::string first, stamped_line, hashed_line, write_line;
  std::getline(lines, first);
  std::getline(lines, stamped_line);
  std::getline(lines, hashed_line);
  std::getline(lines, write_line);
  EXPECT_EQ(first, "42 42");
  struct stat st;
  ASSERT_EQ(stat((dir + "/stamped.py").c_str(), &st), 0);
  char native_time[9];
  snprintf(native_time, sizeof native_time, "%02x%02x%02x%02x",
           static_cast<unsigned>(st.st_mtime & 0xff),
           static_cast<unsigned>((st.st_mtime >> 8) & 0xff),
           static_cast<unsigned>((st.st_mtime >> 16) & 0xff),
           static_cast<unsigned>((st.st_mtime >> 24) & 0xff));
  EXPECT_THAT(stamped_line, HasSubstr(absl::StrCat("stamped 0 ", native_time)));
  EXPECT_THAT(stamped_line, HasSubstr(" file"));
  // Under clamp: the start (2020-01-01, 0x5e0be100) in place of the time,
  // the size after it, the length and the hashed .pyc unchanged; a
  // write-open gets the file itself.
  const std::string stamped_clamped =
      absl::StrCat("stamped 0 00e10b5e", stamped_line.substr(18, std::string::npos));
  const std::string clamped_out =
      absl::StrCat(first, "\n", absl::StrReplaceAll(stamped_clamped, {{" file", " memfd"}}), "\n",
                   hashed_line, "\n", write_line, "\n");
  EXPECT_EQ(clamp.out, clamped_out);
  EXPECT_THAT(hashed_line, HasSubstr("hashed 3 "));
  EXPECT_THAT(write_line, HasSubstr(absl::StrCat("write ", st.st_mtime)));

  // --fs-times=real: the file as it is.
  args.insert(args.begin(), "--fs-times=real");
  Output real = Detrun(args);
  ASSERT_EQ(real.exit_code, 0) << real.err;
  EXPECT_EQ(real.out, native.out);
}

// Under clamp Python would take every installed .pyc for stale and, as
// root, rewrite the system's __pycache__: detrun exports
// PYTHONDONTWRITEBYTECODE=1 unless the caller set it.
TEST(FsTimesEnvTest, PythonBytecodeWritingIsOffUnderClampUnlessAsked) {
  auto seen = [](std::vector<std::string> env_args, const char* mode) {
    std::vector<std::string> argv = {"env", "-u", "PYTHONDONTWRITEBYTECODE"};
    argv.insert(argv.end(), env_args.begin(), env_args.end());
    argv.push_back(DetrunBin());
    argv.push_back(mode);
    argv.insert(argv.end(), {"--", "printenv", "PYTHONDONTWRITEBYTECODE"});
    return RunProgram(argv).out;
  };
  EXPECT_EQ(seen({}, "--fs-times=clamp"), "1\n");
  EXPECT_EQ(seen({}, "--fs-times=real"), "");
  EXPECT_EQ(seen({"PYTHONDONTWRITEBYTECODE="}, "--fs-times=clamp"), "\n");
  EXPECT_EQ(seen({"PYTHONDONTWRITEBYTECODE=yes"}, "--fs-times=clamp"), "yes\n");
}

}  // namespace
}  // namespace detrun::testing
