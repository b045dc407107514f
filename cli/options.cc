#include "cli/options.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/flaky_options.h"
#include "cli/repro.h"
#include "cli/time_spec.h"
#include "core/config.h"

namespace detrun {
namespace {

// Internally everything is absl::string_view: Debian builds Abseil with its
// own string_view class rather than an alias of std::string_view, and the
// values go to Abseil parsers. time_spec.h takes std::string_view.

constexpr uint32_t kMaxCpus = 1024;
// Linux's HOST_NAME_MAX: uname's nodename holds 64 bytes plus the NUL.
constexpr size_t kMaxHostnameBytes = 64;
constexpr absl::Duration kMaxTick = absl::Hours(1);

constexpr absl::string_view kSubcommands[] = {"diff", "show", "replay", "flaky", "repro"};

std::string Quote(absl::string_view text) { return QuoteValue({text.data(), text.size()}); }

absl::Status InvalidValue(absl::string_view name, absl::string_view value,
                          absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid --", name, " value ", Quote(value), ": ", expected));
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Decimal digits only: absl::SimpleAtoi alone would also take "+5", " 5"
// and "-0", and a typo should not become a different seed.
bool ParseDecimal(absl::string_view text, uint64_t* value) {
  return AllDigits(text) && absl::SimpleAtoi(text, value);
}

template <typename Enum>
struct Choice {
  absl::string_view word;
  Enum value;
};

template <typename Enum, size_t N>
absl::Status ParseChoice(absl::string_view name, absl::string_view value,
                         const Choice<Enum> (&choices)[N], Enum* out) {
  std::vector<absl::string_view> words;
  for (const Choice<Enum>& choice : choices) {
    if (choice.word == value) {
      *out = choice.value;
      return absl::OkStatus();
    }
    words.push_back(choice.word);
  }
  return InvalidValue(name, value, absl::StrCat("expected one of ", absl::StrJoin(words, ", ")));
}

constexpr Choice<bool> kPidNamespace[] = {
    {"auto", true},
    {"off", false},
};

// A mode named by one of `words` (config.h), whose index is its value.
template <typename Enum, size_t N>
absl::Status ParseMode(absl::string_view name, absl::string_view value,
                       const char* const (&words)[N], Enum* out) {
  for (size_t i = 0; i < N; ++i) {
    if (value == words[i]) {
      *out = static_cast<Enum>(i);
      return absl::OkStatus();
    }
  }
  return InvalidValue(name, value,
                      absl::StrCat("expected one of ", absl::StrJoin(words, ", ")));
}

absl::Status ApplySeed(absl::string_view name, absl::string_view value, Config& config) {
  if (!ParseDecimal(value, &config.seed)) {
    return InvalidValue(name, value, "expected an unsigned 64-bit decimal integer");
  }
  return absl::OkStatus();
}

absl::Status ApplyChaos(absl::string_view name, absl::string_view value, Config& config) {
  uint64_t seed = 0;
  if (!ParseDecimal(value, &seed)) {
    return InvalidValue(name, value, "expected an unsigned 64-bit decimal integer");
  }
  config.chaos_seed = seed;
  return absl::OkStatus();
}

absl::Status ApplyTime(absl::string_view name, absl::string_view value, Config& config) {
  const std::string what = absl::StrCat("--", name, " value");
  absl::StatusOr<absl::Time> start =
      ParseStartTime(std::string_view(value.data(), value.size()), what);
  if (!start.ok()) return start.status();
  config.start_time = *start;
  return absl::OkStatus();
}

absl::Status ApplyClock(absl::string_view name, absl::string_view value, Config& config) {
  return ParseMode(name, value, kClockWords, &config.clock);
}

absl::Status ApplyTick(absl::string_view name, absl::string_view value, Config& config) {
  absl::Duration tick;
  if (!absl::ParseDuration(value, &tick)) {
    return InvalidValue(name, value,
                        "expected a duration in Abseil syntax, such as 1ms, 250us or 1.5s");
  }
  if (tick <= absl::ZeroDuration() || tick > kMaxTick) {
    return InvalidValue(name, value, "the tick must be greater than 0 and at most 1h");
  }
  // The virtual clock counts nanoseconds; a finer tick would be rounded,
  // possibly to a clock that never advances.
  if (tick % absl::Nanoseconds(1) != absl::ZeroDuration()) {
    return InvalidValue(name, value, "the tick must be a whole number of nanoseconds");
  }
  config.tick = tick;
  return absl::OkStatus();
}

absl::Status ApplyHostname(absl::string_view name, absl::string_view value, Config& config) {
  // Not the full RFC 1123 rule (people do name hosts build_box), but
  // nothing that would break a file name, a shell word or a log line.
  bool valid = !value.empty() && value.size() <= kMaxHostnameBytes;
  for (char c : value) {
    if (c <= ' ' || c > '~' || c == '/') valid = false;
  }
  if (!valid) {
    return InvalidValue(name, value,
                        "expected 1 to 64 visible ASCII characters, without '/' or spaces");
  }
  config.hostname = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyCpus(absl::string_view name, absl::string_view value, Config& config) {
  uint64_t cpus = 0;
  if (!ParseDecimal(value, &cpus) || cpus < 1 || cpus > kMaxCpus) {
    return InvalidValue(name, value, absl::StrCat("expected an integer from 1 to ", kMaxCpus));
  }
  config.cpus = static_cast<uint32_t>(cpus);
  return absl::OkStatus();
}

absl::Status ApplyFsTimes(absl::string_view name, absl::string_view value, Config& config) {
  return ParseMode(name, value, kFsTimesWords, &config.fs_times);
}

absl::Status ApplyDirs(absl::string_view name, absl::string_view value, Config& config) {
  return ParseMode(name, value, kDirOrderWords, &config.dirs);
}

absl::Status ApplyTsc(absl::string_view name, absl::string_view value, Config& config) {
  return ParseMode(name, value, kTscWords, &config.tsc);
}

absl::Status ApplyRecord(absl::string_view name, absl::string_view value, Config& config) {
  if (value.empty()) return InvalidValue(name, value, "expected a file path");
  config.record_path = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyAllowRead(absl::string_view name, absl::string_view value, Config& config) {
  if (value.empty()) return InvalidValue(name, value, "expected a path");
  config.allow_read.emplace_back(value);
  return absl::OkStatus();
}

absl::Status ApplyAllowWrite(absl::string_view name, absl::string_view value, Config& config) {
  if (value.empty()) return InvalidValue(name, value, "expected a path");
  config.allow_write.emplace_back(value);
  return absl::OkStatus();
}

absl::Status ApplyNative(absl::string_view, absl::string_view, Config& config) {
  config.native = true;
  return absl::OkStatus();
}

absl::Status ApplyNoNetwork(absl::string_view, absl::string_view, Config& config) {
  config.no_network = true;
  return absl::OkStatus();
}

absl::Status ApplyPidNamespace(absl::string_view name, absl::string_view value,
                               Config& config) {
  return ParseChoice(name, value, kPidNamespace, &config.pid_namespace);
}

// --report-leaks alone: stderr (the empty value); --report-leaks=FILE.
absl::Status ApplyReportLeaks(absl::string_view, absl::string_view value, Config& config) {
  config.report_leaks = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyStrict(absl::string_view, absl::string_view, Config& config) {
  config.strict = true;
  return absl::OkStatus();
}

// --strict-tsc: the name issue 5 gave --tsc=trap; kept as a synonym.
absl::Status ApplyStrictTsc(absl::string_view, absl::string_view, Config& config) {
  config.tsc = TscMode::kTrap;
  return absl::OkStatus();
}

absl::Status ApplyVerbose(absl::string_view, absl::string_view, Config& config) {
  config.verbose = true;
  return absl::OkStatus();
}

// One entry per run option. --help and --version are handled before the
// table: they end parsing rather than configure a run.
struct OptionSpec {
  absl::string_view name;  // without "--"
  bool takes_value;
  // Changes what the command observes or may do, so meaningless with
  // --native (which intercepts nothing).
  bool needs_interception;
  absl::Status (*apply)(absl::string_view name, absl::string_view value, Config& config);
  // The value is optional: --opt alone (the value is then empty) or
  // --opt=VALUE; the next argument is never taken as its value.
  bool optional_value = false;
};

constexpr OptionSpec kOptions[] = {
    {"seed", true, true, ApplySeed},
    {"time", true, true, ApplyTime},
    {"clock", true, true, ApplyClock},
    {"tick", true, true, ApplyTick},
    {"hostname", true, true, ApplyHostname},
    {"cpus", true, true, ApplyCpus},
    {"fs-times", true, true, ApplyFsTimes},
    {"dirs", true, true, ApplyDirs},
    {"tsc", true, true, ApplyTsc},
    {"record", true, true, ApplyRecord},
    {"chaos", true, true, ApplyChaos},
    {"allow-read", true, true, ApplyAllowRead},
    {"allow-write", true, true, ApplyAllowWrite},
    {"no-network", false, true, ApplyNoNetwork},
    {"report-leaks", false, true, ApplyReportLeaks, true},
    {"strict", false, true, ApplyStrict},
    {"strict-tsc", false, true, ApplyStrictTsc},
    {"pid-namespace", true, true, ApplyPidNamespace},
    {"native", false, false, ApplyNative},
    {"verbose", false, false, ApplyVerbose},
};

const OptionSpec* FindOption(absl::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool IsSubcommand(absl::string_view word) {
  for (absl::string_view subcommand : kSubcommands) {
    if (word == subcommand) return true;
  }
  return false;
}

absl::Status UnknownOption(absl::string_view option) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown option ", Quote(option), " (see detrun --help)"));
}

absl::Status NoValueAllowed(absl::string_view name, absl::string_view arg) {
  return absl::InvalidArgumentError(
      absl::StrCat("option --", name, " takes no value (got ", Quote(arg), ")"));
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args, const std::function<const char*(const char*)>& getenv) {
  CommandLine result;
  if (!args.empty() && IsSubcommand(args[0])) {
    result.kind = CommandLine::Kind::kSubcommand;
    result.subcommand = args[0];
    result.subcommand_args.assign(args.begin() + 1, args.end());
    return result;
  }

  Config& config = result.config;
  std::vector<const OptionSpec*> given;  // in command-line order
  size_t i = 0;
  while (i < args.size()) {
    const absl::string_view arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h") {
      result.kind = CommandLine::Kind::kHelp;
      return result;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the command starts here
    if (arg[1] != '-') return UnknownOption(arg);

    const absl::string_view body = arg.substr(2);
    const size_t equals = body.find('=');
    const bool inline_value = equals != absl::string_view::npos;
    const absl::string_view name = body.substr(0, equals);
    if (name == "help" || name == "version") {
      if (inline_value) return NoValueAllowed(name, arg);
      result.kind = name == "help" ? CommandLine::Kind::kHelp : CommandLine::Kind::kVersion;
      return result;
    }
    const OptionSpec* spec = FindOption(name);
    if (spec == nullptr) {
      return UnknownOption(name.empty() ? std::string(arg) : absl::StrCat("--", name));
    }

    absl::string_view value;
    if (spec->optional_value) {
      if (inline_value) {
        value = body.substr(equals + 1);
        if (value.empty()) {
          return InvalidValue(name, value, "expected a file path (or no '=' for stderr)");
        }
      }
    } else if (!spec->takes_value) {
      if (inline_value) return NoValueAllowed(name, arg);
    } else if (inline_value) {
      value = body.substr(equals + 1);
    } else {
      absl::StatusOr<std::string_view> next =
          SeparateValue(args, &i, std::string_view(name.data(), name.size()));
      if (!next.ok()) return next.status();
      value = absl::string_view(next->data(), next->size());
    }
    if (absl::Status status = spec->apply(spec->name, value, config); !status.ok()) {
      return status;
    }
    config.explicitly_set.insert(std::string(spec->name));
    given.push_back(spec);
    ++i;
  }

  absl::StatusOr<std::vector<std::string>> command =
      CommandFrom(args, i, absl::StrCat("usage: ", kUsage));
  if (!command.ok()) return command.status();
  result.command = *std::move(command);

  if (config.native) {
    for (const OptionSpec* spec : given) {
      if (spec->needs_interception) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--native runs without interception; it cannot be combined with --", spec->name));
      }
    }
  } else if (!config.explicitly_set.contains("time")) {
    // An empty value counts as unset, as `${SOURCE_DATE_EPOCH:-...}` reads
    // it in a shell: CI templates often export the variable empty.
    const char* source_date_epoch = getenv("SOURCE_DATE_EPOCH");
    if (source_date_epoch != nullptr && *source_date_epoch != '\0') {
      absl::StatusOr<absl::Time> start = ParseSourceDateEpoch(source_date_epoch);
      if (!start.ok()) return start.status();
      config.start_time = *start;
    }
  }
  return result;
}

bool RunOptionValueOptional(std::string_view name) {
  const OptionSpec* spec = FindOption(absl::string_view(name.data(), name.size()));
  return spec != nullptr && spec->optional_value;
}

std::optional<bool> RunOptionTakesValue(std::string_view name) {
  const OptionSpec* spec = FindOption(absl::string_view(name.data(), name.size()));
  if (spec == nullptr) return std::nullopt;
  return spec->takes_value;
}

absl::StatusOr<std::string_view> SeparateValue(const std::vector<std::string>& args,
                                               size_t* i, std::string_view name) {
  const std::string option(name);
  if (*i + 1 >= args.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing value for --", option, " (write --", option, "=VALUE)"));
  }
  const std::string& value = args[++*i];
  if (absl::StartsWith(value, "--")) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing value for --", option, ": the next argument ", Quote(value),
                     " looks like an option (write --", option, "=", absl::CHexEscape(value),
                     " if it is the value)"));
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> CommandFrom(const std::vector<std::string>& args,
                                                     size_t first, std::string_view usage) {
  const std::string usage_text(usage);
  if (first >= args.size()) {
    return absl::InvalidArgumentError(absl::StrCat("missing command (", usage_text, ")"));
  }
  if (args[first].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid command '': the command name is empty (", usage_text, ")"));
  }
  return std::vector<std::string>(args.begin() + first, args.end());
}

std::string HelpText() {
  return R"(Usage: detrun [OPTIONS] [--] COMMAND [ARG...]
       detrun SUBCOMMAND [ARG...]
       detrun --help | --version

Runs COMMAND so that what it observes (time, random bytes, directory order,
host name, CPU count, file times) depends only on the options below: the
same on every run, on every machine.

Options end at "--" or at the first argument that does not start with '-':
in `detrun ls -l`, "-l" is for ls. A value follows its option as --opt=VALUE
or as --opt VALUE (use --opt=VALUE when VALUE itself starts with "--").
An option given twice keeps its last value; --allow-read and --allow-write
add up.

Determinism:
  --seed=N            Seed of the randomness the command sees (getrandom,
                      the vDSO getrandom, AT_RANDOM, /dev/urandom,
                      /dev/random, /etc/machine-id, the --dirs=shuffle order,
                      /proc/sys/kernel/random/{boot_id,uuid}): a decimal
                      integer from 0 to
                      18446744073709551615 (2^64-1). Default 0.
  --time=T            Start time of the virtual clock, one of:
                        YYYY-MM-DD                            midnight UTC
                        YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]  no zone: UTC;
                                                              frac: 1-9 digits
                        @EPOCH_SECONDS                        [-]N[.frac]
                                                              since 1970 UTC
                      Dates must exist (no 2020-02-30, no hour 24).
                      Default: $SOURCE_DATE_EPOCH when set and non-empty,
                      else 2000-01-01T00:00:00Z.
  --clock=MODE        step (default): every clock read returns the virtual
                        time, then advances it by --tick; sleeps return at
                        once and move the clock to their deadline.
                      frozen: every read returns the start time.
                      real: the start time plus the real time elapsed.
  --tick=DURATION     How far --clock=step advances per read, in Abseil
                      duration syntax such as 1ms, 250us or 1.5s (units:
                      ns us ms s m h): more than 0, at most 1h, a whole
                      number of nanoseconds. Default 1ms.
  --hostname=NAME     Host name the command sees through uname,
                      /etc/hostname and /proc/sys/kernel/hostname: 1 to 64
                      bytes (the kernel's limit) of visible ASCII without
                      '/', so that it stays safe in the file names and log
                      lines that programs build from it. Default detrun.
  --cpus=N            Number of CPUs the command sees through
                      sched_getaffinity (nproc, Go, Java, Node), getcpu,
                      /proc/cpuinfo, /proc/stat and
                      /sys/devices/system/cpu (sysconf, getconf,
                      os.cpu_count). 1 to 1024. Default 1.
  --fs-times=MODE     clamp (default): file times (stat, fstat, lstat,
                        fstatat, statx) later than the start time read as
                        the start time, the SOURCE_DATE_EPOCH rule, so
                        archives of files written in the run are the same
                        every time; so does the source time a Python .pyc
                        records, so Python still runs its installed
                        bytecode. Edits made after the start then look
                        no newer than older files: use real for
                        incremental builds (make, ninja).
                      real: file times as stored.
  --dirs=ORDER        Order in which directories list their entries
                      (getdents64/getdents: ls -f, find, readdir, os.listdir,
                      glob), "." and ".." always first:
                      sorted (default): bytewise by name, on every file
                        system (ext4, tmpfs, /proc, /sys, ...).
                      shuffle: a seeded order, different per --seed and the
                        same in every process, to shake out code that
                        depends on the order.
                      native: as the file system returns them.
  --tsc=MODE          What the rdtsc and rdtscp instructions read (Go mixes
                      them into its map order, glibc's loader and OpenSSL
                      read them too):
                      emulate (default): each one traps (PR_SET_TSC) and
                        reads the thread's virtual monotonic clock as a
                        1 GHz counter (rdtscp: CPU 0). Costs about as much
                        as an intercepted call per instruction.
                      trap: as emulate, and each one is counted per
                        program at exit on stderr (in the leak report's
                        rdtsc section with --report-leaks or --record).
                      native: the host's counter, untouched (no cost).
  --record=FILE       Write a trace of the run to FILE (replaced if it
                      exists): the options, the command, every intercepted
                      call with the answer detrun gave, each process's
                      start, exec and exit, and digests of stdout and
                      stderr (interposed through a pipe unless they are a
                      terminal, which is never touched). For detrun show,
                      diff and replay; format: docs/trace-format.md.
  --chaos=SEED        Delay about one in eight futex, sched_yield, poll,
                      select, epoll, connect and accept calls by up to 4 ms
                      of real time (2 s in all at most), chosen by SEED, to
                      shake out races. The choice is the same on every run
                      with one SEED; the race's outcome need not be.

Confinement:
  --allow-read=PATH   Landlock: allow reading under PATH. Repeatable.
  --allow-write=PATH  Landlock: allow writing under PATH. Repeatable.
                      When any --allow-* is given, every other file access
                      is denied.
  --no-network        No TCP/UDP sockets: socket(AF_INET/AF_INET6) fails
                      with EACCES.
  --pid-namespace=MODE
                      auto (default): run COMMAND as pid 2 of a new pid
                        namespace under a small init of detrun's, so pids
                        are the same on every run of a sequential program
                        and nothing outlives the run. Without root this
                        needs an unprivileged user namespace, which maps
                        only your own uid and gid: files of other users
                        (root's too) then show as nobody/nogroup. Where no
                        namespace can be made, the run goes on with host
                        pids (--verbose says why).
                      off: host pids, no namespace.

Leak report:
  --report-leaks[=FILE]
                      When the command ends, list what reached it that
                      detrun did not make deterministic: opens of /proc and
                      /sys files it does not virtualize, inode numbers
                      (stat of a path, directory listings), statfs figures,
                      IPv4/IPv6 connections (connect, bind, sendto),
                      host-wide syscalls (syslog, adjtimex,
                      keyctl, kcmp, ...) and trapped rdtsc reads: one line
                      per kind with its count and up to 3 examples, on
                      stderr as "detrun: " lines after the command's own
                      output, or in FILE (replaced). The exit status stays
                      the command's. Costs one notification per stat,
                      statfs, network and listed call. Every --record
                      trace holds the same report.
  --strict            Fail each leaking call listed above with EPERM instead
                      of letting it reach the host (inode numbers are only
                      reported: every program stats paths and lists
                      directories), and report as --report-leaks does (to
                      stderr unless --report-leaks=FILE), ending with how
                      many calls were refused. The exit status stays the
                      command's, whatever it made of the refusals.
  --strict-tsc        The same as --tsc=trap: count each rdtsc/rdtscp in the
                      leak report (answered from the virtual clock, never
                      refused).

Other:
  --native            No interception at all: run COMMAND as it is, as a
                      baseline to compare with. Cannot be combined with any
                      option above.
  --verbose           Print what detrun intercepted to stderr.
  -h, --help          Print this help and exit.
  --version           Print the version and exit.

Subcommands (recognised only as the first argument: `detrun -- diff A B` and
`detrun --seed=1 diff A B` run the program diff):
  detrun diff A B     Compare two traces: the options first, then for each
                      process the first event where the runs diverged and
                      why (time, random, hostname, cpus, dirs, exec,
                      environment, output, exit status, scheduling).
  detrun show A       Print a trace, one line per event, process identity
                      first. detrun show --json A: the trace itself, checked.
  detrun replay A     Re-run a trace's command with its options in its
                      directory, and compare the new run with the trace.
  detrun flaky ...    Hunt a flaky test (below).
  detrun repro ...    Build twice and compare (below).
show, diff and replay exit 0 when the runs are identical (or the trace was
shown), 1 when they differ, 2 when a trace is unreadable (truncated,
corrupt, foreign or of another format version) or on a usage error.

Exit status:
  N          the command's exit status
  128+N      the command was killed by signal N
  125        detrun failed: bad usage or an internal error
  126        the command was found but could not be executed
  127        the command was not found
When the command exits, the run ends: detrun kills (SIGKILL) whatever the
command left running, such as daemons and background jobs.

Environment:
  SOURCE_DATE_EPOCH   Default start time (see --time): integer seconds since
                      1970-01-01T00:00:00Z. An invalid value is an error
                      unless --time is given. Not read with --native.

)" + FlakyHelpText() +
         "\n" + ReproHelpText();
}

std::string VersionText() {
  return absl::StrCat("detrun ", kDetrunVersion,
                      "\nDeterministic execution harness for Linux x86-64.\n");
}

}  // namespace detrun
