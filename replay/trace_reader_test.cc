#include "replay/trace_reader.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/trace_writer.h"

namespace detrun {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string TempPath() {
  const char* dir = getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : getenv("TMPDIR");
  std::string t = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/trace_reader_test.XXXXXX";
  int fd = mkstemp(t.data());
  close(fd);
  return t;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small complete trace, as the recorder writes it.
std::string SampleTrace(int events = 3, int version = kTraceFormatVersion,
                        bool with_leaks = true) {
  const std::string path = TempPath();
  std::unique_ptr<TraceWriter> w = *TraceWriter::Create(path);
  TraceHeader h;
  h.version = version;
  h.detrun_version = "0.1.0";
  h.recorded_at = "2026-01-01T00:00:00Z";
  h.argv = {"date"};
  h.path = "/usr/bin/date";
  h.cwd = "/";
  h.env_xxh3 = "0123456789abcdef";
  w->WriteHeader(h);
  for (int i = 0; i < events; ++i) {
    TraceEvent e;
    e.thread = "1";
    e.syscall = "clock_gettime";
    e.args = {i};
    e.answer = TraceEvent::Answer::kValue;
    e.out = {16, std::string(32, 'a' + i % 6), ""};
    w->WriteEvent(e);
  }
  TraceEnd end;
  end.wait_status = 0;
  end.stdout_record = {true, "", false, 3, "0123456789abcdef"};
  end.stderr_record = {false, "terminal", false, 0, ""};
  if (with_leaks) {
    LeakReport leaks(false);
    leaks.Record(LeakCategory::kInode, ThreadIdentity{ProcessIdentity::Root(), 0}, "statx", "/");
    end.leaks = leaks.Summary();
  } else {
    end.leaks.reset();
  }
  EXPECT_TRUE(w->Finish(end).ok());
  std::string data = ReadFile(path);
  unlink(path.c_str());
  return data;
}

absl::Status Check(std::string_view data) { return ReadTraceBytes(data, nullptr).status(); }

TEST(TraceReaderTest, ReadsACompleteTrace) {
  const std::string data = SampleTrace();
  std::vector<uint64_t> lines;
  absl::StatusOr<TraceContents> c = ReadTraceBytes(data, [&](const TraceEvent& e, uint64_t line) {
    lines.push_back(line);
    EXPECT_EQ(e.syscall, "clock_gettime");
    return absl::OkStatus();
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->events, 3u);
  EXPECT_EQ(lines, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(c->header.argv, std::vector<std::string>{"date"});
  EXPECT_EQ(c->end.stderr_record.why, "terminal");
}

TEST(TraceReaderTest, ReadsTheLeakReport) {
  absl::StatusOr<TraceContents> c = ReadTraceBytes(SampleTrace(), nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->header.version, kTraceFormatVersion);
  ASSERT_TRUE(c->end.leaks.has_value());
  ASSERT_EQ(c->end.leaks->categories.size(), 1u);
  EXPECT_EQ(c->end.leaks->categories[0].category, LeakCategory::kInode);
  EXPECT_EQ(c->end.leaks->categories[0].examples[0].detail, "/");
}

// Version 1 traces have no leak report; version 2 traces always have one.
TEST(TraceReaderTest, TheLeakReportGoesWithTheVersion) {
  absl::StatusOr<TraceContents> v1 = ReadTraceBytes(SampleTrace(3, 1, false), nullptr);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->header.version, 1);
  EXPECT_FALSE(v1->end.leaks.has_value());
  EXPECT_THAT(Check(SampleTrace(3, 2, false)).message(),
              HasSubstr("corrupt: line 5: end record: missing \"leaks\""));
  EXPECT_THAT(Check(SampleTrace(3, 1, true)).message(),
              HasSubstr("corrupt: line 5: end record: unknown field \"leaks\""));
}

TEST(TraceReaderTest, ReadsFromAFileInChunks) {
  // More than one read chunk (1 MiB) of events.
  const std::string data = SampleTrace(20000);
  ASSERT_GT(data.size(), size_t{2} << 20);
  const std::string path = TempPath();
  std::ofstream(path, std::ios::binary) << data;
  uint64_t n = 0;
  absl::StatusOr<TraceContents> c = ReadTrace(path, [&](const TraceEvent& e, uint64_t) {
    EXPECT_EQ(e.args[0], static_cast<int64_t>(n));
    ++n;
    return absl::OkStatus();
  });
  unlink(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(n, 20000u);
}

TEST(TraceReaderTest, EveryTruncationIsAnError) {
  const std::string data = SampleTrace();
  for (size_t len = 0; len < data.size(); ++len) {
    absl::Status s = Check(std::string_view(data).substr(0, len));
    ASSERT_FALSE(s.ok()) << "accepted a trace cut to " << len << " of " << data.size() << " bytes";
    EXPECT_THAT(s.message(), AnyOf(HasSubstr("truncated"), HasSubstr("not a detrun trace"),
                                   HasSubstr("empty file")))
        << len;
  }
  EXPECT_TRUE(Check(data).ok());
}

TEST(TraceReaderTest, TruncationMessagesSayWhatIsMissing) {
  const std::string data = SampleTrace();
  const size_t footer = data.rfind("{\"e\":\"footer\"");
  EXPECT_THAT(Check(data.substr(0, footer)).message(), HasSubstr("truncated: no footer after line 5"));
  const size_t end = data.rfind("{\"e\":\"end\"");
  EXPECT_THAT(Check(data.substr(0, end)).message(),
              HasSubstr("truncated: no end record and footer after line 4"));
  EXPECT_THAT(Check(data.substr(0, end + 5)).message(), HasSubstr("truncated: line 5 is incomplete"));
  EXPECT_THAT(Check("").message(), HasSubstr("empty file"));
}

TEST(TraceReaderTest, EveryChangedByteIsAnError) {
  const std::string data = SampleTrace();
  for (size_t i = 0; i < data.size(); ++i) {
    for (char x : {'\x01', '\x20'}) {
      std::string damaged = data;
      damaged[i] = static_cast<char>(damaged[i] ^ x);
      absl::Status s = Check(damaged);
      ASSERT_FALSE(s.ok()) << "accepted a trace with byte " << i << " changed";
    }
  }
}

TEST(TraceReaderTest, ForeignAndMalformedFilesAreNamed) {
  const std::string data = SampleTrace();
  EXPECT_THAT(std::string(Check("\x7f" "ELF\x02\x01\x01").message()), StartsWith("not a detrun trace"));
  EXPECT_THAT(std::string(Check("{\"name\":\"package\"}\n").message()), StartsWith("not a detrun trace"));
  EXPECT_THAT(std::string(Check("hello\nworld\n").message()), StartsWith("not a detrun trace"));
  std::string v2 = data;
  v2.replace(v2.find("\"version\":2"), 11, "\"version\":9");
  EXPECT_THAT(Check(v2).message(), HasSubstr("trace format version 9 is not supported"));
  EXPECT_THAT(Check(data + "x").message(), HasSubstr("data after the footer"));
  EXPECT_THAT(Check(data + data).message(), HasSubstr("data after the footer"));
  // A valid line in the wrong place.
  const size_t second = data.find('\n') + 1;
  std::string header_again = data;
  header_again.insert(second, data.substr(0, second));
  EXPECT_THAT(Check(header_again).message(), HasSubstr("line 2: a second header"));
  // The footer's digest guards every byte before it, even one that still parses.
  std::string changed = data;
  changed.replace(changed.find("\"a\":[1]"), 7, "\"a\":[7]");
  EXPECT_THAT(Check(changed).message(), HasSubstr("footer's digest does not match"));
}

TEST(TraceReaderTest, FileErrorsAreNamed) {
  EXPECT_THAT(ReadTrace("/nonexistent/x.trace", nullptr).status().message(),
              HasSubstr("No such file"));
  EXPECT_THAT(ReadTrace("/", nullptr).status().message(), HasSubstr("directory"));
}

TEST(TraceReaderTest, AVisitorErrorStopsTheRead) {
  absl::StatusOr<TraceContents> c = ReadTraceBytes(SampleTrace(), [](const TraceEvent&, uint64_t) {
    return absl::CancelledError("enough");
  });
  EXPECT_TRUE(absl::IsCancelled(c.status()));
}

}  // namespace
}  // namespace detrun
