#include "replay/trace_diff.h"

#include <xxhash.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replay/syscall_catalog.h"
#include "replay/trace_reader.h"
#include "replay/trace_text.h"

namespace detrun {
namespace {

struct IdentityOrder {
  bool operator()(const std::string& a, const std::string& b) const { return IdentityLess(a, b); }
};

// One trace, reduced to what the comparison needs.
struct Side {
  std::string path;
  TraceContents contents;
  // Per stream (thread identity): one digest per event, in order.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> streams;
  // Per process: the program it last exec'd (for headings).
  absl::flat_hash_map<std::string, std::string> program;
};

// An event's digest: everything but its thread (the stream key) and its
// description for people (derived from the rest).
class EventDigester {
 public:
  uint64_t Digest(const TraceEvent& e) {
    scratch_ = e;
    scratch_.thread.clear();
    scratch_.detail.clear();
    line_.clear();
    AppendEventLine(scratch_, &line_);
    return static_cast<uint64_t>(XXH3_64bits(line_.data(), line_.size()));
  }

 private:
  TraceEvent scratch_;
  std::string line_;
};

absl::Status Named(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

absl::StatusOr<Side> Load(const std::string& path) {
  Side side;
  side.path = path;
  EventDigester digester;
  absl::StatusOr<TraceContents> contents =
      ReadTrace(path, [&](const TraceEvent& e, uint64_t) -> absl::Status {
        side.streams[e.thread].push_back(digester.Digest(e));
        if (e.kind == TraceEvent::Kind::kExec) side.program[e.thread] = e.path;
        return absl::OkStatus();
      });
  if (!contents.ok()) return Named(path, contents.status());
  side.contents = *std::move(contents);
  return side;
}

// Events at chosen positions of chosen streams, read again from the file
// (which the first read checked completely).
using Wanted = std::map<std::string, std::set<uint64_t>>;
using Collected = std::map<std::pair<std::string, uint64_t>, TraceEvent>;

absl::StatusOr<Collected> Collect(const std::string& path, const Wanted& wanted) {
  Collected out;
  absl::flat_hash_map<std::string, uint64_t> index;
  absl::StatusOr<TraceContents> contents =
      ReadTrace(path, [&](const TraceEvent& e, uint64_t) -> absl::Status {
        auto it = wanted.find(e.thread);
        if (it == wanted.end()) return absl::OkStatus();
        const uint64_t i = index[e.thread]++;
        if (it->second.contains(i)) out.emplace(std::make_pair(e.thread, i), e);
        return absl::OkStatus();
      });
  if (!contents.ok()) return Named(path, contents.status());
  return out;
}

struct Divergence {
  std::string process;
  std::string stream;  // the first diverging thread of the process
  uint64_t index = 0;  // first differing position in that stream
  size_t streams = 0;  // how many of the process's threads diverge
  bool same_multiset = false;
};

struct Classification {
  std::string word;
  std::string text;
};

const TraceEvent* Find(const Collected& c, const std::string& stream, uint64_t i) {
  auto it = c.find({stream, i});
  return it == c.end() ? nullptr : &it->second;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Parent(const std::string& process) {
  const size_t dot = process.rfind('.');
  return dot == std::string::npos ? "" : process.substr(0, dot);
}

// Compares two environments given as [name, digest] lists.
std::vector<std::string> EnvironmentDifferences(const TraceHeader& a, const TraceHeader& b,
                                                const DiffOptions& options) {
  std::vector<std::string> out;
  if (a.env_xxh3 == b.env_xxh3) return out;
  std::map<std::string, std::string> ma, mb;
  for (const auto& [k, v] : a.env) ma.emplace(k, v);
  for (const auto& [k, v] : b.env) mb.emplace(k, v);
  std::vector<std::string> changed, only_a, only_b;
  for (const auto& [k, v] : ma) {
    auto it = mb.find(k);
    if (it == mb.end()) {
      only_a.push_back(k);
    } else if (it->second != v) {
      changed.push_back(k);
    }
  }
  for (const auto& [k, v] : mb) {
    if (!ma.contains(k)) only_b.push_back(k);
  }
  if (!changed.empty()) out.push_back(absl::StrCat("different values: ", absl::StrJoin(changed, " ")));
  if (!only_a.empty()) {
    out.push_back(absl::StrCat("only in ", options.label_a, ": ", absl::StrJoin(only_a, " ")));
  }
  if (!only_b.empty()) {
    out.push_back(absl::StrCat("only in ", options.label_b, ": ", absl::StrJoin(only_b, " ")));
  }
  if (out.empty()) out.push_back("the same variables in another order (or repeated)");
  return out;
}

class Differ {
 public:
  Differ(Side& a, Side& b, const DiffOptions& options) : a_(a), b_(b), options_(options) {}

  absl::StatusOr<DiffResult> Run() {
    CompareHeaders();
    FindDivergences();
    if (absl::Status s = CollectContext(); !s.ok()) return s;
    ReportDivergences();
    CompareEnds();
    DiffResult result;
    result.identical = differences_ == 0;
    if (result.identical) {
      size_t events = 0;
      for (const auto& [k, v] : a_.streams) events += v.size();
      const size_t processes = ProcessCount(a_);
      absl::StrAppend(&report_, "identical: ", events, events == 1 ? " event in " : " events in ",
                      processes, processes == 1 ? " process" : " processes",
                      ", the same answers, outputs and exit status\n");
    } else {
      absl::StrAppend(&report_, "different: ", absl::StrJoin(summary_, "; "), "\n");
    }
    result.report = std::move(report_);
    return result;
  }

 private:
  static size_t ProcessCount(const Side& s) {
    std::set<std::string> p;
    for (const auto& [k, v] : s.streams) p.insert(std::string(ProcessOf(k)));
    return p.size();
  }

  void Section(const std::string& title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    absl::StrAppend(&report_, title, ":\n");
    for (const std::string& l : lines) absl::StrAppend(&report_, "  ", l, "\n");
    ++differences_;
    summary_.push_back(title);
  }

  void CompareHeaders() {
    const TraceHeader& ha = a_.contents.header;
    const TraceHeader& hb = b_.contents.header;
    config_differences_ = ConfigDifferences(ha.config, hb.config);
    Section("configuration", config_differences_);
    std::vector<std::string> command;
    if (ha.argv != hb.argv) {
      command.push_back(absl::StrCat("argv: ", FormatArgv(ha.argv), " vs ", FormatArgv(hb.argv)));
    }
    if (ha.path != hb.path) command.push_back(absl::StrCat("path: ", ha.path, " vs ", hb.path));
    if (ha.cwd != hb.cwd) command.push_back(absl::StrCat("cwd: ", ha.cwd, " vs ", hb.cwd));
    Section("command", command);
    // Reported, but not a difference by itself: two shells, two machines
    // or two CI jobs always differ somewhere (PWD, SSH_TTY, ...), and what
    // matters is whether the command behaved differently. When it did, the
    // classification points here.
    environment_differences_ = EnvironmentDifferences(ha, hb, options_);
    if (!environment_differences_.empty()) {
      absl::StrAppend(&report_, "environment (a note; differences only count through what the "
                                "command did):\n");
      for (const std::string& l : environment_differences_) absl::StrAppend(&report_, "  ", l, "\n");
    }
  }

  void FindDivergences() {
    std::map<std::string, std::set<std::string, IdentityOrder>, IdentityOrder> processes;
    for (const Side* s : {&a_, &b_}) {
      for (const auto& [stream, digests] : s->streams) {
        processes[std::string(ProcessOf(stream))].insert(stream);
      }
    }
    static const std::vector<uint64_t> kEmpty;
    for (const auto& [process, streams] : processes) {
      const bool in_a = HasProcess(a_, streams);
      const bool in_b = HasProcess(b_, streams);
      if (!in_a || !in_b) {
        (in_a ? only_a_ : only_b_).push_back(process);
        continue;
      }
      Divergence d;
      d.process = process;
      std::vector<uint64_t> all_a, all_b;
      for (const std::string& stream : streams) {
        auto ia = a_.streams.find(stream);
        auto ib = b_.streams.find(stream);
        const std::vector<uint64_t>& va = ia == a_.streams.end() ? kEmpty : ia->second;
        const std::vector<uint64_t>& vb = ib == b_.streams.end() ? kEmpty : ib->second;
        all_a.insert(all_a.end(), va.begin(), va.end());
        all_b.insert(all_b.end(), vb.begin(), vb.end());
        const auto [pa, pb] = std::mismatch(va.begin(), va.end(), vb.begin(), vb.end());
        if (pa == va.end() && pb == vb.end()) continue;
        if (d.streams++ == 0) {
          d.stream = stream;
          d.index = static_cast<uint64_t>(pa - va.begin());
        }
      }
      if (d.streams == 0) continue;
      std::sort(all_a.begin(), all_a.end());
      std::sort(all_b.begin(), all_b.end());
      d.same_multiset = all_a == all_b;
      divergences_.push_back(d);
    }
  }

  static bool HasProcess(const Side& s, const std::set<std::string, IdentityOrder>& streams) {
    for (const std::string& stream : streams) {
      if (s.streams.contains(stream)) return true;
    }
    return false;
  }

  absl::Status CollectContext() {
    Wanted wanted;
    for (size_t i = 0; i < divergences_.size(); ++i) {
      const Divergence& d = divergences_[i];
      const uint64_t first = i < options_.max_detailed && d.index > options_.context
                                 ? d.index - options_.context
                                 : (i < options_.max_detailed ? 0 : d.index);
      for (uint64_t k = first; k <= d.index; ++k) wanted[d.stream].insert(k);
    }
    if (wanted.empty()) return absl::OkStatus();
    absl::StatusOr<Collected> ca = Collect(a_.path, wanted);
    if (!ca.ok()) return ca.status();
    absl::StatusOr<Collected> cb = Collect(b_.path, wanted);
    if (!cb.ok()) return cb.status();
    events_a_ = *std::move(ca);
    events_b_ = *std::move(cb);
    return absl::OkStatus();
  }

  Classification Classify(const Divergence& d,
                          const std::map<std::string, std::string>& diverged_words) const {
    const TraceEvent* ea = Find(events_a_, d.stream, d.index);
    const TraceEvent* eb = Find(events_b_, d.stream, d.index);
    if (d.same_multiset) return {"scheduling", "same events, different order"};
    using K = TraceEvent::Kind;
    if (ea != nullptr && eb != nullptr && ea->kind == eb->kind) {
      switch (ea->kind) {
        case K::kCall:
          if (ea->syscall == eb->syscall) {
            std::string_view source =
                SourceOfCall(ea->syscall, ea->module.empty() ? eb->module : ea->module);
            const bool asked_same = ea->args == eb->args && ea->path == eb->path;
            return {source.empty() ? "environment" : std::string(source),
                    absl::StrCat(ea->syscall, asked_same ? " answered differently"
                                                         : " was asked differently")};
          }
          break;
        case K::kExec: return {"exec", "a different program or arguments"};
        case K::kExit:
          return {"exit status",
                  absl::StrCat(DescribeWait(ea->wait_status), " vs ", DescribeWait(eb->wait_status))};
        case K::kStart:
          return {"scheduling", "created by another parent (the identities followed a race)"};
      }
    }
    // Another path with the same answers so far: the cause is not in an
    // answer of this process.
    for (std::string p = Parent(d.process); !p.empty(); p = Parent(p)) {
      auto it = diverged_words.find(p);
      if (it != diverged_words.end()) {
        return {it->second, absl::StrCat("follows from process ", p, ", which diverged first")};
      }
    }
    std::string why =
        "the command took another path here with the same answers so far: an input detrun "
        "does not control differed (a file, an argument, the environment, a pipe)";
    if (!environment_differences_.empty()) why = "the command took another path here; its environment differs";
    return {"environment", why};
  }

  void ReportDivergences() {
    std::map<std::string, std::string> words;  // process -> classification
    size_t shown = 0;
    std::vector<std::string> rest;
    for (const Divergence& d : divergences_) {
      const Classification c = Classify(d, words);
      words[d.process] = c.word;
      ++differences_;
      if (shown >= options_.max_detailed) {
        rest.push_back(absl::StrCat(d.process, " (", c.word, ")"));
        continue;
      }
      ++shown;
      std::string program;
      if (auto it = a_.program.find(d.process); it != a_.program.end()) program = Basename(it->second);
      auto count = [&](const Side& s) -> size_t {
        auto it = s.streams.find(d.stream);
        return it == s.streams.end() ? 0 : it->second.size();
      };
      absl::StrAppend(&report_, "process ", d.process, program.empty() ? "" : absl::StrCat(" (", program, ")"),
                      ": diverges at event #", d.index + 1, " of thread ", d.stream, " (", count(a_),
                      " events in ", options_.label_a, ", ", count(b_), " in ", options_.label_b, ")",
                      d.streams > 1 ? absl::StrCat("; ", d.streams, " threads diverge") : "", "\n");
      const uint64_t first = d.index > options_.context ? d.index - options_.context : 0;
      for (uint64_t k = first; k < d.index; ++k) {
        if (const TraceEvent* e = Find(events_a_, d.stream, k)) {
          absl::StrAppend(&report_, "    both #", k + 1, "  ", FormatEvent(*e), "\n");
        }
      }
      for (const auto& [label, events] :
           {std::pair{&options_.label_a, &events_a_}, std::pair{&options_.label_b, &events_b_}}) {
        const TraceEvent* e = Find(*events, d.stream, d.index);
        absl::StrAppend(&report_, "    ", *label, std::string(label->size() < 4 ? 4 - label->size() : 0, ' '),
                        " #", d.index + 1, "  ",
                        e != nullptr ? FormatEvent(*e) : "(no more events in this thread)", "\n");
      }
      absl::StrAppend(&report_, "  classification: ", c.word, " (", c.text, ")\n");
    }
    if (!rest.empty()) {
      absl::StrAppend(&report_, rest.size(), " more processes diverge: ", absl::StrJoin(rest, ", "), "\n");
    }
    if (!divergences_.empty()) {
      summary_.push_back(absl::StrCat(divergences_.size(),
                                      divergences_.size() == 1 ? " process diverges" : " processes diverge"));
    }
    std::vector<std::string> only;
    if (!only_a_.empty()) only.push_back(absl::StrCat("only in ", options_.label_a, ": ", absl::StrJoin(only_a_, " ")));
    if (!only_b_.empty()) only.push_back(absl::StrCat("only in ", options_.label_b, ": ", absl::StrJoin(only_b_, " ")));
    Section("processes", only);
  }

  void CompareOutput(const char* name, const OutputRecord& ra, const OutputRecord& rb,
                     std::vector<std::string>* notes) {
    if (ra.merged && rb.merged) return;
    if (!ra.captured || !rb.captured || ra.merged != rb.merged) {
      notes->push_back(absl::StrCat(name, " not compared (", options_.label_a, ": ", FormatOutput(ra),
                                    "; ", options_.label_b, ": ", FormatOutput(rb), ")"));
      return;
    }
    if (ra.bytes == rb.bytes && ra.xxh3 == rb.xxh3) return;
    ++differences_;
    summary_.push_back(absl::StrCat(name, " differs"));
    absl::StrAppend(&report_, "output: ", name, " differs (", options_.label_a, ": ", FormatOutput(ra),
                    "; ", options_.label_b, ": ", FormatOutput(rb), ")\n",
                    "  classification: output (",
                    divergences_.empty()
                        ? "every process got the same answers: the difference comes from what "
                          "detrun does not control, such as a file's content or the order in "
                          "which parallel processes wrote"
                        : "what the command wrote differs",
                    ")\n");
  }

  void CompareEnds() {
    const TraceEnd& ea = a_.contents.end;
    const TraceEnd& eb = b_.contents.end;
    std::vector<std::string> notes;
    CompareOutput("stdout", ea.stdout_record, eb.stdout_record, &notes);
    CompareOutput("stderr", ea.stderr_record, eb.stderr_record, &notes);
    for (const std::string& n : notes) absl::StrAppend(&report_, "note: ", n, "\n");
    if (ea.wait_status != eb.wait_status || ea.exit_code != eb.exit_code || ea.error != eb.error) {
      ++differences_;
      summary_.push_back("exit status differs");
      absl::StrAppend(&report_, "exit status: ", DescribeWait(ea.wait_status), " vs ",
                      DescribeWait(eb.wait_status));
      if (ea.exit_code != eb.exit_code) {
        absl::StrAppend(&report_, " (detrun exit ", ea.exit_code, " vs ", eb.exit_code, ")");
      }
      absl::StrAppend(&report_, "\n");
      if (ea.error != eb.error) {
        absl::StrAppend(&report_, "  detrun said: ", ea.error.empty() ? "(nothing)" : ea.error, " vs ",
                        eb.error.empty() ? "(nothing)" : eb.error, "\n");
      }
      absl::StrAppend(&report_, "  classification: exit status\n");
    }
    NoteLeaks();
  }

  // The leak reports (trace format 2) never count as a difference: the
  // calls they count are events, compared above, and their examples name
  // host facts (/proc/[pid]/...) that may differ between runs of the same
  // program. When the runs differ, they say what may explain it.
  void NoteLeaks() {
    if (differences_ == 0) return;
    auto describe = [](const std::optional<LeakSummary>& leaks) -> std::string {
      if (!leaks || leaks->total() == 0) return "";
      std::vector<std::string> kinds;
      for (const LeakSummary::Category& c : leaks->categories) {
        std::string k = absl::StrCat(std::string(LeakCategoryName(c.category)), " ", c.count);
        if (!c.examples.empty()) {
          const LeakExample& e = c.examples[0];
          absl::StrAppend(&k, " (e.g. ", e.syscall, e.detail.empty() ? "" : " ", e.detail, " [",
                          e.thread, "])");
        }
        kinds.push_back(std::move(k));
      }
      return absl::StrJoin(kinds, ", ");
    };
    const std::string la = describe(a_.contents.end.leaks);
    const std::string lb = describe(b_.contents.end.leaks);
    if (la.empty() && lb.empty()) return;
    constexpr char kWhat[] = "note: host facts detrun does not control reached the command (leak report";
    if (la == lb) {
      absl::StrAppend(&report_, kWhat, " of both): ", la, "\n");
      return;
    }
    if (!la.empty()) absl::StrAppend(&report_, kWhat, " of ", options_.label_a, "): ", la, "\n");
    if (!lb.empty()) absl::StrAppend(&report_, kWhat, " of ", options_.label_b, "): ", lb, "\n");
  }

  Side& a_;
  Side& b_;
  const DiffOptions& options_;
  std::string report_;
  int differences_ = 0;
  std::vector<std::string> summary_;
  std::vector<std::string> config_differences_;
  std::vector<std::string> environment_differences_;
  std::vector<Divergence> divergences_;
  std::vector<std::string> only_a_, only_b_;
  Collected events_a_, events_b_;
};

}  // namespace

absl::StatusOr<DiffResult> DiffTraces(const std::string& path_a, const std::string& path_b,
                                      const DiffOptions& options) {
  absl::StatusOr<Side> a = Load(path_a);
  if (!a.ok()) return a.status();
  absl::StatusOr<Side> b = Load(path_b);
  if (!b.ok()) return b.status();
  return Differ(*a, *b, options).Run();
}

}  // namespace detrun
