// `detrun repro`: builds a project several times under detrun and proves
// the artifacts identical, or lists what differs.
//
//   detrun repro [--runs=N] [--artifact=PATH]... [--native-baseline] [--keep]
//                [RUN OPTIONS] [--] BUILD_COMMAND [ARG...]
//
// The current directory is never modified: each build starts from a fresh
// copy of it (`cp -a`) in $TMPDIR/detrun-repro.XXXXXX/build-K, and runs in
// a mount namespace of its own where that copy is bind-mounted over the
// current directory: every build sees the same path, the source's own, so
// paths that end up in artifacts (debug info, __FILE__) agree between the
// builds and with other runs of `detrun repro` from the same checkout, and
// nothing outside the build sees the mount. Without root the namespace
// comes with a user namespace mapping only the caller's ids. Where no
// namespace can be made (or the directory is /), the copy is made at one
// fixed path, WORK = $TMPDIR/detrun-repro.XXXXXX/<name of the directory>,
// built there and renamed aside before the next copy is made at WORK: the
// builds still share one path, but not the source's, and the report says
// so. Builds run one after another, each `detrun [RUN OPTIONS] --
// BUILD_COMMAND` with the same options, output to build-K.log.
//
// The artifacts (--artifact, files or directories relative to the current
// directory; default: the whole tree) are compared by their
// cli/tree_digest.h listings. Identical: exit 0 with a short report, and
// the trees are removed (unless --keep). Different: exit 1, the differing
// files listed, the trees kept for inspection, and a diffoscope command
// when diffoscope is installed. --native-baseline also builds twice with
// `detrun --native` (no interception; the same fresh-copy routine at the
// same path) and reports what differs natively and what detrun fixed.
// A build that fails, or an artifact no build produced: exit 125.
#ifndef DETRUN_CLI_REPRO_H_
#define DETRUN_CLI_REPRO_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"

namespace detrun {

struct ReproOptions {
  bool help = false;
  int runs = 2;                        // builds under detrun, 2 to 100
  std::vector<std::string> artifacts;  // relative, normalised; empty: all
  bool native_baseline = false;
  bool keep = false;
  std::vector<std::string> run_options;
  Config config;
  std::vector<std::string> command;
};

// `args` are the words after "repro"; `cwd` is the directory to build (an
// absolute --artifact must lie in it).
absl::StatusOr<ReproOptions> ParseReproArgs(const std::vector<std::string>& args,
                                            const std::string& cwd,
                                            const std::function<const char*(const char*)>& getenv);

// `detrun repro --help`; also part of `detrun --help`.
std::string ReproHelpText();

// Returns detrun's exit status.
int ReproCommand(const std::vector<std::string>& args);

}  // namespace detrun

#endif  // DETRUN_CLI_REPRO_H_
