// LeakReport: what reached the command that detrun did not make
// deterministic, and that commonly makes output vary (issue 5, "Leak
// report"). The core service behind --report-leaks, --strict and the
// "leaks" part of every trace.
//
// Categories (LeakCategory), each with a stable name used on stderr and in
// traces:
//   proc     opens of /proc and /sys files that no module virtualizes
//            (core/leak_checks.h says which opens count)
//   inode    inode numbers seen: stat, lstat, newfstatat and statx of a
//            path (statx only when it asks for STATX_INO), and directory
//            listings (getdents64/getdents, whose entries carry d_ino)
//   statfs   statfs/fstatfs: sizes and free space of the host's file systems
//   network  connect, bind, sendto on an AF_INET or AF_INET6 address
//            (AF_UNIX and netlink stay local: not counted)
//   host     syscalls detrun does not answer that read or change host-wide
//            state (the kernel log, the host clock's discipline, keyrings,
//            file handles, kcmp, ...): core/leak_checks.cc lists them
//   rdtsc    reads of the time-stamp counter. Trapping rdtsc is another
//            feature (--tsc); whoever traps it reports each read through
//            Registry::leaks() (core/module.h) with this category.
//
// Per category: a count and up to kExamples examples (syscall, detail such
// as the path, and the thread identity). Which examples are kept does not
// depend on scheduling: each example gets the key (thread identity, number
// of leaks that thread reported before it), and the report keeps the
// examples with the smallest keys among distinct (syscall, detail) pairs.
// Each thread's calls come in its own order, so for a program whose
// threads behave deterministically the kept examples are the same on every
// run, however the threads interleave. Memory is bounded: kExamples per
// category, plus one counter per thread that leaked.
//
// --strict: the checks refuse the leaking call with EPERM (except inode
// numbers, see leak_checks.h) and count it with CountRefused().
#ifndef DETRUN_CORE_LEAK_REPORT_H_
#define DETRUN_CORE_LEAK_REPORT_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/process_identity.h"

namespace detrun {

enum class LeakCategory { kProc, kInode, kStatfs, kNetwork, kHost, kRdtsc };
inline constexpr int kLeakCategoryCount = 6;

// "proc", "inode", "statfs", "network", "host", "rdtsc".
std::string_view LeakCategoryName(LeakCategory category);
// The inverse, for readers of traces.
std::optional<LeakCategory> LeakCategoryFromName(std::string_view name);
// A few words for people: "/proc and /sys reads", "inode numbers", ...
std::string_view LeakCategoryTitle(LeakCategory category);

struct LeakExample {
  std::string thread;   // identity, as ThreadIdentity::ToString() writes it
  std::string syscall;  // "openat", "connect", ...
  std::string detail;   // "/proc/self/stat", "127.0.0.1:8080", ... (may be empty)
};

// The report as a value: what traces hold and what is printed.
struct LeakSummary {
  struct Category {
    LeakCategory category;
    uint64_t count = 0;
    std::vector<LeakExample> examples;  // at most LeakReport::kExamples
  };
  std::vector<Category> categories;  // non-zero counts only, in enum order
  uint64_t refused = 0;              // calls --strict failed with EPERM
  bool strict = false;

  uint64_t total() const;
  bool operator==(const LeakSummary& other) const;
};

// The lines --report-leaks prints, each prefixed "detrun: " and ending in
// '\n': one summary line, then one line per category with its count and
// examples, then under --strict the number of calls refused. E.g.
//   detrun: leaks: 2 calls reached host facts detrun does not control
//   detrun: leak proc (/proc and /sys reads): 1: openat /proc/self/stat [1]
//   detrun: leak network (network connections): 1: connect 127.0.0.1:8080 [1]
// or "detrun: leaks: none" when nothing leaked.
std::string FormatLeakReport(const LeakSummary& summary);

class LeakReport {
 public:
  static constexpr size_t kExamples = 3;

  explicit LeakReport(bool strict) : strict_(strict) {}

  // --strict: leaking calls are refused (checks read this).
  bool strict() const { return strict_; }

  // The key the next leak of `thread` gets. The caller passes it to
  // WantsDetail()/Record(); it advances the thread's counter.
  uint64_t NextKey(const ThreadIdentity& thread);

  // Whether an example with this key could be kept, i.e. whether it is
  // worth computing its detail (reading a path from the child, a readlink).
  bool WantsDetail(LeakCategory category, const ThreadIdentity& thread, uint64_t key) const;

  // Counts one leak; keeps it as an example if its key is among the
  // smallest (see the top). `detail` may be empty when WantsDetail said no.
  void Record(LeakCategory category, const ThreadIdentity& thread, uint64_t key,
              std::string_view syscall, std::string_view detail);
  // NextKey + Record, for callers that always have the detail at hand.
  void Record(LeakCategory category, const ThreadIdentity& thread, std::string_view syscall,
              std::string_view detail);

  // One call refused under --strict.
  void CountRefused() { ++refused_; }

  uint64_t count(LeakCategory category) const {
    return categories_[static_cast<int>(category)].count;
  }
  uint64_t refused() const { return refused_; }

  LeakSummary Summary() const;

 private:
  struct Kept {
    ThreadIdentity thread;
    uint64_t key;
    std::string syscall;
    std::string detail;
    bool operator<(const Kept& o) const {
      return thread != o.thread ? thread < o.thread : key < o.key;
    }
  };
  struct PerCategory {
    uint64_t count = 0;
    std::vector<Kept> kept;  // sorted, at most kExamples
  };
  bool strict_;
  uint64_t refused_ = 0;
  std::array<PerCategory, kLeakCategoryCount> categories_;
  std::map<ThreadIdentity, uint64_t> next_key_;
};

}  // namespace detrun

#endif  // DETRUN_CORE_LEAK_REPORT_H_
