#include "determinism/uts_module.h"

#include <sys/syscall.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "core/child_memory.h"

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

}  // namespace

void UtsModule::Register(Registry& registry) {
  registry.Notify(
      SYS_uname, [this](SyscallContext& ctx) { return Uname(ctx); },
      "host name from --hostname, fixed kernel identity");
  // Any argument: the refusal does not depend on them.
  auto refuse = [](SyscallContext&) -> std::optional<Response> { return Response::Errno(EPERM); };
  registry.Notify(SYS_sethostname, refuse, "the host name is fixed by --hostname");
  registry.Notify(SYS_setdomainname, refuse, "the domain name is fixed");
}

std::optional<Response> UtsModule::Uname(SyscallContext& ctx) const {
  KernelUtsname uts{};  // NUL padding everywhere
  SetField(uts.sysname, UtsIdentity::kSysname);
  SetField(uts.nodename, hostname_);
  SetField(uts.release, UtsIdentity::kRelease);
  SetField(uts.version, UtsIdentity::kVersion);
  SetField(uts.machine, UtsIdentity::kMachine);
  SetField(uts.domainname, UtsIdentity::kDomainname);
  absl::Status s = ctx.memory.Write(ctx.notification.id, ctx.notification.tid,
                                    ctx.notification.args[0], &uts, sizeof uts);
  if (!s.ok()) return Response::Errno(ErrnoForMemoryStatus(s));
  return Response::Value(0);
}

}  // namespace detrun
