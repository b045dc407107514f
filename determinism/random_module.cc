#include "determinism/random_module.h"

#include <linux/random.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/uuid.h"

namespace detrun {
namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kValidFlags = GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE;

}  // namespace

uint64_t RandomModule::UserAddressEnd() {
  static const uint64_t end = [] {
    // With 5-level paging the kernel honours an mmap hint above 2^47 (and
    // its TASK_SIZE_MAX is 2^56 - 4096); with 4-level it cannot and maps
    // elsewhere.
    constexpr uint64_t kHint = uint64_t{1} << 48;
    void* p = mmap(reinterpret_cast<void*>(kHint), kPageSize, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool five_level = false;
    if (p != MAP_FAILED) {
      five_level = reinterpret_cast<uint64_t>(p) >= (uint64_t{1} << 47);
      munmap(p, kPageSize);
    }
    return five_level ? (uint64_t{1} << 56) - kPageSize : (uint64_t{1} << 47) - kPageSize;
  }();
  return end;
}

RandomModule::RandomModule(const Config& config)
    : seed_(config.seed), user_end_(UserAddressEnd()) {}

void RandomModule::Register(Registry& registry) {
  registry.Notify(
      SYS_getrandom, [this](SyscallContext& ctx) { return Getrandom(ctx); },
      "getrandom bytes from the process's seeded stream");
  registry.ProvideFile(
      "/proc/sys/kernel/random/uuid",
      [this](SyscallContext& ctx) -> absl::StatusOr<std::string> {
        return NextUuid(ctx.process);
      },
      "a new UUID at each open, from the process's seeded uuid stream");
}

std::string RandomModule::NextUuid(const ProcessState& process) {
  auto it = uuid_streams_.find(process.id);
  if (it == uuid_streams_.end()) {
    it = uuid_streams_.emplace(process.id, RandomStream(kUuidDomain, seed_, process.id)).first;
  }
  return Uuid::Random(it->second).ToString() + "\n";
}

void RandomModule::OnProcessExit(const ProcessState& process,
                                 const std::vector<const ThreadState*>&) {
  streams_.erase(process.id);
  uuid_streams_.erase(process.id);
}

RandomStream& RandomModule::StreamOf(const ProcessState& process) {
  auto it = streams_.find(process.id);
  if (it == streams_.end()) {
    it = streams_.emplace(process.id, RandomStream(kDomain, seed_, process.id)).first;
  }
  return it->second;
}

std::optional<Response> RandomModule::Getrandom(SyscallContext& ctx) {
  const uint64_t addr = ctx.notification.args[0];
  uint64_t len = ctx.notification.args[1];
  const uint32_t flags = static_cast<uint32_t>(ctx.notification.args[2]);  // unsigned int
  if ((flags & ~kValidFlags) != 0) return Response::Errno(EINVAL);
  if ((flags & (GRND_RANDOM | GRND_INSECURE)) == (GRND_RANDOM | GRND_INSECURE)) {
    return Response::Errno(EINVAL);
  }
  // import_ubuf: cap, then access_ok on the whole range (even for len 0).
  len = std::min(len, kMaxPerCall);
  if (addr > user_end_ || len > user_end_ - addr) return Response::Errno(EFAULT);
  if (len == 0) return Response::Value(0);

  auto write = [&ctx](uint64_t at, const uint8_t* bytes, size_t size) {
    return ctx.memory.Write(ctx.notification.id, ctx.notification.tid, at, bytes, size);
  };
  RandomStream& stream = StreamOf(ctx.process);
  chunk_.resize(static_cast<size_t>(std::min<uint64_t>(len, kChunkSize)));
  uint64_t done = 0;
  while (done < len) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, kChunkSize));
    // Generate from a copy: the stream advances only by what lands.
    RandomStream next = stream;
    next.Fill(chunk_.data(), n);
    absl::Status s = write(addr + done, chunk_.data(), n);
    if (s.ok()) {
      stream = next;
      done += n;
      continue;
    }
    if (absl::IsNotFound(s)) return Response::Errno(ErrnoForMemoryStatus(s));
    // Part of this chunk may be writable: find how much, page by page (the
    // kernel's copy stops at the first page it cannot write).
    size_t landed = 0;
    while (landed < n) {
      const uint64_t at = addr + done + landed;
      const size_t m =
          static_cast<size_t>(std::min<uint64_t>(kPageSize - at % kPageSize, n - landed));
      if (!write(at, chunk_.data() + landed, m).ok()) break;
      landed += m;
    }
    stream.Fill(chunk_.data(), landed);  // consume exactly what was written
    done += landed;
    break;
  }
  if (done == 0) return Response::Errno(EFAULT);
  return Response::Value(static_cast<int64_t>(done));
}

}  // namespace detrun
