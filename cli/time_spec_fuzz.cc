// libFuzzer target: the start-time parsers (cli/time_spec.h) on any bytes.
// Beyond never crashing, they must keep what time_spec.h promises:
//   - a refusal is InvalidArgument, names the value (escaped) and what was
//     expected, on one printable line;
//   - an accepted time prints (FormatTimeUtc) as text that reads back to the
//     same time when its year is 0000-9999, and reads back from its epoch
//     form "@[-]SECONDS[.NANOS]" always;
//   - an accepted calendar form means what absl::ParseTime reads in it as
//     RFC 3339 (ParseStartTime only refuses more);
//   - $SOURCE_DATE_EPOCH accepts exactly the texts that "@" + text accepts
//     without a fraction, as the same time.
// A broken property prints the input and aborts, which libFuzzer keeps as a
// crash artifact. Built with clang (-fsanitize=fuzzer,address,undefined) by
// detrun_libfuzzer_target in cli/CMakeLists.txt and run by ctest for a
// bounded time; the same entry point runs over the seeds and their
// systematic damage in time_spec_fuzz_smoke_test (any compiler).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "cli/time_spec.h"

namespace detrun {
namespace {

// Debian's Abseil has its own absl::string_view (see time_spec.cc).
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

[[noreturn]] void Fail(std::string_view input, std::string_view property, std::string_view got) {
  fprintf(stderr, "time_spec_fuzz: %s\n  input: '%s'\n  got:   %s\n",
          std::string(property).c_str(), absl::CHexEscape(ToAbsl(input)).c_str(),
          std::string(got).c_str());
  abort();
}

std::string Describe(const absl::StatusOr<absl::Time>& result) {
  return result.ok() ? FormatTimeUtc(*result) : result.status().ToString();
}

// `what` is the caller's name for the value, `expected` a part of the
// message that says what would have been accepted.
void CheckRefusal(std::string_view input, const absl::Status& status, std::string_view what,
                  std::string_view expected) {
  const std::string message(status.message());
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Fail(input, "a refusal is InvalidArgument", status.ToString());
  }
  const std::string prefix =
      absl::StrCat("invalid ", ToAbsl(what), " '", absl::CHexEscape(ToAbsl(input)), "': ");
  if (!absl::StartsWith(message, prefix)) {
    Fail(input, absl::StrCat("a refusal starts with ", prefix), message);
  }
  if (!absl::StrContains(message, ToAbsl(expected))) {
    Fail(input, absl::StrCat("a refusal says what was expected: ", ToAbsl(expected)), message);
  }
  // Escaped, so one line of printable ASCII whatever the input; the only
  // other bytes are the UTF-8 '±' of the syntax itself.
  for (const unsigned char c : absl::StrReplaceAll(message, {{"±", ""}})) {
    if (c < 0x20 || c > 0x7e) {
      Fail(input, absl::StrFormat("a refusal is printable ASCII (byte 0x%02x)", c), message);
    }
  }
}

// "@[-]SECONDS[.NANOS]", which ParseStartTime reads back exactly: its times
// are whole nanoseconds.
std::string EpochForm(absl::Time time) {
  absl::Duration since_epoch = time - absl::UnixEpoch();
  const bool negative = since_epoch < absl::ZeroDuration();
  if (negative) since_epoch = -since_epoch;
  absl::Duration fraction;
  const int64_t seconds = absl::IDivDuration(since_epoch, absl::Seconds(1), &fraction);
  std::string out = absl::StrCat("@", negative ? "-" : "", seconds);
  if (const int64_t nanos = absl::ToInt64Nanoseconds(fraction); nanos != 0) {
    absl::StrAppend(&out, absl::StrFormat(".%09d", nanos));
  }
  return out;
}

void CheckAccepted(std::string_view input, absl::Time time) {
  const std::string formatted = FormatTimeUtc(time);
  const int64_t year = absl::ToCivilSecond(time, absl::UTCTimeZone()).year();
  if (year >= 0 && year <= 9999) {
    const absl::StatusOr<absl::Time> again = ParseStartTime(formatted);
    if (!again.ok() || *again != time) {
      Fail(input, absl::StrCat("FormatTimeUtc's ", formatted, " reads back"), Describe(again));
    }
  }
  const std::string epoch = EpochForm(time);
  const absl::StatusOr<absl::Time> from_epoch = ParseStartTime(epoch);
  if (!from_epoch.ok() || *from_epoch != time) {
    Fail(input, absl::StrCat("the epoch form ", epoch, " of ", formatted, " reads back"),
         Describe(from_epoch));
  }
}

// An accepted calendar form is RFC 3339 (or its date alone, or without a
// zone for UTC), so absl::ParseTime, which is laxer, reads the same time.
void CheckAgainstAbsl(std::string_view input, absl::Time time) {
  std::string format;
  if (input.size() == 10) {
    format = "%Y-%m-%d";
  } else if (input.find_first_of("Z+-", 10) != std::string_view::npos) {
    format = absl::RFC3339_full;
  } else {
    format = "%Y-%m-%d%ET%H:%M:%E*S";
  }
  absl::Time absl_time;
  std::string error;
  if (!absl::ParseTime(format, ToAbsl(input), absl::UTCTimeZone(), &absl_time, &error) ||
      absl_time != time) {
    Fail(input, absl::StrCat("absl::ParseTime(\"", format, "\") reads ", FormatTimeUtc(time)),
         error.empty() ? FormatTimeUtc(absl_time) : error);
  }
}

void CheckStartTime(std::string_view input) {
  const absl::StatusOr<absl::Time> parsed = ParseStartTime(input);
  if (!parsed.ok()) {
    CheckRefusal(input, parsed.status(), "start time", kStartTimeSyntax);
    return;
  }
  CheckAccepted(input, *parsed);
  if (!input.starts_with('@')) CheckAgainstAbsl(input, *parsed);
}

void CheckSourceDateEpoch(std::string_view input) {
  const absl::StatusOr<absl::Time> parsed = ParseSourceDateEpoch(input);
  const std::string as_start_time = absl::StrCat("@", ToAbsl(input));
  const absl::StatusOr<absl::Time> start_time = ParseStartTime(as_start_time);
  if (!start_time.ok()) {
    CheckRefusal(as_start_time, start_time.status(), "start time", kStartTimeSyntax);
  }
  if (!parsed.ok()) {
    CheckRefusal(input, parsed.status(), "$SOURCE_DATE_EPOCH value", "integer number of seconds");
    if (start_time.ok() && input.find('.') == std::string_view::npos) {
      Fail(input, "$SOURCE_DATE_EPOCH refuses only what --time=@ refuses, and fractions",
           parsed.status().ToString());
    }
    return;
  }
  if (!start_time.ok() || *start_time != *parsed) {
    Fail(input, absl::StrCat("$SOURCE_DATE_EPOCH's ", FormatTimeUtc(*parsed), " is --time=@'s"),
         Describe(start_time));
  }
  CheckAccepted(input, *parsed);
}

}  // namespace
}  // namespace detrun

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  detrun::CheckStartTime(input);
  detrun::CheckSourceDateEpoch(input);
  return 0;
}
