// A Go program under detrun. Go reads the clock through the vDSO, which it
// finds with its own ELF parse, seeds its runtime from AT_RANDOM, takes
// crypto/rand from getrandom, its host name from uname and NumCPU from
// sched_getaffinity: all of it must be a function of detrun's flags.
// (Map iteration order, which Go seeds from rdtsc too: tsc_test.cc.)
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace detrun::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kProgram[] = R"go(package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		// Go sleeps and fires timers by waiting in epoll/futex with the
		// time left, then reading the clock.
		t := time.Now()
		time.Sleep(300 * time.Millisecond)
		slept := time.Since(t) >= 300*time.Millisecond
		<-time.NewTimer(200 * time.Millisecond).C
		fmt.Println("slept", slept, "timer", time.Since(t) >= 500*time.Millisecond)
		return
	}
	b := make([]byte, 8)
	rand.Read(b)
	h, _ := os.Hostname()
	fmt.Println(time.Now().UTC().Format(time.RFC3339Nano), time.Now().Unix())
	fmt.Printf("rand=%x host=%s cpus=%d\n", b, h, runtime.NumCPU())
}
)go";

class GoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/go", X_OK) != 0) GTEST_SKIP() << "SKIPPED: Go is not installed";
    dir_ = MakeTempDir();
    std::ofstream(dir_ + "/main.go") << kProgram;
    Output build = GoBuild(dir_, dir_ + "/main.go", dir_ + "/observe");
    ASSERT_EQ(build.exit_code, 0) << build.err;
  }
  void TearDown() override {
    if (!dir_.empty()) RemoveTree(dir_);
  }
  std::string dir_;
};

TEST_F(GoTest, TimeRandomHostnameAndCpusFollowTheFlags) {
  const std::string program = dir_ + "/observe";
  // Frozen: exact, every run.
  const std::string a = Twice({"--time=2020-01-01", "--clock=frozen", "--seed=1",
                               "--hostname=gohost", "--cpus=3"},
                              {program});
  EXPECT_THAT(a, StartsWith("2020-01-01T00:00:00Z 1577836800\nrand="));
  EXPECT_THAT(a, HasSubstr(" host=gohost cpus=3\n"));
  const std::string b = Twice({"--time=2021-01-01", "--clock=frozen", "--seed=2",
                               "--hostname=gohost", "--cpus=3"},
                              {program});
  EXPECT_THAT(b, StartsWith("2021-01-01T00:00:00Z 1609459200\nrand="));
  EXPECT_NE(a.substr(a.find("rand=")), b.substr(b.find("rand=")));  // other seed, other bytes
  // Step mode: goroutines move between OS threads, and each thread has its
  // own clock, so which clock main reads depends on Go's scheduler: the
  // milliseconds may differ between runs (a known limit, README). Seconds,
  // random bytes, host name and CPU count do not.
  for (int run = 0; run < 2; ++run) {
    Output o = Detrun({"--time=2020-01-01", "--seed=1", "--hostname=gohost", "--cpus=3", "--",
                       program});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, StartsWith("2020-01-01T00:00:00."));
    EXPECT_THAT(o.out, HasSubstr(" 1577836800\n" + a.substr(a.find("rand="))));
  }
  // Natively: the host's time and bytes.
  Output n1 = RunProgram({program});
  Output n2 = RunProgram({program});
  EXPECT_NE(n1.out, n2.out);
  EXPECT_THAT(n1.out, ::testing::Not(StartsWith("2020-01-01")));
}

TEST_F(GoTest, SleepsAndTimersEndAndMoveTheClock) {
  // Without the timed-wait deadline jump, each wait would end with the
  // clock a few ticks further and Go would wait again, round after round.
  for (const char* mode : {"--clock=step", "--clock=real"}) {
    Output o = Detrun({"--time=2020-01-01", mode, "--", dir_ + "/observe", "sleep"}, "", 30);
    EXPECT_EQ(o.exit_code, 0) << mode << o.err;
    EXPECT_EQ(o.out, "slept true timer true\n") << mode;
  }
}

}  // namespace
}  // namespace detrun::testing
