#include "determinism/uts_module.h"

#include <fcntl.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/unique_fd.h"
#include "determinism/random_stream.h"
#include "determinism/uuid.h"

namespace detrun {
namespace {

// The kernel's struct new_utsname: six 65-byte fields.
struct KernelUtsname {
  char sysname[UtsIdentity::kFieldBytes];
  char nodename[UtsIdentity::kFieldBytes];
  char release[UtsIdentity::kFieldBytes];
  char version[UtsIdentity::kFieldBytes];
  char machine[UtsIdentity::kFieldBytes];
  char domainname[UtsIdentity::kFieldBytes];
};
static_assert(sizeof(KernelUtsname) == sizeof(struct utsname));
static_assert(offsetof(KernelUtsname, domainname) == offsetof(struct utsname, domainname));

// Copies `value` into a zeroed field, cut to leave the terminating NUL.
void SetField(char (&field)[UtsIdentity::kFieldBytes], std::string_view value) {
  memcpy(field, value.data(), std::min(value.size(), sizeof field - 1));
}

// The persona of thread `tid` ("%08x\n" in /proc/TID/personality), or the
// default one when it cannot be read.
uint32_t ReadPersona(pid_t tid) {
  UniqueFd fd(open(absl::StrCat("/proc/", tid, "/personality").c_str(), O_RDONLY | O_CLOEXEC));
  char buf[16];
  const ssize_t n = fd.ok() ? read(fd.get(), buf, sizeof buf) : -1;
  uint32_t persona = PER_LINUX;
  if (n > 0 && absl::SimpleHexAtoi(absl::StripTrailingAsciiWhitespace(
                                       absl::string_view(buf, static_cast<size_t>(n))),
                                   &persona)) {
    return persona;
  }
  return PER_LINUX;
}

}  // namespace

const char* UtsModule::Machine(uint32_t persona) {
  // The kernel's override_architecture(): COMPAT_UTS_MACHINE.
  return (persona & PER_MASK) == PER_LINUX32 ? "i686" : UtsIdentity::kMachine;
}

std::string UtsModule::ProcVersion() {
  // The kernel's linux_banner: "%s version %s (%s) (%s) %s\n".
  return absl::StrCat(UtsIdentity::kSysname, " version ", UtsIdentity::kRelease, " (",
                      UtsIdentity::kCompiledBy, ") (", UtsIdentity::kCompiler, ") ",
                      UtsIdentity::kVersion, "\n");
}

std::string UtsModule::BootId(uint64_t seed) {
  // One per run, not per process: the root of no fork tree.
  RandomStream stream("boot_id", seed, ProcessIdentity{});
  return Uuid::Random(stream).ToString() + "\n";
}

std::string UtsModule::MachineId(uint64_t seed) {
  RandomStream stream("machine-id", seed, ProcessIdentity{});
  return Uuid::Random(stream).ToHex() + "\n";
}

void UtsModule::Register(Registry& registry) {
  // Fixed for the run: computed once, copied at each open.
  auto constant = [&registry](const char* path, std::string content, const char* reason) {
    registry.ProvideFile(
        path, [content](SyscallContext&) -> absl::StatusOr<std::string> { return content; },
        reason);
  };
  // The name as uname's nodename field holds it.
  const std::string host = hostname_.substr(0, UtsIdentity::kFieldBytes - 1) + "\n";
  constant("/etc/hostname", host, "the host name from --hostname");
  constant("/proc/sys/kernel/hostname", host, "the host name from --hostname");
  constant("/proc/sys/kernel/domainname", absl::StrCat(UtsIdentity::kDomainname, "\n"),
           "no NIS domain name");
  constant("/proc/sys/kernel/osrelease", absl::StrCat(UtsIdentity::kRelease, "\n"),
           "fixed kernel identity");
  constant("/proc/sys/kernel/version", absl::StrCat(UtsIdentity::kVersion, "\n"),
           "fixed kernel identity");
  constant("/proc/sys/kernel/ostype", absl::StrCat(UtsIdentity::kSysname, "\n"),
           "fixed kernel identity");
  constant("/proc/version", ProcVersion(), "fixed kernel identity");
  constant("/proc/sys/kernel/random/boot_id", BootId(seed_), "boot id from --seed");
  constant("/etc/machine-id", MachineId(seed_), "machine id from --seed");
  // D-Bus's copy (a file of its own on some systems, a symlink on others).
  constant("/var/lib/dbus/machine-id", MachineId(seed_), "machine id from --seed");

  registry.Notify(
      SYS_uname, [this](SyscallContext& ctx) { return Uname(ctx); },
      "host name from --hostname, fixed kernel identity");
  // Any argument: the refusal does not depend on them.
  registry.Refuse(SYS_sethostname, EPERM, "the host name is fixed by --hostname");
  registry.Refuse(SYS_setdomainname, EPERM, "the domain name is fixed");
}

std::optional<Response> UtsModule::Uname(SyscallContext& ctx) const {
  KernelUtsname uts{};  // NUL padding everywhere
  SetField(uts.sysname, UtsIdentity::kSysname);
  SetField(uts.nodename, hostname_);
  SetField(uts.release, UtsIdentity::kRelease);
  SetField(uts.version, UtsIdentity::kVersion);
  SetField(uts.machine, Machine(ReadPersona(static_cast<pid_t>(ctx.notification.tid))));
  SetField(uts.domainname, UtsIdentity::kDomainname);
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid,
                                    ctx.notification.args[0], &uts, sizeof uts);
  if (!s.ok()) return Response::Errno(ErrnoForMemoryStatus(s));
  return Response::Value(0);
}

}  // namespace detrun
