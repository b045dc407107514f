#include "replay/trace_recorder.h"

#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/process_table.h"
#include "core/syscall_table.h"
#include "replay/syscall_catalog.h"
#include "replay/trace_reader.h"
#include "replay/trace_text.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Drives a recorder the way the supervisor does and reads back its events.
class RecorderTest : public ::testing::Test {
 protected:
  RecorderTest() {
    const char* dir = getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/trace_recorder_test.XXXXXX";
    close(mkstemp(path_.data()));
    writer_ = *TraceWriter::Create(path_);
    TraceHeader h;
    h.argv = {"x"};
    h.env_xxh3 = "0000000000000000";
    writer_->WriteHeader(h);
    recorder_ = std::make_unique<TraceRecorder>(*writer_);
    process_.id = ProcessIdentity{{1, 2}};
    process_.last_exec = "/bin/sh";
    thread_.id = ThreadIdentity{process_.id, 1};
    thread_.process = &process_;
  }
  ~RecorderTest() override { unlink(path_.c_str()); }

  Notification Call(int nr, std::array<uint64_t, 6> args) {
    Notification n;
    n.id = ++id_;
    n.nr = nr;
    n.args = args;
    return n;
  }

  std::vector<TraceEvent> Events() {
    EXPECT_TRUE(writer_->Finish(TraceEnd()).ok());
    std::vector<TraceEvent> events;
    absl::StatusOr<TraceContents> c = ReadTrace(path_, [&](const TraceEvent& e, uint64_t) {
      events.push_back(e);
      return absl::OkStatus();
    });
    EXPECT_TRUE(c.ok()) << c.status();
    return events;
  }

  std::string path_;
  std::unique_ptr<TraceWriter> writer_;
  std::unique_ptr<TraceRecorder> recorder_;
  ProcessState process_;
  ThreadState thread_;
  uint64_t id_ = 1000;
};

TEST_F(RecorderTest, AClockReadRecordsItsValueArgumentsAndPayload) {
  // Garbage in the upper half of a 32-bit argument is ignored, as the
  // kernel ignores it.
  Notification n = Call(SYS_clock_gettime, {0xdead00000000, 0x7ffd0000, 0, 0, 0, 0});
  const int64_t ts[2] = {946684800, 1000000};
  recorder_->OnChildWrite(n, n.args[1], ts, sizeof ts);
  recorder_->OnAnswer(thread_, n, Response::Value(0), "time");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const TraceEvent& e = events[0];
  EXPECT_EQ(e.thread, "1.2:1");
  EXPECT_EQ(e.syscall, "clock_gettime");
  EXPECT_THAT(e.args, ElementsAre(0));  // the pointer is not recorded
  EXPECT_EQ(e.answer, TraceEvent::Answer::kValue);
  EXPECT_EQ(e.module, "time");
  EXPECT_EQ(e.out.bytes, 16u);
  EXPECT_EQ(e.out.hex, "80436d380000000040420f0000000000");
  // Described from the bytes when read, not stored.
  EXPECT_EQ(e.detail, "");
  EXPECT_THAT(FormatEvent(e), HasSubstr("clock_gettime(0) = 0  CLOCK_REALTIME 2000-01-01T00:00:00.001Z"));
}

TEST_F(RecorderTest, RandomBytesAreOnlyADigest) {
  Notification n = Call(SYS_getrandom, {0x1000, 16, 0, 0, 0, 0});
  const char bytes[16] = "0123456789abcde";
  // Written in two pieces: the digest covers the concatenation.
  recorder_->OnChildWrite(n, 0x1000, bytes, 10);
  recorder_->OnChildWrite(n, 0x100a, bytes + 10, 6);
  recorder_->OnAnswer(thread_, n, Response::Value(16), "random");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].args, ElementsAre(16, 0));
  EXPECT_TRUE(events[0].out.hex.empty());
  EXPECT_EQ(events[0].out.xxh3, Xxh3Hex(std::string_view(bytes, 16)));
}

TEST_F(RecorderTest, LargePayloadsStreamToTheSameDigest) {
  Notification n = Call(SYS_getrandom, {0x1000, 5000, 0, 0, 0, 0});
  std::string data(5000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  for (size_t at = 0; at < data.size(); at += 256) {
    recorder_->OnChildWrite(n, 0x1000 + at, data.data() + at, std::min<size_t>(256, data.size() - at));
  }
  recorder_->OnAnswer(thread_, n, Response::Value(5000), "random");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].out.bytes, 5000u);
  EXPECT_EQ(events[0].out.xxh3, Xxh3Hex(data));
}

TEST_F(RecorderTest, WritesOfAContinueAnswerAreArgumentRewritesNotPayload) {
  // The time module rewrites an absolute deadline in host terms and lets
  // the kernel run the call: nothing the program observes.
  Notification n = Call(SYS_futex, {0x5000, 9, 0, 0x6000, 0, 0xffffffff});
  const int64_t host_deadline[2] = {123456, 789};
  recorder_->OnChildWrite(n, 0x6000, host_deadline, sizeof host_deadline);
  recorder_->OnAnswer(thread_, n, Response::Continue(), "time");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].answer, TraceEvent::Answer::kContinue);
  EXPECT_EQ(events[0].out.bytes, 0u);
  EXPECT_THAT(events[0].args, ElementsAre(9, 0, 4294967295));
}

TEST_F(RecorderTest, WritesOfAnotherNotificationAreNotThisOnesPayload) {
  Notification a = Call(SYS_uname, {0x1000, 0, 0, 0, 0, 0});
  Notification b = Call(SYS_getcpu, {0x2000, 0, 0, 0, 0, 0});
  const char junk[4] = {1, 2, 3, 4};
  recorder_->OnChildWrite(a, 0x1000, junk, sizeof junk);
  recorder_->OnAnswer(thread_, b, Response::Value(0), "cpus");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].out.bytes, 0u);
}

TEST_F(RecorderTest, UnameIsDescribedByItsNodename) {
  Notification n = Call(SYS_uname, {0x1000, 0, 0, 0, 0, 0});
  char uts[6 * 65] = {};
  strcpy(uts, "Linux");
  strcpy(uts + 65, "buildhost");
  strcpy(uts + 5 * 65, "(none)");
  recorder_->OnChildWrite(n, 0x1000, uts, sizeof uts);
  recorder_->OnAnswer(thread_, n, Response::Value(0), "uts");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].detail, "nodename=buildhost domainname=(none)");
  EXPECT_EQ(events[0].out.bytes, sizeof uts);
  EXPECT_EQ(events[0].out.xxh3, Xxh3Hex(std::string_view(uts, sizeof uts)));
}

TEST_F(RecorderTest, ErrnoExecAndUnknownSyscalls) {
  recorder_->OnAnswer(thread_, Call(SYS_rseq, {1, 32, 0, 7, 0, 0}), Response::Errno(ENOSYS), "cpus");
  recorder_->OnAnswer(thread_, Call(SYS_execve, {1, 2, 3, 0, 0, 0}), Response::Continue(), "");
  recorder_->OnAnswer(thread_, Call(SYS_getpid, {1, 2, 3, 0, 0, 0}), Response::Continue(), "");
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].error, "ENOSYS");
  EXPECT_THAT(events[0].args, ElementsAre(32, 0, 7));
  EXPECT_EQ(events[1].syscall, "execve");
  EXPECT_EQ(events[1].path, "/bin/sh");
  EXPECT_THAT(events[1].args, IsEmpty());
  EXPECT_EQ(events[2].syscall, "getpid");
  EXPECT_THAT(events[2].args, IsEmpty());  // not in the catalog: no arguments
}

TEST_F(RecorderTest, ProcessLifeEvents) {
  ProcessState root;
  root.id = ProcessIdentity::Root();
  ProcessState orphan;
  orphan.id = ProcessIdentity{{0, 1}};
  recorder_->OnProcessStart(root);
  recorder_->OnProcessStart(process_);
  recorder_->OnProcessStart(orphan);
  recorder_->OnExec(thread_, {"sh", "-c", "x"});
  recorder_->OnProcessExit(process_, 0x0100);
  recorder_->OnProcessExit(root, std::nullopt);
  std::vector<TraceEvent> events = Events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].parent, "");
  EXPECT_EQ(events[1].parent, "1");
  EXPECT_EQ(events[2].parent, "");
  EXPECT_EQ(events[3].kind, TraceEvent::Kind::kExec);
  EXPECT_EQ(events[3].thread, "1.2");
  EXPECT_EQ(events[3].path, "/bin/sh");
  EXPECT_THAT(events[3].argv, ElementsAre("sh", "-c", "x"));
  EXPECT_EQ(events[4].wait_status, 0x0100);
  EXPECT_FALSE(events[5].wait_status.has_value());
}

TEST(SyscallCatalogTest, TimesAreDescribedAsAbslFormatsThem) {
  for (int64_t sec : {int64_t{0}, int64_t{946684800}, int64_t{-1}, int64_t{951782400},
                      int64_t{4102444799}, int64_t{-62135596800}, int64_t{253402300799}}) {
    for (int64_t nsec : {int64_t{0}, int64_t{1}, int64_t{1000000}, int64_t{999999999}, int64_t{120}}) {
      const int64_t ts[2] = {sec, nsec};
      const std::string expected = absl::FormatTime(
          "%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixSeconds(sec) + absl::Nanoseconds(nsec),
          absl::UTCTimeZone());
      EXPECT_EQ(DescribePayload("clock_gettime", {0},
                                std::string_view(reinterpret_cast<const char*>(ts), sizeof ts), 0),
                "CLOCK_REALTIME " + expected)
          << sec << " " << nsec;
    }
  }
  const int64_t mono[2] = {100, 5};
  EXPECT_EQ(DescribePayload("clock_gettime", {1},
                            std::string_view(reinterpret_cast<const char*>(mono), sizeof mono), 0),
            "CLOCK_MONOTONIC 100.000000005s");
  // The step-mode vDSO stub's answers carry the time as the value.
  EXPECT_EQ(DescribePayload("clock_gettime", {1}, "", 100'000'000'005),
            "CLOCK_MONOTONIC 100.000000005s");
  EXPECT_EQ(DescribePayload("clock_gettime", {0}, "", 946'684'800'000'000'000),
            "CLOCK_REALTIME 2000-01-01T00:00:00Z");
  EXPECT_EQ(DescribePayload("clock_gettime", {0}, "", -22), "");  // EINVAL
  EXPECT_EQ(DescribePayload("time", {}, "", 946684800), "2000-01-01T00:00:00Z");
}

TEST(SyscallCatalogTest, EveryEntryIsARealSyscallWithAtMostSixArguments) {
  for (const char* name : {"clock_gettime", "getrandom", "uname", "sched_getaffinity", "futex",
                           "execve", "clone3", "getdents64"}) {
    const SyscallInfo* info = FindSyscallInfo(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(FindSyscallInfo(*SyscallNumber(name)), info) << name;
  }
  EXPECT_EQ(FindSyscallInfo("getpid"), nullptr);
  EXPECT_EQ(FindSyscallInfo(-1), nullptr);
  EXPECT_EQ(FindSyscallInfo(100000), nullptr);
  EXPECT_EQ(SourceOfCall("uname", "uts"), "hostname");
  EXPECT_EQ(SourceOfCall("getrandom", ""), "random");
  EXPECT_EQ(SourceOfCall("getpid", ""), "");
}

}  // namespace
}  // namespace detrun
