#include "cli/time_spec.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Time Unix(int64_t seconds) { return absl::FromUnixSeconds(seconds); }

template <typename T>
std::string Message(const absl::StatusOr<T>& result) {
  return std::string(result.status().message());
}

struct GoodCase {
  std::string text;
  absl::Time expected;
};

TEST(ParseStartTimeTest, AcceptsEveryDocumentedForm) {
  constexpr int64_t k2020 = 1577836800;  // 2020-01-01T00:00:00Z
  const std::vector<GoodCase> cases = {
      {"2020-01-01", Unix(k2020)},
      {"2000-01-01", Unix(946684800)},
      {"2020-02-29", Unix(1582934400)},  // leap day
      {"1970-01-01", absl::UnixEpoch()},
      {"1969-12-31", Unix(-86400)},
      {"0000-01-01", Unix(-62167219200)},
      {"2020-01-01T00:00:00", Unix(k2020)},
      {"2020-01-01T00:00:00Z", Unix(k2020)},
      {"2020-01-01T00:00:00+00:00", Unix(k2020)},
      {"2020-01-01T00:00:00-00:00", Unix(k2020)},
      {"2020-01-01T12:34:56", Unix(k2020 + 12 * 3600 + 34 * 60 + 56)},
      {"2020-01-01T12:00:00.5+02:00", Unix(k2020 + 10 * 3600) + absl::Milliseconds(500)},
      {"1999-12-31T23:30:00-01:00", Unix(946684800 + 30 * 60)},
      {"2020-01-01T05:30:00+05:30", Unix(k2020)},
      {"2020-01-01T00:00:00.123456789Z", Unix(k2020) + absl::Nanoseconds(123456789)},
      {"2020-01-01T00:00:00.000000001", Unix(k2020) + absl::Nanoseconds(1)},
      {"2020-01-01T00:00:00.1", Unix(k2020) + absl::Milliseconds(100)},
      {"9999-12-31T23:59:59.999999999Z", Unix(253402300799) + absl::Nanoseconds(999999999)},
      {"@0", absl::UnixEpoch()},
      {"@-0", absl::UnixEpoch()},
      {"@-86400", Unix(-86400)},
      {"@1577836800", Unix(k2020)},
      {"@1577836800.25", Unix(k2020) + absl::Milliseconds(250)},
      {"@-1.5", absl::UnixEpoch() - absl::Milliseconds(1500)},
      {"@0.000000001", absl::UnixEpoch() + absl::Nanoseconds(1)},
      {"@007", Unix(7)},
      {"@9223372036854775807", Unix(INT64_MAX)},
      {"@-9223372036854775807", Unix(-INT64_MAX)},
  };
  for (const GoodCase& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::Time> parsed = ParseStartTime(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, c.expected) << FormatTimeUtc(*parsed) << " vs " << FormatTimeUtc(c.expected);
  }
}

TEST(ParseStartTimeTest, RefusesEverythingElseNamingTheValue) {
  const std::vector<std::string> cases = {
      "",
      "notadate",
      "2020-13-45",
      "2020-13-01",
      "2020-00-10",
      "2020-02-30",  // no normalisation to March 1
      "2021-02-29",  // not a leap year
      "2020-04-31",
      "2020-01-00",
      "2020-01-32",
      "2020-01-01T24:00:00",
      "2020-01-01T23:60:00",
      "2020-01-01T23:59:60",  // leap second
      "2020-01-01x",
      "2020-01-01 ",
      " 2020-01-01",
      "2020-01-01T00:00:00Zjunk",
      "2020-01-01T00:00:00 ",
      "2020-01-01T00:00:00+02:00x",
      "2020-1-1",
      "20200101",
      "20-01-01",
      "+2020-01-01",
      "-2020-01-01",
      "12020-01-01",
      "2020-01-01T",
      "2020-01-01T00:00",
      "2020-01-01T0:00:00",
      "2020-01-01t00:00:00",
      "2020-01-01 00:00:00",
      "2020-01-01T00:00:00z",
      "2020-01-01T00:00:00.",
      "2020-01-01T00:00:00.1234567890",
      "2020-01-01T00:00:00,5",
      "2020-01-01T00:00:00+0200",
      "2020-01-01T00:00:00+02",
      "2020-01-01T00:00:00+24:00",
      "2020-01-01T00:00:00+02:60",
      "2020-01-01T00:00:00UTC",
      "@",
      "@-",
      "@abc",
      "@1e3",
      "@+5",
      "@ 1",
      "@1 ",
      "@1.",
      "@1.1234567890",
      "@1x",
      "@--1",
      "@9223372036854775808",   // one past int64
      "@99999999999999999999",  // far past int64
      "@-9223372036854775809",
      "1577836800",  // epoch seconds need the '@'
      "-1",
  };
  for (const std::string& text : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<absl::Time> parsed = ParseStartTime(text);
    ASSERT_FALSE(parsed.ok()) << FormatTimeUtc(*parsed);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(parsed), StartsWith("invalid start time '" + text + "': "));
    EXPECT_THAT(Message(parsed), HasSubstr(std::string(kStartTimeSyntax)));
  }
}

TEST(ParseStartTimeTest, SaysWhatIsWrong) {
  EXPECT_EQ(Message(ParseStartTime("2020-13-45")),
            "invalid start time '2020-13-45': month 13 does not exist (expected "
            "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM] or @EPOCH_SECONDS)");
  EXPECT_THAT(Message(ParseStartTime("2020-02-30")), HasSubstr("day 30 does not exist in 2020-02"));
  EXPECT_THAT(Message(ParseStartTime("2020-01-01T24:00:00")), HasSubstr("hour 24 does not exist"));
  EXPECT_THAT(Message(ParseStartTime("2020-01-01T23:59:60")),
              HasSubstr("leap seconds are not supported"));
  EXPECT_THAT(Message(ParseStartTime("2020-01-01junk")),
              HasSubstr("unexpected 'junk' after the date"));
  EXPECT_THAT(Message(ParseStartTime("@99999999999999999999")), HasSubstr("out of range"));
  EXPECT_THAT(Message(ParseStartTime("2020-01-01T00:00:00.1234567890")),
              HasSubstr("at most 9 fraction digits"));
  EXPECT_THAT(Message(ParseStartTime("")), HasSubstr("empty"));
}

TEST(ParseStartTimeTest, NamesTheCallersSource) {
  EXPECT_THAT(Message(ParseStartTime("x", "--time value")),
              StartsWith("invalid --time value 'x': expected "));
}

TEST(ParseStartTimeTest, EscapesUnprintableBytesInTheMessage) {
  absl::StatusOr<absl::Time> parsed = ParseStartTime("2020\n01");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed), HasSubstr("'2020\\n01'"));
  EXPECT_EQ(Message(parsed).find('\n'), std::string_view::npos);
}

TEST(ParseSourceDateEpochTest, AcceptsIntegerSeconds) {
  EXPECT_EQ(*ParseSourceDateEpoch("1577836800"), Unix(1577836800));
  EXPECT_EQ(*ParseSourceDateEpoch("0"), absl::UnixEpoch());
  EXPECT_EQ(*ParseSourceDateEpoch("-86400"), Unix(-86400));
  EXPECT_EQ(*ParseSourceDateEpoch("9223372036854775807"), Unix(INT64_MAX));
}

TEST(ParseSourceDateEpochTest, RefusesAnythingButAnInteger) {
  for (const std::string text :
       {"", "abc", "1.5", "+5", " 1", "1 ", "1\n", "1e3", "-", "--1", "0x10", "@1", "2020-01-01",
        "99999999999999999999", "9223372036854775808"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<absl::Time> parsed = ParseSourceDateEpoch(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(parsed), StartsWith("invalid $SOURCE_DATE_EPOCH value '" +
                                            std::string(text == "1\n" ? "1\\n" : text) + "': "));
    EXPECT_THAT(Message(parsed), HasSubstr("integer number of seconds"));
  }
}

TEST(FormatTimeUtcTest, PrintsRfc3339WithNanosecondsOnlyWhenNeeded) {
  EXPECT_EQ(FormatTimeUtc(absl::UnixEpoch()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeUtc(Unix(946684800)), "2000-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeUtc(Unix(1577836800) + absl::Milliseconds(500)), "2020-01-01T00:00:00.5Z");
  EXPECT_EQ(FormatTimeUtc(absl::UnixEpoch() + absl::Nanoseconds(5)),
            "1970-01-01T00:00:00.000000005Z");
  EXPECT_EQ(FormatTimeUtc(absl::UnixEpoch() + absl::Nanoseconds(123456789)),
            "1970-01-01T00:00:00.123456789Z");
  EXPECT_EQ(FormatTimeUtc(absl::UnixEpoch() - absl::Milliseconds(1500)), "1969-12-31T23:59:58.5Z");
  // absl::Time is finer than a nanosecond; the rest is truncated.
  EXPECT_EQ(FormatTimeUtc(absl::UnixEpoch() + absl::Nanoseconds(1) / 4), "1970-01-01T00:00:00Z");
  // RFC 3339 years have four digits, also before 1000.
  EXPECT_EQ(FormatTimeUtc(Unix(-62167219200)), "0000-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeUtc(Unix(-59011459200)), "0100-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeUtc(absl::InfiniteFuture()), "infinite-future");
  EXPECT_EQ(FormatTimeUtc(absl::InfinitePast()), "infinite-past");
}

TEST(FormatTimeUtcTest, RoundTripsThroughParseStartTime) {
  for (const absl::Time t : {absl::UnixEpoch(), Unix(-1), Unix(1577836800) + absl::Nanoseconds(1),
                             Unix(-62167219200), Unix(253402300799) + absl::Nanoseconds(999999999),
                             Unix(1234567890) + absl::Microseconds(250)}) {
    const std::string text = FormatTimeUtc(t);
    SCOPED_TRACE(text);
    absl::StatusOr<absl::Time> parsed = ParseStartTime(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, t);
  }
}

}  // namespace
}  // namespace detrun
