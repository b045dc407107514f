// `detrun repro` on real builds: the example C project (make -j, gcc,
// tar | gzip) that is unreproducible natively and reproducible under
// detrun, the CI wrapper script, a CMake build, a Python sdist and wheel,
// and a build that stays unreproducible (it records the CPU time it used,
// from /proc/self/schedstat, which detrun does not control).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;

constexpr double kReproTimeout = 300;

// Runs `detrun repro ARGS...` with `dir` as the current directory.
Output Repro(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir, DetrunBin(), "repro"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, "", kReproTimeout);
}

// A copy of an example project in a fresh directory; returns its path.
std::string CopyExample(const std::string& example, const std::string& into) {
  const std::string dir = into + "/project";
  // -L: under Bazel the example files are symlinks into the source tree.
  Output o = RunProgram({"cp", "-RL", "--", Example(example), dir});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  return dir;
}

std::string Listing(const std::string& dir) {
  return RunProgram({"/bin/sh", "-c", "cd \"$1\" && find . | sort", "sh", dir}).out;
}

// The directory named in "kept in DIR" (removed by the caller).
std::string KeptDirectory(const std::string& out) {
  const std::string marker = "are kept in ";
  const size_t at = out.find(marker);
  if (at == std::string::npos) return "";
  const size_t end = out.find_first_of(" \n", at + marker.size());
  return out.substr(at + marker.size(), end - at - marker.size());
}

TEST(ReproTest, ExampleReleaseIsReproducibleUnderDetrunNotNatively) {
  const std::string tmp = MakeTempDir();
  const std::string project = CopyExample("repro/hello", tmp);
  const std::string before = Listing(project);
  Output o = Repro(project, {"--native-baseline", "--artifact=dist", "--", "make", "-j4", "dist"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("seen at " + project + " itself"));
  EXPECT_THAT(o.out, HasSubstr("natively: 1 of 1 file differ between 2 builds: "
                               "dist/hello-1.0.tar.gz"));
  EXPECT_THAT(o.out, HasSubstr("detrun fixed: 1 of them"));
  EXPECT_THAT(o.out, HasSubstr("reproducible: 1 file in 1 artifact(s), identical in 2 builds"));
  // The current directory is never modified.
  EXPECT_EQ(Listing(project), before);
  // The digest is the same from one invocation to the next: same path.
  Output again = Repro(project, {"--artifact=dist", "--", "make", "-j4", "dist"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto digest = [](const std::string& out) { return out.substr(out.find("(xxh3 ")); };
  EXPECT_EQ(digest(again.out), digest(o.out));
  RemoveTree(tmp);
}

TEST(ReproTest, CiWrapperScriptPassesOnTheExample) {
  const std::string tmp = MakeTempDir();
  const std::string project = CopyExample("repro/hello", tmp);
  Output o = RunProgram({"/bin/sh", "-c", "cd \"$1\" && DETRUN=\"$2\" \"$3\" make -j2 dist", "sh",
                         project, DetrunBin(), Example("repro/ci-check-reproducible.sh")},
                        "", kReproTimeout);
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("ci: the release build is reproducible"));
  RemoveTree(tmp);
}

TEST(ReproTest, ABuildReadingAnUncontrolledInputIsNotReproducible) {
  const std::string tmp = MakeTempDir();
  WriteFile(tmp + "/Makefile",
            "all:\n"
            "\techo stable > stable.txt\n"
            "\tcat /proc/self/schedstat > id.txt\n");
  Output o = Repro(tmp, {"--", "make"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("NOT reproducible: 1 of 3 files differ"));
  EXPECT_THAT(o.out, HasSubstr("  id.txt: content differs\n"));
  EXPECT_THAT(o.out, HasSubstr("/build-1/id.txt"));
  const std::string kept = KeptDirectory(o.out);
  ASSERT_FALSE(kept.empty()) << o.out;
  EXPECT_EQ(RunProgram({"test", "-f", kept + "/build-2/id.txt"}).exit_code, 0);
  RemoveTree(kept);
  RemoveTree(tmp);
}

TEST(ReproTest, CMakeBuildIsReproducible) {
  const std::string tmp = MakeTempDir();
  WriteFile(tmp + "/CMakeLists.txt",
            "cmake_minimum_required(VERSION 3.20)\nproject(hello C)\n"
            "add_executable(hello main.c)\n");
  WriteFile(tmp + "/main.c",
            "#include <stdio.h>\nint main(void) { puts(__DATE__ \" \" __TIME__); return 0; }\n");
  Output o = Repro(tmp, {"--artifact=out/hello", "--", "sh", "-c",
                         "cmake -S . -B out >/dev/null && cmake --build out -j2 >/dev/null"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("reproducible: 1 file in 1 artifact(s)"));
  RemoveTree(tmp);
}

TEST(ReproTest, PythonSdistAndWheelAreReproducible) {
  const std::string tmp = MakeTempDir();
  ASSERT_EQ(RunProgram({"mkdir", tmp + "/pkg"}).exit_code, 0);
  WriteFile(tmp + "/pkg/__init__.py", "VERSION = '1.0'\n");
  WriteFile(tmp + "/setup.py",
            "from setuptools import setup\n"
            "setup(name='pkg', version='1.0', packages=['pkg'])\n");
  Output o = Repro(
      tmp, {"--artifact=dist", "--", "/usr/bin/python3", "setup.py", "-q", "sdist", "bdist_wheel"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("reproducible: 2 files in 1 artifact(s)"));
  RemoveTree(tmp);
}

TEST(ReproTest, FailuresAreExit125) {
  const std::string tmp = MakeTempDir();
  Output failed = Repro(tmp, {"--", "sh", "-c", "echo the compiler broke; exit 2"});
  EXPECT_EQ(failed.exit_code, 125) << failed.out;
  EXPECT_THAT(failed.out, HasSubstr("build-1 failed (exit 2)"));
  EXPECT_THAT(failed.out, HasSubstr("the compiler broke"));
  RemoveTree(KeptDirectory(failed.out));
  Output missing = Repro(tmp, {"--artifact=dist", "--", "true"});
  EXPECT_EQ(missing.exit_code, 125) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("no build produced --artifact=dist"));
  RemoveTree(KeptDirectory(missing.out));
  Output usage = Repro(tmp, {"--runs=1", "--", "true"});
  EXPECT_EQ(usage.exit_code, 125);
  EXPECT_THAT(usage.err, HasSubstr("invalid --runs value '1'"));
  Output not_found = Repro(tmp, {"--", "no-such-build-tool"});
  EXPECT_EQ(not_found.exit_code, 125);
  RemoveTree(tmp);
}

}  // namespace
}  // namespace detrun::testing
