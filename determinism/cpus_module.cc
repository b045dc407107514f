#include "determinism/cpus_module.h"

#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/child_memory.h"

namespace detrun {
namespace {

constexpr size_t kBitsPerLong = 64;

// Writes `size` bytes to the child; the errno the kernel would give on
// failure, 0 on success.
int WriteTo(SyscallContext& ctx, uint64_t addr, const void* value, size_t size) {
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid, addr, value, size);
  return s.ok() ? 0 : ErrnoForMemoryStatus(s);
}

}  // namespace

CpusModule::CpusModule(const Config& config)
    : cpus_(std::max<uint32_t>(config.cpus, 1)), mask_bytes_(MaskBytes(cpus_)) {}

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
  registry.Notify(
      SYS_rseq, [](SyscallContext&) -> std::optional<Response> { return Response::Errno(ENOSYS); },
      "the rseq area would show the real CPU");
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
