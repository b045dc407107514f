// ChildMemory: reading and writing a supervised process's memory safely.
//
// Reads and writes go through process_vm_readv/writev (one call per
// access where possible). A notification's pid can be reused as soon as
// the thread dies, so every access is checked with
// SECCOMP_IOCTL_NOTIF_ID_VALID: a write before (so we do not touch a
// stranger), a read after (so what we read is known to come from the
// thread that is still waiting on that notification; reading a stranger
// changes nothing in it).
//
// Read-only pages (the vDSO text) cannot be written by process_vm_writev;
// WriteProcMem writes them through /proc/PID/mem, which the kernel allows
// to a ptrace-capable parent with FOLL_FORCE. CheckProcMemWritable() proves
// at run time that this works on this kernel (it is refused on kernels
// built with PROC_MEM_FORCE_PTRACE / proc_mem.force_override=never).
#ifndef DETRUN_CORE_CHILD_MEMORY_H_
#define DETRUN_CORE_CHILD_MEMORY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/unique_fd.h"

namespace detrun {

// The page size of x86-64 Linux (4 KiB pages; huge pages do not matter for
// the page-at-a-time reads and writes here).
inline constexpr size_t kPageSize = 4096;

class ChildMemory {
 public:
  // `listener_fd` is the seccomp listener; -1 disables validity checks
  // (tests on plain child processes).
  explicit ChildMemory(int listener_fd) : listener_fd_(listener_fd) {}

  // Whether notification `id` is still pending (its thread alive and still
  // blocked in that syscall).
  bool IsValid(uint64_t id) const;

  // Reads exactly `len` bytes at `addr` of thread `tid`. Errors:
  // NotFound when the notification is no longer valid, OutOfRange (EFAULT)
  // when the range is not fully readable.
  absl::Status Read(uint64_t id, pid_t tid, uint64_t addr, void* buf,
                    size_t len) const;

  // Reads a NUL-terminated string, page by page (never touching a page past
  // the terminator). ResourceExhausted when no NUL within `max_len` bytes.
  absl::StatusOr<std::string> ReadString(uint64_t id, pid_t tid,
                                         uint64_t addr, size_t max_len) const;

  // Writes `len` bytes at `addr` (writable pages only).
  absl::Status Write(uint64_t id, pid_t tid, uint64_t addr, const void* buf,
                     size_t len) const;

  // Sees every successful Write: how the trace recorder learns the payload
  // of an answer (the supervisor sets a tap only while the handlers of one
  // notification run). Writes through /proc/PID/mem are not seen.
  class WriteTap {
   public:
    virtual ~WriteTap() = default;
    virtual void OnWrite(uint64_t addr, const void* data, size_t len) = 0;
  };
  void set_write_tap(WriteTap* tap) { tap_ = tap; }  // nullptr: none

 private:
  absl::Status CheckValid(uint64_t id) const;
  int listener_fd_;
  WriteTap* tap_ = nullptr;
};

// Opens /proc/PID/mem with `flags` (O_RDONLY or O_RDWR; O_CLOEXEC added).
absl::StatusOr<UniqueFd> OpenProcMem(pid_t pid, int flags);

// Reads exactly `len` bytes at `offset` of `fd` (pread, retried on EINTR
// and short reads). Returns 0 or the errno (EIO for an end of file first),
// and in `*done`, when not null, how many bytes it read.
int PreadFully(int fd, void* buf, size_t len, uint64_t offset, size_t* done = nullptr);

// Reads exactly `len` bytes at `addr` through `mem_fd`, an open
// /proc/PID/mem of process `pid` (named in errors).
absl::Status ReadProcMem(int mem_fd, pid_t pid, uint64_t addr, void* buf, size_t len);

// Writes through /proc/PID/mem (works on read-only mappings).
absl::Status WriteProcMem(pid_t pid, uint64_t addr, const void* buf,
                          size_t len);

// One process's /proc/PID/mem and auxv, for the work done at one ptrace
// stop: the file is opened on first use and the auxv read once, however
// many modules read or write. An exec stop writes AT_RANDOM and four or
// five vDSO ranges and reads them back; opening /proc/PID/mem per access
// (each open is a ptrace permission check) cost a dozen syscalls more per
// exec. Reads and writes reach read-only mappings (FOLL_FORCE).
class ProcMem {
 public:
  explicit ProcMem(pid_t pid) : pid_(pid) {}
  pid_t pid() const { return pid_; }
  absl::Status Read(uint64_t addr, void* buf, size_t len);
  absl::Status Write(uint64_t addr, const void* buf, size_t len);
  // The bytes of /proc/PID/auxv, read on first use.
  absl::StatusOr<absl::Span<const uint8_t>> Auxv();

 private:
  absl::Status Open();
  pid_t pid_;
  UniqueFd fd_;
  std::vector<uint8_t> auxv_;
  bool have_auxv_ = false;
};

// What detrun needs from a process's auxiliary vector.
struct ProcessAuxv {
  // AT_SYSINFO_EHDR: where the vDSO is mapped; 0 when the process has no
  // vDSO (kernel booted with vdso=0), so there is nothing to patch.
  uint64_t vdso_base = 0;
  // AT_RANDOM: the address of the 16 random bytes the kernel put on the
  // initial stack (libc seeds its stack protector and pointer guard there).
  uint64_t at_random = 0;
  // AT_BASE: where the program interpreter (the dynamic loader) is mapped;
  // 0 for a static program.
  uint64_t interpreter_base = 0;
};

// Parses the raw bytes of /proc/PID/auxv (uint64 type/value pairs up to
// AT_NULL). InvalidArgument when AT_RANDOM is missing or the vector is
// truncated before AT_NULL.
absl::StatusOr<ProcessAuxv> ParseAuxv(absl::Span<const uint8_t> auxv);

// Reads and parses /proc/PID/auxv (through `mem`: read once per stop).
absl::StatusOr<ProcessAuxv> ReadAuxv(ProcMem& mem);
absl::StatusOr<ProcessAuxv> ReadAuxv(pid_t pid);

// Forks a helper with a read-only page and writes it via /proc/PID/mem.
// OK iff the write landed.
absl::Status CheckProcMemWritable();

// Maps a failed access to the errno a kernel would give the caller.
int ErrnoForMemoryStatus(const absl::Status& status);

}  // namespace detrun

#endif  // DETRUN_CORE_CHILD_MEMORY_H_
