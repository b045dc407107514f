// TraceRecorder: the AnswerObserver (core/module.h) that turns a run into
// trace events, written through a TraceWriter as they happen.
//
// For each notification the supervisor hands it the writes its handler made
// into the child (OnChildWrite) and then the answer (OnAnswer); the
// recorder digests the writes on the fly (xxh3, plus the first bytes for a
// human description) and writes one "call" event. Process start, exec and
// exit come through the other hooks. Nothing is kept per event or per
// process: memory does not grow with the run.
//
// What is recorded of a call: its name, its value arguments
// (syscall_catalog.h), the answer (continue, a value, an errno, an
// injected fd), the answering module, and — only for answers given without
// the kernel — the payload written (small ones as hex, larger ones and
// random bytes as an xxh3 digest). A Continue answer's writes are argument
// rewrites for the kernel (translated deadlines, in host time), not part of
// what the program observes, so they are left out.
//
// Not recorded: AT_RANDOM seeding and vDSO patching (set-up that follows
// from the config, done through /proc/PID/mem in the exec stop), host pids
// and addresses.
#ifndef DETRUN_REPLAY_TRACE_RECORDER_H_
#define DETRUN_REPLAY_TRACE_RECORDER_H_

#include <xxhash.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/module.h"
#include "replay/trace_format.h"
#include "replay/trace_writer.h"

namespace detrun {

class TraceRecorder : public AnswerObserver {
 public:
  // Payloads up to this size are written as hex (unless secret).
  static constexpr size_t kInlinePayloadBytes = 32;
  // How much of a payload is kept to describe it (struct utsname fits).
  static constexpr size_t kDescribedPayloadBytes = 512;

  explicit TraceRecorder(TraceWriter& writer);
  ~TraceRecorder() override;
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  void OnAnswer(const ThreadState& thread, const Notification& notification,
                const Response& response, std::string_view module) override;
  void OnChildWrite(const Notification& notification, uint64_t addr, const void* data,
                    size_t len) override;
  void OnProcessStart(const ProcessState& process) override;
  void OnExec(const ThreadState& thread, const std::vector<std::string>& argv) override;
  void OnProcessExit(const ProcessState& process, std::optional<int> wait_status) override;

 private:
  // The payload's digest: one-shot while it fits in payload_head_, streamed
  // beyond (the same value either way).
  uint64_t PayloadDigest() const;

  TraceWriter& writer_;
  TraceEvent event_;  // reused, so its strings keep their capacity
  // The identity string of the last thread seen (most calls come in runs
  // from one thread; formatting it each time is measurable).
  ThreadIdentity last_thread_;
  bool have_last_thread_ = false;
  // The payload of the notification being answered.
  uint64_t payload_id_ = 0;
  uint64_t payload_bytes_ = 0;
  bool payload_streaming_ = false;
  XXH3_state_t* payload_state_;
  std::string payload_head_;  // the first kDescribedPayloadBytes
};

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_RECORDER_H_
