// PathPattern: a family of canonical paths, such as every process's
// /proc/PID/status, for Registry::ProvideFilePattern (core/module.h).
//
// A pattern is written as a canonical absolute path (no "//", no "." or
// ".." parts, no trailing '/') whose components are either literal names or
// "%d", which matches one decimal number: one or more ASCII digits, nothing
// else (no sign, no space; "007" matches, as procfs would not name it but a
// caller could). The last component must be a literal name, so that the
// core's cheap filter on an open's last component (core/virtual_files.h)
// keeps working: "/proc/%d/status", "/proc/%d/task/%d/status".
#ifndef DETRUN_CORE_PATH_PATTERN_H_
#define DETRUN_CORE_PATH_PATTERN_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace detrun {

class PathPattern {
 public:
  // The component that matches a decimal number.
  static constexpr char kNumber[] = "%d";

  // InvalidArgument for a pattern that is not canonical, has another '%'
  // component, or ends in kNumber.
  static absl::StatusOr<PathPattern> Parse(std::string_view pattern);

  // Whether `canonical_path` is one of the pattern's paths.
  bool Matches(std::string_view canonical_path) const;

  // The decimal numbers a matching path has where the pattern has kNumber,
  // in order ("/proc/12/task/13/status" -> {"12", "13"}); empty when it
  // does not match (or the pattern has none).
  std::vector<std::string_view> Numbers(std::string_view canonical_path) const;

  const std::string& text() const { return text_; }
  // The literal last component ("status").
  std::string_view last_component() const { return parts_.back(); }

 private:
  // Matches and, when `numbers` is not null, collects the numbers.
  bool Match(std::string_view path, std::vector<std::string_view>* numbers) const;

  std::string text_;
  std::vector<std::string> parts_;  // the components, kNumber included
};

}  // namespace detrun

#endif  // DETRUN_CORE_PATH_PATTERN_H_
