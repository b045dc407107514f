// VdsoModule: patches every new image's vDSO before it runs.
//
// The vDSO answers clock_gettime, gettimeofday, time, clock_getres, getcpu
// and getrandom without a syscall, out of seccomp's sight. In the post-exec
// stop (core/module.h ExecStop) this module overwrites those entry points
// with stubs that make the syscall (vdso_patch.h), so the determinism
// modules answer them like any other call; the vDSO getrandom's state
// query fails, so libc and Go fall back to the getrandom syscall.
//
// Life: Create() reads and parses detrun's own vDSO once (every process on
// this kernel maps the same image) and builds the patched image; then
// OnExecStop writes the differing bytes into each stopped process through
// /proc/PID/mem. A child whose vDSO differs is parsed on its own. Any
// failure ends the run (exit 125): nothing runs with a live vDSO clock.
#ifndef DETRUN_VDSO_VDSO_MODULE_H_
#define DETRUN_VDSO_VDSO_MODULE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "vdso/vdso_patch.h"

namespace detrun {

class VdsoModule : public Module {
 public:
  // Fails when this kernel's vDSO cannot be parsed or patched. Kernels that
  // refuse /proc/PID/mem writes (PROC_MEM_FORCE_PTRACE) are reported at the
  // first exec stop, in one clear line.
  // With in-process clocks (--clock=frozen: constants; --clock=real: host
  // monotonic plus offsets), the clock functions answer without the
  // supervisor (vdso_patch.h). For offsets, Create picks the random marker
  // of the stub's own clock read and Register lets exactly that call
  // through the filter.
  static absl::StatusOr<std::unique_ptr<VdsoModule>> Create(InProcessClocks clocks = {});

  std::string_view name() const override { return "vdso"; }
  void Register(Registry& registry) override;
  bool WantsExecStop() const override { return true; }
  absl::Status OnExecStop(ExecStop& stop) override;

 private:
  absl::Status Patch(ProcMem& mem);
  VdsoModule(std::vector<uint8_t> original, std::vector<uint8_t> patched, InProcessClocks clocks)
      : original_(std::move(original)), patched_(std::move(patched)), clocks_(clocks) {}
  std::vector<uint8_t> original_;
  std::vector<uint8_t> patched_;
  InProcessClocks clocks_;
};

}  // namespace detrun

#endif  // DETRUN_VDSO_VDSO_MODULE_H_
