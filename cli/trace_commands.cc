#include "cli/trace_commands.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cli/flaky.h"
#include "cli/repro.h"
#include "cli/run.h"
#include "core/exit_status.h"
#include "replay/trace_diff.h"
#include "replay/trace_reader.h"
#include "replay/trace_text.h"
#include "replay/trace_writer.h"

namespace detrun {
namespace {

int Error(const std::string& message) {
  fprintf(stderr, "detrun: %s\n", message.c_str());
  return kExitTraceError;
}

int Usage(const char* usage) {
  fprintf(stderr, "detrun: usage: %s\n", usage);
  return kExitTraceError;
}

int TraceError(const std::string& path, const absl::Status& status) {
  return Error(absl::StrCat(path, ": ", status.message()));
}

void Print(const std::string& text) { fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

int ShowCommand(const std::vector<std::string>& args) {
  constexpr char kUsageText[] = "detrun show [--json] FILE";
  bool as_json = false;
  std::string path;
  for (const std::string& a : args) {
    if (a == "--json") {
      as_json = true;
    } else if (path.empty() && (a.empty() || a[0] != '-' || a == "-")) {
      path = a;
    } else {
      return Usage(kUsageText);
    }
  }
  if (path.empty()) return Usage(kUsageText);
  // Check all of it first: nothing is printed from a damaged trace.
  absl::StatusOr<TraceContents> checked = ReadTrace(path, nullptr);
  if (!checked.ok()) return TraceError(path, checked.status());

  absl::StatusOr<TraceContents> contents;
  if (as_json) {
    std::unique_ptr<TraceWriter> writer = TraceWriter::ToFd(STDOUT_FILENO);
    writer->WriteHeader(checked->header);
    contents = ReadTrace(path, [&](const TraceEvent& e, uint64_t) {
      writer->WriteEvent(e);
      return absl::OkStatus();
    });
    if (!contents.ok()) return TraceError(path, contents.status());
    if (absl::Status s = writer->Finish(contents->end); !s.ok()) {
      return Error(absl::StrCat("cannot write to stdout: ", s.message()));
    }
    return kExitTraceSame;
  }
  Print(FormatHeader(checked->header));
  contents = ReadTrace(path, [&](const TraceEvent& e, uint64_t) {
    std::string line = FormatEvent(e);
    line.push_back('\n');
    Print(line);
    return absl::OkStatus();
  });
  if (!contents.ok()) return TraceError(path, contents.status());
  Print(FormatEnd(contents->end) + "\n");
  Print(FormatLeaks(contents->end));
  if (fflush(stdout) != 0) return Error(absl::StrCat("cannot write to stdout: ", strerror(errno)));
  return kExitTraceSame;
}

int DiffCommand(const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("detrun diff A B");
  absl::StatusOr<DiffResult> diff = DiffTraces(args[0], args[1]);
  if (!diff.ok()) return Error(std::string(diff.status().message()));
  Print(diff->report);
  fflush(stdout);
  return diff->identical ? kExitTraceSame : kExitTraceDifferent;
}

int ReplayCommand(const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0].empty()) return Usage("detrun replay FILE");
  // The recording is read from where the user named it, before the run
  // moves to the recorded cwd.
  char resolved[PATH_MAX];
  if (realpath(args[0].c_str(), resolved) == nullptr) {
    return Error(absl::StrCat(args[0], ": cannot open: ", strerror(errno)));
  }
  const std::string recording = resolved;
  absl::StatusOr<TraceContents> recorded = ReadTrace(recording, nullptr);
  if (!recorded.ok()) return TraceError(args[0], recorded.status());
  const TraceHeader& header = recorded->header;

  // The new run's trace goes to a temporary file, kept when it differs.
  const char* tmpdir = getenv("TMPDIR");
  std::string temp = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                  "/detrun-replay-XXXXXX");
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) return Error(absl::StrCat("cannot create a temporary trace in ", temp, ": ", strerror(errno)));
  close(fd);
  const std::string replayed = name.data();

  Config config = header.config;
  config.record_path = replayed;
  // The new trace holds the leak report; a recorded --report-leaks=FILE
  // must not overwrite that file (--strict stays: it changes the run).
  config.report_leaks.reset();
  if (chdir(header.cwd.c_str()) != 0) {
    unlink(replayed.c_str());
    return Error(absl::StrCat("cannot enter the recorded directory ", header.cwd, ": ", strerror(errno)));
  }
  // As a shell's cd would: the command's $PWD names the directory it runs in.
  setenv("PWD", header.cwd.c_str(), 1);
  const int code = RunCommand(config, header.argv);
  struct stat st;
  if (stat(replayed.c_str(), &st) != 0 || st.st_size == 0) {
    unlink(replayed.c_str());
    return Error(absl::StrCat("replay: the command could not be run again (detrun exit ", code, ")"));
  }
  DiffOptions options;
  options.label_a = "recorded";
  options.label_b = "replayed";
  absl::StatusOr<DiffResult> diff = DiffTraces(recording, replayed, options);
  if (!diff.ok()) return Error(absl::StrCat("replay: ", diff.status().message()));
  if (diff->identical) {
    unlink(replayed.c_str());
    fprintf(stderr, "detrun replay: %s", diff->report.c_str());
    return kExitTraceSame;
  }
  fprintf(stderr, "detrun replay: the new run differs from %s\n%s(the new run's trace: %s)\n",
          args[0].c_str(), diff->report.c_str(), replayed.c_str());
  return kExitTraceDifferent;
}

int RunSubcommand(const std::string& name, const std::vector<std::string>& args) {
  if (name == "show") return ShowCommand(args);
  if (name == "diff") return DiffCommand(args);
  if (name == "replay") return ReplayCommand(args);
  if (name == "flaky") return FlakyCommand(args);
  if (name == "repro") return ReproCommand(args);
  fprintf(stderr, "detrun: not implemented yet: detrun %s\n", name.c_str());
  return kExitInternalError;
}

}  // namespace detrun
