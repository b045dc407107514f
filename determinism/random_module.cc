#include "determinism/random_module.h"

#include <linux/random.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/uuid.h"

namespace detrun {
namespace {

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
  for (const char* device : {"/dev/urandom", "/dev/random"}) {
    registry.ProvideDevice(
        device,
        [this](SyscallContext& ctx, uint64_t flags) { return OpenUrandom(ctx, flags); },
        "an endless seeded stream per open");
  }
}

absl::StatusOr<UniqueFd> RandomModule::OpenUrandom(SyscallContext& ctx, uint64_t flags) {
  if (ctx.scheduler == nullptr) return absl::FailedPreconditionError("no scheduler");
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!master.ok()) return absl::ErrnoToStatus(errno, "posix_openpt");
  char name[64];
  if (unlockpt(master.get()) != 0 || ptsname_r(master.get(), name, sizeof name) != 0) {
    return absl::ErrnoToStatus(errno, "unlockpt/ptsname");
  }
  // The caller's access mode and O_NONBLOCK; never our controlling tty.
  const int mode = static_cast<int>(flags & O_ACCMODE);
  UniqueFd slave(open(name, mode | O_NOCTTY | O_CLOEXEC | static_cast<int>(flags & O_NONBLOCK)));
  if (!slave.ok()) return absl::ErrnoToStatus(errno, name);
  // Raw: every byte value passes unchanged, nothing echoes, no signals.
  termios raw;
  if (tcgetattr(slave.get(), &raw) != 0) return absl::ErrnoToStatus(errno, "tcgetattr");
  cfmakeraw(&raw);
  if (tcsetattr(slave.get(), TCSANOW, &raw) != 0) return absl::ErrnoToStatus(errno, "tcsetattr");
  fchmod(slave.get(), 0666);  // what ls -l shows for /dev/urandom
  const uint64_t n = ++urandom_opens_[ctx.process.id];
  const int fd = master.get();
  urandom_[fd] = std::make_unique<Urandom>(
      Urandom{std::move(master), RandomStream(absl::StrCat("urandom ", n), seed_, ctx.process.id),
              {}, 0});
  // Filled before the open returns, so a first O_NONBLOCK read finds
  // bytes; then kept filled as the command reads.
  ServeUrandom(fd, EPOLLOUT);
  ctx.scheduler->Watch(fd, EPOLLIN | EPOLLOUT,
                       [this, fd](uint32_t events) { return ServeUrandom(fd, events); });
  return slave;
}

bool RandomModule::ServeUrandom(int master, uint32_t events) {
  auto it = urandom_.find(master);
  if (it == urandom_.end()) return false;
  Urandom& u = *it->second;
  if (events & EPOLLIN) {
    // What the command wrote: accepted and dropped.
    char sink[4096];
    while (read(master, sink, sizeof sink) > 0) {
    }
  }
  if (events & (EPOLLHUP | EPOLLERR)) {
    urandom_.erase(it);  // every copy of the slave is closed
    return false;
  }
  if (events & EPOLLOUT) {
    constexpr size_t kRefill = 4096;
    for (;;) {
      if (u.pending_offset == u.pending.size()) {
        u.pending.resize(kRefill);
        u.stream.Fill(u.pending.data(), kRefill);
        u.pending_offset = 0;
      }
      ssize_t w = write(master, u.pending.data() + u.pending_offset,
                        u.pending.size() - u.pending_offset);
      if (w <= 0) break;  // full (EAGAIN) until the command reads
      u.pending_offset += static_cast<size_t>(w);
    }
  }
  return true;
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
  // Its devices live on while another process holds them (fork, passing
  // fds); the open count restarts only for a new identity.
  urandom_opens_.erase(process.id);
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
