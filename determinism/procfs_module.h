// ProcfsModule: the /proc files that describe the machine's load and memory,
// with figures that come from the virtual clock and the fixed machine of
// SysinfoFigures, never from the host (core/virtual_files.h serves them).
//
//   /proc/uptime   "U.UU I.II\n". U is the opening thread's virtual boot
//                  time (TimeModule::Peek(thread, CLOCK_BOOTTIME), which the
//                  kernel's fs/proc/uptime.c reads and which equals
//                  MONOTONIC under detrun: 100 s at the start of a run),
//                  seconds and hundredths, truncated as the kernel prints
//                  them. Opening it is not a clock read: it never advances
//                  the clock, like sysinfo(2). I (the CPUs' summed idle
//                  time) is 0.00: /proc/stat's per-CPU times, idle
//                  included, are all 0 too, so a program comparing the two
//                  sees a consistent machine (and one that never idles
//                  rather than a made-up idle share).
//   /proc/loadavg  "0.00 0.00 0.00 1/1 1\n": the load averages sysinfo(2)
//                  reports (0), one runnable of one scheduling entity (the
//                  procs figure of sysinfo), and 1 as the last pid
//                  allocated -- a fixed figure (the namespace's init; the
//                  command itself is pid 2); a host pid here would vary
//                  from run to run.
//   /proc/meminfo  the kernel's fields, in its order and format ("%-16s"
//                  names, "%8lu kB" values; the HugePages_ counts bare), with
//                  MemTotal, MemFree, Buffers, Shmem, SwapTotal, SwapFree
//                  from SysinfoFigures so `free` and sysinfo() agree;
//                  MemAvailable = MemFree (nothing reclaimable: Cached,
//                  SReclaimable and the other cache figures are 0);
//                  CommitLimit = SwapTotal + MemTotal / 2 (the kernel's
//                  default overcommit_ratio of 50); VmallocTotal the x86-64
//                  4-level value; Hugepagesize 2048 kB; DirectMap4k the
//                  whole of MemTotal; every other figure 0.
#ifndef DETRUN_DETERMINISM_PROCFS_MODULE_H_
#define DETRUN_DETERMINISM_PROCFS_MODULE_H_

#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/module.h"
#include "determinism/time_module.h"

namespace detrun {

class ProcfsModule : public Module {
 public:
  // `time` must outlive this module; only its Peek is used.
  ProcfsModule(const TimeModule& time, const Config& config);

  std::string_view name() const override { return "procfs"; }
  void Register(Registry& registry) override;

  // The file contents, exposed for tests. `uptime_ns` and `idle_ns` >= 0.
  static std::string FormatUptime(int64_t uptime_ns, int64_t idle_ns);
  static std::string Loadavg();
  static std::string Meminfo();

 private:
  const TimeModule& time_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_PROCFS_MODULE_H_
