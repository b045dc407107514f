#include "replay/trace_format.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Config EveryFieldSet() {
  Config c;
  c.seed = UINT64_MAX;
  c.start_time = absl::FromUnixSeconds(-1234567890) + absl::Nanoseconds(123456789);
  c.clock = ClockMode::kReal;
  c.tick = absl::Microseconds(250);
  c.hostname = "build-box";
  c.cpus = 1024;
  c.fs_times = FsTimes::kReal;
  c.dirs = DirOrder::kShuffle;
  c.record_path = "t.trace";
  c.native = false;
  c.allow_read = {"/usr", "/etc"};
  c.allow_write = {"/tmp"};
  c.no_network = true;
  c.pid_namespace = false;
  c.verbose = true;
  c.report_leaks = "leaks.txt";
  c.strict = true;
  c.explicitly_set = {"seed", "time", "record"};
  return c;
}

void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.start_time, b.start_time);
  EXPECT_EQ(a.clock, b.clock);
  EXPECT_EQ(a.tick, b.tick);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.cpus, b.cpus);
  EXPECT_EQ(a.fs_times, b.fs_times);
  EXPECT_EQ(a.dirs, b.dirs);
  EXPECT_EQ(a.record_path, b.record_path);
  EXPECT_EQ(a.native, b.native);
  EXPECT_EQ(a.allow_read, b.allow_read);
  EXPECT_EQ(a.allow_write, b.allow_write);
  EXPECT_EQ(a.no_network, b.no_network);
  EXPECT_EQ(a.pid_namespace, b.pid_namespace);
  EXPECT_EQ(a.verbose, b.verbose);
  EXPECT_EQ(a.report_leaks, b.report_leaks);
  EXPECT_EQ(a.strict, b.strict);
  EXPECT_EQ(a.explicitly_set, b.explicitly_set);
}

TEST(TraceFormatTest, ConfigRoundTripsExactly) {
  for (const Config& c : {Config(), EveryFieldSet()}) {
    absl::StatusOr<Config> back = ConfigFromJson(*json::Parse(json::Serialize(ConfigToJson(c))));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameConfig(c, *back);
  }
}

TEST(TraceFormatTest, ConfigRefusesUnknownAndMistypedFields) {
  json::Value c = ConfigToJson(Config());
  json::Value extra = c;
  extra.Add("new_option", json::Value::Bool(true));
  EXPECT_THAT(ConfigFromJson(extra).status().message(), HasSubstr("unknown field \"new_option\""));
  std::string text = json::Serialize(c);
  text.replace(text.find("\"clock\":\"step\""), 14, "\"clock\":\"fast\"");
  EXPECT_THAT(ConfigFromJson(*json::Parse(text)).status().message(), HasSubstr("unknown value \"fast\""));
  text = json::Serialize(c);
  text.replace(text.find("\"cpus\":1"), 8, "\"cpus\":\"1\"");
  EXPECT_THAT(ConfigFromJson(*json::Parse(text)).status().message(), HasSubstr("\"cpus\" must be"));
}

TraceHeader SampleHeader() {
  TraceHeader h;
  h.detrun_version = "0.1.0";
  h.recorded_at = "2026-01-02T03:04:05Z";
  h.config = EveryFieldSet();
  h.argv = {"sh", "-c", "echo \xff\n"};
  h.path = "/bin/sh";
  h.cwd = "/tmp";
  h.env_xxh3 = "0123456789abcdef";
  h.env = {{"HOME", "fedcba9876543210"}, {"PATH", "0000000000000000"}};
  return h;
}

TEST(TraceFormatTest, HeaderRoundTrips) {
  const TraceHeader h = SampleHeader();
  const std::string line = HeaderLine(h);
  absl::StatusOr<json::Value> v = json::Parse(line);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(KindOfLine(*v), LineKind::kHeader);
  absl::StatusOr<TraceHeader> back = ParseHeader(*v);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->argv, h.argv);
  EXPECT_EQ(back->env, h.env);
  EXPECT_EQ(HeaderLine(*back), line);
}

TEST(TraceFormatTest, HeaderNamesForeignFilesAndOtherVersions) {
  EXPECT_THAT(ParseHeader(*json::Parse("{\"a\":1}")).status().message(),
              HasSubstr("not a detrun trace"));
  std::string line = HeaderLine(SampleHeader());
  line.replace(line.find("\"version\":2"), 11, "\"version\":3");
  absl::Status s = ParseHeader(*json::Parse(line)).status();
  EXPECT_THAT(s.message(), HasSubstr("trace format version 3 is not supported"));
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  line.replace(line.find("\"version\":3"), 11, "\"version\":0");
  EXPECT_THAT(ParseHeader(*json::Parse(line)).status().message(),
              HasSubstr("trace format version 0 is not supported"));
}

// Version 1 traces (before the leak report) are still read, and written
// again in version 1: no "report_leaks" or "strict" in their config.
TEST(TraceFormatTest, Version1HeadersRoundTripAsVersion1) {
  TraceHeader h = SampleHeader();
  h.version = 1;
  const std::string line = HeaderLine(h);
  EXPECT_THAT(line, HasSubstr("\"version\":1,"));
  EXPECT_THAT(line, Not(HasSubstr("report_leaks")));
  EXPECT_THAT(line, Not(HasSubstr("strict")));
  absl::StatusOr<TraceHeader> back = ParseHeader(*json::Parse(line));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 1);
  EXPECT_FALSE(back->config.report_leaks.has_value());
  EXPECT_FALSE(back->config.strict);
  EXPECT_EQ(HeaderLine(*back), line);
  // A version 2 config without them is incomplete.
  h.version = 2;
  std::string v2 = HeaderLine(h);
  EXPECT_THAT(v2, HasSubstr("\"report_leaks\":\"leaks.txt\",\"strict\":true"));
  v2.replace(v2.find(",\"strict\":true"), 14, "");
  EXPECT_THAT(ParseHeader(*json::Parse(v2)).status().message(), HasSubstr("missing \"strict\""));
}

TEST(TraceFormatTest, LeaksRoundTripAndAreChecked) {
  LeakReport report(true);
  const ThreadIdentity root{ProcessIdentity::Root(), 0};
  report.Record(LeakCategory::kProc, root, "openat", "/proc/self/stat");
  ThreadIdentity child;
  child.process.path.push_back(1);
  child.process.path.push_back(2);
  child.index = 1;
  report.Record(LeakCategory::kNetwork, child, "connect", "127.0.0.1:80");
  report.CountRefused();
  TraceEnd end;
  end.leaks = report.Summary();
  const std::string line = EndLine(end);
  EXPECT_THAT(line, HasSubstr("\"leaks\":{\"strict\":true,\"refused\":1,\"kinds\":[{\"kind\":"
                              "\"proc\",\"count\":1,\"examples\":[{\"t\":\"1\",\"n\":\"openat\","
                              "\"d\":\"/proc/self/stat\"}]},{\"kind\":\"network\""));
  absl::StatusOr<TraceEnd> back = ParseEnd(*json::Parse(line));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->leaks.has_value());
  EXPECT_TRUE(*back->leaks == *end.leaks);
  EXPECT_EQ(EndLine(*back), line);

  auto refused = [&](std::string from, std::string to) {
    std::string bad = line;
    const size_t at = bad.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    absl::StatusOr<TraceEnd> r = ParseEnd(*json::Parse(bad));
    EXPECT_FALSE(r.ok()) << bad;
    return std::string(r.status().message());
  };
  EXPECT_THAT(refused("\"kind\":\"proc\"", "\"kind\":\"disk\""), HasSubstr("unknown kind \"disk\""));
  EXPECT_THAT(refused("\"kind\":\"network\"", "\"kind\":\"proc\""), HasSubstr("out of order"));
  EXPECT_THAT(refused("\"count\":1,", "\"count\":0,"), HasSubstr("zero"));
  EXPECT_THAT(refused("\"t\":\"1\"", "\"t\":\"x\""), HasSubstr("bad identity"));
  EXPECT_THAT(refused("\"refused\":1", "\"refused\":-1"), HasSubstr("refused"));
  EXPECT_THAT(refused("\"d\":", "\"why\":"), HasSubstr("missing \"d\""));
  // Absent: a version 1 end record.
  TraceEnd v1;
  v1.leaks.reset();
  absl::StatusOr<TraceEnd> v1_back = ParseEnd(*json::Parse(EndLine(v1)));
  ASSERT_TRUE(v1_back.ok());
  EXPECT_FALSE(v1_back->leaks.has_value());
}

std::vector<TraceEvent> SampleEvents() {
  std::vector<TraceEvent> events;
  TraceEvent start;
  start.kind = TraceEvent::Kind::kStart;
  start.thread = "1.2";
  start.parent = "1";
  events.push_back(start);
  TraceEvent exec;
  exec.kind = TraceEvent::Kind::kExec;
  exec.thread = "1.2";
  exec.path = "/usr/bin/date";
  exec.argv = {"date", "+%s"};
  events.push_back(exec);
  TraceEvent call;
  call.thread = "1.2:1";
  call.syscall = "clock_gettime";
  call.args = {0, -6};
  call.answer = TraceEvent::Answer::kValue;
  call.module = "time";
  call.out = {16, "00112233445566778899aabbccddeeff", ""};
  call.detail = "CLOCK_REALTIME 2000-01-01T00:00:00Z";
  events.push_back(call);
  TraceEvent random = call;
  random.syscall = "getrandom";
  random.args = {8, 0};
  random.value = 8;
  random.out = {8, "", "0123456789abcdef"};
  random.detail.clear();
  events.push_back(random);
  TraceEvent err = call;
  err.answer = TraceEvent::Answer::kErrno;
  err.error = "ENOSYS";
  err.out = {};
  err.detail.clear();
  events.push_back(err);
  TraceEvent cont;
  cont.thread = "1";
  cont.syscall = "execve";
  cont.path = "/bin/sh";
  events.push_back(cont);
  TraceEvent fd = cont;
  fd.syscall = "openat";
  fd.path.clear();
  fd.answer = TraceEvent::Answer::kInjectFd;
  events.push_back(fd);
  TraceEvent exit;
  exit.kind = TraceEvent::Kind::kExit;
  exit.thread = "1.2";
  exit.wait_status = 9;
  events.push_back(exit);
  TraceEvent unknown_exit = exit;
  unknown_exit.wait_status.reset();
  events.push_back(unknown_exit);
  return events;
}

TEST(TraceFormatTest, EventsRoundTripByteForByte) {
  for (const TraceEvent& e : SampleEvents()) {
    const std::string line = EventLine(e);
    absl::StatusOr<json::Value> v = json::Parse(line);
    ASSERT_TRUE(v.ok()) << line;
    EXPECT_EQ(KindOfLine(*v), LineKind::kEvent);
    TraceEvent back;
    ASSERT_TRUE(ParseEvent(*v, &back).ok()) << line << ": " << ParseEvent(*v, &back);
    EXPECT_EQ(EventLine(back), line);
  }
}

TEST(TraceFormatTest, BadEventsAreRefusedWithTheirProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"t":"1","e":"jump"})", "unknown value \"jump\""},
      {R"({"t":"1","e":"start"})", "missing \"parent\""},
      {R"({"t":"1","e":"start","parent":"x"})", "bad \"parent\""},
      {R"({"t":"1:2","e":"start","parent":""})", "bad identity"},
      {R"({"t":"01","e":"start","parent":""})", "bad identity"},
      {R"({"t":"1..2","e":"start","parent":""})", "bad identity"},
      {R"({"t":"","e":"exit","wait":0})", "bad identity"},
      {R"({"t":"1","e":"exit","wait":"0"})", "\"wait\" must be"},
      {R"({"t":"1","e":"exit","wait":4294967296})", "\"wait\" must be"},
      {R"({"t":"1","e":"call","n":"x","a":[],"r":"value"})", "missing \"v\""},
      {R"({"t":"1","e":"call","n":"x","a":["1"],"r":"continue"})", "array of integers"},
      {R"({"t":"1","e":"call","n":"","a":[],"r":"continue"})", "empty syscall name"},
      {R"({"t":"1","e":"call","n":"x","a":[],"r":"continue","zz":1})", "unknown field \"zz\""},
      {R"({"t":"1","e":"call","n":"x","a":[],"r":"value","v":0,"o":{"bytes":2,"hex":"00"}})",
       "matching hex"},
      {R"({"t":"1","e":"call","n":"x","a":[],"r":"value","v":0,"o":{"bytes":2,"xxh3":"00"}})",
       "xxh3 digest"},
      {R"({"t":"1","e":"call","n":"x","a":[],"r":"value","v":0,"o":{"bytes":0,"xxh3":"0123456789abcdef"}})",
       "bytes > 0"},
      {R"(["t"])", "not a JSON object"},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<json::Value> v = json::Parse(text);
    ASSERT_TRUE(v.ok()) << text;
    TraceEvent e;
    absl::Status s = ParseEvent(*v, &e);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.message(), HasSubstr(message)) << text;
  }
}

TEST(TraceFormatTest, EndAndFooterRoundTrip) {
  TraceEnd end;
  end.wait_status = 0x8b;
  end.exit_code = 139;
  end.error = "something";
  end.stdout_record = {true, "", false, 12, "0123456789abcdef"};
  end.stderr_record = {true, "", true, 0, ""};
  const std::string line = EndLine(end);
  absl::StatusOr<TraceEnd> back = ParseEnd(*json::Parse(line));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EndLine(*back), line);
  end.stderr_record = {false, "terminal", false, 0, ""};
  EXPECT_EQ(EndLine(*ParseEnd(*json::Parse(EndLine(end)))), EndLine(end));

  TraceFooter footer{3, 456, "0123456789abcdef"};
  absl::StatusOr<TraceFooter> f = ParseFooter(*json::Parse(FooterLine(footer)));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(FooterLine(*f), FooterLine(footer));
  EXPECT_EQ(KindOfLine(*json::Parse(FooterLine(footer))), LineKind::kFooter);
  EXPECT_EQ(KindOfLine(*json::Parse(EndLine(end))), LineKind::kEnd);
}

TEST(TraceFormatTest, IdentitiesValidateAndSortAsTheForkTree) {
  EXPECT_TRUE(IsValidIdentity("1", false));
  EXPECT_TRUE(IsValidIdentity("1.2.10", false));
  EXPECT_TRUE(IsValidIdentity("0.3", false));
  EXPECT_TRUE(IsValidIdentity("1.2:3", true));
  EXPECT_FALSE(IsValidIdentity("1.2:3", false));
  for (const char* bad : {"", ".", "1.", ".1", "a", "1:", "1:x", "1:2:3", "01", "1.02", "12345678901"}) {
    EXPECT_FALSE(IsValidIdentity(bad, true)) << bad;
  }
  std::vector<std::string> ids = {"1.10", "1.2", "1:1", "1.2:1", "1", "1.2.1", "0.1", "1.1", "1:2"};
  std::sort(ids.begin(), ids.end(), IdentityLess);
  EXPECT_EQ(ids, (std::vector<std::string>{"0.1", "1", "1:1", "1:2", "1.1", "1.2", "1.2:1", "1.2.1",
                                           "1.10"}));
  EXPECT_EQ(ProcessOf("1.2:3"), "1.2");
  EXPECT_EQ(ProcessOf("1.2"), "1.2");
}

TEST(TraceFormatTest, Xxh3HexIsSixteenLowercaseDigits) {
  EXPECT_EQ(Xxh3Hex(uint64_t{0xABC}), "0000000000000abc");
  EXPECT_EQ(Xxh3Hex(std::string_view("")).size(), 16u);
  EXPECT_NE(Xxh3Hex(std::string_view("a")), Xxh3Hex(std::string_view("b")));
}

}  // namespace
}  // namespace detrun
