#include "determinism/at_random_module.h"

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/random_stream.h"
#include "vdso/vdso_patch.h"

namespace detrun {

absl::Status AtRandomModule::OnExecStop(ExecStop& stop) {
  absl::StatusOr<ProcessAuxv> auxv = ReadAuxv(stop.mem);
  if (!auxv.ok()) return auxv.status();
  // A process that execs several times gets the same bytes each time: they
  // depend on what it is, not on how often it exec'd.
  uint8_t bytes[16];
  RandomStream("at_random", seed_, stop.process.id).Fill(bytes, sizeof bytes);
  return stop.mem.Write(auxv->at_random, bytes, sizeof bytes);
}

}  // namespace detrun
