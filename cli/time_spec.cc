#include "cli/time_spec.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace detrun {
namespace {

// Debian builds Abseil with its own absl::string_view rather than an alias
// of std::string_view; this is where one becomes the other.
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A small cursor over the text. Each Consume* either consumes what it
// promises or leaves the cursor untouched and returns false.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : rest_(text) {}

  bool AtEnd() const { return rest_.empty(); }
  std::string_view rest() const { return rest_; }

  bool ConsumeChar(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }

  // Exactly `width` decimal digits.
  bool ConsumeFixedDigits(int width, int* value) {
    if (rest_.size() < static_cast<size_t>(width)) return false;
    int v = 0;
    for (int i = 0; i < width; ++i) {
      if (!IsDigit(rest_[i])) return false;
      v = v * 10 + (rest_[i] - '0');
    }
    rest_.remove_prefix(width);
    *value = v;
    return true;
  }

  // How many decimal digits the rest starts with; consumes nothing.
  size_t CountDigits() const {
    size_t n = 0;
    while (n < rest_.size() && IsDigit(rest_[n])) ++n;
    return n;
  }

  void Skip(size_t n) { rest_.remove_prefix(n); }

 private:
  std::string_view rest_;
};

// Why a spec was refused. An empty `detail` means "wrong shape": the
// message then just says what was expected.
struct Refusal {
  std::string detail;
};

// Decimal digits (already checked to be digits) as an int64, or nullopt
// when the value does not fit.
std::optional<int64_t> DigitsToInt64(std::string_view digits) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  for (char c : digits) {
    const int d = c - '0';
    if (value > (kMax - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  return value;
}

// After '.', 1 to 9 digits, as nanoseconds ("5" is 500000000).
std::optional<Refusal> ConsumeFraction(Cursor& in, int64_t* nanos) {
  const size_t n = in.CountDigits();
  if (n == 0) return Refusal{"expected digits after '.'"};
  if (n > 9) {
    return Refusal{absl::StrCat("at most 9 fraction digits (nanoseconds) are allowed, got ", n)};
  }
  int64_t value = 0;
  for (char c : in.rest().substr(0, n)) value = value * 10 + (c - '0');
  for (size_t i = n; i < 9; ++i) value *= 10;
  in.Skip(n);
  *nanos = value;
  return std::nullopt;
}

std::optional<Refusal> TrailingJunk(const Cursor& in, const char* after) {
  return Refusal{absl::StrCat("unexpected ", QuoteValue(in.rest()), " after the ", after)};
}

// YYYY-MM-DD[THH:MM:SS[.frac][Z|±HH:MM]]
std::optional<Refusal> ParseCalendar(Cursor& in, absl::Time* out) {
  int year = 0, month = 0, day = 0;
  if (!in.ConsumeFixedDigits(4, &year) || !in.ConsumeChar('-') ||
      !in.ConsumeFixedDigits(2, &month) || !in.ConsumeChar('-') ||
      !in.ConsumeFixedDigits(2, &day)) {
    return Refusal{};
  }
  if (month < 1 || month > 12) {
    return Refusal{absl::StrFormat("month %02d does not exist", month)};
  }
  // absl::CivilDay normalises (Feb 30 becomes Mar 1); a changed day means
  // the date does not exist, and silently running at another date would be
  // worse than refusing.
  const absl::CivilDay civil_day(year, month, day);
  if (civil_day.month() != month || civil_day.day() != day) {
    return Refusal{absl::StrFormat("day %02d does not exist in %04d-%02d", day, year, month)};
  }
  if (in.AtEnd()) {
    *out = absl::FromCivil(civil_day, absl::UTCTimeZone());
    return std::nullopt;
  }
  if (!in.ConsumeChar('T')) return TrailingJunk(in, "date");

  int hour = 0, minute = 0, second = 0;
  if (!in.ConsumeFixedDigits(2, &hour) || !in.ConsumeChar(':') ||
      !in.ConsumeFixedDigits(2, &minute) || !in.ConsumeChar(':') ||
      !in.ConsumeFixedDigits(2, &second)) {
    return Refusal{"expected HH:MM:SS after 'T'"};
  }
  if (hour > 23) return Refusal{absl::StrFormat("hour %02d does not exist (00-23)", hour)};
  if (minute > 59) return Refusal{absl::StrFormat("minute %02d does not exist (00-59)", minute)};
  if (second > 59) {
    return Refusal{absl::StrFormat(
        "second %02d does not exist (00-59; leap seconds are not supported)", second)};
  }
  int64_t nanos = 0;
  if (in.ConsumeChar('.')) {
    if (auto refusal = ConsumeFraction(in, &nanos)) return refusal;
  }

  absl::Duration utc_offset = absl::ZeroDuration();
  if (in.ConsumeChar('Z')) {
    // UTC, same as no zone.
  } else if (in.rest().starts_with('+') || in.rest().starts_with('-')) {
    const bool east = in.rest().front() == '+';
    in.Skip(1);
    int offset_hours = 0, offset_minutes = 0;
    if (!in.ConsumeFixedDigits(2, &offset_hours) || !in.ConsumeChar(':') ||
        !in.ConsumeFixedDigits(2, &offset_minutes)) {
      return Refusal{"expected a zone offset of the form ±HH:MM"};
    }
    if (offset_hours > 23 || offset_minutes > 59) {
      return Refusal{
          absl::StrFormat("zone offset %02d:%02d does not exist", offset_hours, offset_minutes)};
    }
    utc_offset = absl::Hours(offset_hours) + absl::Minutes(offset_minutes);
    if (!east) utc_offset = -utc_offset;
  }
  if (!in.AtEnd()) return TrailingJunk(in, "time");

  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  *out = absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Nanoseconds(nanos) - utc_offset;
  return std::nullopt;
}

// [-]digits[.frac], after the '@'.
std::optional<Refusal> ParseEpoch(Cursor& in, absl::Time* out) {
  const bool negative = in.ConsumeChar('-');
  const size_t n = in.CountDigits();
  if (n == 0) return Refusal{"expected [-]SECONDS[.frac] after '@'"};
  const std::optional<int64_t> seconds = DigitsToInt64(in.rest().substr(0, n));
  if (!seconds.has_value()) return Refusal{"the number of seconds is out of range"};
  in.Skip(n);
  int64_t nanos = 0;
  if (in.ConsumeChar('.')) {
    if (auto refusal = ConsumeFraction(in, &nanos)) return refusal;
  }
  if (!in.AtEnd()) return TrailingJunk(in, "seconds");
  absl::Duration since_epoch = absl::Seconds(*seconds) + absl::Nanoseconds(nanos);
  if (negative) since_epoch = -since_epoch;
  *out = absl::UnixEpoch() + since_epoch;
  return std::nullopt;
}

absl::Status Refuse(std::string_view what, std::string_view text, const Refusal& refusal,
                    std::string_view expected) {
  if (refusal.detail.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", ToAbsl(what), " ", QuoteValue(text),
                                                   ": expected ", ToAbsl(expected)));
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid ", ToAbsl(what), " ", QuoteValue(text),
                                                 ": ", refusal.detail, " (expected ",
                                                 ToAbsl(expected), ")"));
}

}  // namespace

absl::StatusOr<absl::Time> ParseStartTime(std::string_view text, std::string_view what) {
  Cursor in(text);
  absl::Time result;
  std::optional<Refusal> refusal;
  if (text.empty()) {
    refusal = Refusal{"the value is empty"};
  } else if (in.ConsumeChar('@')) {
    refusal = ParseEpoch(in, &result);
  } else {
    refusal = ParseCalendar(in, &result);
  }
  if (refusal.has_value()) return Refuse(what, text, *refusal, kStartTimeSyntax);
  return result;
}

absl::StatusOr<absl::Time> ParseSourceDateEpoch(std::string_view text, std::string_view what) {
  constexpr std::string_view kExpected =
      "an integer number of seconds since 1970-01-01T00:00:00Z, as `date +%s` prints it";
  Cursor in(text);
  const bool negative = in.ConsumeChar('-');
  const size_t n = in.CountDigits();
  if (n == 0 || n != in.rest().size()) return Refuse(what, text, Refusal{}, kExpected);
  const std::optional<int64_t> seconds = DigitsToInt64(in.rest());
  if (!seconds.has_value()) {
    return Refuse(what, text, Refusal{"the number of seconds is out of range"}, kExpected);
  }
  return absl::FromUnixSeconds(negative ? -*seconds : *seconds);
}

std::string QuoteValue(std::string_view text) {
  return absl::StrCat("'", absl::CHexEscape(ToAbsl(text)), "'");
}

std::string FormatTimeUtc(absl::Time time) {
  if (time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return absl::FormatTime(time);
  }
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const absl::Duration whole_seconds = absl::Floor(since_epoch, absl::Seconds(1));
  // In [0, 1s): truncating to nanoseconds drops only a sub-nanosecond part.
  const int64_t nanos = absl::ToInt64Nanoseconds(since_epoch - whole_seconds);
  // By hand rather than absl::FormatTime, whose %Y does not pad years
  // before 1000 to the four digits RFC 3339 requires.
  const absl::CivilSecond civil =
      absl::ToCivilSecond(absl::UnixEpoch() + whole_seconds, absl::UTCTimeZone());
  std::string out = absl::StrFormat("%s%04d-%02d-%02dT%02d:%02d:%02d", civil.year() < 0 ? "-" : "",
                                    civil.year() < 0 ? -civil.year() : civil.year(), civil.month(),
                                    civil.day(), civil.hour(), civil.minute(), civil.second());
  if (nanos != 0) {
    std::string fraction = absl::StrFormat("%09d", nanos);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    absl::StrAppend(&out, ".", fraction);
  }
  out += 'Z';
  return out;
}

}  // namespace detrun
