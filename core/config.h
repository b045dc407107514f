// Config: everything a run of detrun depends on, as plain typed values.
//
// The CLI (cli/options.h) turns the command line and environment into a
// Config; the core (launcher, supervisor) and the determinism modules read
// it and never look at argv or the environment themselves. A Config is a
// value: copy it freely, compare it, record it in a trace.
#ifndef DETRUN_CORE_CONFIG_H_
#define DETRUN_CORE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace detrun {

enum class ClockMode { kStep, kFrozen, kReal };
enum class FsTimes { kClamp, kReal };
enum class DirOrder { kSorted, kShuffle, kNative };
// --tsc: what rdtsc/rdtscp return (determinism/tsc.h).
enum class TscMode { kEmulate, kTrap, kNative };

// The words naming each mode, indexed by the enum's value: the one list
// for the option parser, the trace writer and reader, the trace's text
// and `detrun flaky`'s suggested flags.
inline constexpr const char* kClockWords[] = {"step", "frozen", "real"};
inline constexpr const char* kFsTimesWords[] = {"clamp", "real"};
inline constexpr const char* kDirOrderWords[] = {"sorted", "shuffle", "native"};
inline constexpr const char* kTscWords[] = {"emulate", "trap", "native"};
inline const char* ModeWord(ClockMode m) { return kClockWords[static_cast<int>(m)]; }
inline const char* ModeWord(FsTimes m) { return kFsTimesWords[static_cast<int>(m)]; }
inline const char* ModeWord(DirOrder m) { return kDirOrderWords[static_cast<int>(m)]; }
inline const char* ModeWord(TscMode m) { return kTscWords[static_cast<int>(m)]; }

// 2000-01-01T00:00:00Z: the start time when neither --time nor
// $SOURCE_DATE_EPOCH says otherwise.
inline constexpr int64_t kDefaultStartEpochSeconds = 946684800;

struct Config {
  uint64_t seed = 0;
  absl::Time start_time = absl::FromUnixSeconds(kDefaultStartEpochSeconds);
  ClockMode clock = ClockMode::kStep;
  // Step quantum: how far a --clock=step clock advances per read. 1 ms keeps
  // busy-wait loops on the clock short and millisecond log stamps distinct.
  absl::Duration tick = absl::Milliseconds(1);
  std::string hostname = "detrun";
  uint32_t cpus = 1;
  FsTimes fs_times = FsTimes::kClamp;
  DirOrder dirs = DirOrder::kSorted;
  std::optional<std::string> record_path;
  TscMode tsc = TscMode::kEmulate;
  // --chaos=SEED: seeded real-time delays at some intercepted calls, to
  // shake out races (determinism/chaos_module.h). Unset: no delays.
  std::optional<uint64_t> chaos_seed;

  // --native: run the command with no interception at all (the baseline).
  bool native = false;
  // Landlock: when either list is non-empty, everything else is denied.
  std::vector<std::string> allow_read;
  std::vector<std::string> allow_write;
  // --no-network: socket(AF_INET/AF_INET6, ...) fails with EACCES.
  bool no_network = false;
  // --pid-namespace=auto|off: run the command in a new pid namespace when
  // one can be made (core/launcher.h).
  bool pid_namespace = true;
  // --verbose: log every intercepted call to stderr.
  bool verbose = false;
  // --report-leaks[=FILE]: at exit, list what reached the command that
  // detrun did not make deterministic (core/leak_report.h): to stderr when
  // the value is empty, else to FILE.
  std::optional<std::string> report_leaks;
  // --strict: each leaking call fails with EPERM; implies the report (to
  // stderr unless --report-leaks=FILE).
  bool strict = false;

  // Long option names (without "--") that the user set explicitly, so that
  // options whose module has not landed can be refused instead of ignored.
  std::set<std::string> explicitly_set;

  // Whether the leak checks run: for the report, for --strict, and for the
  // leak section every trace holds.
  bool leak_checks() const { return report_leaks.has_value() || strict || record_path.has_value(); }

  bool landlock_requested() const {
    return !allow_read.empty() || !allow_write.empty();
  }
};

}  // namespace detrun

#endif  // DETRUN_CORE_CONFIG_H_
