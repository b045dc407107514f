// The dynamic loader's rdtsc, answered once per loader build instead of
// once per process (--tsc=emulate).
//
// glibc's loader (ld.so, the PT_INTERP of every dynamic program) executes
// rdtsc eight times as it starts a program, to time its own phases for
// LD_DEBUG=statistics; nothing else reads the values. Under the trap
// (core/tsc_trap.h) each is a ptrace round trip of about 30 µs: a quarter
// of a millisecond per exec, most of what --tsc=emulate costs a shell
// script. So the supervisor learns where those instructions are: a trapped
// rdtsc whose address lies in the text of the process's interpreter is
// answered as `xor %eax,%eax` would answer it (EAX = 0, EDX as it was) and
// its offset is remembered under the interpreter's GNU build ID. At every
// later exec stop of a program with the same interpreter build, each
// remembered site that still holds `0f 31` is overwritten with `31 c0`
// (xor %eax,%eax, the same two bytes long) through /proc/PID/mem, a private
// copy-on-write page of that process alone. Trapped or patched, the loader
// reads the same values, and neither touches the thread's virtual counter
// (module.h ReadTsc), so what the program itself reads does not depend on
// which process of the run learned a site first.
//
// The sites are learned from the kernel's own reports (each trap is an
// executed rdtsc at that address), never from scanning bytes, and only
// reused for a loader with the same build ID, i.e. the same file contents.
// rdtscp and rdtsc outside the interpreter are emulated as before; a
// loader without a build ID is never patched; --tsc=trap reports every
// trap and patches nothing.
#ifndef DETRUN_CORE_LOADER_TSC_H_
#define DETRUN_CORE_LOADER_TSC_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/child_memory.h"

namespace detrun {

// Where a process's interpreter text is, and which learned loader it is
// (an index into LoaderTsc's table; -1 for none). Kept per process
// (process_table.h ProcessState), set at each exec stop, copied on fork.
struct LoaderText {
  uint64_t base = 0;  // AT_BASE
  uint64_t begin = 0;  // executable segment, absolute addresses
  uint64_t end = 0;
  int loader = -1;
};

// What the headers of an ELF image mapped at its load address say about
// it: its executable segment (offsets from the base; a loader is
// position-independent) and its GNU build ID (empty when it has none).
struct ElfTextAndBuildId {
  uint64_t text_begin = 0;
  uint64_t text_end = 0;
  std::string build_id;
};

// Parses the ELF header, program headers and notes of the image mapped at
// `base`, reading it through `read(address, buffer, length)`. Errors:
// InvalidArgument for anything that is not a 64-bit x86-64 ELF with one
// executable segment, or whatever `read` returns.
using ReadMemory = std::function<absl::Status(uint64_t, void*, size_t)>;
absl::StatusOr<ElfTextAndBuildId> ReadElfTextAndBuildId(uint64_t base, const ReadMemory& read);

class LoaderTsc {
 public:
  // At an exec stop (the process's memory in `mem`, its interpreter mapped
  // at `interpreter_base`, 0 for a static program): patches the sites
  // learned for that interpreter build and returns where its text is.
  // Sites that no longer hold rdtsc are left alone. Errors from reading or
  // writing the process's memory.
  absl::StatusOr<LoaderText> OnExec(ProcMem& mem, uint64_t interpreter_base);

  // A trapped rdtsc at `rip` in a process whose interpreter is `text`:
  // true when it is the interpreter's (the caller then answers as the
  // patch does: EAX = 0, EDX unchanged), remembering the site.
  bool Learn(const LoaderText& text, uint64_t rip);

  // Sites patched so far, over the run (for tests and benchmarks).
  uint64_t patched() const { return patched_; }

 private:
  struct Loader {
    std::string build_id;
    std::set<uint64_t> sites;  // offsets from the base
  };
  std::vector<Loader> loaders_;
  uint64_t patched_ = 0;
};

}  // namespace detrun

#endif  // DETRUN_CORE_LOADER_TSC_H_
