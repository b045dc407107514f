// UtsModule: the machine name and kernel identity a command sees.
//
// uname(2) is answered entirely by the supervisor, never by the kernel:
//   sysname     "Linux"
//   nodename    --hostname (default "detrun")
//   release     UtsIdentity::kRelease
//   version     UtsIdentity::kVersion
//   machine     UtsIdentity::kMachine, or "i686" for a process whose
//               personality is PER_LINUX32 (`setarch i686 -R`, `linux32`),
//               as the kernel's override_architecture() says (read from
//               /proc/TID/personality at the call; UNAME26 is not
//               emulated)
//   domainname  "(none)", what a host whose NIS domain name was never set
//               reads
// Each field is 65 bytes (__NEW_UTS_LEN + 1), NUL-padded, so every byte
// written to the child is defined; a bad pointer fails with EFAULT, as the
// kernel's copy_to_user does. The release, version and machine are fixed
// constants rather than the host's, so `uname -a`, Python's platform module
// and build scripts that embed `uname -r` print the same on every machine;
// a later --uname-* option can change them (read them from here only).
//
// Readers covered through uname(2): `uname`, `hostname` (gethostname(3)),
// glibc gethostname/getdomainname, Python socket.gethostname() and
// os.uname() and platform.uname(), Node os.hostname()/os.release().
//
// Files (served by the core, core/virtual_files.h; read-only):
//   /etc/hostname                  --hostname "\n"
//   /proc/sys/kernel/hostname      --hostname "\n"   (what uname's nodename says)
//   /proc/sys/kernel/domainname    "(none)\n"
//   /proc/sys/kernel/osrelease     UtsIdentity::kRelease "\n"
//   /proc/sys/kernel/version       UtsIdentity::kVersion "\n"
//   /proc/sys/kernel/ostype        UtsIdentity::kSysname "\n"
//   /proc/version                  "Linux version 6.1.0-detrun (detrun@detrun)
//                                  (gcc (detrun) 12.2.0, GNU ld (detrun) 2.40)
//                                  #1 SMP PREEMPT_DYNAMIC detrun\n", the kernel's
//                                  linux_banner built from the constants below
//   /proc/sys/kernel/random/boot_id  a random UUID of the "boot_id"
//                                  RandomStream of --seed (one per run: the
//                                  same in every process of it)
//   /etc/machine-id                32 hex digits of the "machine-id" stream of
//                                  --seed: the same across runs with one
//                                  seed, different across seeds; served even
//                                  on a host that has no /etc/machine-id
// (/proc/sys/kernel/random/uuid, new at every open, is the random module's.)
//
// sethostname(2) and setdomainname(2) fail with EPERM whatever their
// arguments, which is what an unprivileged process gets from the kernel.
// They are refused rather than emulated because detrun runs the command in
// the host's UTS namespace: let through, a command run as root would rename
// the real machine (what every other process and the next run see), and
// emulating them per process would make what one process sees depend on
// what a sibling did and when. The name is a function of --hostname only.
#ifndef DETRUN_DETERMINISM_UTS_MODULE_H_
#define DETRUN_DETERMINISM_UTS_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/module.h"

namespace detrun {

// The kernel identity uname(2) reports under detrun: fixed, documented,
// host-independent. (A future --uname-release/--uname-version/
// --uname-machine would override these defaults.)
struct UtsIdentity {
  static constexpr const char* kSysname = "Linux";
  // A plausible release string that no real kernel carries, so that a
  // program printing it is visibly under detrun.
  static constexpr const char* kRelease = "6.1.0-detrun";
  static constexpr const char* kVersion = "#1 SMP PREEMPT_DYNAMIC detrun";
  static constexpr const char* kMachine = "x86_64";
  // What an unset NIS domain name reads ("(none)", the kernel's
  // UTS_DOMAINNAME default).
  static constexpr const char* kDomainname = "(none)";
  // Bytes per struct utsname field, the terminating NUL included
  // (__NEW_UTS_LEN + 1). Longer values are cut to 64 bytes.
  static constexpr size_t kFieldBytes = 65;
  // /proc/version's "(user@host)" and "(compiler, linker)", fixed.
  static constexpr const char* kCompiledBy = "detrun@detrun";
  static constexpr const char* kCompiler = "gcc (detrun) 12.2.0, GNU ld (detrun) 2.40";
};

class UtsModule : public Module {
 public:
  explicit UtsModule(const Config& config) : hostname_(config.hostname), seed_(config.seed) {}

  std::string_view name() const override { return "uts"; }
  void Register(Registry& registry) override;

  // File contents, exposed for tests.
  static std::string ProcVersion();
  static std::string BootId(uint64_t seed);
  static std::string MachineId(uint64_t seed);
  // uname's machine field for a process with persona `persona`.
  static const char* Machine(uint32_t persona);

 private:
  std::optional<Response> Uname(SyscallContext& ctx) const;
  const std::string hostname_;
  const uint64_t seed_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_UTS_MODULE_H_
