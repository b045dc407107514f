#include "replay/json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun::json {
namespace {

using ::testing::HasSubstr;

std::string RoundTrip(std::string_view text) {
  absl::StatusOr<Value> v = Parse(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? Serialize(*v) : "";
}

TEST(JsonTest, CanonicalTextRoundTrips) {
  for (const char* text : {
           "null", "true", "false", "0", "-1", "18446744073709551615", "-9223372036854775808",
           "\"\"", "\"a b\"", "[]", "{}", "[1,[2,[3]],{\"a\":{}}]",
           "{\"t\":\"1.2:3\",\"e\":\"call\",\"a\":[0,-6],\"o\":{\"bytes\":16,\"hex\":\"00ff\"}}",
           "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\"", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
       }) {
    EXPECT_EQ(RoundTrip(text), text);
  }
}

TEST(JsonTest, NonCanonicalInputIsAcceptedAndNormalised) {
  EXPECT_EQ(RoundTrip(" { \"a\" : [ 1 , 2 ] } "), "{\"a\":[1,2]}");
  EXPECT_EQ(RoundTrip("\"\\/\\u0041\\u00e9\""), "\"/A\xc3\xa9\"");
  EXPECT_EQ(RoundTrip("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"");
}

TEST(JsonTest, EveryByteStringRoundTrips) {
  // argv and paths are bytes, not necessarily UTF-8.
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (const std::string& s :
       {all, std::string("\xff\xfe"), std::string("\xc3"), std::string("\xed\xa0\x80"),
        std::string("\xc0\xaf"), std::string("a\xf4\x90\x80\x80z"), std::string("\xe2\x82")}) {
    std::string text;
    AppendString(s, &text);
    absl::StatusOr<Value> v = Parse(text);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->string(), s);
    EXPECT_EQ(Serialize(*v), text);
  }
  std::string invalid;
  AppendString("\xff", &invalid);
  EXPECT_EQ(invalid, "\"\\udcff\"");
}

TEST(JsonTest, Integers) {
  int64_t i;
  uint64_t u;
  Value big = *Parse("18446744073709551615");
  EXPECT_TRUE(big.GetUint64(&u));
  EXPECT_EQ(u, UINT64_MAX);
  EXPECT_FALSE(big.GetInt64(&i));
  Value neg = *Parse("-9223372036854775808");
  EXPECT_TRUE(neg.GetInt64(&i));
  EXPECT_EQ(i, INT64_MIN);
  EXPECT_FALSE(neg.GetUint64(&u));
  EXPECT_FALSE(Value::String("1").GetInt64(&i));
}

struct BadCase {
  const char* text;
  const char* message;
};

TEST(JsonTest, RefusesWhatIsNotStrictJson) {
  const BadCase cases[] = {
      {"", "unexpected end"},
      {"{", "expected a key"},
      {"[1,]", "unexpected character"},
      {"{\"a\":1,}", "expected a key"},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
      {"{'a':1}", "expected a key"},
      {"01", "leading zeros"},
      {"-", "needs digits"},
      {"-0", "-0"},
      {"1.5", "only integers"},
      {"1e3", "only integers"},
      {"18446744073709551616", "out of range"},
      {"-9223372036854775809", "out of range"},
      {"NaN", "unexpected character"},
      {"tru", "invalid literal"},
      {"nul", "invalid literal"},
      {"\"abc", "unterminated string"},
      {"\"a\nb\"", "control character"},
      {"\"\\x41\"", "invalid escape"},
      {"\"\\u12\"", "\\u escape"},
      {"\"\\u12zz\"", "invalid \\u escape"},
      {"\"\\ud800\"", "lone high surrogate"},
      {"\"\\ud800\\u0041\"", "lone high surrogate"},
      {"\"\\udc00\"", "lone low surrogate"},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},
      {"{\"a\":1,\"a\":2}", "duplicate key"},
      {"1 2", "after the value"},
      {"// comment\n1", "unexpected character"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<Value> v = Parse(c.text);
    EXPECT_FALSE(v.ok()) << c.text;
    if (!v.ok()) {
      EXPECT_THAT(v.status().message(), HasSubstr(c.message)) << c.text;
    }
  }
}

TEST(JsonTest, NestingIsBounded) {
  const std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_TRUE(Parse(ok).ok());
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  absl::StatusOr<Value> v = Parse(deep);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("nested too deeply"));
}

TEST(JsonTest, ObjectsKeepTheirOrderAndFind) {
  Value o = *Parse("{\"z\":1,\"a\":\"x\"}");
  ASSERT_TRUE(o.is_object());
  EXPECT_EQ(o.object()[0].first, "z");
  ASSERT_NE(o.Find("a"), nullptr);
  EXPECT_EQ(o.Find("a")->string(), "x");
  EXPECT_EQ(o.Find("b"), nullptr);
}

}  // namespace
}  // namespace detrun::json
