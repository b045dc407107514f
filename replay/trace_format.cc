#include "replay/trace_format.h"

#include <xxhash.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "replay/json_fields.h"

namespace detrun {
namespace {

// RFC 3339 in UTC with as many fraction digits as needed: exact both ways.
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E*SZ";

bool IsHexDigest(std::string_view s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsHexBytes(std::string_view s) {
  if (s.size() % 2 != 0) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

json::Value StringArray(const std::vector<std::string>& v) {
  json::Value a = json::Value::Array();
  for (const std::string& s : v) a.Push(json::Value::String(s));
  return a;
}


json::Value OutputToJson(const OutputRecord& r) {
  json::Value o = json::Value::Object();
  o.Add("captured", json::Value::Bool(r.captured));
  if (!r.captured) {
    o.Add("why", json::Value::String(r.why));
  } else if (r.merged) {
    o.Add("merged", json::Value::Bool(true));
  } else {
    o.Add("bytes", json::Value::Uint(r.bytes));
    o.Add("xxh3", json::Value::String(r.xxh3));
  }
  return o;
}

absl::StatusOr<OutputRecord> OutputFromJson(const json::Value& v, std::string_view what) {
  OutputRecord r;
  json::Fields f(v, what);
  f.Bool("captured", &r.captured);
  if (!r.captured) {
    f.Str("why", &r.why);
  } else if (v.is_object() && v.Find("merged") != nullptr) {
    f.Bool("merged", &r.merged);
    if (!r.merged) f.Fail(absl::StrCat(std::string(what), ": \"merged\" is only ever true"));
  } else {
    f.Uint("bytes", &r.bytes);
    f.Str("xxh3", &r.xxh3);
    if (!IsHexDigest(r.xxh3)) f.Fail(absl::StrCat(std::string(what), ": bad xxh3 digest"));
  }
  if (absl::Status s = f.Done(); !s.ok()) return s;
  return r;
}

// One part of an identity: decimal digits, no leading zero (except "0").
bool IsNumberPart(std::string_view part) {
  if (part.empty() || part.size() > 10) return false;
  for (char c : part) {
    if (c < '0' || c > '9') return false;
  }
  return part.size() == 1 || part[0] != '0';
}

std::vector<uint64_t> IdentityKey(std::string_view id) {
  // "1.2:3" -> {2, 3, 0, 3}: each process part + 1, then 0 and the thread
  // index, so a thread sorts after its process and before the process's
  // children ({2, 3, 1, ...} > {2, 3, 0, 3}).
  std::vector<uint64_t> key;
  uint64_t n = 0;
  bool thread = false;
  for (char c : id) {
    if (c >= '0' && c <= '9') {
      n = n * 10 + static_cast<uint64_t>(c - '0');
    } else {
      key.push_back(n + 1);
      n = 0;
      if (c == ':') {
        thread = true;
        key.push_back(0);
        break;
      }
    }
  }
  if (thread) {
    n = 0;
    for (char c : id.substr(id.find(':') + 1)) n = n * 10 + static_cast<uint64_t>(c - '0');
    key.push_back(n);
  } else {
    key.push_back(n + 1);
  }
  return key;
}

// Appends a string literal, its length known at compile time (the
// recorder's hot path).
template <size_t N>
void Lit(std::string* out, const char (&text)[N]) {
  out->append(text, N - 1);
}

}  // namespace

void Xxh3HexTo(uint64_t digest, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->resize(16);
  for (int i = 15; i >= 0; --i) {
    (*out)[i] = kHex[digest & 0xF];
    digest >>= 4;
  }
}

std::string Xxh3Hex(uint64_t digest) {
  std::string out;
  Xxh3HexTo(digest, &out);
  return out;
}

std::string Xxh3Hex(std::string_view data) {
  return Xxh3Hex(static_cast<uint64_t>(XXH3_64bits(data.data(), data.size())));
}

bool IsValidIdentity(std::string_view id, bool allow_thread) {
  const size_t colon = id.find(':');
  if (colon != std::string_view::npos) {
    if (!allow_thread || !IsNumberPart(id.substr(colon + 1))) return false;
  }
  std::string_view process = id.substr(0, colon);
  for (;;) {
    const size_t dot = process.find('.');
    if (!IsNumberPart(process.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    process.remove_prefix(dot + 1);
  }
}

std::string_view ProcessOf(std::string_view thread) { return thread.substr(0, thread.find(':')); }

bool IdentityLess(std::string_view a, std::string_view b) { return IdentityKey(a) < IdentityKey(b); }

json::Value ConfigToJson(const Config& c, int version) {
  json::Value o = json::Value::Object();
  o.Add("seed", json::Value::Uint(c.seed));
  o.Add("time", json::Value::String(absl::FormatTime(kTimeFormat, c.start_time, absl::UTCTimeZone())));
  o.Add("clock", json::Value::String(ModeWord(c.clock)));
  o.Add("tick", json::Value::String(absl::FormatDuration(c.tick)));
  o.Add("hostname", json::Value::String(c.hostname));
  o.Add("cpus", json::Value::Uint(c.cpus));
  o.Add("fs_times", json::Value::String(ModeWord(c.fs_times)));
  o.Add("dirs", json::Value::String(ModeWord(c.dirs)));
  if (version >= 2) {
    o.Add("tsc", json::Value::String(ModeWord(c.tsc)));
    o.Add("chaos", c.chaos_seed ? json::Value::Uint(*c.chaos_seed) : json::Value());
  }
  o.Add("record", c.record_path ? json::Value::String(*c.record_path) : json::Value());
  o.Add("native", json::Value::Bool(c.native));
  o.Add("allow_read", StringArray(c.allow_read));
  o.Add("allow_write", StringArray(c.allow_write));
  o.Add("no_network", json::Value::Bool(c.no_network));
  o.Add("pid_namespace", json::Value::Bool(c.pid_namespace));
  o.Add("verbose", json::Value::Bool(c.verbose));
  if (version >= 2) {
    o.Add("report_leaks", c.report_leaks ? json::Value::String(*c.report_leaks) : json::Value());
    o.Add("strict", json::Value::Bool(c.strict));
  }
  o.Add("explicitly_set",
        StringArray(std::vector<std::string>(c.explicitly_set.begin(), c.explicitly_set.end())));
  return o;
}

absl::StatusOr<Config> ConfigFromJson(const json::Value& value, int version) {
  Config c;
  json::Fields f(value, "config");
  f.Uint("seed", &c.seed);
  std::string time;
  f.Str("time", &time);
  std::string err;
  if (!time.empty() && !absl::ParseTime(kTimeFormat, time, absl::UTCTimeZone(), &c.start_time, &err)) {
    f.Fail(absl::StrCat("config: bad \"time\" \"", time, "\": ", err));
  }
  const int clock = f.Choice("clock", kClockWords);
  if (clock >= 0) c.clock = static_cast<ClockMode>(clock);
  std::string tick;
  f.Str("tick", &tick);
  if (!tick.empty() && !absl::ParseDuration(tick, &c.tick)) {
    f.Fail(absl::StrCat("config: bad \"tick\" \"", tick, "\""));
  }
  f.Str("hostname", &c.hostname);
  uint64_t cpus = 0;
  f.Uint("cpus", &cpus);
  if (cpus > std::numeric_limits<uint32_t>::max()) f.Fail("config: \"cpus\" out of range");
  c.cpus = static_cast<uint32_t>(cpus);
  const int fs = f.Choice("fs_times", kFsTimesWords);
  if (fs >= 0) c.fs_times = static_cast<FsTimes>(fs);
  const int dirs = f.Choice("dirs", kDirOrderWords);
  if (dirs >= 0) c.dirs = static_cast<DirOrder>(dirs);
  // Version 1 has no "tsc" and "chaos": such a run read the host's
  // counter and had no chaos.
  if (version >= 2) {
    const int tsc = f.Choice("tsc", kTscWords);
    if (tsc >= 0) c.tsc = static_cast<TscMode>(tsc);
    if (const json::Value* chaos = f.Get("chaos", true); chaos != nullptr && !chaos->is_null()) {
      uint64_t seed = 0;
      if (chaos->GetUint64(&seed)) {
        c.chaos_seed = seed;
      } else {
        f.Fail("config: \"chaos\" must be an unsigned 64-bit integer or null");
      }
    }
  } else {
    c.tsc = TscMode::kNative;
  }
  if (const json::Value* record = f.Get("record", true); record != nullptr) {
    if (record->is_string()) {
      c.record_path = record->string();
    } else if (!record->is_null()) {
      f.Fail("config: \"record\" must be a string or null");
    }
  }
  f.Bool("native", &c.native);
  f.Strings("allow_read", &c.allow_read);
  f.Strings("allow_write", &c.allow_write);
  f.Bool("no_network", &c.no_network);
  f.Bool("pid_namespace", &c.pid_namespace);
  f.Bool("verbose", &c.verbose);
  if (version >= 2) {
    if (const json::Value* leaks = f.Get("report_leaks", true); leaks != nullptr) {
      if (leaks->is_string()) {
        c.report_leaks = leaks->string();
      } else if (!leaks->is_null()) {
        f.Fail("config: \"report_leaks\" must be a string or null");
      }
    }
    f.Bool("strict", &c.strict);
  }
  std::vector<std::string> set;
  f.Strings("explicitly_set", &set);
  c.explicitly_set = std::set<std::string>(set.begin(), set.end());
  if (absl::Status s = f.Done(); !s.ok()) return s;
  return c;
}

std::string HeaderLine(const TraceHeader& h) {
  json::Value o = json::Value::Object();
  o.Add("format", json::Value::String(kTraceFormatName));
  o.Add("version", json::Value::Int(h.version));
  o.Add("detrun", json::Value::String(h.detrun_version));
  o.Add("recorded_at", json::Value::String(h.recorded_at));
  o.Add("config", ConfigToJson(h.config, h.version));
  o.Add("argv", StringArray(h.argv));
  o.Add("path", json::Value::String(h.path));
  o.Add("cwd", json::Value::String(h.cwd));
  o.Add("env_xxh3", json::Value::String(h.env_xxh3));
  json::Value env = json::Value::Array();
  for (const auto& [name, digest] : h.env) {
    json::Value pair = json::Value::Array();
    pair.Push(json::Value::String(name));
    pair.Push(json::Value::String(digest));
    env.Push(std::move(pair));
  }
  o.Add("env", std::move(env));
  return json::Serialize(o);
}

LineKind KindOfLine(const json::Value& line) {
  if (!line.is_object() || line.object().empty()) return LineKind::kUnknown;
  const auto& [key, value] = line.object().front();
  if (key == "format") return LineKind::kHeader;
  if (key == "t") return LineKind::kEvent;
  if (key == "e" && value.is_string()) {
    if (value.string() == "end") return LineKind::kEnd;
    if (value.string() == "footer") return LineKind::kFooter;
  }
  return LineKind::kUnknown;
}

absl::StatusOr<TraceHeader> ParseHeader(const json::Value& line) {
  const json::Value* format = line.is_object() ? line.Find("format") : nullptr;
  if (format == nullptr || !format->is_string() || format->string() != kTraceFormatName) {
    return absl::InvalidArgumentError("not a detrun trace (its first line is not a trace header)");
  }
  const json::Value* version = line.Find("version");
  int64_t v = 0;
  if (version == nullptr || !version->GetInt64(&v)) {
    return absl::InvalidArgumentError("the header has no valid format version");
  }
  if (v < kOldestTraceFormatVersion || v > kTraceFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace format version ", v, " is not supported (this detrun reads versions ",
                     kOldestTraceFormatVersion, " to ", kTraceFormatVersion, ")"));
  }
  TraceHeader h;
  h.version = static_cast<int>(v);
  json::Fields f(line, "header");
  std::string name;
  int64_t ignored_version;
  f.Str("format", &name);
  f.Int("version", &ignored_version);
  f.Str("detrun", &h.detrun_version);
  f.Str("recorded_at", &h.recorded_at);
  if (const json::Value* config = f.Get("config", true); config != nullptr) {
    absl::StatusOr<Config> c = ConfigFromJson(*config, h.version);
    if (!c.ok()) {
      f.Fail(std::string(c.status().message()));
    } else {
      h.config = *std::move(c);
    }
  }
  f.Strings("argv", &h.argv);
  f.Str("path", &h.path);
  f.Str("cwd", &h.cwd);
  f.Str("env_xxh3", &h.env_xxh3);
  if (const json::Value* env = f.Get("env", true); env != nullptr) {
    bool ok = env->is_array();
    if (ok) {
      for (const json::Value& pair : env->array()) {
        if (!pair.is_array() || pair.array().size() != 2 || !pair.array()[0].is_string() ||
            !pair.array()[1].is_string() || !IsHexDigest(pair.array()[1].string())) {
          ok = false;
          break;
        }
        h.env.emplace_back(pair.array()[0].string(), pair.array()[1].string());
      }
    }
    if (!ok) f.Fail("header: \"env\" must be an array of [name, xxh3] pairs");
  }
  if (absl::Status s = f.Done(); !s.ok()) return s;
  if (h.argv.empty()) return absl::InvalidArgumentError("header: \"argv\" is empty");
  if (!IsHexDigest(h.env_xxh3)) return absl::InvalidArgumentError("header: bad \"env_xxh3\"");
  return h;
}

void AppendEventLine(const TraceEvent& e, std::string* out) {
  Lit(out, "{\"t\":");
  json::AppendString(e.thread, out);
  switch (e.kind) {
    case TraceEvent::Kind::kStart:
      Lit(out, ",\"e\":\"start\",\"parent\":");
      json::AppendString(e.parent, out);
      break;
    case TraceEvent::Kind::kExec:
      Lit(out, ",\"e\":\"exec\",\"path\":");
      json::AppendString(e.path, out);
      Lit(out, ",\"argv\":[");
      for (size_t i = 0; i < e.argv.size(); ++i) {
        if (i > 0) out->push_back(',');
        json::AppendString(e.argv[i], out);
      }
      out->push_back(']');
      break;
    case TraceEvent::Kind::kCall:
      Lit(out, ",\"e\":\"call\",\"n\":");
      json::AppendString(e.syscall, out);
      Lit(out, ",\"a\":[");
      for (size_t i = 0; i < e.args.size(); ++i) {
        if (i > 0) out->push_back(',');
        json::AppendInt(e.args[i], out);
      }
      Lit(out, "],\"r\":");
      switch (e.answer) {
        case TraceEvent::Answer::kContinue: Lit(out, "\"continue\""); break;
        case TraceEvent::Answer::kValue:
          Lit(out, "\"value\",\"v\":");
          json::AppendInt(e.value, out);
          break;
        case TraceEvent::Answer::kErrno:
          Lit(out, "\"errno\",\"err\":");
          json::AppendString(e.error, out);
          break;
        case TraceEvent::Answer::kInjectFd: Lit(out, "\"fd\""); break;
      }
      if (!e.module.empty()) {
        Lit(out, ",\"m\":");
        json::AppendString(e.module, out);
      }
      if (!e.path.empty()) {
        Lit(out, ",\"path\":");
        json::AppendString(e.path, out);
      }
      if (e.out.bytes > 0) {
        Lit(out, ",\"o\":{\"bytes\":");
        json::AppendUint(e.out.bytes, out);
        if (!e.out.hex.empty()) {
          Lit(out, ",\"hex\":");
          json::AppendString(e.out.hex, out);
        } else {
          Lit(out, ",\"xxh3\":");
          json::AppendString(e.out.xxh3, out);
        }
        out->push_back('}');
      }
      if (!e.detail.empty()) {
        Lit(out, ",\"d\":");
        json::AppendString(e.detail, out);
      }
      break;
    case TraceEvent::Kind::kExit:
      Lit(out, ",\"e\":\"exit\",\"wait\":");
      if (e.wait_status) {
        json::AppendInt(*e.wait_status, out);
      } else {
        Lit(out, "null");
      }
      break;
  }
  out->push_back('}');
}

std::string EventLine(const TraceEvent& event) {
  std::string out;
  AppendEventLine(event, &out);
  return out;
}

absl::Status ParseEvent(const json::Value& line, TraceEvent* e) {
  *e = TraceEvent();
  json::Fields f(line, "event");
  f.Str("t", &e->thread);
  const int kind = f.Choice("e", {"start", "exec", "call", "exit"});
  if (kind >= 0) e->kind = static_cast<TraceEvent::Kind>(kind);
  if (kind < 0) return f.Done();
  switch (e->kind) {
    case TraceEvent::Kind::kStart:
      f.Str("parent", &e->parent);
      if (!e->parent.empty() && !IsValidIdentity(e->parent, false)) f.Fail("event: bad \"parent\"");
      break;
    case TraceEvent::Kind::kExec:
      f.Str("path", &e->path);
      f.Strings("argv", &e->argv);
      break;
    case TraceEvent::Kind::kCall: {
      f.Str("n", &e->syscall);
      if (e->syscall.empty()) f.Fail("event: empty syscall name");
      f.Ints("a", &e->args);
      const int answer = f.Choice("r", {"continue", "value", "errno", "fd"});
      if (answer >= 0) e->answer = static_cast<TraceEvent::Answer>(answer);
      if (e->answer == TraceEvent::Answer::kValue) f.Int("v", &e->value);
      if (e->answer == TraceEvent::Answer::kErrno) f.Str("err", &e->error);
      f.Str("m", &e->module, false);
      f.Str("path", &e->path, false);
      if (const json::Value* o = f.Get("o", false); o != nullptr) {
        json::Fields of(*o, "event: \"o\"");
        of.Uint("bytes", &e->out.bytes);
        of.Str("hex", &e->out.hex, false);
        of.Str("xxh3", &e->out.xxh3, false);
        absl::Status s = of.Done();
        if (!s.ok()) {
          f.Fail(std::string(s.message()));
        } else if (e->out.bytes == 0 || e->out.hex.empty() == e->out.xxh3.empty() ||
                   (!e->out.hex.empty() &&
                    (!IsHexBytes(e->out.hex) || e->out.hex.size() != 2 * e->out.bytes)) ||
                   (!e->out.xxh3.empty() && !IsHexDigest(e->out.xxh3))) {
          f.Fail("event: \"o\" needs bytes > 0 and either matching hex or an xxh3 digest");
        }
      }
      f.Str("d", &e->detail, false);
      break;
    }
    case TraceEvent::Kind::kExit:
      f.OptionalInt32("wait", &e->wait_status);
      break;
  }
  if (absl::Status s = f.Done(); !s.ok()) return s;
  if (!IsValidIdentity(e->thread, e->kind == TraceEvent::Kind::kCall)) {
    return absl::InvalidArgumentError(absl::StrCat("event: bad identity \"", e->thread, "\""));
  }
  return absl::OkStatus();
}

std::string EndLine(const TraceEnd& end) {
  json::Value o = json::Value::Object();
  o.Add("e", json::Value::String("end"));
  o.Add("wait", end.wait_status ? json::Value::Int(*end.wait_status) : json::Value());
  o.Add("exit_code", json::Value::Int(end.exit_code));
  if (!end.error.empty()) o.Add("error", json::Value::String(end.error));
  o.Add("stdout", OutputToJson(end.stdout_record));
  o.Add("stderr", OutputToJson(end.stderr_record));
  if (end.leaks) o.Add("leaks", LeaksToJson(*end.leaks));
  return json::Serialize(o);
}

absl::StatusOr<TraceEnd> ParseEnd(const json::Value& line) {
  TraceEnd end;
  end.leaks.reset();
  json::Fields f(line, "end record");
  std::string e;
  f.Str("e", &e);
  f.OptionalInt32("wait", &end.wait_status);
  f.Int32("exit_code", &end.exit_code);
  f.Str("error", &end.error, false);
  if (const json::Value* v = f.Get("stdout", true); v != nullptr) {
    absl::StatusOr<OutputRecord> r = OutputFromJson(*v, "end record: stdout");
    if (!r.ok()) {
      f.Fail(std::string(r.status().message()));
    } else {
      end.stdout_record = *r;
    }
  }
  if (const json::Value* v = f.Get("stderr", true); v != nullptr) {
    absl::StatusOr<OutputRecord> r = OutputFromJson(*v, "end record: stderr");
    if (!r.ok()) {
      f.Fail(std::string(r.status().message()));
    } else {
      end.stderr_record = *r;
    }
  }
  if (const json::Value* v = f.Get("leaks", false); v != nullptr) {
    absl::StatusOr<LeakSummary> leaks = LeaksFromJson(*v);
    if (!leaks.ok()) {
      f.Fail(std::string(leaks.status().message()));
    } else {
      end.leaks = *std::move(leaks);
    }
  }
  if (absl::Status s = f.Done(); !s.ok()) return s;
  if (end.stdout_record.merged) return absl::InvalidArgumentError("end record: stdout cannot be merged");
  return end;
}

json::Value LeaksToJson(const LeakSummary& leaks) {
  json::Value o = json::Value::Object();
  o.Add("strict", json::Value::Bool(leaks.strict));
  o.Add("refused", json::Value::Uint(leaks.refused));
  json::Value kinds = json::Value::Array();
  for (const LeakSummary::Category& c : leaks.categories) {
    json::Value k = json::Value::Object();
    k.Add("kind", json::Value::String(std::string(LeakCategoryName(c.category))));
    k.Add("count", json::Value::Uint(c.count));
    json::Value examples = json::Value::Array();
    for (const LeakExample& e : c.examples) {
      json::Value x = json::Value::Object();
      x.Add("t", json::Value::String(e.thread));
      x.Add("n", json::Value::String(e.syscall));
      x.Add("d", json::Value::String(e.detail));
      examples.Push(std::move(x));
    }
    k.Add("examples", std::move(examples));
    kinds.Push(std::move(k));
  }
  o.Add("kinds", std::move(kinds));
  return o;
}

absl::StatusOr<LeakSummary> LeaksFromJson(const json::Value& value) {
  LeakSummary leaks;
  json::Fields f(value, "end record: leaks");
  f.Bool("strict", &leaks.strict);
  f.Uint("refused", &leaks.refused);
  const json::Value* kinds = f.Get("kinds", true);
  if (absl::Status s = f.Done(); !s.ok()) return s;
  if (!kinds->is_array()) return absl::InvalidArgumentError("end record: leaks: \"kinds\" must be an array");
  int last = -1;
  for (const json::Value& k : kinds->array()) {
    LeakSummary::Category c;
    json::Fields kf(k, "end record: leaks: kind");
    std::string name;
    kf.Str("kind", &name);
    kf.Uint("count", &c.count);
    const json::Value* examples = kf.Get("examples", true);
    if (absl::Status s = kf.Done(); !s.ok()) return s;
    const std::optional<LeakCategory> category = LeakCategoryFromName(name);
    if (!category) {
      return absl::InvalidArgumentError(absl::StrCat("end record: leaks: unknown kind \"", name, "\""));
    }
    // In category order, each once, each counted: the canonical form.
    if (static_cast<int>(*category) <= last || c.count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("end record: leaks: kind \"", name, "\" is out of order, repeated or zero"));
    }
    last = static_cast<int>(*category);
    c.category = *category;
    if (!examples->is_array() || examples->array().size() > LeakReport::kExamples ||
        examples->array().size() > c.count) {
      return absl::InvalidArgumentError(
          absl::StrCat("end record: leaks: \"examples\" of \"", name, "\" must be an array of at most ",
                       LeakReport::kExamples, " (and at most \"count\")"));
    }
    for (const json::Value& x : examples->array()) {
      LeakExample e;
      json::Fields xf(x, "end record: leaks: example");
      xf.Str("t", &e.thread);
      xf.Str("n", &e.syscall);
      xf.Str("d", &e.detail);
      if (absl::Status s = xf.Done(); !s.ok()) return s;
      if (!IsValidIdentity(e.thread, true)) {
        return absl::InvalidArgumentError(
            absl::StrCat("end record: leaks: bad identity \"", e.thread, "\""));
      }
      c.examples.push_back(std::move(e));
    }
    leaks.categories.push_back(std::move(c));
  }
  return leaks;
}

std::string FooterLine(const TraceFooter& footer) {
  std::string out = "{\"e\":\"footer\",\"lines\":";
  json::AppendUint(footer.lines, &out);
  out.append(",\"bytes\":");
  json::AppendUint(footer.bytes, &out);
  out.append(",\"xxh3\":");
  json::AppendString(footer.xxh3, &out);
  out.push_back('}');
  return out;
}

absl::StatusOr<TraceFooter> ParseFooter(const json::Value& line) {
  TraceFooter footer;
  json::Fields f(line, "footer");
  std::string e;
  f.Str("e", &e);
  f.Uint("lines", &footer.lines);
  f.Uint("bytes", &footer.bytes);
  f.Str("xxh3", &footer.xxh3);
  if (absl::Status s = f.Done(); !s.ok()) return s;
  if (!IsHexDigest(footer.xxh3)) return absl::InvalidArgumentError("footer: bad xxh3 digest");
  return footer;
}

}  // namespace detrun
