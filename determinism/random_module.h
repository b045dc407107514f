// RandomModule: getrandom(2) answered from a seeded stream per process.
//
// Every process reads its own RandomStream("getrandom", --seed, process
// identity): the bytes depend only on the seed and the process's place in
// the fork tree, never on pids, scheduling or what other processes read.
// All threads of a process share its stream (one sequence, in the order the
// supervisor answers their calls); a process that execs keeps its position
// (it is the same process); a forked child has its own identity and so its
// own stream. The stream is dropped when the process exits.
//
// getrandom(buf, len, flags) mirrors the kernel (drivers/char/random.c,
// checked against Linux 6.18):
//   flags   only the low 32 bits count (the argument is an unsigned int).
//           Bits other than GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE,
//           or GRND_RANDOM together with GRND_INSECURE: EINVAL. Otherwise
//           the flags change nothing: the stream is always "ready", so
//           GRND_NONBLOCK never gives EAGAIN and nothing blocks.
//   len     capped at kMaxPerCall = 0x7ffff000 (the kernel's MAX_RW_COUNT,
//           INT_MAX rounded down to a page), so one call returns at most
//           that many bytes.
//   buf     [buf, buf + len) (after the cap) must end at or below the top
//           of the user address space (2^47 - 4096 with 4-level paging,
//           2^56 - 4096 with 5-level, detected once), else EFAULT before
//           anything is written: the kernel's access_ok. This holds for
//           len 0 too (a kernel address with len 0 is EFAULT; NULL with
//           len 0 returns 0).
//   len 0   returns 0, buf untouched.
//   writes  in chunks of kChunkSize. If nothing can be written: EFAULT.
//           If a later part cannot (an unmapped or read-only page): the
//           count of bytes written up to that page, as the kernel's
//           partial copy does.
// The process's stream advances by exactly the count returned: a call that
// fails (EINVAL, EFAULT) consumes nothing, and a partial write consumes only
// what it wrote, so what follows does not depend on how many bytes a failed
// call asked for.
//
// Differences from the kernel: a call is answered at once and whole (the
// kernel checks for pending signals every page and may return early; here
// a signal never cuts a read short). A large read holds the supervisor,
// and so every other notifying thread, while it is written: about 4 s per
// GiB, roughly what the kernel itself takes. The stream's 32-bit ChaCha20
// block counter repeats after 256 GiB read by one process.
//
// /proc/sys/kernel/random/uuid (a file served by the core,
// core/virtual_files.h) gives a new random UUID (uuid.h) at every open, as
// the kernel does: the next 16 bytes of the opening process's own "uuid"
// RandomStream (seed, process identity), a stream apart from getrandom's so
// that reading a UUID does not shift the getrandom bytes that follow. The
// k-th UUID a process reads depends only on the seed, its identity and k
// (threads of one process share the sequence, in the order of their opens).
//
// /dev/urandom and /dev/random (devices served by the core,
// core/virtual_files.h): every open gets its own endless stream,
// RandomStream("urandom N", seed, process identity) for the process's N-th
// open (from 1) of either device, so a second open continues with new
// bytes rather than restarting, and what one descriptor reads does not
// depend on when another is read. The descriptor is the slave side of a
// pseudo-terminal in raw mode: fstat says character device (libsodium's
// fallback checks S_ISCHR), reads never reach an end, O_NONBLOCK and
// O_CLOEXEC are the caller's, writes are accepted and dropped (as the
// kernel's mix them in). The supervisor keeps the master side filled
// (Scheduler::Watch) and frees it when the command has closed every copy.
// Differences from the kernel's device: one read returns at most what the
// pty holds (about 4 KiB; large reads are short, as POSIX allows and as
// `head -c`, `dd iflag=fullblock` and read loops handle); isatty() is
// true; ioctl(RNDGETENTCNT) and friends fail with ENOTTY; with O_NONBLOCK
// a read faster than detrun refills may get EAGAIN; st_rdev is a pty's.
// A descriptor shared by forked processes is one stream, read in whatever
// order they read it.
//
// The vDSO getrandom of Linux 6.11+ is redirected to this syscall by the
// vdso module; AT_RANDOM is the at_random module's (its own stream); the
// boot_id and machine-id the uts module's.
#ifndef DETRUN_DETERMINISM_RANDOM_MODULE_H_
#define DETRUN_DETERMINISM_RANDOM_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/module.h"
#include "core/process_identity.h"
#include "determinism/random_stream.h"

namespace detrun {

class RandomModule : public Module {
 public:
  // The most bytes one call returns (the kernel's MAX_RW_COUNT).
  static constexpr uint64_t kMaxPerCall = 0x7ffff000;
  // Bytes generated and written to the child at a time.
  static constexpr size_t kChunkSize = 64 * 1024;
  // The stream's domain (random_stream.h).
  static constexpr std::string_view kDomain = "getrandom";
  // The stream of /proc/sys/kernel/random/uuid.
  static constexpr std::string_view kUuidDomain = "uuid";

  explicit RandomModule(const Config& config);

  std::string_view name() const override { return "random"; }
  void Register(Registry& registry) override;
  void OnProcessExit(const ProcessState& process,
                     const std::vector<const ThreadState*>& threads) override;

  // The getrandom handler. Exposed for tests.
  std::optional<Response> Getrandom(SyscallContext& ctx);

  // The content of /proc/sys/kernel/random/uuid for `process`'s next open.
  std::string NextUuid(const ProcessState& process);

  // An open of /dev/urandom or /dev/random (see the top): the slave
  // descriptor to install, with the access mode and O_NONBLOCK of `flags`.
  absl::StatusOr<UniqueFd> OpenUrandom(SyscallContext& ctx, uint64_t flags);
  // Devices whose master side detrun still serves. Exposed for tests.
  size_t urandom_count() const { return urandom_.size(); }

  // Processes that currently have a stream (of either kind). Exposed for
  // tests.
  size_t stream_count() const { return streams_.size() + uuid_streams_.size(); }

  // One past the highest user address a syscall may touch (the kernel's
  // TASK_SIZE_MAX): 2^47 - 4096, or 2^56 - 4096 when the kernel runs 5-level
  // paging. Exposed for tests.
  static uint64_t UserAddressEnd();

 private:
  RandomStream& StreamOf(const ProcessState& process);

  uint64_t seed_;
  uint64_t user_end_;
  std::map<ProcessIdentity, RandomStream> streams_;
  std::map<ProcessIdentity, RandomStream> uuid_streams_;
  struct Urandom {
    UniqueFd master;
    RandomStream stream;
    std::vector<uint8_t> pending;  // generated, not yet taken by the pty
    size_t pending_offset = 0;
  };
  // Refills `master`'s pty; false when the command closed it.
  bool ServeUrandom(int master, uint32_t events);
  std::map<int, std::unique_ptr<Urandom>> urandom_;  // by master fd
  std::map<ProcessIdentity, uint64_t> urandom_opens_;
  std::vector<uint8_t> chunk_;  // reused between calls
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_RANDOM_MODULE_H_
