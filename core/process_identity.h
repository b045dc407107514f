// ProcessIdentity / ThreadIdentity: names for processes and threads that
// depend only on the fork tree, never on pids or scheduling.
//
// The run's first process is "1"; the k-th child created by process P is
// "P.k" (so "1.2.1" is the first child of the second child of the root).
// Threads are named by their process and their creation order within it:
// the main thread is index 0, the first pthread created is 1, and so on;
// ThreadIdentity::ToString() writes "1.2" for a main thread and "1.2:3"
// for the third thread created in process 1.2.
//
// Determinism modules key all per-process state (virtual clock, RNG
// stream) by these identities, so that `make -j8` children see the same
// values whichever ran first.
#ifndef DETRUN_CORE_PROCESS_IDENTITY_H_
#define DETRUN_CORE_PROCESS_IDENTITY_H_

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace detrun {

struct ProcessIdentity {
  std::vector<uint32_t> path;  // {1} for the root, {1, 2} for its 2nd child

  static ProcessIdentity Root() { return ProcessIdentity{{1}}; }
  ProcessIdentity Child(uint32_t index) const {
    ProcessIdentity c = *this;
    c.path.push_back(index);
    return c;
  }
  std::string ToString() const { return absl::StrJoin(path, "."); }
  auto operator<=>(const ProcessIdentity&) const = default;
};

struct ThreadIdentity {
  ProcessIdentity process;
  uint32_t index = 0;  // 0: the process's main thread

  std::string ToString() const {
    return index == 0 ? process.ToString()
                      : absl::StrCat(process.ToString(), ":", index);
  }
  auto operator<=>(const ThreadIdentity&) const = default;
};

}  // namespace detrun

#endif  // DETRUN_CORE_PROCESS_IDENTITY_H_
