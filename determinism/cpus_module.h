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
//   /proc/PID/status, /proc/PID/task/TID/status (any pid, under any name
//   that resolves there: /proc/self/status, /proc/thread-self/status, ...)
//       The host's file as it reads at the open (the supervisor reads the
//       same /proc/PID/status), with its two CPU lines for all N virtual
//       CPUs in the kernel's formats: "Cpus_allowed:\t" is the mask printed
//       as the kernel's %*pb with nr_cpu_ids = N (32-bit groups in hex,
//       most significant first, separated by ','; the first group has as
//       many digits as its bits need, the others 8): "1" for N = 1, "f"
//       for 4, "ffffffff,ffffffff" for 64, "ff" and 31 ",ffffffff" for
//       1000. "Cpus_allowed_list:\t" is "0" or "0-N-1" as in the cpulist
//       files. Everything else (Mems_allowed too) is the host's. A pid with
//       no process fails as the kernel fails it (ENOENT). Being read by
//       detrun, its Uid, Gid and Groups lines show ids as detrun's user
//       namespace maps them, not as the command's own (an unprivileged
//       run's user namespace would show unmapped ids as 65534).
//
// Directory listing (applied by the dirs module, Registry::EditDirectory,
// under every --dirs mode):
//   /sys/devices/system/cpu
//       Among the names that match cpu[0-9]+ exactly cpu0 .. cpu{N-1} are
//       listed: the host's cpuK for K < N as the host lists them (its
//       inode, DT_DIR), the others dropped, and each cpuK the host lacks
//       added as a directory (DT_DIR, d_ino kSyntheticCpuIno + K; under
//       --dirs=native after the host's entries, in increasing K). Other
//       entries (online, possible, cpufreq, cpuidle, ...) are the host's.
//       Only the listing: stat, open or a listing of an added cpuK
//       (cpu7 under --cpus=8 on a 2-CPU host) fails with ENOENT as on the
//       host, and a dropped one (cpu5 under --cpus=2 on an 8-CPU host)
//       can still be reached by name.
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
//   glibc's pthread_getaffinity_np/sched_getaffinity readers and tools
//     that read Cpus_allowed from /proc/PID/status (procps, hwloc's
//     fallback), and those that count the cpuK directories (lscpu-like
//     listings, Python's os.listdir)
// Not covered: the cpuK directories themselves (stat, open, and the files
// under them: topology, cache; only cpufreq/scaling_cur_freq is provided),
// cgroup CPU quotas; and never the RDPID and RDTSCP instructions and LSL
// on the per-CPU GDT segment, which read the real CPU number without a
// syscall (like rdtsc and cpuid, README).
#ifndef DETRUN_DETERMINISM_CPUS_MODULE_H_
#define DETRUN_DETERMINISM_CPUS_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // d_ino of an added cpuK directory: kSyntheticCpuIno + K ("detrun" in
  // ASCII, then K), far above the inode numbers sysfs hands out.
  static constexpr uint64_t kSyntheticCpuIno = 0x64657472756e0000;

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
  // Cpus_allowed's value for `cpus` CPUs, all allowed ("f" for 4).
  static std::string CpusAllowedMask(uint32_t cpus);
  // A /proc/PID/status with its Cpus_allowed and Cpus_allowed_list lines
  // for `cpus` CPUs, the rest as it is.
  static std::string EditStatus(std::string_view status, uint32_t cpus);
  // A /proc/PID/status read in detrun's pid namespace, with its pid lines
  // as a /proc of the command's namespace would show them: Tgid, Pid and
  // the NS* lines the innermost value (the last of NStgid, NSpid, NSpgid,
  // NSsid), PPid and TracerPid that process's pid in the same namespace or
  // 0 when it is outside (detrun itself, its tracer). `nstgid_of(pid)` gives
  // the NStgid values of a process (empty when it is gone). A status
  // without a namespace level below detrun's (one NStgid value) is returned
  // as it is.
  static std::string EditStatusPids(
      std::string_view status,
      const std::function<std::vector<std::string>(std::string_view pid)>& nstgid_of);
  // The edit of /sys/devices/system/cpu's listing (see the top).
  static void EditCpuDirectory(uint32_t cpus, std::vector<DirectoryEntry>& entries);
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
