#include "replay/trace_text.h"

#include <string.h>
#include <sys/wait.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "replay/syscall_catalog.h"

namespace detrun {
namespace {

constexpr size_t kIdentityWidth = 8;

std::string Quote(const std::string& word) {
  bool plain = !word.empty();
  for (unsigned char c : word) {
    if (!(isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '=' || c == ':' ||
          c == ',' || c == '+' || c == '@' || c == '%')) {
      plain = false;
    }
  }
  return plain ? word : absl::StrCat("'", absl::CHexEscape(word), "'");
}

std::string Signal(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", sig);
}


std::string ChaosText(const Config& c) {
  return c.chaos_seed ? absl::StrCat(*c.chaos_seed) : std::string("off");
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string PathList(const std::vector<std::string>& paths) {
  return paths.empty() ? "(none)" : absl::StrJoin(paths, ",");
}

// The bytes a lowercase hex string stands for (checked by the reader).
std::string HexBytes(const std::string& hex) {
  std::string out(hex.size() / 2, '\0');
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return out;
}

}  // namespace

std::string FormatArgv(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& a : argv) words.push_back(Quote(a));
  return absl::StrJoin(words, " ");
}

std::string DescribeWait(std::optional<int> wait_status) {
  if (!wait_status) return "unknown";
  const int s = *wait_status;
  if (WIFEXITED(s)) return absl::StrCat("exited ", WEXITSTATUS(s));
  if (WIFSIGNALED(s)) {
    return absl::StrCat("killed by ", Signal(WTERMSIG(s)), WCOREDUMP(s) ? " (core dumped)" : "");
  }
  return absl::StrCat("wait status ", s);
}

std::string FormatEvent(const TraceEvent& e) {
  std::string line = e.thread;
  line.resize(std::max(line.size() + 1, kIdentityWidth), ' ');
  switch (e.kind) {
    case TraceEvent::Kind::kStart:
      absl::StrAppend(&line, "start",
                      e.parent.empty() ? (e.thread == "1" ? " (the command)" : " (parent unknown)")
                                       : absl::StrCat(" (child of ", e.parent, ")"));
      break;
    case TraceEvent::Kind::kExec:
      absl::StrAppend(&line, "exec ", Quote(e.path), " [", FormatArgv(e.argv), "]");
      break;
    case TraceEvent::Kind::kExit:
      absl::StrAppend(&line, "exit: ", DescribeWait(e.wait_status));
      break;
    case TraceEvent::Kind::kCall: {
      std::vector<std::string> args;
      if (!e.path.empty()) args.push_back(Quote(e.path));
      for (int64_t a : e.args) args.push_back(absl::StrCat(a));
      absl::StrAppend(&line, e.syscall, "(", absl::StrJoin(args, ", "), ")");
      switch (e.answer) {
        case TraceEvent::Answer::kContinue: absl::StrAppend(&line, " -> kernel"); break;
        case TraceEvent::Answer::kValue: absl::StrAppend(&line, " = ", e.value); break;
        case TraceEvent::Answer::kErrno: absl::StrAppend(&line, " = -1 ", e.error); break;
        case TraceEvent::Answer::kInjectFd: absl::StrAppend(&line, " = fd (injected)"); break;
      }
      std::string detail = e.detail;
      if (detail.empty() && e.answer == TraceEvent::Answer::kValue) {
        detail = DescribePayload(e.syscall, e.args, HexBytes(e.out.hex), e.value);
      }
      if (!detail.empty()) {
        absl::StrAppend(&line, "  ", detail);
      } else if (e.out.bytes > 0) {
        absl::StrAppend(&line, "  [", e.out.bytes, " bytes ",
                        e.out.hex.empty() ? absl::StrCat("xxh3:", e.out.xxh3) : e.out.hex, "]");
      }
      if (!detail.empty() && !e.out.xxh3.empty()) absl::StrAppend(&line, " xxh3:", e.out.xxh3);
      if (!e.module.empty()) absl::StrAppend(&line, "  (", e.module, ")");
      break;
    }
  }
  return line;
}

std::string FormatConfig(const Config& c) {
  std::string out = absl::StrCat(
      "seed=", c.seed, " time=", TimeText(c.start_time), " clock=", ModeWord(c.clock),
      " tick=", absl::FormatDuration(c.tick), " hostname=", c.hostname, " cpus=", c.cpus,
      " fs-times=", ModeWord(c.fs_times),
      " dirs=", ModeWord(c.dirs), " tsc=", ModeWord(c.tsc),
      " pid-namespace=", c.pid_namespace ? "auto" : "off");
  if (c.chaos_seed) absl::StrAppend(&out, " chaos=", *c.chaos_seed);
  if (c.native) absl::StrAppend(&out, " native");
  if (!c.allow_read.empty()) absl::StrAppend(&out, " allow-read=", PathList(c.allow_read));
  if (!c.allow_write.empty()) absl::StrAppend(&out, " allow-write=", PathList(c.allow_write));
  if (c.no_network) absl::StrAppend(&out, " no-network");
  if (c.strict) absl::StrAppend(&out, " strict");
  return out;
}

std::string FormatHeader(const TraceHeader& h) {
  return absl::StrCat("trace format ", h.version, ", written by detrun ", h.detrun_version,
                      " at ", h.recorded_at, "\n", "command: ", FormatArgv(h.argv), "  (",
                      Quote(h.path), ")\n", "cwd: ", Quote(h.cwd), "\n",
                      "config: ", FormatConfig(h.config), "\n", "environment: ", h.env.size(),
                      " variables, xxh3:", h.env_xxh3, "\n");
}

std::string FormatOutput(const OutputRecord& r) {
  if (!r.captured) return absl::StrCat("not captured (", r.why, ")");
  if (r.merged) return "with stdout (same file)";
  return absl::StrCat(r.bytes, " bytes xxh3:", r.xxh3);
}

std::string FormatEnd(const TraceEnd& end) {
  std::string out = absl::StrCat(
      "end: ", end.wait_status ? "command " + DescribeWait(end.wait_status) : "the command did not run",
      ", detrun exit ", end.exit_code);
  if (!end.error.empty()) absl::StrAppend(&out, " (", end.error, ")");
  absl::StrAppend(&out, "; stdout ", FormatOutput(end.stdout_record), "; stderr ",
                  FormatOutput(end.stderr_record));
  return out;
}

std::string FormatLeaks(const TraceEnd& end) {
  if (!end.leaks) return "leaks: not recorded (trace format 1)\n";
  std::string out;
  constexpr std::string_view kPrefix = "detrun: ";
  for (absl::string_view line : absl::StrSplit(FormatLeakReport(*end.leaks), '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, absl::string_view(kPrefix.data(), kPrefix.size()))) {
      line.remove_prefix(kPrefix.size());
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::vector<std::string> ConfigDifferences(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto add = [&](const char* name, const std::string& x, const std::string& y) {
    if (x != y) out.push_back(absl::StrCat(name, ": ", x, " vs ", y));
  };
  add("seed", absl::StrCat(a.seed), absl::StrCat(b.seed));
  add("time", TimeText(a.start_time), TimeText(b.start_time));
  add("clock", ModeWord(a.clock), ModeWord(b.clock));
  add("tick", absl::FormatDuration(a.tick), absl::FormatDuration(b.tick));
  add("hostname", a.hostname, b.hostname);
  add("cpus", absl::StrCat(a.cpus), absl::StrCat(b.cpus));
  add("fs-times", ModeWord(a.fs_times),
      ModeWord(b.fs_times));
  add("dirs", ModeWord(a.dirs), ModeWord(b.dirs));
  add("tsc", ModeWord(a.tsc), ModeWord(b.tsc));
  add("chaos", ChaosText(a), ChaosText(b));
  add("native", a.native ? "yes" : "no", b.native ? "yes" : "no");
  add("allow-read", PathList(a.allow_read), PathList(b.allow_read));
  add("allow-write", PathList(a.allow_write), PathList(b.allow_write));
  add("no-network", a.no_network ? "yes" : "no", b.no_network ? "yes" : "no");
  add("pid-namespace", a.pid_namespace ? "auto" : "off", b.pid_namespace ? "auto" : "off");
  // --strict changes what the command's calls return; --report-leaks only
  // where a report goes (like --record), so it is not compared.
  add("strict", a.strict ? "yes" : "no", b.strict ? "yes" : "no");
  return out;
}

}  // namespace detrun
