#include "cli/flaky.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/culprit.h"
#include "cli/flaky_options.h"
#include "cli/flaky_plan.h"
#include "cli/job_pool.h"
#include "cli/run.h"
#include "cli/subcommand_args.h"
#include "core/exit_status.h"
#include "core/launcher.h"

namespace detrun {
namespace {

// Failing configurations listed one per line in the report; more are
// counted.
constexpr size_t kMaxFailingListed = 10;
// Lines of `detrun diff` printed by --record; the rest stay in its file.
constexpr size_t kMaxDiffLines = 40;

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

// A progress bar on a terminal, a line per finished run otherwise.
class Progress {
 public:
  Progress(std::string what, size_t total)
      : tty_(isatty(STDERR_FILENO) == 1), what_(std::move(what)), total_(total) {}

  void Done(bool failed, const std::string& log_line) {
    ++done_;
    failed_ += failed;
    if (!tty_) {
      LogLine("flaky", log_line);
      return;
    }
    constexpr size_t kWidth = 30;
    const size_t filled = total_ == 0 ? kWidth : done_ * kWidth / total_;
    fprintf(stderr, "\rflaky: %s [%s%s] %zu/%zu, %zu failing", what_.c_str(),
            std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(), done_,
            total_, failed_);
    if (done_ == total_) fputc('\n', stderr);
    fflush(stderr);
  }

 private:
  const bool tty_;
  const std::string what_;
  const size_t total_;
  size_t done_ = 0;
  size_t failed_ = 0;
};

// One configuration of the sweep and what its runs did.
struct Observed {
  uint64_t index = 0;
  Setting setting;
  int runs = 0;
  int failures = 0;
  JobResult first;  // the sweep's run
  bool deterministic() const { return runs > 1 && failures == runs; }
};

class Hunt {
 public:
  Hunt(FlakyOptions options, Shard shard)
      : o_(std::move(options)),
        shard_(std::move(shard)),
        rule_(MakeFailureRule(o_)),
        baseline_(SettingFromConfig(o_.config)),
        jobs_(o_.jobs > 0 ? o_.jobs : UsableCpus()) {
    baseline_observed_.setting = baseline_;
  }

  int Run();

 private:
  std::string Label(const Setting& s) const {
    return absl::StrJoin(SettingFlags(s, baseline_), " ");
  }

  // The detrun options of a run under `s`: the run options, then the
  // setting's flags (which win: a repeated option keeps its last value).
  std::vector<std::string> SettingArgs(const Setting& s) const {
    std::vector<std::string> args = o_.run_options;
    for (std::string& f : SettingFlags(s, baseline_)) args.push_back(std::move(f));
    return args;
  }

  std::string Reproducer(const Setting& s) const {
    std::vector<std::string> words = SettingArgs(s);
    words.push_back("--");
    words.insert(words.end(), o_.command.begin(), o_.command.end());
    return absl::StrCat("detrun ", ShellQuote(words));
  }

  Job MakeJob(std::vector<std::string> detrun_args) const {
    Job job;
    job.argv = {kSelfExe};
    job.argv.insert(job.argv.end(), detrun_args.begin(), detrun_args.end());
    job.argv.push_back("--");
    job.argv.insert(job.argv.end(), o_.command.begin(), o_.command.end());
    job.timeout = o_.timeout;
    if (rule_.fail_on) {
      const FailureRule* rule = &rule_;
      job.line_matcher = [rule](std::string_view line) { return rule->LineMatches(line); };
    }
    return job;
  }

  Job SettingJob(const Setting& s) const { return MakeJob(SettingArgs(s)); }

  bool Failed(const JobResult& r) const {
    return rule_.IsFailure(r.exit_code, r.timed_out, r.matched);
  }

  // detrun's own failure (its last line says "detrun: ..." with 125-127),
  // as opposed to the test failing.
  static std::optional<std::string> HarnessError(const JobResult& r) {
    if (!r.start_error.empty()) return r.start_error;
    if (r.timed_out || r.exit_code < kExitInternalError || r.exit_code > kExitNotFound) {
      return std::nullopt;
    }
    const std::string last = LastLines(r.tail, 1);
    if (!absl::StartsWith(last, "detrun: ")) return std::nullopt;
    return last;
  }

  std::string Outcome(const JobResult& r) const {
    if (r.timed_out) {
      return absl::StrCat("FAIL (timed out after ", absl::FormatDuration(o_.timeout), ")");
    }
    const std::string status = absl::StrCat("exit ", r.exit_code);
    if (!Failed(r)) return absl::StrCat("pass (", status, ")");
    return absl::StrCat("FAIL (", status, r.matched ? ", output matched --fail-on" : "", ")");
  }

  // Runs `jobs`; nullopt (with exit_ set) when interrupted or when detrun
  // itself failed in one of them.
  std::optional<std::vector<JobResult>> RunAll(
      const std::vector<Job>& jobs, const std::function<void(size_t, const JobResult&)>& on_done) {
    absl::StatusOr<std::vector<JobResult>> results = RunJobs(jobs, jobs_, on_done);
    if (!results.ok()) {
      LogLine("flaky", absl::StrCat("interrupted: ", results.status().message()));
      exit_ = 128 + InterruptSignal();
      return std::nullopt;
    }
    for (const JobResult& r : *results) {
      if (std::optional<std::string> error = HarnessError(r)) {
        SayLine(absl::StrCat("verdict: cannot test the command: ", *error));
        exit_ = kExitInternalError;
        return std::nullopt;
      }
    }
    return *std::move(results);
  }

  // Runs each Setting `times` times; returns how many runs failed, per
  // Setting.
  std::optional<std::vector<int>> CountFailures(const std::vector<Setting>& settings, int times) {
    std::vector<Job> jobs;
    for (const Setting& s : settings) {
      for (int k = 0; k < times; ++k) jobs.push_back(SettingJob(s));
    }
    std::optional<std::vector<JobResult>> results = RunAll(jobs, nullptr);
    if (!results) return std::nullopt;
    std::vector<int> failures(settings.size(), 0);
    for (size_t j = 0; j < results->size(); ++j) failures[j / times] += Failed((*results)[j]);
    return failures;
  }

  // The culprit search's tester: each blend runs once, and a blend that
  // failed runs --replays more times; it fails (kFail) only if it failed
  // every time. Sets *stopped when the hunt must stop (exit_ says why).
  std::vector<Verdict> TestBlends(const std::vector<Setting>& blends, bool* stopped);

  // --record: records `failing` and `passing` and prints the start of
  // `detrun diff` of the two traces.
  void RecordAndDiff(const Setting& failing, const Setting& passing);

  std::optional<int> NativePhase();
  std::optional<std::vector<Observed>> Sweep();
  int Conclude(std::vector<Observed>& observed, int native_failures);
  std::optional<const Observed*> PassingReference(const std::vector<Observed>& observed,
                                                  const Observed& failing);

  const FlakyOptions o_;
  const Shard shard_;
  const FailureRule rule_;
  const Setting baseline_;
  const int jobs_;
  Observed baseline_observed_;  // configuration 0, for shards that do not run it
  int exit_ = 0;
};

std::optional<int> Hunt::NativePhase() {
  if (o_.native_runs == 0) return 0;
  if (shard_.index != 0) {
    SayLine("natively: left to shard 0");
    return 0;
  }
  std::vector<Job> jobs(o_.native_runs, MakeJob({"--native"}));
  Progress progress("native runs", jobs.size());
  std::optional<std::vector<JobResult>> results = RunAll(jobs, [&](size_t i, const JobResult& r) {
    progress.Done(Failed(r), absl::StrCat("native run ", i + 1, ": ", Outcome(r)));
  });
  if (!results) return std::nullopt;
  int failures = 0;
  for (const JobResult& r : *results) failures += Failed(r);
  SayLine(absl::StrCat("natively: ", failures, " of ", results->size(), " runs failed"));
  return failures;
}

std::optional<std::vector<Observed>> Hunt::Sweep() {
  const std::vector<uint64_t> indices = PlanSweep(o_.runs, shard_);
  std::vector<Observed> observed;
  std::vector<Job> jobs;
  for (uint64_t i : indices) {
    Observed ob;
    ob.index = i;
    ob.setting = SettingForIndex(i, o_.vary, o_.chaos, baseline_);
    jobs.push_back(SettingJob(ob.setting));
    observed.push_back(std::move(ob));
  }
  Progress progress("sweep", jobs.size());
  std::optional<std::vector<JobResult>> results = RunAll(jobs, [&](size_t j, const JobResult& r) {
    progress.Done(Failed(r), absl::StrCat("[", observed[j].index, "] ", Outcome(r), ": ",
                                          Label(observed[j].setting)));
  });
  if (!results) return std::nullopt;
  for (size_t j = 0; j < observed.size(); ++j) {
    observed[j].runs = 1;
    observed[j].failures = Failed((*results)[j]);
    observed[j].first = std::move((*results)[j]);
  }
  return observed;
}

// The configuration to compare a failure with: the baseline when it
// passes every time, else the passing configuration of the sweep that
// differs from the failure in the fewest sources (at most three tried),
// each replayed here. nullptr: none passed every replay; nullopt: the hunt
// stopped (exit_ says why).
std::optional<const Observed*> Hunt::PassingReference(const std::vector<Observed>& observed,
                                                      const Observed& failing) {
  std::vector<const Observed*> candidates;
  bool baseline_seen = false;
  for (const Observed& ob : observed) {
    if (ob.failures == 0) candidates.push_back(&ob);
    baseline_seen |= ob.index == 0;
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](const Observed* a, const Observed* b) {
    const bool a_base = a->index == 0, b_base = b->index == 0;
    if (a_base != b_base) return a_base;
    return DifferingSources(a->setting, failing.setting).size() <
           DifferingSources(b->setting, failing.setting).size();
  });
  // Under sharding the baseline may be another shard's: run it here.
  if (!baseline_seen) candidates.insert(candidates.begin(), &baseline_observed_);
  for (size_t c = 0; c < candidates.size() && c < 3; ++c) {
    std::optional<std::vector<int>> failures = CountFailures({candidates[c]->setting}, o_.replays);
    if (!failures) return std::nullopt;
    LogLine("flaky", absl::StrCat("reference [", candidates[c]->index, "] failed ", (*failures)[0],
                                  " of ", o_.replays, " replays"));
    if ((*failures)[0] == 0) return candidates[c];
  }
  return nullptr;
}

std::vector<Verdict> Hunt::TestBlends(const std::vector<Setting>& blends, bool* stopped) {
  std::vector<Verdict> verdicts(blends.size(), Verdict::kPass);
  if (*stopped) return verdicts;
  std::optional<std::vector<int>> once = CountFailures(blends, 1);
  std::vector<Setting> again;
  std::vector<size_t> where;
  for (size_t i = 0; once && i < blends.size(); ++i) {
    if ((*once)[i] > 0) {
      again.push_back(blends[i]);
      where.push_back(i);
    }
  }
  std::optional<std::vector<int>> more;
  if (once) more = CountFailures(again, o_.replays);
  if (!more) {
    *stopped = true;
    return verdicts;
  }
  for (size_t k = 0; k < where.size(); ++k) {
    verdicts[where[k]] = (*more)[k] == o_.replays ? Verdict::kFail : Verdict::kUnstable;
  }
  for (size_t i = 0; i < blends.size(); ++i) {
    LogLine("flaky", absl::StrCat("  ", Label(blends[i]), ": ",
                                  verdicts[i] == Verdict::kFail       ? "fails every time"
                                  : verdicts[i] == Verdict::kUnstable ? "fails sometimes"
                                                                      : "passes"));
  }
  return verdicts;
}

int Hunt::Conclude(std::vector<Observed>& observed, int native_failures) {
  std::vector<Observed*> failing;
  for (Observed& ob : observed) {
    if (ob.failures > 0) failing.push_back(&ob);
  }
  SayLine(absl::StrCat("under detrun: ", failing.size(), " of ", observed.size(),
                       " configurations failed"));
  if (failing.empty()) {
    if (native_failures > 0) {
      SayLine(
          "verdict: failed natively but in no configuration under detrun: the cause is not a "
          "source this sweep varies (scheduling, or an input detrun does not control yet)");
      return 1;
    }
    SayLine("verdict: no failure");
    return 0;
  }

  // Replays: does each failure fail every time?
  std::vector<Setting> to_replay;
  for (size_t i = 0; i < failing.size() && i < kMaxReplayed; ++i) {
    to_replay.push_back(failing[i]->setting);
  }
  LogLine("flaky", absl::StrCat("replaying ", to_replay.size(), " failing configuration(s) ",
                                o_.replays, " times each"));
  std::optional<std::vector<int>> replayed = CountFailures(to_replay, o_.replays);
  if (!replayed) return exit_;
  for (size_t i = 0; i < to_replay.size(); ++i) {
    failing[i]->runs += o_.replays;
    failing[i]->failures += (*replayed)[i];
  }
  for (size_t i = 0; i < failing.size() && i < kMaxFailingListed; ++i) {
    const Observed& ob = *failing[i];
    std::string how =
        ob.runs == 1 ? "failed (not replayed)"
        : ob.deterministic()
            ? absl::StrCat("failed ", ob.failures, " of ", ob.runs, " runs")
            : absl::StrCat("failed ", ob.failures, " of ", ob.runs, " runs: scheduling-dependent");
    SayLine(absl::StrCat("  [", ob.index, "] ", how, ": ", Label(ob.setting)));
  }
  if (failing.size() > kMaxFailingListed) {
    SayLine(absl::StrCat("  ... and ", failing.size() - kMaxFailingListed, " more"));
  }

  const auto first_deterministic = std::find_if(
      failing.begin(), failing.end(), [](const Observed* ob) { return ob->deterministic(); });
  if (first_deterministic == failing.end()) {
    const Observed* best = *std::max_element(
        failing.begin(), failing.end(),
        [](const Observed* a, const Observed* b) { return a->failures < b->failures; });
    SayLine("culprit: scheduling (no failing configuration failed every time)");
    SayLine(absl::StrCat("closest reproducer (failed ", best->failures, " of ", best->runs,
                         " runs): ", Reproducer(best->setting)));
    return 1;
  }
  const Observed& culprit_of = **first_deterministic;
  std::optional<const Observed*> reference = PassingReference(observed, culprit_of);
  if (!reference) return exit_;
  const Observed* passing = *reference;
  if (passing == nullptr) {
    SayLine(
        failing.size() == observed.size()
            ? "culprit: unknown (it failed in every configuration: no passing one to compare with)"
            : "culprit: unknown (no passing configuration passed every replay)");
    SayLine(absl::StrCat("reproduce: ", Reproducer(culprit_of.setting)));
    return 1;
  }

  LogLine("flaky", absl::StrCat("culprit search: [", culprit_of.index, "] against [",
                                passing->index, "], which differ in ",
                                DifferingSources(culprit_of.setting, passing->setting).ToString()));
  bool stopped = false;
  const Culprit culprit =
      FindCulprit(culprit_of.setting, passing->setting,
                  [&](const std::vector<Setting>& blends) { return TestBlends(blends, &stopped); });
  if (stopped) return exit_;
  if (!culprit.found) {
    SayLine("culprit: scheduling (no source explains the failure)");
    SayLine(absl::StrCat("reproduce (failed ", culprit_of.failures, " of ", culprit_of.runs,
                         " runs): ", Reproducer(culprit_of.setting)));
    if (o_.record) RecordAndDiff(culprit_of.setting, passing->setting);
    return 1;
  }
  SayLine(absl::StrCat("culprit: ", DescribeCulprit(culprit)));
  SayLine(absl::StrCat("reproduce: ", Reproducer(culprit.failing)));
  if (o_.record) RecordAndDiff(culprit.failing, passing->setting);
  return 1;
}

void Hunt::RecordAndDiff(const Setting& failing, const Setting& passing) {
  const char* tmpdir = getenv("TMPDIR");
  std::string dir =
      absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp", "/detrun-flaky.XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) {
    SayLine(absl::StrCat("record: cannot create a directory from ", dir, ": ", strerror(errno)));
    return;
  }
  const std::string traces[] = {dir + "/failing.trace", dir + "/passing.trace"};
  std::vector<Job> runs;
  for (int k = 0; k < 2; ++k) {
    std::vector<std::string> args = SettingArgs(k == 0 ? failing : passing);
    args.push_back("--record=" + traces[k]);
    runs.push_back(MakeJob(std::move(args)));
  }
  std::optional<std::vector<JobResult>> recorded = RunAll(runs, nullptr);
  if (!recorded) return;
  if (!Failed((*recorded)[0]) || Failed((*recorded)[1])) {
    SayLine(
        "record: this time the failing run passed or the passing one failed; the traces show "
        "that run");
  }
  Job diff;
  diff.argv = {kSelfExe, "diff", traces[0], traces[1]};
  diff.output_file = dir + "/diff.txt";
  absl::StatusOr<std::vector<JobResult>> compared = RunJobs({diff}, 1);
  if (!compared.ok()) return;
  std::ifstream in(diff.output_file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  SayLine(absl::StrCat("record: ", ShellQuote({"detrun", "diff", traces[0], traces[1]}), " (exit ",
                       (*compared)[0].exit_code, "):"));
  for (size_t i = 0; i < lines.size() && i < kMaxDiffLines; ++i) SayLine("  " + lines[i]);
  if (lines.size() > kMaxDiffLines) {
    SayLine(
        absl::StrCat("  ... ", lines.size() - kMaxDiffLines, " more lines in ", diff.output_file));
  }
}

int Hunt::Run() {
  absl::StatusOr<ResolvedCommand> resolved = ResolveCommand(o_.command, getenv("PATH"));
  if (!resolved.ok()) {
    SayLine(absl::StrCat("verdict: cannot test the command: ", resolved.status().message()));
    return kExitInternalError;
  }
  SayLine(absl::StrCat("detrun flaky: ", ShellQuote(o_.command)));
  std::string sweep = absl::StrCat("sweep: ", o_.runs, " configurations varying ",
                                   o_.vary.empty() ? "nothing" : o_.vary.ToString(),
                                   o_.chaos ? ", with --chaos" : "", "; ", jobs_, " at a time");
  if (shard_.sharded()) {
    // Bazel names shard logs from 1 (shard_2_of_3 is TEST_SHARD_INDEX=1).
    absl::StrAppend(&sweep, "; shard ", shard_.index + 1, " of ", shard_.total,
                    " (TEST_SHARD_INDEX=", shard_.index, "): ", PlanSweep(o_.runs, shard_).size(),
                    " of them");
  }
  SayLine(sweep);
  if (!o_.not_varied.empty())
    SayLine(absl::StrCat("not varied: ", absl::StrJoin(o_.not_varied, "; ")));
  SayLine(absl::StrCat("a run fails on: ", rule_.Describe()));

  std::optional<int> native_failures = NativePhase();
  if (!native_failures) return exit_;
  std::optional<std::vector<Observed>> observed = Sweep();
  if (!observed) return exit_;
  return Conclude(*observed, *native_failures);
}

}  // namespace

int FlakyCommand(const std::vector<std::string>& args) {
  absl::StatusOr<FlakyOptions> options =
      ParseFlakyArgs(args, [](const char* name) { return getenv(name); });
  if (!options.ok()) {
    fprintf(stderr, "detrun flaky: %s\n(try 'detrun flaky --help')\n",
            std::string(options.status().message()).c_str());
    return kExitInternalError;
  }
  if (options->help) {
    fputs(FlakyHelpText().c_str(), stdout);
    return 0;
  }
  absl::StatusOr<Shard> shard = ShardFromEnvironment([](const char* name) { return getenv(name); });
  if (!shard.ok()) {
    fprintf(stderr, "detrun flaky: %s\n", std::string(shard.status().message()).c_str());
    return kExitInternalError;
  }
  if (!shard->status_file.empty()) {
    // Bazel's protocol: a test that shards says so by touching this file.
    const int fd = open(shard->status_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      fprintf(stderr, "detrun flaky: cannot touch TEST_SHARD_STATUS_FILE %s: %s\n",
              shard->status_file.c_str(), strerror(errno));
      return kExitInternalError;
    }
    close(fd);
  }
  Hunt hunt(*std::move(options), *std::move(shard));
  return hunt.Run();
}

}  // namespace detrun
