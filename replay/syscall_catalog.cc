#include "replay/syscall_catalog.h"

#include <bit>
#include <optional>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/syscall_table.h"

namespace detrun {
namespace {

// Every syscall a module of detrun answers or watches (core/module.h
// Registry::Notify), with its x86-64 argument list.
constexpr SyscallInfo kCatalog[] = {
    // Process identity (core): creation and exec.
    {"clone", "v----", "exec"},
    {"clone3", "-v", "exec"},
    {"fork", "", "exec"},
    {"vfork", "", "exec"},
    {"execve", "---", "exec"},
    {"execveat", "i---i", "exec"},
    // time: clocks, sleeps, accounting.
    {"clock_gettime", "i-", "time"},
    {"gettimeofday", "--", "time"},
    {"time", "-", "time"},
    {"clock_getres", "i-", "time"},
    {"nanosleep", "--", "time"},
    {"clock_nanosleep", "ii--", "time"},
    {"times", "-", "time"},
    {"getrusage", "i-", "time"},
    {"sysinfo", "-", "time"},
    // time: timers.
    {"alarm", "u", "time"},
    {"setitimer", "i--", "time"},
    {"getitimer", "i-", "time"},
    {"timer_create", "i--", "time"},
    {"timer_settime", "ii--", "time"},
    {"timer_gettime", "i-", "time"},
    {"timer_getoverrun", "i", "time"},
    {"timer_delete", "i", "time"},
    {"timerfd_settime", "ii--", "time"},
    {"timerfd_gettime", "i-", "time"},
    // time: waits with a timeout.
    {"poll", "-ui", "time"},
    {"ppoll", "-u---", "time"},
    {"select", "i----", "time"},
    {"pselect6", "i-----", "time"},
    {"epoll_wait", "i-ii", "time"},
    {"epoll_pwait", "i-ii--", "time"},
    {"epoll_pwait2", "i-i---", "time"},
    {"rt_sigtimedwait", "----", "time"},
    {"semtimedop", "i-u-", "time"},
    {"futex", "-iu--u", "time"},
    {"futex_waitv", "-uu-i", "time"},
    {"mq_timedsend", "i-vu-", "time"},
    {"mq_timedreceive", "i-v--", "time"},
    // random.
    {"getrandom", "-vu", "random", true},
    // uts: host name.
    {"uname", "-", "hostname"},
    {"sethostname", "-i", "hostname"},
    {"setdomainname", "-i", "hostname"},
    // cpus.
    {"sched_getaffinity", "iu-", "cpus"},
    {"sched_setaffinity", "iu-", "cpus"},
    {"getcpu", "---", "cpus"},
    {"rseq", "-uiu", "cpus"},
    // dirs (issue 4).
    {"getdents", "u-u", "dirs"},
    {"getdents64", "u-u", "dirs"},
};

// Module names (core/module.h Module::name) to sources.
struct ModuleSource {
  std::string_view module;
  std::string_view source;
};
constexpr ModuleSource kModuleSources[] = {
    {"time", "time"}, {"random", "random"}, {"at_random", "random"}, {"uts", "hostname"},
    {"cpus", "cpus"}, {"dirs", "dirs"},     {"process", "exec"},
};

std::string_view ClockName(int64_t id) {
  switch (id) {
    case 0: return "CLOCK_REALTIME";
    case 1: return "CLOCK_MONOTONIC";
    case 2: return "CLOCK_PROCESS_CPUTIME_ID";
    case 3: return "CLOCK_THREAD_CPUTIME_ID";
    case 4: return "CLOCK_MONOTONIC_RAW";
    case 5: return "CLOCK_REALTIME_COARSE";
    case 6: return "CLOCK_MONOTONIC_COARSE";
    case 7: return "CLOCK_BOOTTIME";
    case 8: return "CLOCK_REALTIME_ALARM";
    case 9: return "CLOCK_BOOTTIME_ALARM";
    case 11: return "CLOCK_TAI";
    default: return "";
  }
}

bool IsWallClock(int64_t id) { return id == 0 || id == 5 || id == 8 || id == 11; }

std::string WallTime(int64_t sec, int64_t nsec) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ",
                          absl::FromUnixSeconds(sec) + absl::Nanoseconds(nsec),
                          absl::UTCTimeZone());
}

std::string Seconds(int64_t sec, int64_t nsec) { return absl::StrFormat("%d.%09ds", sec, nsec); }

template <typename T>
bool Load(std::string_view payload, size_t offset, T* out) {
  if (payload.size() < offset + sizeof(T)) return false;
  memcpy(out, payload.data() + offset, sizeof(T));
  return true;
}

// A NUL-padded field of `size` bytes at `offset`.
std::string CString(std::string_view payload, size_t offset, size_t size) {
  if (payload.size() < offset + size) return "";
  std::string_view field = payload.substr(offset, size);
  return std::string(field.substr(0, field.find('\0')));
}

}  // namespace

const SyscallInfo* FindSyscallInfo(std::string_view name) {
  for (const SyscallInfo& info : kCatalog) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const SyscallInfo* FindSyscallInfo(int nr) {
  static const std::array<const SyscallInfo*, kSyscallTableSize> by_number = [] {
    std::array<const SyscallInfo*, kSyscallTableSize> table{};
    for (const SyscallInfo& info : kCatalog) {
      if (std::optional<int> n = SyscallNumber(info.name); n && *n >= 0 && *n < kSyscallTableSize) {
        table[*n] = &info;
      }
    }
    return table;
  }();
  return nr >= 0 && nr < kSyscallTableSize ? by_number[nr] : nullptr;
}

void RecordedArgs(const SyscallInfo* info, const std::array<uint64_t, 6>& args,
                  std::vector<int64_t>* out) {
  out->clear();
  if (info == nullptr) return;
  for (size_t i = 0; i < info->args.size() && i < args.size(); ++i) {
    switch (info->args[i]) {
      case 'v': out->push_back(static_cast<int64_t>(args[i])); break;
      // 32-bit arguments: the kernel ignores the upper half of the
      // register, and so does the trace (it may hold anything).
      case 'i': out->push_back(static_cast<int32_t>(args[i])); break;
      case 'u': out->push_back(static_cast<uint32_t>(args[i])); break;
      default: break;
    }
  }
}

std::string_view SourceOfCall(std::string_view syscall, std::string_view module) {
  for (const ModuleSource& m : kModuleSources) {
    if (m.module == module) return m.source;
  }
  const SyscallInfo* info = FindSyscallInfo(syscall);
  return info != nullptr ? info->source : "";
}

std::string DescribePayload(std::string_view name, const std::vector<int64_t>& args,
                            std::string_view payload, int64_t value) {
  int64_t a = 0, b = 0;
  if (name == "clock_gettime" || name == "clock_getres") {
    if (args.empty() || !Load(payload, 0, &a) || !Load(payload, 8, &b)) return "";
    std::string_view clock = ClockName(args[0]);
    std::string what = name == "clock_getres" || !IsWallClock(args[0]) ? Seconds(a, b) : WallTime(a, b);
    return clock.empty() ? what : absl::StrCat(absl::string_view(clock.data(), clock.size()), " ", what);
  }
  if (name == "gettimeofday") {
    if (!Load(payload, 0, &a) || !Load(payload, 8, &b)) return "";
    return WallTime(a, b * 1000);
  }
  if (name == "time") return WallTime(value, 0);
  if (name == "uname") {
    // struct utsname: six 65-byte fields; nodename is the second,
    // domainname the sixth.
    if (payload.size() < 6 * 65) return "";
    return absl::StrCat("nodename=", CString(payload, 65, 65),
                        " domainname=", CString(payload, 5 * 65, 65));
  }
  if (name == "sched_getaffinity") {
    int cpus = 0;
    for (unsigned char c : payload) cpus += std::popcount(c);
    return absl::StrCat(cpus, cpus == 1 ? " CPU" : " CPUs");
  }
  if (name == "getcpu") {
    uint32_t cpu = 0;
    if (!Load(payload, 0, &cpu)) return "";
    return absl::StrCat("cpu ", cpu);
  }
  if (name == "sysinfo") {
    if (!Load(payload, 0, &a)) return "";
    return absl::StrCat("uptime ", a, "s");
  }
  return "";
}

}  // namespace detrun
