#include "cli/run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/options.h"
#include "core/exit_status.h"
#include "core/landlock.h"
#include "core/launcher.h"
#include "core/leak_report.h"
#include "core/supervisor.h"
#include "determinism/at_random_module.h"
#include "determinism/chaos_module.h"
#include "determinism/cpus_module.h"
#include "determinism/dirs_module.h"
#include "determinism/fs_times_module.h"
#include "determinism/procfs_module.h"
#include "determinism/random_module.h"
#include "determinism/time_module.h"
#include "determinism/uts_module.h"
#include "replay/trace_session.h"
#include "vdso/vdso_module.h"

extern char** environ;

namespace detrun {
namespace {

int Fail(int code, absl::string_view message) {
  std::string line = absl::StrCat("detrun: ", message, "\n");
  fputs(line.c_str(), stderr);
  return code;
}

// The command's environment: detrun's own, plus SOURCE_DATE_EPOCH (the
// start time, whole seconds) unless the user set it, so tools that follow
// reproducible-builds.org's convention (gcc's __DATE__, tar, man pages)
// agree with the virtual clock.
std::vector<std::string> CommandEnvironment(const Config& config) {
  std::vector<std::string> env;
  bool has_sde = false;
  bool has_no_bytecode = false;
  for (char** e = environ; *e != nullptr; ++e) {
    env.emplace_back(*e);
    has_sde |= env.back().starts_with("SOURCE_DATE_EPOCH=");
    has_no_bytecode |= env.back().starts_with("PYTHONDONTWRITEBYTECODE=");
  }
  if (config.native) return env;
  if (!has_sde) {
    // ToUnixSeconds rounds toward negative infinity, like the clock.
    env.push_back(absl::StrCat("SOURCE_DATE_EPOCH=", absl::ToUnixSeconds(config.start_time)));
  }
  if (config.fs_times == FsTimes::kClamp && !has_no_bytecode) {
    // Under clamp a .pyc Python writes (for a source whose .pyc is missing
    // or stale) records the clamped time: without this, Python run as root
    // would write it to the system's __pycache__, where it reads as stale
    // outside detrun, a change to the host that outlives the run (README,
    // "File times").
    env.push_back("PYTHONDONTWRITEBYTECODE=1");
  }
  return env;
}

// The determinism modules, in their fixed order (core/module.h).
absl::StatusOr<std::vector<std::unique_ptr<Module>>> BuildModules(const Config& config) {
  std::vector<std::unique_ptr<Module>> modules;
  if (config.native) return modules;
  auto time = std::make_unique<TimeModule>(config);
  InProcessClocks in_process;
  in_process.constant = time->FrozenVdsoClocks();
  in_process.offset = time->RealVdsoClocks();
  in_process.step = config.clock == ClockMode::kStep;
  const TimeModule& clock = *time;  // procfs reads it; the list owns both
  modules.push_back(std::move(time));
  modules.push_back(std::make_unique<RandomModule>(config));
  modules.push_back(std::make_unique<AtRandomModule>(config));
  absl::StatusOr<std::unique_ptr<VdsoModule>> vdso = VdsoModule::Create(in_process);
  if (!vdso.ok()) return vdso.status();
  modules.push_back(std::move(*vdso));
  modules.push_back(std::make_unique<UtsModule>(config));
  // cpus before dirs: it edits a listing that dirs serves
  // (Registry::EditDirectory).
  modules.push_back(std::make_unique<CpusModule>(config));
  modules.push_back(std::make_unique<DirsModule>(config));
  modules.push_back(std::make_unique<FsTimesModule>(config));
  modules.push_back(std::make_unique<ProcfsModule>(clock, config));
  // Last: it delays only calls no other module answered.
  if (config.chaos_seed) modules.push_back(std::make_unique<ChaosModule>(config));
  return modules;
}

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int RunCommand(const Config& config, const std::vector<std::string>& command) {
  absl::StatusOr<ResolvedCommand> resolved = ResolveCommand(command, getenv("PATH"));
  if (!resolved.ok()) {
    return Fail(ExitCodeForLaunchError(resolved.status()), resolved.status().message());
  }

  LaunchSpec spec;
  spec.command = *resolved;
  spec.env = CommandEnvironment(config);
  spec.intercept = !config.native;
  spec.disable_aslr = !config.native;
  spec.pid_namespace = config.pid_namespace;
  spec.trap_tsc = !config.native && config.tsc != TscMode::kNative;

  // --record: the trace is opened now, so a bad path fails before the run.
  std::unique_ptr<TraceSession> trace;
  if (config.record_path) {
    absl::StatusOr<std::unique_ptr<TraceSession>> t =
        TraceSession::Start(config, *resolved, kDetrunVersion);
    if (!t.ok()) return Fail(kExitInternalError, t.status().message());
    trace = *std::move(t);
  }

  // --report-leaks=FILE: opened now too, for the same reason. The report
  // goes there, or to stderr (--report-leaks, --strict), once every
  // process of the run is gone, so it never interleaves with the
  // command's output.
  UniqueFd leak_file;
  const bool report_leaks = config.report_leaks.has_value() || config.strict;
  if (config.report_leaks && !config.report_leaks->empty()) {
    leak_file.reset(open(config.report_leaks->c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (!leak_file.ok()) {
      return Fail(kExitInternalError, absl::StrCat("--report-leaks: cannot write ",
                                                   *config.report_leaks, ": ", strerror(errno)));
    }
  }

  UniqueFd ruleset;
  if (config.landlock_requested()) {
    absl::StatusOr<UniqueFd> r = BuildLandlockRuleset(config.allow_read, config.allow_write);
    if (!r.ok()) return Fail(kExitInternalError, r.status().message());
    ruleset = std::move(*r);
    spec.landlock_ruleset_fd = ruleset.get();
  }

  absl::StatusOr<std::vector<std::unique_ptr<Module>>> modules = BuildModules(config);
  if (!modules.ok()) return Fail(kExitInternalError, modules.status().message());
  std::vector<Module*> module_ptrs;
  for (auto& m : *modules) module_ptrs.push_back(m.get());
  Supervisor supervisor(config, module_ptrs);
  if (spec.intercept) {
    absl::StatusOr<bpf::Program> filter = supervisor.BuildFilter();
    if (!filter.ok()) {
      return Fail(kExitInternalError,
                  absl::StrCat("internal error building the seccomp filter: ",
                               filter.status().message()));
    }
    spec.filter = std::move(*filter);
  }
  absl::StatusOr<sigset_t> mask = supervisor.PrepareParent();
  if (!mask.ok()) return Fail(kExitInternalError, mask.status().ToString());
  spec.child_sigmask = *mask;
  if (trace) {
    if (absl::Status st = trace->BeforeLaunch(spec, supervisor); !st.ok()) {
      return Fail(kExitInternalError, absl::StrCat("--record: ", st.message()));
    }
  }

  absl::StatusOr<Launched> launched = Launch(spec);
  if (!launched.ok()) {
    const absl::Status& s = launched.status();
    if (absl::IsNotFound(s) || absl::IsPermissionDenied(s) ||
        absl::IsFailedPrecondition(s)) {
      return Fail(ExitCodeForLaunchError(s), s.message());
    }
    return Fail(kExitInternalError,
                absl::StrCat("cannot start the command: ", s.message()));
  }
  ruleset.reset();
  if (trace) trace->AfterLaunch();
  if (config.verbose && !launched->pid_namespace_note.empty()) {
    fprintf(stderr, "detrun: %s\n", launched->pid_namespace_note.c_str());
  }
  absl::StatusOr<RunResult> result =
      spec.intercept ? supervisor.Run(*launched, *resolved)
                     : supervisor.RunNative(*launched, *resolved);
  if (trace) {
    if (absl::Status st = trace->Finish(result); !st.ok()) {
      KillAllDescendants();
      return Fail(kExitInternalError, st.message());
    }
  }
  if (report_leaks && result.ok() && result->launch_error.ok() && supervisor.leaks() != nullptr) {
    const std::string text = FormatLeakReport(supervisor.leaks()->Summary());
    if (!WriteAll(leak_file.ok() ? leak_file.get() : STDERR_FILENO, text) && leak_file.ok()) {
      return Fail(kExitInternalError, absl::StrCat("--report-leaks: cannot write ",
                                                   *config.report_leaks, ": ", strerror(errno)));
    }
  }
  if (!result.ok()) {
    KillAllDescendants();
    return Fail(kExitInternalError,
                absl::StrCat("supervisor failed: ", result.status().ToString()));
  }
  if (!result->run_error.ok()) {
    return Fail(kExitInternalError, result->run_error.message());
  }
  if (!result->launch_error.ok()) {
    return Fail(ExitCodeForLaunchError(result->launch_error),
                result->launch_error.message());
  }
  for (const std::string& note : result->end_notes) {
    fprintf(stderr, "detrun: %s\n", note.c_str());
  }
  if (config.verbose && supervisor.processes().unmatched_count() > 0) {
    fprintf(stderr,
            "detrun: %u process(es) could not be matched to their creation "
            "and got identities 0.N\n",
            supervisor.processes().unmatched_count());
  }
  return ExitCodeFromWaitStatus(result->wait_status);
}

}  // namespace detrun
