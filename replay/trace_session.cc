#include "replay/trace_session.h"

#include <signal.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/exit_status.h"

extern char** environ;

namespace detrun {

void DigestEnvironment(const std::vector<std::string>& env, TraceHeader* header) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  header->env.clear();
  for (const std::string& entry : env) {
    XXH3_64bits_update(state, entry.data(), entry.size() + 1);  // with the NUL
    const size_t eq = entry.find('=');
    const std::string_view name = std::string_view(entry).substr(0, eq);
    const std::string_view value =
        eq == std::string::npos ? std::string_view() : std::string_view(entry).substr(eq + 1);
    header->env.emplace_back(std::string(name), Xxh3Hex(value));
  }
  header->env_xxh3 = Xxh3Hex(static_cast<uint64_t>(XXH3_64bits_digest(state)));
  XXH3_freeState(state);
}

absl::StatusOr<std::unique_ptr<TraceSession>> TraceSession::Start(const Config& config,
                                                                  const ResolvedCommand& command,
                                                                  std::string_view detrun_version) {
  std::unique_ptr<TraceSession> s(new TraceSession());
  s->path_ = *config.record_path;
  absl::StatusOr<std::unique_ptr<TraceWriter>> writer = TraceWriter::Create(s->path_);
  if (!writer.ok()) return writer.status();
  s->writer_ = *std::move(writer);

  TraceHeader header;
  header.detrun_version = std::string(detrun_version);
  header.recorded_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  header.config = config;
  header.argv = command.argv;
  header.path = command.path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) != nullptr) header.cwd = cwd;
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  DigestEnvironment(env, &header);
  s->writer_->WriteHeader(header);
  s->recorder_ = std::make_unique<TraceRecorder>(*s->writer_);
  return s;
}

TraceSession::~TraceSession() {
  if (!finished_ && !path_.empty()) unlink(path_.c_str());
}

absl::Status TraceSession::BeforeLaunch(LaunchSpec& spec, Supervisor& supervisor) {
  absl::StatusOr<std::unique_ptr<OutputCapture>> capture = OutputCapture::Create();
  if (!capture.ok()) return capture.status();
  capture_ = *std::move(capture);
  supervisor_ = &supervisor;
  spec.stdout_fd = capture_->child_fd(OutputCapture::kStdout);
  spec.stderr_fd = capture_->child_fd(OutputCapture::kStderr);
  supervisor.AddObserver(recorder_.get());
  for (OutputCapture::Stream s : {OutputCapture::kStdout, OutputCapture::kStderr}) {
    if (capture_->watch_fd(s) >= 0) {
      supervisor.WatchFd(capture_->watch_fd(s), [this, s] { capture_->OnReadable(s); });
    }
  }
  // A vanished reader of detrun's output must show as EPIPE on the copy,
  // not kill detrun. Blocked here, after Supervisor::PrepareParent took
  // the mask the command starts with, so the command's SIGPIPE is intact.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe, nullptr);
  return absl::OkStatus();
}

void TraceSession::AfterLaunch() {
  if (capture_) capture_->CloseChildEnds();
}

absl::Status TraceSession::Finish(const absl::StatusOr<RunResult>& result) {
  finished_ = true;
  TraceEnd end;
  if (capture_) {
    capture_->CloseChildEnds();
    capture_->DrainAll();
    end.stdout_record = capture_->Record(OutputCapture::kStdout);
    end.stderr_record = capture_->Record(OutputCapture::kStderr);
  } else {
    end.stdout_record.why = end.stderr_record.why = "not started";
  }
  if (!result.ok()) {
    end.exit_code = kExitInternalError;
    end.error = absl::StrCat("supervisor failed: ", result.status().ToString());
  } else if (!result->run_error.ok()) {
    end.wait_status = result->wait_status;
    end.exit_code = kExitInternalError;
    end.error = std::string(result->run_error.message());
  } else if (!result->launch_error.ok()) {
    end.exit_code = ExitCodeForLaunchError(result->launch_error);
    end.error = std::string(result->launch_error.message());
  } else {
    end.wait_status = result->wait_status;
    end.exit_code = ExitCodeFromWaitStatus(result->wait_status);
  }
  // Every trace holds the leak report (--record turns the checks on), or
  // an empty one if the run never started.
  end.leaks = supervisor_ != nullptr && supervisor_->leaks() != nullptr
                  ? supervisor_->leaks()->Summary()
                  : LeakSummary{};
  absl::Status written = writer_->Finish(end);
  if (!written.ok()) {
    return absl::Status(written.code(), absl::StrCat(written.message(), " ", path_));
  }
  return absl::OkStatus();
}

}  // namespace detrun
