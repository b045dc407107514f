#include "vdso/vdso_module.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/unique_fd.h"
#include "vdso/vdso_image.h"
#include "vdso/vdso_patch.h"

namespace detrun {
namespace {

absl::StatusOr<std::vector<uint8_t>> PatchedFor(const std::vector<uint8_t>& original,
                                                const InProcessClocks& clocks) {
  absl::StatusOr<VdsoImage> image = ParseVdsoImage(original);
  if (!image.ok()) return image.status();
  return BuildPatchedImage(original, *image, SyscallForwardingPatches(clocks));
}

// The child's own vDSO image, for the rare child whose image differs from
// ours (same size assumed: it is one kernel).
absl::StatusOr<std::vector<uint8_t>> ReadChildVdso(ProcMem& mem, uint64_t base, size_t size) {
  std::vector<uint8_t> bytes(size);
  if (absl::Status s = mem.Read(base, bytes.data(), size); !s.ok()) return s;
  return bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VdsoModule>> VdsoModule::Create(InProcessClocks clocks) {
  if (clocks.offset) {
    // Unguessable without reading the child's own vDSO code: a program
    // that does that and replays the call reads the host clock (a
    // deliberate bypass, not an accident; README).
    if (getrandom(clocks.magic.data(), sizeof clocks.magic, 0) != sizeof clocks.magic) {
      return absl::ErrnoToStatus(errno, "getrandom for the vDSO clock marker");
    }
  } else if (clocks.step) {
    // Fixed, so that the vDSO's bytes are the same in every run: a program
    // that forges the marked call only gets its virtual clock another way.
    clocks.magic = kStepClockMagic;
  }
  absl::StatusOr<std::vector<uint8_t>> original = ReadOwnVdso();
  if (!original.ok()) return original.status();
  absl::StatusOr<std::vector<uint8_t>> patched = PatchedFor(*original, clocks);
  if (!patched.ok()) return patched.status();
  return std::unique_ptr<VdsoModule>(
      new VdsoModule(std::move(*original), std::move(*patched), clocks));
}

void VdsoModule::Register(Registry& registry) {
  if (!clocks_.offset) return;
  registry.Allow(SYS_clock_gettime,
                 {ArgMatcher::Eq32(0, CLOCK_MONOTONIC), ArgMatcher::Eq64(2, clocks_.magic[0]),
                  ArgMatcher::Eq64(3, clocks_.magic[1])},
                 "the patched vDSO's own host-clock read (--clock=real, in-process)");
}

absl::Status VdsoModule::OnExecStop(ExecStop& stop) {
  absl::Status s = Patch(stop.mem);
  // The run-time check costs a fork, so it only runs to explain a failure.
  if (!s.ok() && !CheckProcMemWritable().ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this kernel refuses writes through /proc/PID/mem (built with "
        "PROC_MEM_FORCE_PTRACE or booted with proc_mem.force_override=never), so "
        "detrun cannot patch the vDSO clocks; only --native runs are possible (",
        s.message(), ")"));
  }
  return s;
}

absl::Status VdsoModule::Patch(ProcMem& mem) {
  absl::StatusOr<ProcessAuxv> auxv = ReadAuxv(mem);
  if (!auxv.ok()) return auxv.status();
  if (auxv->vdso_base == 0) return absl::OkStatus();  // booted with vdso=0: nothing to patch
  absl::Status s = PatchProcessVdso(mem, auxv->vdso_base, original_, patched_);
  if (!absl::IsFailedPrecondition(s)) return s;
  // A different image than ours: parse the child's own.
  absl::StatusOr<std::vector<uint8_t>> theirs =
      ReadChildVdso(mem, auxv->vdso_base, original_.size());
  if (!theirs.ok()) return theirs.status();
  absl::StatusOr<std::vector<uint8_t>> patched = PatchedFor(*theirs, clocks_);
  if (!patched.ok()) return patched.status();
  return PatchProcessVdso(mem, auxv->vdso_base, *theirs, *patched);
}

}  // namespace detrun
