#include "core/path_pattern.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace detrun {

absl::StatusOr<PathPattern> PathPattern::Parse(std::string_view pattern) {
  const absl::string_view text(pattern.data(), pattern.size());
  if (text.size() < 2 || text[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("not an absolute path: '", text, "'"));
  }
  PathPattern out;
  out.text_ = std::string(text);
  for (absl::string_view part : absl::StrSplit(text.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("not canonical: '", text, "'"));
    }
    if (part != kNumber && absl::StrContains(part, '%')) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", part, "' in '", text, "': only a whole %d component may have '%'"));
    }
    out.parts_.emplace_back(part);
  }
  if (out.parts_.back() == kNumber) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' must end in a literal name, not %d"));
  }
  return out;
}

bool PathPattern::Match(std::string_view path_view,
                        std::vector<std::string_view>* numbers) const {
  const absl::string_view path(path_view.data(), path_view.size());
  if (path.empty() || path[0] != '/') return false;
  size_t i = 0;
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (i == parts_.size()) return false;
    const std::string& want = parts_[i++];
    if (want == kNumber) {
      if (part.empty() || !std::all_of(part.begin(), part.end(), absl::ascii_isdigit)) {
        return false;
      }
      if (numbers != nullptr) numbers->emplace_back(part.data(), part.size());
    } else if (part != want) {
      return false;
    }
  }
  return i == parts_.size();
}

bool PathPattern::Matches(std::string_view canonical_path) const {
  return Match(canonical_path, nullptr);
}

std::vector<std::string_view> PathPattern::Numbers(std::string_view canonical_path) const {
  std::vector<std::string_view> numbers;
  if (!Match(canonical_path, &numbers)) numbers.clear();
  return numbers;
}

}  // namespace detrun
