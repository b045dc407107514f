// Time specs: the text forms of a start time that detrun accepts, and the
// one form it prints.
//
// A run's virtual clock starts at one absl::Time. Users give it with --time
// (ParseStartTime) or through $SOURCE_DATE_EPOCH (ParseSourceDateEpoch);
// traces and messages print it back with FormatTimeUtc. All three are pure
// functions: no time zone database, no locale, no current time.
//
// ParseStartTime is deliberately stricter than absl::ParseTime, which skips
// whitespace, takes any number of year digits and would let a typo through
// as a different time. Here every field has a fixed width, a date that does
// not exist (2020-02-30) is an error rather than being normalised to another
// day, and nothing may follow the value. Leap seconds (:60) are refused:
// absl::Time cannot represent them.
#ifndef DETRUN_CLI_TIME_SPEC_H_
#define DETRUN_CLI_TIME_SPEC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace detrun {

// What ParseStartTime accepts, for help text and error messages.
inline constexpr std::string_view kStartTimeSyntax =
    "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM] or @EPOCH_SECONDS";

// Parses exactly one of:
//   YYYY-MM-DD                            midnight UTC of that day
//   YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]  no zone means UTC; 1-9 fraction
//                                         digits, kept to the nanosecond
//   @EPOCH_SECONDS                        [-]digits[.frac], seconds since
//                                         1970-01-01T00:00:00Z
// 'T' and 'Z' are upper case; hours are 00-23, seconds 00-59.
//
// On failure returns InvalidArgument "invalid <what> '<text>': <why>", where
// <why> says what was expected. `what` lets the caller name the source, e.g.
// "--time value".
absl::StatusOr<absl::Time> ParseStartTime(std::string_view text,
                                          std::string_view what = "start time");

// Parses $SOURCE_DATE_EPOCH as https://reproducible-builds.org/specs/
// source-date-epoch/ defines it: an integer number of seconds since the
// epoch, as `date +%s` prints it (so an optional leading '-', then decimal
// digits; no '+', fraction, whitespace or exponent).
absl::StatusOr<absl::Time> ParseSourceDateEpoch(std::string_view text,
                                                std::string_view what = "$SOURCE_DATE_EPOCH value");

// RFC 3339 in UTC with a 'Z': "2020-01-01T12:00:00Z", or, when the time is
// not a whole second, with the nanoseconds and trailing zeros dropped
// ("2020-01-01T12:00:00.5Z", "1970-01-01T00:00:00.000000005Z"). A part
// finer than a nanosecond is truncated. For years 0000-9999 ParseStartTime
// reads the result back to the same time. The infinite times print as
// absl::FormatTime prints them ("infinite-future", "infinite-past").
std::string FormatTimeUtc(absl::Time time);

// A value as it appears in a one-line message: in single quotes, with
// control and non-ASCII bytes escaped (absl::CHexEscape) so that a stray
// newline cannot split the line. Every CLI error that names a bad value
// quotes it this way.
std::string QuoteValue(std::string_view text);

}  // namespace detrun

#endif  // DETRUN_CLI_TIME_SPEC_H_
