#include "cli/culprit.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/time_spec.h"

namespace detrun {
namespace {

// Every way of choosing `size` of `items`, in lexicographic order of
// positions, so earlier sources come first.
void Choose(const std::vector<Source>& items, size_t size, size_t from, SourceSet current,
            std::vector<SourceSet>& out) {
  if (current.size() == size) {
    out.push_back(current);
    return;
  }
  for (size_t i = from; i < items.size(); ++i) {
    SourceSet next = current;
    next.insert(items[i]);
    Choose(items, size, i + 1, next, out);
  }
}

std::string DescribeOne(Source source, const Setting& s) {
  switch (source) {
    case Source::kRandom:
      return absl::StrCat("random (seed ", s.seed, ")");
    case Source::kTime: {
      std::string what = absl::StrCat("time (start ", FormatTimeUtc(s.start_time));
      if (std::string_view why = WhyInteresting(s.start_time); !why.empty()) {
        absl::StrAppend(&what, ": ", std::string(why));
      }
      return what + ")";
    }
    case Source::kDirs:
      return absl::StrCat("dirs (--dirs=shuffle, seed ", s.seed, ")");
    case Source::kCpus:
      return absl::StrCat("cpus (", s.cpus, ")");
    case Source::kHostname:
      return absl::StrCat("hostname (", s.hostname, ")");
    case Source::kChaos:
      return absl::StrCat("scheduling (surfaced by --chaos=", s.chaos_seed.value_or(0), ")");
  }
  return "?";
}

}  // namespace

SourceSet DifferingSources(const Setting& a, const Setting& b) {
  SourceSet d;
  if (a.seed != b.seed) d.insert(Source::kRandom);
  if (a.start_time != b.start_time) d.insert(Source::kTime);
  if (a.dirs != b.dirs) d.insert(Source::kDirs);
  if (a.cpus != b.cpus) d.insert(Source::kCpus);
  if (a.hostname != b.hostname) d.insert(Source::kHostname);
  if (a.chaos_seed != b.chaos_seed) d.insert(Source::kChaos);
  return d;
}

Setting Blend(const Setting& passing, const Setting& failing, const SourceSet& take) {
  Setting s = passing;
  if (take.contains(Source::kRandom)) s.seed = failing.seed;
  if (take.contains(Source::kTime)) s.start_time = failing.start_time;
  if (take.contains(Source::kDirs)) {
    s.dirs = failing.dirs;
    s.seed = failing.seed;  // the shuffled order is a function of the seed
  }
  if (take.contains(Source::kCpus)) s.cpus = failing.cpus;
  if (take.contains(Source::kHostname)) s.hostname = failing.hostname;
  if (take.contains(Source::kChaos)) s.chaos_seed = failing.chaos_seed;
  return s;
}

std::vector<SourceSet> SubsetsOfSize(const SourceSet& sources, size_t size) {
  std::vector<SourceSet> out;
  if (size == 0 || size > sources.size()) return out;
  Choose(sources.members(), size, 0, SourceSet{}, out);
  return out;
}

Culprit FindCulprit(const Setting& failing, const Setting& passing, const BatchTester& test) {
  Culprit culprit;
  const SourceSet differing = DifferingSources(failing, passing);
  for (size_t size = 1; size <= differing.size(); ++size) {
    const std::vector<SourceSet> subsets = SubsetsOfSize(differing, size);
    std::vector<Setting> candidates;
    for (const SourceSet& subset : subsets) candidates.push_back(Blend(passing, failing, subset));
    const std::vector<Verdict> verdicts = test(candidates);
    culprit.candidates_tried += static_cast<int>(candidates.size());
    for (size_t i = 0; i < subsets.size() && i < verdicts.size(); ++i) {
      if (verdicts[i] == Verdict::kFail) {
        culprit.found = true;
        culprit.sources = subsets[i];
        culprit.failing = candidates[i];
        return culprit;
      }
    }
  }
  return culprit;
}

std::string DescribeCulprit(const Culprit& culprit) {
  if (!culprit.found) return "scheduling";
  std::vector<std::string> parts;
  for (Source s : culprit.sources.members()) parts.push_back(DescribeOne(s, culprit.failing));
  return absl::StrJoin(parts, " + ");
}

}  // namespace detrun
