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
// Who is covered by these syscalls alone:
//   yes  coreutils `nproc` (sched_getaffinity; OMP_NUM_THREADS and
//        OMP_THREAD_LIMIT, when set, still override it as usual)
//   yes  Python os.sched_getaffinity(0)
//   yes  Go runtime.NumCPU() (sched_getaffinity at start-up)
//   yes  Node os.availableParallelism() (libuv uv_available_parallelism:
//        sched_getaffinity)
//   yes  Java Runtime.availableProcessors() (sched_getaffinity), as long as
//        no cgroup CPU quota applies (the JVM reads the real cgroup files)
//   yes  glibc sched_getcpu(), getcpu() (via the vDSO and rseq above)
//   not yet  Python os.cpu_count(), glibc sysconf(_SC_NPROCESSORS_ONLN)
//        and get_nprocs() (read /sys/devices/system/cpu/online),
//        sysconf(_SC_NPROCESSORS_CONF) (/sys/devices/system/cpu/possible),
//        Node os.cpus() (/proc/cpuinfo and /proc/stat), /proc/self/status
//        Cpus_allowed: files, for the /proc and /sys work.
//   never  the RDPID and RDTSCP instructions and LSL on the per-CPU GDT
//        segment, which read the real CPU number without a syscall (like
//        rdtsc and cpuid, README).
#ifndef DETRUN_DETERMINISM_CPUS_MODULE_H_
#define DETRUN_DETERMINISM_CPUS_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/config.h"
#include "core/module.h"

namespace detrun {

class CpusModule : public Module {
 public:
  // What getcpu reports for every thread.
  static constexpr uint32_t kCpu = 0;
  static constexpr uint32_t kNode = 0;

  explicit CpusModule(const Config& config);

  std::string_view name() const override { return "cpus"; }
  void Register(Registry& registry) override;

  // The virtual cpumask size for `cpus` CPUs: ceil(cpus / 64) * 8 bytes, at
  // least 8.
  static size_t MaskBytes(uint32_t cpus);

 private:
  std::optional<Response> SchedGetaffinity(SyscallContext& ctx) const;
  std::optional<Response> SchedSetaffinity(SyscallContext& ctx) const;
  std::optional<Response> Getcpu(SyscallContext& ctx) const;

  const uint32_t cpus_;
  const size_t mask_bytes_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_CPUS_MODULE_H_
