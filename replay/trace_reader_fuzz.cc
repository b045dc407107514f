// libFuzzer target: the trace reader must refuse any damaged, truncated or
// foreign input with an error, never crash, hang or read out of bounds.
// Built with clang (-fsanitize=fuzzer,address,undefined) by
// replay/CMakeLists.txt and run by ctest for a bounded time; the same entry
// point runs over the seeds and their systematic damage in
// trace_reader_fuzz_smoke_test (any compiler).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "replay/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  uint64_t events = 0;
  absl::StatusOr<detrun::TraceContents> contents =
      detrun::ReadTraceBytes(bytes, [&](const detrun::TraceEvent& e, uint64_t) {
        // Touch what a reader's users touch.
        events += e.thread.size() + e.args.size() + e.argv.size();
        return absl::OkStatus();
      });
  if (contents.ok()) {
    // Whatever was accepted must write back as a valid trace line set.
    (void)detrun::HeaderLine(contents->header);
    (void)detrun::EndLine(contents->end);
  } else {
    (void)contents.status().message();
  }
  return 0;
}
