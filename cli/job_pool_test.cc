#include "cli/job_pool.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;

Job Shell(const std::string& script) {
  Job job;
  job.argv = {"/bin/sh", "-c", script};
  return job;
}

TEST(RunJobsTest, ResultsInJobOrderWithStatusAndOutput) {
  std::vector<Job> jobs = {Shell("echo one; exit 3"), Shell("echo two >&2"), Shell("kill -9 $$")};
  std::vector<size_t> done;
  absl::StatusOr<std::vector<JobResult>> r =
      RunJobs(jobs, 2, [&](size_t i, const JobResult&) { done.push_back(i); });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].exit_code, 3);
  EXPECT_EQ((*r)[0].tail, "one\n");
  EXPECT_EQ((*r)[1].exit_code, 0);
  EXPECT_EQ((*r)[1].tail, "two\n");
  EXPECT_EQ((*r)[2].exit_code, 137);
  EXPECT_EQ(done.size(), 3u);
}

TEST(RunJobsTest, RunsInParallel) {
  // A barrier rather than a stopwatch (a loaded CI machine once took 2.5 s
  // for four parallel half-second sleeps): each job marks that it started
  // and waits for all four marks, so the jobs succeed only when all four
  // run at once; run one at a time, the first would give up after 30 s.
  char dir_template[] = "/tmp/detrun-jobs.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  std::vector<Job> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(Shell("touch " + dir + "/" + std::to_string(i) + "; n=0; while [ $(ls " + dir +
                         " | wc -l) -lt 4 ]; do n=$((n+1)); [ $n -gt 3000 ] && exit 1; "
                         "sleep 0.01; done"));
  }
  absl::StatusOr<std::vector<JobResult>> r = RunJobs(jobs, 4);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const JobResult& result : *r) EXPECT_EQ(result.exit_code, 0);
  ASSERT_EQ(system(("rm -rf " + dir).c_str()), 0);
}

TEST(RunJobsTest, MatchesLinesAndKeepsTheTail) {
  Job job = Shell("echo start; echo 'test FAILED here'; head -c 100000 /dev/zero | tr '\\0' x");
  job.line_matcher = [](std::string_view line) { return line.find("FAILED") != line.npos; };
  Job quiet = Shell("echo all fine");
  quiet.line_matcher = job.line_matcher;
  absl::StatusOr<std::vector<JobResult>> r = RunJobs({job, quiet}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)[0].matched);
  EXPECT_EQ((*r)[0].tail.size(), kTailBytes);
  EXPECT_FALSE((*r)[1].matched);
}

TEST(RunJobsTest, ATimeoutEndsTheJob) {
  Job job = Shell("trap '' TERM; sleep 30");  // ignores SIGTERM: SIGKILL follows
  job.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<JobResult>> r = RunJobs({job}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)[0].timed_out);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(RunJobsTest, WorkingDirectoryOutputFileAndStartErrors) {
  char tmpl[] = "/tmp/jobpool.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  Job pwd = Shell("pwd; echo to-file");
  pwd.cwd = dir;
  pwd.output_file = dir + "/out.log";
  Job missing;
  missing.argv = {"/nonexistent/program"};
  absl::StatusOr<std::vector<JobResult>> r = RunJobs({pwd, missing}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].exit_code, 0);
  std::stringstream log;
  log << std::ifstream(dir + "/out.log").rdbuf();
  EXPECT_EQ(log.str(), dir + "\nto-file\n");
  EXPECT_EQ((*r)[1].exit_code, 127);
  EXPECT_THAT((*r)[1].tail, HasSubstr("cannot execute"));
  ASSERT_EQ(system(("rm -rf " + dir).c_str()), 0);
}

TEST(LastLinesTest, CountsFromTheEnd) {
  EXPECT_EQ(LastLines("", 3), "");
  EXPECT_EQ(LastLines("one", 1), "one");
  EXPECT_EQ(LastLines("a\nb\nc\n", 1), "c");
  EXPECT_EQ(LastLines("a\nb\nc\n", 2), "b\nc");
  EXPECT_EQ(LastLines("a\nb\nc", 5), "a\nb\nc");
  EXPECT_EQ(LastLines("\n\n", 1), "");
}

}  // namespace
}  // namespace detrun
