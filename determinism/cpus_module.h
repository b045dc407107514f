// CpusModule: the number of CPUs a command sees, and which one it runs on.
//
// A run has N = --cpus virtual CPUs, numbered 0..N-1 (1 <= N <= 1024, more
// than the host may have): a function of --cpus only, never of the host.
// The virtual kernel's nr_cpu_ids is N, so its cpumask is
// MaskBytes(N) = ceil(N / 64) * 8 bytes (whole longs, at least 8).
//
//   sched_getaffinity(pid, len, mask)
//       Every thread's affinity is all N virtual CPUs: the first N bits set,
//       the rest of the MaskBytes(N) written as 0. As the kernel: EINVAL
//       when len is not a multiple of 8 or len * 8 < N (i.e. len <
//       MaskBytes(N)); otherwise MaskBytes(N) bytes are written and the
//       call returns that count (the kernel's min(len, cpumask_size()));
//       glibc's wrapper zero-fills the rest of the caller's set and
//       returns 0. Callers that grow their buffer on EINVAL (Python's
//       os.sched_getaffinity starts at 8 bytes, glibc's pthread_getattr_np
//       at 32) converge as on a host with N CPUs. Any pid >= 0 gets the
//       same answer, even one that does not exist (the kernel would say
//       ESRCH); a negative pid fails with ESRCH. EFAULT on a bad pointer.
//   sched_setaffinity(pid, len, mask)
//       Never reaches the kernel: the command's real placement on host CPUs
//       stays the host's business (a mask naming virtual CPU 900 has no
//       host CPU to mean). The call returns 0 without doing anything when
//       the mask (its first min(len, MaskBytes(N)) bytes, as the kernel
//       reads it) names at least one of the N virtual CPUs, and fails with
//       EINVAL otherwise (empty, or only CPUs >= N), as the kernel does
//       for a mask with no usable CPU. Negative pid: ESRCH; bad pointer:
//       EFAULT. Limit: the change is not remembered, so a later
//       sched_getaffinity still reports all N CPUs (`taskset -c 0 nproc`
//       prints N, not 1).
//   getcpu(cpu, node, cache)
//       Every thread is always on CPU 0 of node 0 (fixed rather than, say,
//       thread index mod N: simple, and true of a 1-CPU run). Either
//       pointer may be NULL; EFAULT if a given one cannot be written. The
//       vDSO's getcpu is forwarded to this syscall (vdso/vdso_patch.h).
//   rseq(...)
//       Fails with ENOSYS, as on a kernel without restartable sequences.
//       A registered rseq area carries a cpu_id field that the kernel
//       rewrites with the real CPU whenever the thread is scheduled, which
//       nothing can intercept; glibc >= 2.35 answers sched_getcpu() from
//       it. With registration refused, glibc marks the area unregistered
//       and sched_getcpu() falls back to the (forwarded) vDSO getcpu, so it
//       reads 0 too. Costs nothing but rseq's fast paths (glibc, tcmalloc
//       and the like fall back to ordinary atomics).
//
// Files (served by the core, core/virtual_files.h; read-only):
//   /sys/devices/system/cpu/{online,possible,present}
//       "0\n" for one CPU, "0-N-1\n" otherwise (the kernel's cpulist
//       format); /sys/devices/system/cpu/offline "\n" (none).
//   /sys/devices/system/cpu/cpuK/cpufreq/scaling_cur_freq, K < N
//       kMhz * 1000 (kHz) "\n", also on hosts without cpufreq (where the
//       directory listing and stat still say it does not exist).
//   /proc/cpuinfo
//       N blocks in the kernel's x86 format, all fields fixed and none
//       copied from the host: vendor, family, model, model name, stepping,
//       microcode, cache size, cpuid level, address sizes and flags
//       describe kCpuModelName, a generic CPU whose flags are the x86-64
//       baseline (x86-64-v1: what every x86-64 CPU has, so a program that
//       picks code by these flags never picks one the host lacks);
//       "cpu MHz" kMhz, bogomips twice that; one socket (physical id 0)
//       of N cores without SMT: processor = core id = apicid = initial
//       apicid = K, siblings = cpu cores = N. (The CPUID instruction still
//       reports the real CPU: README.)
//   /proc/stat
//       "cpu" and N "cpuK" lines of ten zero times, "intr 0", "ctxt 0",
//       "btime B", "processes 1", "procs_running 1", "procs_blocked 0",
//       "softirq" with eleven zeros. B is the virtual boot time: --time
//       minus TimeModule::kUptimeAtStartNs (100 s), in whole seconds
//       rounded down (0 at the least), so that REALTIME - btime is the
//       uptime /proc/uptime shows, as on a real machine. "processes"
//       (forks since boot) is 1: a count that followed the run's forks
//       would depend on when each was made.
//
// Who is covered:
//   coreutils `nproc` (sched_getaffinity; OMP_NUM_THREADS and
//     OMP_THREAD_LIMIT, when set, still override it as usual)
//   Python os.sched_getaffinity(0) and os.cpu_count() (/sys/.../online)
//   glibc sysconf(_SC_NPROCESSORS_ONLN), get_nprocs() (online) and
//     sysconf(_SC_NPROCESSORS_CONF), get_nprocs_conf() (possible):
//     `getconf _NPROCESSORS_CONF`
//   Go runtime.NumCPU() (sched_getaffinity at start-up)
//   Node os.availableParallelism() (sched_getaffinity) and os.cpus()
//     (/proc/stat lines, /proc/cpuinfo model name, scaling_cur_freq)
//   Java Runtime.availableProcessors() (sched_getaffinity), as long as no
//     cgroup CPU quota applies (the JVM reads the real cgroup files)
//   glibc sched_getcpu(), getcpu() (via the vDSO and rseq above)
// Not covered: /proc/self/status Cpus_allowed (a per-process file), the
// /sys/devices/system/cpu directory listing (cpuK directories: the dirs
// work), other files under /sys/devices/system/cpu/cpuK (topology, cache),
// cgroup CPU quotas; and never the RDPID and RDTSCP instructions and LSL
// on the per-CPU GDT segment, which read the real CPU number without a
// syscall (like rdtsc and cpuid, README).
#ifndef DETRUN_DETERMINISM_CPUS_MODULE_H_
#define DETRUN_DETERMINISM_CPUS_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/config.h"
#include "core/module.h"

namespace detrun {

class CpusModule : public Module {
 public:
  // What getcpu reports for every thread.
  static constexpr uint32_t kCpu = 0;
  static constexpr uint32_t kNode = 0;
  // What /proc/cpuinfo and cpufreq say about every CPU.
  static constexpr const char* kCpuModelName = "detrun virtual CPU";
  static constexpr uint32_t kMhz = 2000;

  explicit CpusModule(const Config& config);

  std::string_view name() const override { return "cpus"; }
  void Register(Registry& registry) override;

  // The virtual cpumask size for `cpus` CPUs: ceil(cpus / 64) * 8 bytes, at
  // least 8.
  static size_t MaskBytes(uint32_t cpus);

  // File contents, exposed for tests.
  static std::string CpuList(uint32_t cpus);  // "0-3\n"
  static std::string CpuInfo(uint32_t cpus);
  static std::string ProcStat(uint32_t cpus, int64_t boot_epoch_seconds);
  // /proc/stat's btime for a run starting at `start`.
  static int64_t BootEpochSeconds(absl::Time start);

 private:
  std::optional<Response> SchedGetaffinity(SyscallContext& ctx) const;
  std::optional<Response> SchedSetaffinity(SyscallContext& ctx) const;
  std::optional<Response> Getcpu(SyscallContext& ctx) const;

  const uint32_t cpus_;
  const size_t mask_bytes_;
  const int64_t boot_epoch_seconds_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_CPUS_MODULE_H_
