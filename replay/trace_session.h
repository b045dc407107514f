// TraceSession: everything `--record=FILE` adds to a run, behind four calls
// the runner (cli/run.cc) makes at fixed points:
//
//   auto session = TraceSession::Start(config, command, version);
//                                      // opens FILE, writes the header
//   session->BeforeLaunch(spec, supervisor);
//                                      // output pipes into the spec, the
//                                      // recorder and the pipes into the
//                                      // supervisor (after PrepareParent)
//   session->AfterLaunch();            // closes our copies of the pipes
//   session->Finish(result);           // drains the output, end + footer
//
// A session destroyed without Finish() removes its file: the run never
// started, and a half trace would only be refused later. (If detrun itself
// dies, the file stays without a footer and readers call it truncated.)
#ifndef DETRUN_REPLAY_TRACE_SESSION_H_
#define DETRUN_REPLAY_TRACE_SESSION_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/launcher.h"
#include "core/supervisor.h"
#include "replay/output_capture.h"
#include "replay/trace_format.h"
#include "replay/trace_recorder.h"
#include "replay/trace_writer.h"

namespace detrun {

// The environment part of a header, from `environ`-style entries.
void DigestEnvironment(const std::vector<std::string>& env, TraceHeader* header);

class TraceSession {
 public:
  // `config.record_path` must be set.
  static absl::StatusOr<std::unique_ptr<TraceSession>> Start(const Config& config,
                                                             const ResolvedCommand& command,
                                                             std::string_view detrun_version);
  ~TraceSession();

  absl::Status BeforeLaunch(LaunchSpec& spec, Supervisor& supervisor);
  void AfterLaunch();
  // Returns an error when the trace could not be written completely.
  absl::Status Finish(const absl::StatusOr<RunResult>& result);

 private:
  TraceSession() = default;

  std::string path_;
  std::unique_ptr<TraceWriter> writer_;
  std::unique_ptr<TraceRecorder> recorder_;
  std::unique_ptr<OutputCapture> capture_;
  const Supervisor* supervisor_ = nullptr;  // its leak report ends the trace
  bool finished_ = false;
};

}  // namespace detrun

#endif  // DETRUN_REPLAY_TRACE_SESSION_H_
