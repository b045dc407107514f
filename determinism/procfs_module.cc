#include "determinism/procfs_module.h"

#include <time.h>

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace detrun {
namespace {

constexpr int64_t kNsPerHundredth = kNsPerSec / 100;

// "NAME:" padded to 16 columns, then the value right-aligned in 8 (the
// kernel's show_val_kb), then " kB".
void Kb(std::string* out, const char* name, uint64_t kb) {
  absl::StrAppendFormat(out, "%-16s%8u kB\n", absl::StrCat(name, ":"), kb);
}
// The same without the unit (the HugePages_ counts).
void Count(std::string* out, const char* name, uint64_t n) {
  absl::StrAppendFormat(out, "%-16s%8u\n", absl::StrCat(name, ":"), n);
}

}  // namespace

ProcfsModule::ProcfsModule(const TimeModule& time, const Config&) : time_(time) {}

void ProcfsModule::Register(Registry& registry) {
  registry.ProvideFile(
      "/proc/uptime",
      [this](SyscallContext& ctx) -> absl::StatusOr<std::string> {
        std::optional<int64_t> boot = time_.Peek(ctx.thread, CLOCK_BOOTTIME);
        if (!boot) return absl::InternalError("no boot-time clock");
        return FormatUptime(*boot, 0);
      },
      "uptime from the opening thread's virtual clock");
  registry.ProvideFile(
      "/proc/loadavg", [](SyscallContext&) -> absl::StatusOr<std::string> { return Loadavg(); },
      "no load");
  const std::string meminfo = Meminfo();
  registry.ProvideFile(
      "/proc/meminfo",
      [meminfo](SyscallContext&) -> absl::StatusOr<std::string> { return meminfo; },
      "the fixed machine of sysinfo(2)");
}

std::string ProcfsModule::FormatUptime(int64_t uptime_ns, int64_t idle_ns) {
  return absl::StrFormat("%d.%02d %d.%02d\n", uptime_ns / kNsPerSec,
                         uptime_ns % kNsPerSec / kNsPerHundredth, idle_ns / kNsPerSec,
                         idle_ns % kNsPerSec / kNsPerHundredth);
}

std::string ProcfsModule::Loadavg() {
  // Loads as sysinfo(2)'s (0), running/total entities, last pid.
  return absl::StrFormat("0.00 0.00 0.00 1/%d 1\n", SysinfoFigures::kProcs);
}

std::string ProcfsModule::Meminfo() {
  static_assert(SysinfoFigures::kMemUnit == 1, "figures below are in bytes");
  auto kb = [](uint64_t bytes) { return bytes / 1024; };
  const uint64_t total = kb(SysinfoFigures::kTotalRam);
  const uint64_t free = kb(SysinfoFigures::kFreeRam);
  const uint64_t swap_total = kb(SysinfoFigures::kTotalSwap);
  std::string m;
  Kb(&m, "MemTotal", total);
  Kb(&m, "MemFree", free);
  Kb(&m, "MemAvailable", free);
  Kb(&m, "Buffers", kb(SysinfoFigures::kBufferRam));
  Kb(&m, "Cached", 0);
  Kb(&m, "SwapCached", 0);
  for (const char* name : {"Active", "Inactive", "Active(anon)", "Inactive(anon)",
                           "Active(file)", "Inactive(file)", "Unevictable", "Mlocked"}) {
    Kb(&m, name, 0);
  }
  Kb(&m, "SwapTotal", swap_total);
  Kb(&m, "SwapFree", kb(SysinfoFigures::kFreeSwap));
  for (const char* name : {"Zswap", "Zswapped", "Dirty", "Writeback", "AnonPages", "Mapped"}) {
    Kb(&m, name, 0);
  }
  Kb(&m, "Shmem", kb(SysinfoFigures::kSharedRam));
  for (const char* name : {"KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
                           "PageTables", "NFS_Unstable", "Bounce",
                           "WritebackTmp"}) {
    Kb(&m, name, 0);
  }
  Kb(&m, "CommitLimit", swap_total + total / 2);
  Kb(&m, "Committed_AS", 0);
  Kb(&m, "VmallocTotal", 34359738367);  // x86-64, 4-level paging
  Kb(&m, "VmallocUsed", 0);
  Kb(&m, "VmallocChunk", 0);
  for (const char* name : {"Percpu", "HardwareCorrupted", "AnonHugePages", "ShmemHugePages",
                           "ShmemPmdMapped", "FileHugePages", "FilePmdMapped"}) {
    Kb(&m, name, 0);
  }
  for (const char* name : {"HugePages_Total", "HugePages_Free", "HugePages_Rsvd",
                           "HugePages_Surp"}) {
    Count(&m, name, 0);
  }
  Kb(&m, "Hugepagesize", 2048);
  Kb(&m, "Hugetlb", 0);
  Kb(&m, "DirectMap4k", total);
  Kb(&m, "DirectMap2M", 0);
  Kb(&m, "DirectMap1G", 0);
  return m;
}

}  // namespace detrun
