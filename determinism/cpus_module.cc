#include "determinism/cpus_module.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/child_memory.h"
#include "core/child_path.h"
#include "core/unique_fd.h"
#include "determinism/time_module.h"

namespace detrun {
namespace {

constexpr size_t kBitsPerLong = 64;

// Writes `size` bytes to the child; the errno the kernel would give on
// failure, 0 on success.
int WriteTo(SyscallContext& ctx, uint64_t addr, const void* value, size_t size) {
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid, addr, value, size);
  return s.ok() ? 0 : ErrnoForMemoryStatus(s);
}

// Whether `name` is cpu[0-9]+.
bool IsCpuName(std::string_view name) {
  return name.size() > 3 && name.starts_with("cpu") &&
         std::all_of(name.begin() + 3, name.end(), absl::ascii_isdigit);
}

// The whole of a file of ours, or the errno of the failed call.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return ErrnoError(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, absl::StrCat("read ", path));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// The tab-separated values of the line `name:` of a /proc/PID/status
// ("NStgid:\t500\t3" gives {"500", "3"}); empty when there is none.
std::vector<std::string> StatusValues(absl::string_view status, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::ConsumePrefix(&line, name) && absl::ConsumePrefix(&line, ":")) {
      return absl::StrSplit(line, '\t', absl::SkipEmpty());
    }
  }
  return {};
}

}  // namespace

CpusModule::CpusModule(const Config& config)
    : cpus_(std::max<uint32_t>(config.cpus, 1)),
      mask_bytes_(MaskBytes(cpus_)),
      boot_epoch_seconds_(BootEpochSeconds(config.start_time)) {}

std::string CpusModule::CpuList(uint32_t cpus) {
  return cpus <= 1 ? "0\n" : absl::StrCat("0-", cpus - 1, "\n");
}

std::string CpusModule::CpuInfo(uint32_t cpus) {
  // The x86-64 baseline (x86-64-v1), in the kernel's order.
  static constexpr const char* kFlags =
      "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
      "fxsr sse sse2 syscall nx lm";
  std::string out;
  for (uint32_t k = 0; k < cpus; ++k) {
    absl::StrAppendFormat(&out,
                          "processor\t: %u\n"
                          "vendor_id\t: GenuineIntel\n"
                          "cpu family\t: 15\n"
                          "model\t\t: 6\n"
                          "model name\t: %s\n"
                          "stepping\t: 1\n"
                          "microcode\t: 0x1\n"
                          "cpu MHz\t\t: %u.000\n"
                          "cache size\t: 16384 KB\n"
                          "physical id\t: 0\n"
                          "siblings\t: %u\n"
                          "core id\t\t: %u\n"
                          "cpu cores\t: %u\n"
                          "apicid\t\t: %u\n"
                          "initial apicid\t: %u\n"
                          "fpu\t\t: yes\n"
                          "fpu_exception\t: yes\n"
                          "cpuid level\t: 13\n"
                          "wp\t\t: yes\n"
                          "flags\t\t: %s\n"
                          "bugs\t\t:\n"
                          "bogomips\t: %u.00\n"
                          "clflush size\t: 64\n"
                          "cache_alignment\t: 64\n"
                          "address sizes\t: 40 bits physical, 48 bits virtual\n"
                          "power management:\n"
                          "\n",
                          k, kCpuModelName, kMhz, cpus, k, cpus, k, k, kFlags, 2 * kMhz);
  }
  return out;
}

std::string CpusModule::ProcStat(uint32_t cpus, int64_t boot_epoch_seconds) {
  // user nice system idle iowait irq softirq steal guest guest_nice
  static constexpr const char* kTimes = " 0 0 0 0 0 0 0 0 0 0\n";
  std::string out = absl::StrCat("cpu ", kTimes);
  for (uint32_t k = 0; k < cpus; ++k) absl::StrAppend(&out, "cpu", k, kTimes);
  absl::StrAppend(&out, "intr 0\nctxt 0\nbtime ", boot_epoch_seconds,
                  "\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
                  "softirq 0 0 0 0 0 0 0 0 0 0 0\n");
  return out;
}

std::string CpusModule::CpusAllowedMask(uint32_t cpus) {
  // The kernel's bitmap_string(): 32-bit chunks, most significant first;
  // the first holds the nr_bits % 32 top bits (32 when that is 0) in as
  // many hex digits as they need, every other one in 8.
  cpus = std::max<uint32_t>(cpus, 1);
  const uint32_t chunks = (cpus + 31) / 32;
  const uint32_t top_bits = cpus - (chunks - 1) * 32;
  const uint64_t top = (uint64_t{1} << top_bits) - 1;
  std::string out = absl::StrFormat("%0*x", static_cast<int>((top_bits + 3) / 4), top);
  for (uint32_t k = 1; k < chunks; ++k) absl::StrAppend(&out, ",ffffffff");
  return out;
}

std::string CpusModule::EditStatus(std::string_view status, uint32_t cpus) {
  const std::string mask = CpusAllowedMask(cpus);
  std::string list = CpuList(cpus);
  list.pop_back();  // its newline
  std::vector<std::string> lines =
      absl::StrSplit(absl::string_view(status.data(), status.size()), '\n');
  for (std::string& line : lines) {
    if (absl::StartsWith(line, "Cpus_allowed:")) {
      line = absl::StrCat("Cpus_allowed:\t", mask);
    } else if (absl::StartsWith(line, "Cpus_allowed_list:")) {
      line = absl::StrCat("Cpus_allowed_list:\t", list);
    }
  }
  return absl::StrJoin(lines, "\n");
}

std::string CpusModule::EditStatusPids(
    std::string_view status,
    const std::function<std::vector<std::string>(std::string_view pid)>& nstgid_of) {
  const absl::string_view text(status.data(), status.size());
  const std::vector<std::string> nstgid = StatusValues(text, "NStgid");
  const std::vector<std::string> nspid = StatusValues(text, "NSpid");
  const size_t levels = nstgid.size();
  if (levels < 2 || nspid.empty()) return std::string(status);
  const std::string& tgid = nstgid.back();
  const std::string& pid = nspid.back();
  // Another process's pid in the command's namespace: the last of its
  // NStgid values when it has as many levels, else 0 (outside it).
  auto translate = [&](const std::string& host_pid) -> std::string {
    if (host_pid == "0") return "0";
    const std::vector<std::string> v = nstgid_of(host_pid);
    return v.size() == levels ? v.back() : "0";
  };
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (std::string& line : lines) {
    const std::string_view name = std::string_view(line).substr(0, line.find(':'));
    const std::vector<std::string> v = StatusValues(line, std::string(name));
    if (v.empty()) continue;
    if (name == "Tgid") {
      line = absl::StrCat("Tgid:\t", tgid);
    } else if (name == "Pid") {
      line = absl::StrCat("Pid:\t", pid);
    } else if (name == "PPid" || name == "TracerPid") {
      line = absl::StrCat(std::string(name), ":\t", translate(v.front()));
    } else if (name == "NStgid" || name == "NSpid" || name == "NSpgid" || name == "NSsid") {
      line = absl::StrCat(std::string(name), ":\t", v.back());
    }
  }
  return absl::StrJoin(lines, "\n");
}

void CpusModule::EditCpuDirectory(uint32_t cpus, std::vector<DirectoryEntry>& entries) {
  std::vector<bool> listed(cpus, false);
  std::erase_if(entries, [&](const DirectoryEntry& e) {
    if (!IsCpuName(e.name)) return false;
    const std::string_view digits = std::string_view(e.name).substr(3);
    uint32_t k;
    // The kernel's own "cpu%u": no leading zero.
    if ((digits.size() > 1 && digits[0] == '0') ||
        !absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &k) || k >= cpus ||
        listed[k]) {
      return true;
    }
    listed[k] = true;
    return false;
  });
  for (uint32_t k = 0; k < cpus; ++k) {
    if (!listed[k]) entries.push_back({kSyntheticCpuIno + k, DT_DIR, absl::StrCat("cpu", k)});
  }
}

int64_t CpusModule::BootEpochSeconds(absl::Time start) {
  // REALTIME - BOOTTIME, as the kernel's getboottime64.
  const int64_t boot =
      absl::ToUnixSeconds(start - absl::Nanoseconds(TimeModule::kUptimeAtStartNs));
  return std::max<int64_t>(boot, 0);
}

size_t CpusModule::MaskBytes(uint32_t cpus) {
  const size_t longs = (size_t{cpus} + kBitsPerLong - 1) / kBitsPerLong;
  return std::max<size_t>(longs, 1) * sizeof(uint64_t);
}

void CpusModule::Register(Registry& registry) {
  auto bind = [this](auto method) {
    return [this, method](SyscallContext& ctx) { return (this->*method)(ctx); };
  };
  registry.Notify(SYS_sched_getaffinity, bind(&CpusModule::SchedGetaffinity),
                  "every thread may run on the --cpus virtual CPUs");
  registry.Notify(SYS_sched_setaffinity, bind(&CpusModule::SchedSetaffinity),
                  "real placement is not the command's to change");
  registry.Notify(SYS_getcpu, bind(&CpusModule::Getcpu), "always on virtual CPU 0");
  // In the filter itself: glibc registers rseq at every exec.
  registry.Refuse(SYS_rseq, ENOSYS, "the rseq area would show the real CPU");

  // Files: fixed for the run, computed once and copied at each open.
  auto constant = [&registry](std::string path, std::string content, const char* reason) {
    registry.ProvideFile(
        std::move(path),
        [content](SyscallContext&) -> absl::StatusOr<std::string> { return content; }, reason);
  };
  for (const char* list : {"online", "possible", "present"}) {
    constant(absl::StrCat("/sys/devices/system/cpu/", list), CpuList(cpus_),
             "the --cpus virtual CPUs");
  }
  constant("/sys/devices/system/cpu/offline", "\n", "no CPU is offline");
  constant("/proc/cpuinfo", CpuInfo(cpus_), "the --cpus virtual CPUs, all fixed fields");
  constant("/proc/stat", ProcStat(cpus_, boot_epoch_seconds_),
           "the --cpus virtual CPUs, no activity, the virtual boot time");
  const uint32_t cpus = cpus_;
  for (const char* pattern : {"/proc/%d/status", "/proc/%d/task/%d/status"}) {
    registry.ProvideFilePattern(
        pattern,
        [cpus](SyscallContext&, const std::string& path) -> absl::StatusOr<std::string> {
          // The same procfs as the command's: read at the open, as the
          // kernel would have shown it.
          absl::StatusOr<std::string> real = ReadFile(path);
          if (!real.ok()) return real.status();
          auto nstgid_of = [](std::string_view pid) -> std::vector<std::string> {
            absl::StatusOr<std::string> other =
                ReadFile(absl::StrCat("/proc/", std::string(pid), "/status"));
            return other.ok() ? StatusValues(*other, "NStgid") : std::vector<std::string>{};
          };
          return EditStatusPids(EditStatus(*real, cpus), nstgid_of);
        },
        "Cpus_allowed lines for the --cpus virtual CPUs; pids as the command's "
        "namespace numbers them");
  }
  registry.EditDirectory(
      "/sys/devices/system/cpu",
      [cpus](std::vector<DirectoryEntry>& entries) { EditCpuDirectory(cpus, entries); },
      "a cpuK directory for each --cpus virtual CPU");
  const std::string khz = absl::StrCat(kMhz * 1000, "\n");
  for (uint32_t k = 0; k < cpus_; ++k) {
    constant(absl::StrCat("/sys/devices/system/cpu/cpu", k, "/cpufreq/scaling_cur_freq"), khz,
             "a fixed clock speed");
  }
}

std::optional<Response> CpusModule::SchedGetaffinity(SyscallContext& ctx) const {
  const int32_t pid = static_cast<int32_t>(ctx.notification.args[0]);
  const uint64_t len = static_cast<uint32_t>(ctx.notification.args[1]);  // unsigned int
  // The kernel's checks, in its order: room for nr_cpu_ids bits, whole longs.
  if (len * 8 < cpus_) return Response::Errno(EINVAL);
  if (len % sizeof(uint64_t) != 0) return Response::Errno(EINVAL);
  if (pid < 0) return Response::Errno(ESRCH);
  // Little-endian longs: bit i of the mask is bit i % 8 of byte i / 8.
  std::vector<uint8_t> mask(mask_bytes_, 0);
  for (uint32_t cpu = 0; cpu < cpus_; ++cpu) mask[cpu / 8] |= uint8_t(1u << (cpu % 8));
  // len >= mask_bytes_ here, so min(len, cpumask size) is the mask size.
  if (int e = WriteTo(ctx, ctx.notification.args[2], mask.data(), mask.size())) {
    return Response::Errno(e);
  }
  return Response::Value(static_cast<int64_t>(mask_bytes_));
}

std::optional<Response> CpusModule::SchedSetaffinity(SyscallContext& ctx) const {
  const int32_t pid = static_cast<int32_t>(ctx.notification.args[0]);
  const uint64_t len = static_cast<uint32_t>(ctx.notification.args[1]);  // unsigned int
  if (pid < 0) return Response::Errno(ESRCH);
  // As the kernel's get_user_cpu_mask: a short mask is zero-extended, a long
  // one is cut to the cpumask size.
  std::vector<uint8_t> mask(mask_bytes_, 0);
  const size_t n = std::min<uint64_t>(len, mask_bytes_);
  if (n > 0) {
    absl::Status s = ctx.memory.Read(ctx.notification.id, ctx.notification.tid,
                                     ctx.notification.args[2], mask.data(), n);
    if (!s.ok()) return Response::Errno(ErrnoForMemoryStatus(s));
  }
  for (uint32_t cpu = 0; cpu < cpus_; ++cpu) {
    if (mask[cpu / 8] & (1u << (cpu % 8))) return Response::Value(0);
  }
  return Response::Errno(EINVAL);  // no virtual CPU in the mask
}

std::optional<Response> CpusModule::Getcpu(SyscallContext& ctx) const {
  // As the kernel: write whichever pointers are given, EFAULT if any fails.
  const uint64_t cpu_ptr = ctx.notification.args[0];
  const uint64_t node_ptr = ctx.notification.args[1];
  int error = 0;
  if (cpu_ptr != 0) {
    const uint32_t cpu = kCpu;
    if (int e = WriteTo(ctx, cpu_ptr, &cpu, sizeof cpu)) error = e;
  }
  if (node_ptr != 0) {
    const uint32_t node = kNode;
    if (int e = WriteTo(ctx, node_ptr, &node, sizeof node); e != 0 && error == 0) error = e;
  }
  if (error != 0) return Response::Errno(error);
  return Response::Value(0);
}

}  // namespace detrun
