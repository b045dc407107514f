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

// Clock reads are the commonest intercepted calls, so their descriptions
// are formatted by hand (absl::FormatTime costs several times more); the
// result is absl's "%Y-%m-%dT%H:%M:%E*SZ", which the unit test checks.
void AppendDigits(std::string* out, uint64_t v, int width) {
  char buf[20];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 || n < width);
  while (n > 0) out->push_back(buf[--n]);
}

// Nanoseconds as ".fraction" without trailing zeros, or nothing.
void AppendFraction(std::string* out, int64_t nsec) {
  if (nsec == 0) return;
  char digits[9];
  int64_t v = nsec;
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  int len = 9;
  while (len > 0 && digits[len - 1] == '0') --len;
  out->push_back('.');
  out->append(digits, len);
}

std::string WallTime(int64_t sec, int64_t nsec) {
  sec += nsec / 1'000'000'000;
  nsec %= 1'000'000'000;
  if (nsec < 0) {
    nsec += 1'000'000'000;
    --sec;
  }
  int64_t days = sec / 86400;
  int64_t rem = sec % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) {  // absl does not pad years below 1000
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ",
                            absl::FromUnixSeconds(sec) + absl::Nanoseconds(nsec),
                            absl::UTCTimeZone());
  }
  std::string out;
  out.reserve(32);
  AppendDigits(&out, static_cast<uint64_t>(year), 4);
  out.push_back('-');
  AppendDigits(&out, static_cast<uint64_t>(month), 2);
  out.push_back('-');
  AppendDigits(&out, static_cast<uint64_t>(day), 2);
  out.push_back('T');
  AppendDigits(&out, static_cast<uint64_t>(rem / 3600), 2);
  out.push_back(':');
  AppendDigits(&out, static_cast<uint64_t>(rem / 60 % 60), 2);
  out.push_back(':');
  AppendDigits(&out, static_cast<uint64_t>(rem % 60), 2);
  AppendFraction(&out, nsec);
  out.push_back('Z');
  return out;
}

std::string Seconds(int64_t sec, int64_t nsec) {
  if (sec < 0 || nsec < 0 || nsec >= 1'000'000'000) return absl::StrFormat("%d.%09ds", sec, nsec);
  std::string out;
  AppendDigits(&out, static_cast<uint64_t>(sec), 1);
  out.push_back('.');
  AppendDigits(&out, static_cast<uint64_t>(nsec), 9);
  out.push_back('s');
  return out;
}

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
    if (name == "clock_gettime" && payload.empty() && value >= 0) {
      // The step-mode vDSO stub's answer: the time in nanoseconds as the
      // return value (vdso_patch.h StepClockGettimeStub).
      a = value / 1'000'000'000;
      b = value % 1'000'000'000;
    } else if (args.empty() || !Load(payload, 0, &a) || !Load(payload, 8, &b)) {
      return "";
    }
    if (args.empty()) return "";
    std::string_view clock = ClockName(args[0]);
    const std::string what =
        name == "clock_getres" || !IsWallClock(args[0]) ? Seconds(a, b) : WallTime(a, b);
    if (clock.empty()) return what;
    std::string out(clock);
    out.push_back(' ');
    out.append(what);
    return out;
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
