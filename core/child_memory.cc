#include "core/child_memory.h"

#include <fcntl.h>
#include <elf.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

absl::Status Efault(uint64_t addr) {
  return absl::OutOfRangeError(
      absl::StrCat("child address 0x", absl::Hex(addr), " is not readable"));
}

}  // namespace

bool ChildMemory::IsValid(uint64_t id) const {
  if (listener_fd_ < 0) return true;
  return ioctl(listener_fd_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

absl::Status ChildMemory::CheckValid(uint64_t id) const {
  if (IsValid(id)) return absl::OkStatus();
  return absl::NotFoundError("the notifying thread is gone");
}

absl::Status ChildMemory::Read(uint64_t id, pid_t tid, uint64_t addr,
                               void* buf, size_t len) const {
  if (len == 0) return absl::OkStatus();
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
  // Checked after the read only: if the thread died and its tid was reused
  // before or during it, these bytes came from a stranger and are dropped.
  // (Reading a stranger changes nothing in it, so no check before.)
  if (absl::Status s = CheckValid(id); !s.ok()) return s;
  if (n < 0) {
    if (errno == ESRCH) return absl::NotFoundError("the notifying thread is gone");
    return Efault(addr);
  }
  if (static_cast<size_t>(n) != len) return Efault(addr + n);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChildMemory::ReadString(uint64_t id, pid_t tid,
                                                    uint64_t addr,
                                                    size_t max_len) const {
  std::string out;
  char chunk[kPageSize];
  while (out.size() < max_len) {
    // Never cross a page boundary in one read: the next page may be
    // unmapped even though the string ends before it.
    size_t to_page_end = kPageSize - (addr % kPageSize);
    size_t want = std::min(to_page_end, max_len - out.size());
    if (absl::Status s = Read(id, tid, addr, chunk, want); !s.ok()) return s;
    if (const void* nul = memchr(chunk, '\0', want)) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      return out;
    }
    out.append(chunk, want);
    addr += want;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("string longer than ", max_len, " bytes"));
}

absl::Status ChildMemory::Write(uint64_t id, pid_t tid, uint64_t addr,
                                const void* buf, size_t len) const {
  if (len == 0) return absl::OkStatus();
  if (absl::Status s = CheckValid(id); !s.ok()) return s;
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
  if (n < 0) {
    if (errno == ESRCH) return absl::NotFoundError("the notifying thread is gone");
    return absl::OutOfRangeError(
        absl::StrCat("child address 0x", absl::Hex(addr), " is not writable"));
  }
  if (static_cast<size_t>(n) != len) {
    return absl::OutOfRangeError(absl::StrCat(
        "child address 0x", absl::Hex(addr + n), " is not writable"));
  }
  if (tap_ != nullptr) tap_->OnWrite(addr, buf, len);
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenProcMem(pid_t pid, int flags) {
  UniqueFd fd(open(absl::StrCat("/proc/", pid, "/mem").c_str(), flags | O_CLOEXEC));
  if (!fd.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("open /proc/", pid, "/mem"));
  return fd;
}

int PreadFully(int fd, void* buf, size_t len, uint64_t offset, size_t* done_out) {
  char* out = static_cast<char*>(buf);
  size_t done = 0;
  int error = 0;
  while (done < len) {
    ssize_t n = pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (done_out != nullptr) *done_out = done;
  return error;
}

absl::Status ReadProcMem(int mem_fd, pid_t pid, uint64_t addr, void* buf, size_t len) {
  size_t done = 0;
  if (const int error = PreadFully(mem_fd, buf, len, addr, &done); error != 0) {
    return absl::ErrnoToStatus(
        error, absl::StrCat("read /proc/", pid, "/mem at 0x", absl::Hex(addr + done)));
  }
  return absl::OkStatus();
}

absl::Status WriteProcMem(pid_t pid, uint64_t addr, const void* buf,
                          size_t len) {
  return ProcMem(pid).Write(addr, buf, len);
}

absl::Status ProcMem::Open() {
  if (fd_.ok()) return absl::OkStatus();
  absl::StatusOr<UniqueFd> fd = OpenProcMem(pid_, O_RDWR);
  if (!fd.ok()) return fd.status();
  fd_ = std::move(*fd);
  return absl::OkStatus();
}

absl::Status ProcMem::Read(uint64_t addr, void* buf, size_t len) {
  if (absl::Status s = Open(); !s.ok()) return s;
  return ReadProcMem(fd_.get(), pid_, addr, buf, len);
}

absl::Status ProcMem::Write(uint64_t addr, const void* buf, size_t len) {
  if (absl::Status s = Open(); !s.ok()) return s;
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = pwrite(fd_.get(), p, len, static_cast<off_t>(addr));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::ErrnoToStatus(
          n < 0 ? errno : EIO,
          absl::StrCat("write /proc/", pid_, "/mem at 0x", absl::Hex(addr)));
    }
    p += n;
    addr += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const uint8_t>> ProcMem::Auxv() {
  if (!have_auxv_) {
    const std::string path = absl::StrCat("/proc/", pid_, "/auxv");
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    // About 370 bytes on x86-64; one read normally takes it all.
    uint8_t buf[4096];
    std::vector<uint8_t> bytes;
    for (;;) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
      if (n == 0) break;
      bytes.insert(bytes.end(), buf, buf + n);
      // The kernel hands over the whole vector in one read (it is a
      // fraction of the buffer): a short read is the end.
      if (static_cast<size_t>(n) < sizeof buf) break;
    }
    auxv_ = std::move(bytes);
    have_auxv_ = true;
  }
  return absl::Span<const uint8_t>(auxv_);
}

absl::StatusOr<ProcessAuxv> ParseAuxv(absl::Span<const uint8_t> auxv) {
  ProcessAuxv out;
  bool have_random = false;
  for (size_t at = 0;; at += 16) {
    if (at > auxv.size() || auxv.size() - at < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auxv is truncated: no AT_NULL in its ", auxv.size(), " bytes"));
    }
    uint64_t type, value;
    memcpy(&type, auxv.data() + at, 8);
    memcpy(&value, auxv.data() + at + 8, 8);
    if (type == AT_NULL) break;
    if (type == AT_SYSINFO_EHDR) out.vdso_base = value;
    if (type == AT_BASE) out.interpreter_base = value;
    if (type == AT_RANDOM) {
      out.at_random = value;
      have_random = true;
    }
  }
  if (!have_random) return absl::InvalidArgumentError("auxv has no AT_RANDOM");
  return out;
}

absl::StatusOr<ProcessAuxv> ReadAuxv(ProcMem& mem) {
  absl::StatusOr<absl::Span<const uint8_t>> bytes = mem.Auxv();
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<ProcessAuxv> auxv = ParseAuxv(*bytes);
  if (!auxv.ok()) {
    return absl::Status(auxv.status().code(), absl::StrCat("/proc/", mem.pid(), "/auxv: ",
                                                           auxv.status().message()));
  }
  return auxv;
}

absl::StatusOr<ProcessAuxv> ReadAuxv(pid_t pid) {
  ProcMem mem(pid);
  return ReadAuxv(mem);
}

absl::Status CheckProcMemWritable() {
  void* page = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  memset(page, 'a', kPageSize);
  mprotect(page, kPageSize, PROT_READ);
  pid_t pid = fork();
  if (pid < 0) {
    munmap(page, kPageSize);
    return absl::ErrnoToStatus(errno, "fork");
  }
  if (pid == 0) {
    // The helper just waits to be inspected and killed.
    for (;;) pause();
  }
  const char marker[] = "detrun";
  absl::Status status =
      WriteProcMem(pid, reinterpret_cast<uint64_t>(page), marker, sizeof marker);
  if (status.ok()) {
    // Read back through the same file (process_vm_readv may itself be
    // refused, e.g. under an enclosing detrun's filter).
    char back[sizeof marker] = {};
    absl::StatusOr<UniqueFd> mem = OpenProcMem(pid, O_RDONLY);
    if (!mem.ok() ||
        !ReadProcMem(mem->get(), pid, reinterpret_cast<uint64_t>(page), back, sizeof back).ok() ||
        memcmp(back, marker, sizeof marker) != 0) {
      status = absl::InternalError(
          "a write through /proc/PID/mem to a read-only page did not land");
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  munmap(page, kPageSize);
  return status;
}

int ErrnoForMemoryStatus(const absl::Status& status) {
  if (absl::IsNotFound(status)) return ESRCH;
  if (absl::IsResourceExhausted(status)) return ENAMETOOLONG;
  return EFAULT;
}

}  // namespace detrun
