#include "cli/repro.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/flaky_plan.h"
#include "cli/job_pool.h"
#include "cli/subcommand_args.h"
#include "cli/tree_digest.h"
#include "core/exit_status.h"
#include "core/launcher.h"

namespace detrun {
namespace {

// Differing files listed one per line; more are counted.
constexpr size_t kMaxDiffsListed = 20;

absl::StatusOr<std::string> NormaliseArtifact(const std::string& value, const std::string& cwd) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --artifact value '", absl::CHexEscape(value), "': ", why));
  };
  if (value.empty()) return bad("expected a path");
  std::string_view rest = value;
  if (rest[0] == '/') {
    const std::string prefix = cwd == "/" ? "/" : cwd + "/";
    if (value == cwd) return std::string();
    if (!absl::StartsWith(value, prefix)) {
      return bad(absl::StrCat("an absolute path must lie in the directory being built, ", cwd));
    }
    rest.remove_prefix(prefix.size());
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(absl::string_view(rest.data(), rest.size()), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return bad("'..' would leave the directory being built");
    parts.emplace_back(part);
  }
  return absl::StrJoin(parts, "/");
}

std::string ReadFileTail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return LastLines(text.str(), lines);
}

std::string Indent(const std::string& text) {
  if (text.empty()) return "  (nothing)";
  return "  " + absl::StrReplaceAll(text, {{"\n", "\n  "}});
}

// "1 file", "3 files".
std::string Files(size_t n) { return absl::StrCat(n, n == 1 ? " file" : " files"); }

// A program found in PATH, or "" when it is not there.
std::string FindProgram(const std::string& name) {
  absl::StatusOr<ResolvedCommand> r = ResolveCommand({name}, getenv("PATH"));
  return r.ok() ? r->path : "";
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return base.empty() ? "root" : base;
}

// One build tree: its name beside the others and what it produced.
struct Build {
  std::string name;  // "build-1", "native-2"
  std::string dir;
  absl::Duration took;
  std::vector<DigestEntry> listing;
};

class Repro {
 public:
  Repro(ReproOptions options, std::string cwd) : o_(std::move(options)), cwd_(std::move(cwd)) {}
  int Run();

 private:
  // Copies the source tree to root_/name and runs `argv` on it: seen at
  // cwd_ through a mount namespace, or else at work_ and moved to root_/name
  // afterwards. nullopt when it failed (exit_ is set, the reason said).
  std::optional<Build> BuildOnce(const std::string& name, std::vector<std::string> argv);
  // The listings of every artifact in `build`; false (exit_ set) on error.
  bool Digest(Build& build);
  void RemoveRoot();
  void SayKept() const {
    SayLine(absl::StrCat("repro: the build trees and their logs are kept in ", root_));
  }
  std::vector<DigestDifference> Differences(const std::vector<Build>& builds,
                                            std::map<std::string, std::string>* first_differing);

  // Whether builds can see their copy at cwd_ (a mount namespace); the
  // reason when not.
  bool CanBuildAtCwd(std::string* why_not);

  const ReproOptions o_;
  const std::string cwd_;
  std::string root_;
  std::string work_;  // where builds run when not at cwd_
  bool at_cwd_ = false;
  std::string cp_;
  int exit_ = 0;
};

std::optional<Build> Repro::BuildOnce(const std::string& name, std::vector<std::string> argv) {
  Build b;
  b.name = name;
  b.dir = absl::StrCat(root_, "/", name);
  // At the source's own path the copy is made in place and shown there by
  // the mount namespace; otherwise at work_, then moved aside.
  const std::string tree = at_cwd_ ? b.dir : work_;
  if (mkdir(tree.c_str(), 0755) != 0) {
    SayLine(absl::StrCat("repro: cannot create ", tree, ": ", strerror(errno)));
    exit_ = kExitInternalError;
    return std::nullopt;
  }
  Job copy;
  copy.argv = {cp_, "-a", "--", cwd_ + "/.", tree};
  copy.output_file = root_ + "/copy.log";
  Job build;
  build.argv = std::move(argv);
  build.cwd = at_cwd_ ? cwd_ : work_;
  if (at_cwd_) build.bind_over_cwd = b.dir;
  build.output_file = absl::StrCat(root_, "/", name, ".log");
  for (const Job* job : {&copy, &build}) {
    absl::StatusOr<std::vector<JobResult>> r = RunJobs({*job}, 1);
    if (!r.ok()) {
      LogLine("repro", absl::StrCat("interrupted: ", r.status().message()));
      SayKept();
      exit_ = 128 + InterruptSignal();
      return std::nullopt;
    }
    const JobResult& result = (*r)[0];
    if (result.exit_code != 0 || !result.start_error.empty()) {
      const bool is_copy = job == &copy;
      SayLine(absl::StrCat(
          "repro: ", is_copy ? absl::StrCat("copying ", cwd_, " failed") : name + " failed",
          " (exit ", result.exit_code, ")",
          result.start_error.empty() ? "" : ": " + result.start_error, "; the last lines of ",
          job->output_file, ":"));
      SayLine(Indent(ReadFileTail(job->output_file, 20)));
      SayKept();
      exit_ = kExitInternalError;
      return std::nullopt;
    }
    if (job == &build) {
      LogLine(
          "repro",
          absl::StrCat(name, ": ok in ",
                       absl::FormatDuration(absl::Trunc(result.elapsed, absl::Milliseconds(10)))));
    }
  }
  if (!at_cwd_ && rename(work_.c_str(), b.dir.c_str()) != 0) {
    SayLine(absl::StrCat("repro: cannot move ", work_, " to ", b.dir, ": ", strerror(errno)));
    exit_ = kExitInternalError;
    return std::nullopt;
  }
  return b;
}

bool Repro::Digest(Build& build) {
  const std::vector<std::string> artifacts =
      o_.artifacts.empty() ? std::vector<std::string>{""} : o_.artifacts;
  for (const std::string& artifact : artifacts) {
    absl::StatusOr<std::vector<DigestEntry>> listing = DigestArtifact(build.dir, artifact);
    if (absl::IsNotFound(listing.status())) continue;  // compared as missing
    if (!listing.ok()) {
      SayLine(absl::StrCat("repro: cannot read what ", build.name,
                           " produced: ", listing.status().message()));
      exit_ = kExitInternalError;
      return false;
    }
    build.listing.insert(build.listing.end(), listing->begin(), listing->end());
  }
  std::sort(build.listing.begin(), build.listing.end(),
            [](const DigestEntry& a, const DigestEntry& b) { return a.path < b.path; });
  // Overlapping --artifact values list some entries twice.
  build.listing.erase(std::unique(build.listing.begin(), build.listing.end()), build.listing.end());
  return true;
}

// Differences of every build from the first, one per path; for each path
// the first build that differs there.
std::vector<DigestDifference> Repro::Differences(
    const std::vector<Build>& builds, std::map<std::string, std::string>* first_differing) {
  std::map<std::string, std::string> what;
  for (size_t k = 1; k < builds.size(); ++k) {
    for (DigestDifference& d : CompareListings(builds[0].listing, builds[k].listing)) {
      if (what.contains(d.path)) continue;
      what[d.path] = absl::StrReplaceAll(
          d.what, {{"the first", builds[0].name}, {"the second", builds[k].name}});
      (*first_differing)[d.path] = builds[k].dir;
    }
  }
  std::vector<DigestDifference> out;
  for (auto& [path, w] : what) out.push_back({path, w});
  return out;
}

bool Repro::CanBuildAtCwd(std::string* why_not) {
  if (cwd_ == "/") {
    *why_not = "the root directory cannot be covered";
    return false;
  }
  // The same set-up as a build, running only `detrun --version`.
  Job probe;
  probe.argv = {kSelfExe, "--version"};
  probe.cwd = cwd_;
  probe.bind_over_cwd = root_;
  absl::StatusOr<std::vector<JobResult>> r = RunJobs({probe}, 1);
  if (r.ok() && (*r)[0].exit_code == 0) return true;
  *why_not = r.ok() ? LastLines((*r)[0].tail, 1) : std::string(r.status().message());
  if (absl::StartsWith(*why_not, "detrun: ")) why_not->erase(0, 8);
  return false;
}

void Repro::RemoveRoot() {
  // Builds may leave read-only directories (Go's module cache does).
  std::vector<Job> jobs(2);
  jobs[0].argv = {FindProgram("chmod"), "-R", "u+rwX", "--", root_};
  jobs[1].argv = {FindProgram("rm"), "-rf", "--", root_};
  for (const Job& job : jobs) {
    absl::StatusOr<std::vector<JobResult>> r = RunJobs({job}, 1);
    if (!r.ok() || (*r)[0].exit_code != 0) {
      LogLine("repro", absl::StrCat("could not remove ", root_));
      return;
    }
  }
}

int Repro::Run() {
  absl::StatusOr<ResolvedCommand> resolved = ResolveCommand(o_.command, getenv("PATH"));
  if (!resolved.ok()) {
    SayLine(absl::StrCat("repro: cannot build: ", resolved.status().message()));
    return kExitInternalError;
  }
  cp_ = FindProgram("cp");
  if (cp_.empty()) {
    SayLine("repro: cp is not in PATH");
    return kExitInternalError;
  }
  const char* tmpdir = getenv("TMPDIR");
  std::string tmpl =
      absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp", "/detrun-repro.XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    SayLine(absl::StrCat("repro: cannot create a directory from ", tmpl, ": ", strerror(errno)));
    return kExitInternalError;
  }
  char real_root[PATH_MAX];
  root_ = realpath(tmpl.c_str(), real_root) != nullptr ? real_root : tmpl;
  if (root_ == cwd_ || absl::StartsWith(root_, cwd_ == "/" ? "/" : cwd_ + "/")) {
    rmdir(root_.c_str());
    SayLine(absl::StrCat("repro: the temporary directory ", root_, " lies inside ", cwd_,
                         ", which each build copies: set TMPDIR to a directory outside it"));
    return kExitInternalError;
  }
  work_ = absl::StrCat(root_, "/", Basename(cwd_));
  std::string why_not;
  at_cwd_ = CanBuildAtCwd(&why_not);
  if (InterruptSignal() != 0) return 128 + InterruptSignal();
  for (const std::string& artifact : o_.artifacts) {
    struct stat st;
    if (!artifact.empty() && lstat(absl::StrCat(cwd_, "/", artifact).c_str(), &st) == 0) {
      SayLine(absl::StrCat("repro: note: ", artifact, " already exists in ", cwd_,
                           ": each build starts from a copy of it, so it may only be copied, not "
                           "rebuilt (clean the tree first to check the build itself)"));
    }
  }
  SayLine(absl::StrCat("repro: ", o_.runs, " builds of `", ShellQuote(o_.command), "` under detrun",
                       o_.native_baseline ? " and 2 native ones" : "", ", each in a fresh copy ",
                       at_cwd_ ? absl::StrCat("seen at ", cwd_, " itself (a mount namespace)")
                               : absl::StrCat("at ", work_, ", the same path every time (not at ",
                                              cwd_, ": ", why_not, ")")));

  std::vector<std::string> under_detrun = {kSelfExe};
  under_detrun.insert(under_detrun.end(), o_.run_options.begin(), o_.run_options.end());
  under_detrun.push_back("--");
  under_detrun.insert(under_detrun.end(), o_.command.begin(), o_.command.end());
  std::vector<std::string> native = {kSelfExe, "--native", "--"};
  native.insert(native.end(), o_.command.begin(), o_.command.end());

  std::vector<Build> builds, natives;
  for (int k = 1; k <= o_.runs; ++k) {
    std::optional<Build> b = BuildOnce(absl::StrCat("build-", k), under_detrun);
    if (!b) return exit_;
    builds.push_back(std::move(*b));
  }
  for (int k = 1; o_.native_baseline && k <= 2; ++k) {
    std::optional<Build> b = BuildOnce(absl::StrCat("native-", k), native);
    if (!b) return exit_;
    natives.push_back(std::move(*b));
  }
  for (std::vector<Build>* set : {&builds, &natives}) {
    for (Build& b : *set) {
      if (!Digest(b)) return exit_;
    }
  }
  for (const std::string& artifact : o_.artifacts) {
    const std::string prefix = artifact.empty() ? "" : artifact + "/";
    bool produced = false;
    for (const Build& b : builds) {
      for (const DigestEntry& e : b.listing) {
        produced |= e.path == artifact || absl::StartsWith(e.path, prefix);
      }
    }
    if (!produced) {
      SayLine(absl::StrCat("repro: no build produced --artifact=", artifact));
      SayKept();
      return kExitInternalError;
    }
  }

  size_t files = 0;
  for (const DigestEntry& e : builds[0].listing) files += e.kind != 'd';
  std::map<std::string, std::string> differing_dir;
  const std::vector<DigestDifference> diffs = Differences(builds, &differing_dir);
  if (o_.native_baseline) {
    std::map<std::string, std::string> unused;
    const std::vector<DigestDifference> native_diffs = Differences(natives, &unused);
    std::vector<std::string> paths, fixed, still;
    for (const DigestDifference& d : native_diffs) {
      paths.push_back(d.path);
      (differing_dir.contains(d.path) ? still : fixed).push_back(d.path);
    }
    if (paths.size() > kMaxDiffsListed) {
      paths.resize(kMaxDiffsListed);
      paths.push_back("...");
    }
    SayLine(absl::StrCat("natively: ", native_diffs.size(), " of ", Files(files),
                         " differ between 2 builds", paths.empty() ? "" : ": ",
                         absl::StrJoin(paths, ", ")));
    if (!native_diffs.empty()) {
      SayLine(absl::StrCat(
          "detrun fixed: ", fixed.size(), " of them",
          still.empty() ? "" : absl::StrCat("; still different: ", absl::StrJoin(still, ", "))));
    }
  }

  if (diffs.empty()) {
    SayLine(absl::StrCat(
        "reproducible: ", Files(files),
        o_.artifacts.empty() ? "" : absl::StrCat(" in ", o_.artifacts.size(), " artifact(s)"),
        ", identical in ", builds.size(), " builds (xxh3 ", DigestListing(builds[0].listing), ")"));
    if (o_.keep) {
      SayKept();
    } else {
      RemoveRoot();
    }
    return 0;
  }
  SayLine(absl::StrCat("NOT reproducible: ", diffs.size(), " of ", Files(files),
                       " differ between the builds under detrun:"));
  for (size_t i = 0; i < diffs.size() && i < kMaxDiffsListed; ++i) {
    SayLine(absl::StrCat("  ", diffs[i].path, ": ", diffs[i].what));
  }
  if (diffs.size() > kMaxDiffsListed) {
    SayLine(absl::StrCat("  ... and ", diffs.size() - kMaxDiffsListed, " more"));
  }
  SayKept();
  const DigestDifference& first = diffs[0];
  const std::string a = absl::StrCat(builds[0].dir, "/", first.path);
  const std::string b = absl::StrCat(differing_dir[first.path], "/", first.path);
  if (!FindProgram("diffoscope").empty()) {
    SayLine(absl::StrCat("to see how they differ: diffoscope ", ShellQuote({a, b})));
  } else {
    SayLine(absl::StrCat("to compare: cmp ", ShellQuote({a, b}),
                         " (diffoscope, not installed here, would show how they differ)"));
  }
  return 1;
}

}  // namespace

absl::StatusOr<ReproOptions> ParseReproArgs(const std::vector<std::string>& args,
                                            const std::string& cwd,
                                            const std::function<const char*(const char*)>& getenv) {
  static const auto* kOwn = new std::vector<OwnOption>{
      {"runs", true}, {"artifact", true}, {"native-baseline", false}, {"keep", false}};
  absl::StatusOr<SubcommandArgs> parsed = ParseSubcommandArgs("repro", args, *kOwn, getenv);
  if (!parsed.ok()) return parsed.status();
  ReproOptions o;
  if (parsed->help) {
    o.help = true;
    return o;
  }
  for (const auto& [name, value] : parsed->own) {
    if (name == "runs") {
      uint64_t runs = 0;
      if (auto status = ParseOwnInteger(name, value, 2, 100, &runs); !status.ok()) return status;
      o.runs = static_cast<int>(runs);
    } else if (name == "artifact") {
      absl::StatusOr<std::string> artifact = NormaliseArtifact(value, cwd);
      if (!artifact.ok()) return artifact.status();
      o.artifacts.push_back(*artifact);
    } else if (name == "native-baseline") {
      o.native_baseline = true;
    } else if (name == "keep") {
      o.keep = true;
    }
  }
  if (parsed->config.native) {
    return absl::InvalidArgumentError(
        "--native cannot be given to detrun repro: --native-baseline adds native builds");
  }
  if (parsed->config.explicitly_set.contains("record")) {
    return absl::InvalidArgumentError(
        "--record cannot be given to detrun repro: every build would write the same trace");
  }
  o.run_options = parsed->run_options;
  o.config = parsed->config;
  o.command = parsed->command;
  return o;
}

std::string ReproHelpText() {
  return R"(detrun repro [OPTIONS] [--] BUILD_COMMAND [ARG...]
  Proves a build reproducible. Never touches the current directory: each
  build runs in a fresh copy of it, at one fixed path under $TMPDIR, as
  `detrun [RUN OPTIONS] -- BUILD_COMMAND`; then the artifacts are compared
  (xxh3 digests; directories walked in sorted order). Exit 0 when they are
  identical, 1 when they differ (the differing files are listed and the
  trees kept), 125 when a build fails or on a usage error.
  --runs=N            Builds under detrun, 2 to 100. Default 2.
  --artifact=PATH     A file or directory to compare, relative to the
                      current directory. Repeatable. Default: everything.
  --native-baseline   Also build twice natively (detrun --native) and say
                      what differs natively and what detrun fixed.
  --keep              Keep the build trees even when they are identical.
  Run options (--seed, --time, --fs-times, ...) go to every build.
)";
}

int ReproCommand(const std::vector<std::string>& args) {
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof buf) == nullptr) {
    fprintf(stderr, "detrun repro: cannot read the current directory: %s\n", strerror(errno));
    return kExitInternalError;
  }
  const std::string cwd = buf;
  absl::StatusOr<ReproOptions> options =
      ParseReproArgs(args, cwd, [](const char* name) { return getenv(name); });
  if (!options.ok()) {
    fprintf(stderr, "detrun repro: %s\n(try 'detrun repro --help')\n",
            std::string(options.status().message()).c_str());
    return kExitInternalError;
  }
  if (options->help) {
    fputs(ReproHelpText().c_str(), stdout);
    return 0;
  }
  Repro repro(*std::move(options), cwd);
  return repro.Run();
}

}  // namespace detrun
