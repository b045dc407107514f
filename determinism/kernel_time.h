// Kernel time ABI (x86-64) and the conversions the time module's files
// share: timespec/timeval layouts, nanosecond arithmetic, reading and
// writing them in the child.
#ifndef DETRUN_DETERMINISM_KERNEL_TIME_H_
#define DETRUN_DETERMINISM_KERNEL_TIME_H_

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/module.h"

namespace detrun {

inline constexpr int64_t kNsPerSec = 1'000'000'000;
// Beyond this many seconds a timespec does not fit in int64 nanoseconds
// (year 2262); the kernel clamps such deadlines to "never".
inline constexpr int64_t kMaxTimespecSeconds = INT64_MAX / kNsPerSec - 1;

struct KernelTimespec {
  int64_t tv_sec;
  int64_t tv_nsec;
  bool operator==(const KernelTimespec&) const = default;
};
struct KernelTimeval {
  int64_t tv_sec;
  int64_t tv_usec;
};

// Saturating: a timespec past year 2262 reads as INT64_MAX ("never").
inline int64_t ToNs(const KernelTimespec& ts) {
  if (ts.tv_sec > kMaxTimespecSeconds) return INT64_MAX;
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

// a + b, saturated at the int64 limits (deadlines far in the future).
inline int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// A sleep or deadline this far ahead never ends: the call blocks until a
// signal, as it would on a machine that lives that long.
inline constexpr int64_t kForeverNs = int64_t{100} * 365 * 24 * 3600 * kNsPerSec;

// Floor division, so times before 1970 keep 0 <= tv_nsec < 1e9.
inline KernelTimespec ToTimespec(int64_t ns) {
  int64_t sec = ns / kNsPerSec;
  int64_t rem = ns % kNsPerSec;
  if (rem < 0) {
    rem += kNsPerSec;
    --sec;
  }
  return {sec, rem};
}

// The host's clock `id` in nanoseconds.
inline int64_t HostClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}
inline int64_t RealMonotonicNs() { return HostClockNs(CLOCK_MONOTONIC); }

// Writes `value` to the child and answers `result`; EFAULT (or the
// memory error) if it cannot.
std::optional<Response> WriteOut(SyscallContext& ctx, uint64_t addr, const void* value,
                                 size_t size, int64_t result);

// Reads a timespec argument and checks it as the kernel's
// timespec64_valid does; nullopt with the errno in `error`.
std::optional<KernelTimespec> ReadTimespec(SyscallContext& ctx, uint64_t addr, int* error);

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_KERNEL_TIME_H_
