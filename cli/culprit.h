// Culprit search for `detrun flaky`: which source of nondeterminism makes a
// failing configuration fail.
//
// Delta debugging over sources, from one failing and one passing Setting
// (both replayed: the failing one failed every time, the passing one
// passed every time). Let D be the sources in which they differ. The
// search tries subsets C of D, smallest first, each as Blend(passing,
// failing, C) — the passing setting with the failing values of C — and
// stops at the first level with a candidate that fails every time: that C
// is a smallest set of sources whose failing values make the test fail,
// and it is the culprit. All candidates of one level are handed to the
// tester together, so they run in parallel. With five sources that is at
// most 31 candidates; in the usual case, one source to blame, it is the
// first level: five.
//
// Within a level candidates follow kAllSources order, random before dirs:
// a --dirs=shuffle order is a function of the seed, so a candidate that
// takes the failing dirs order takes the failing seed with it. Trying
// {random} first separates the two: if the failing seed alone fails, the
// culprit is random; if only {dirs} (the failing seed and the shuffle)
// fails, the order is what matters.
//
// No culprit (`found` false): D is empty, or no candidate — not even the
// failing setting itself, which is the last candidate — failed every time.
// The failure then depends on something detrun does not hold fixed:
// thread scheduling, or an input it does not control yet.
#ifndef DETRUN_CLI_CULPRIT_H_
#define DETRUN_CLI_CULPRIT_H_

#include <functional>
#include <string>
#include <vector>

#include "cli/flaky_plan.h"

namespace detrun {

// What replaying one candidate showed.
enum class Verdict { kPass, kFail, kUnstable };

// Runs each Setting (possibly several times) and says what it did; the
// result has one Verdict per Setting, in order.
using BatchTester = std::function<std::vector<Verdict>(const std::vector<Setting>&)>;

// The sources in which `a` and `b` differ.
SourceSet DifferingSources(const Setting& a, const Setting& b);

// `passing` with the values of `failing` for the sources in `take`; taking
// dirs takes the failing seed too (see the top of the file).
Setting Blend(const Setting& passing, const Setting& failing, const SourceSet& take);

// The subsets of `sources` of `size` members, in the order they are tried.
std::vector<SourceSet> SubsetsOfSize(const SourceSet& sources, size_t size);

struct Culprit {
  bool found = false;
  SourceSet sources;  // when found
  Setting failing;    // when found: the candidate that failed
  int candidates_tried = 0;
};

Culprit FindCulprit(const Setting& failing, const Setting& passing, const BatchTester& test);

// "random (seed 17)", "time (start 2024-02-29T12:00:00Z: Feb 29 of a leap
// year)", "dirs (--dirs=shuffle, seed 3)", "cpus (64)", "hostname
// (BUILDHOST)", "scheduling (surfaced by --chaos=5)"; several joined by
// " + ".
std::string DescribeCulprit(const Culprit& culprit);

}  // namespace detrun

#endif  // DETRUN_CLI_CULPRIT_H_
