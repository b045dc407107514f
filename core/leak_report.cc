#include "core/leak_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace detrun {
namespace {

struct CategoryInfo {
  LeakCategory category;
  std::string_view name;
  std::string_view title;
};

constexpr CategoryInfo kCategories[kLeakCategoryCount] = {
    {LeakCategory::kProc, "proc", "/proc and /sys reads"},
    {LeakCategory::kInode, "inode", "inode numbers seen"},
    {LeakCategory::kStatfs, "statfs", "file system figures seen"},
    {LeakCategory::kNetwork, "network", "network connections"},
    {LeakCategory::kHost, "host", "host-wide syscalls"},
    {LeakCategory::kRdtsc, "rdtsc", "time-stamp counter reads"},
};

absl::string_view Abs(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

std::string_view LeakCategoryName(LeakCategory category) {
  return kCategories[static_cast<int>(category)].name;
}

std::string_view LeakCategoryTitle(LeakCategory category) {
  return kCategories[static_cast<int>(category)].title;
}

std::optional<LeakCategory> LeakCategoryFromName(std::string_view name) {
  for (const CategoryInfo& info : kCategories) {
    if (info.name == name) return info.category;
  }
  return std::nullopt;
}

uint64_t LeakSummary::total() const {
  uint64_t n = 0;
  for (const Category& c : categories) n += c.count;
  return n;
}

bool LeakSummary::operator==(const LeakSummary& other) const {
  if (refused != other.refused || strict != other.strict ||
      categories.size() != other.categories.size()) {
    return false;
  }
  for (size_t i = 0; i < categories.size(); ++i) {
    const Category& a = categories[i];
    const Category& b = other.categories[i];
    if (a.category != b.category || a.count != b.count || a.examples.size() != b.examples.size()) {
      return false;
    }
    for (size_t j = 0; j < a.examples.size(); ++j) {
      if (a.examples[j].thread != b.examples[j].thread ||
          a.examples[j].syscall != b.examples[j].syscall ||
          a.examples[j].detail != b.examples[j].detail) {
        return false;
      }
    }
  }
  return true;
}

std::string FormatLeakReport(const LeakSummary& summary) {
  std::string out;
  const uint64_t total = summary.total();
  if (total == 0) {
    out = "detrun: leaks: none\n";
  } else {
    absl::StrAppend(&out, "detrun: leaks: ", total, total == 1 ? " call" : " calls",
                    " reached host facts detrun does not control\n");
  }
  for (const LeakSummary::Category& c : summary.categories) {
    absl::StrAppend(&out, "detrun: leak ", Abs(LeakCategoryName(c.category)), ": ", c.count, " ",
                    Abs(LeakCategoryTitle(c.category)));
    for (size_t i = 0; i < c.examples.size(); ++i) {
      const LeakExample& e = c.examples[i];
      absl::StrAppend(&out, i == 0 ? ", e.g. " : "; ", e.syscall);
      if (!e.detail.empty()) absl::StrAppend(&out, " ", e.detail);
      absl::StrAppend(&out, " [", e.thread, "]");
    }
    if (c.count > c.examples.size()) absl::StrAppend(&out, c.examples.empty() ? "" : "; ...");
    out += '\n';
  }
  if (summary.strict) {
    absl::StrAppend(&out, "detrun: strict: ", summary.refused,
                    summary.refused == 1 ? " call" : " calls", " refused with EPERM\n");
  }
  return out;
}

uint64_t LeakReport::NextKey(const ThreadIdentity& thread) { return next_key_[thread]++; }

bool LeakReport::WantsDetail(LeakCategory category, const ThreadIdentity& thread,
                             uint64_t key) const {
  const std::vector<Kept>& kept = categories_[static_cast<int>(category)].kept;
  if (kept.size() < kExamples) return true;
  const Kept& last = kept.back();
  return thread != last.thread ? thread < last.thread : key < last.key;
}

void LeakReport::Record(LeakCategory category, const ThreadIdentity& thread, uint64_t key,
                        std::string_view syscall, std::string_view detail) {
  PerCategory& c = categories_[static_cast<int>(category)];
  ++c.count;
  if (!WantsDetail(category, thread, key)) return;
  Kept candidate{thread, key, std::string(syscall), std::string(detail)};
  // One example per distinct (syscall, detail), at its smallest key.
  for (auto it = c.kept.begin(); it != c.kept.end(); ++it) {
    if (it->syscall == candidate.syscall && it->detail == candidate.detail) {
      if (!(candidate < *it)) return;
      c.kept.erase(it);
      break;
    }
  }
  c.kept.insert(std::upper_bound(c.kept.begin(), c.kept.end(), candidate), std::move(candidate));
  if (c.kept.size() > kExamples) c.kept.pop_back();
}

void LeakReport::Record(LeakCategory category, const ThreadIdentity& thread,
                        std::string_view syscall, std::string_view detail) {
  Record(category, thread, NextKey(thread), syscall, detail);
}

LeakSummary LeakReport::Summary() const {
  LeakSummary s;
  s.strict = strict_;
  s.refused = refused_;
  for (int i = 0; i < kLeakCategoryCount; ++i) {
    const PerCategory& c = categories_[i];
    if (c.count == 0) continue;
    LeakSummary::Category out;
    out.category = static_cast<LeakCategory>(i);
    out.count = c.count;
    for (const Kept& k : c.kept) {
      out.examples.push_back(LeakExample{k.thread.ToString(), k.syscall, k.detail});
    }
    s.categories.push_back(std::move(out));
  }
  return s;
}

}  // namespace detrun
