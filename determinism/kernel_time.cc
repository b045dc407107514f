#include "determinism/kernel_time.h"

#include <cerrno>

#include "core/child_memory.h"

namespace detrun {

std::optional<Response> WriteOut(SyscallContext& ctx, uint64_t addr, const void* value,
                                 size_t size, int64_t result) {
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid, addr, value, size);
  if (!s.ok()) return Response::Errno(ErrnoForMemoryStatus(s));
  return Response::Value(result);
}

std::optional<KernelTimespec> ReadTimespec(SyscallContext& ctx, uint64_t addr, int* error) {
  KernelTimespec ts;
  absl::Status s =
      ctx.memory.Read(ctx.notification.id, ctx.notification.tid, addr, &ts, sizeof ts);
  if (!s.ok()) {
    *error = ErrnoForMemoryStatus(s);
    return std::nullopt;
  }
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) {
    *error = EINVAL;
    return std::nullopt;
  }
  return ts;
}

}  // namespace detrun
