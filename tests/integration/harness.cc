#include "tests/integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "gtest/gtest.h"

namespace detrun::testing {
namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

}  // namespace

void ResetSignalsForExec() {
  // SIGKILL and SIGSTOP fail with EINVAL, as do the numbers glibc keeps
  // for itself (32 and 33): their actions cannot have been changed either.
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

namespace {

Running StartWithStdin(const std::vector<std::string>& argv, int* stdin_write) {
  // Inherited by every program started (harness.h says why).
  setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    abort();
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Running r;
  r.started = Now();
  r.pid = fork();
  if (r.pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    ResetSignalsForExec();
    execvp(args[0], args.data());
    fprintf(stderr, "harness: exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  r.out_fd = out[0];
  r.err_fd = err[0];
  if (stdin_write != nullptr) {
    *stdin_write = in[1];
  } else {
    close(in[1]);
  }
  return r;
}

Output Collect(Running& r, int stdin_fd, const std::string& input, double timeout) {
  Output o;
  size_t written = 0;
  if (stdin_fd >= 0) {
    fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
    if (input.empty()) {
      close(stdin_fd);
      stdin_fd = -1;
    }
  }
  const double deadline = r.started + timeout;
  while (r.out_fd >= 0 || r.err_fd >= 0) {
    pollfd p[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (r.out_fd >= 0) { idx_out = n; p[n++] = {r.out_fd, POLLIN, 0}; }
    if (r.err_fd >= 0) { idx_err = n; p[n++] = {r.err_fd, POLLIN, 0}; }
    if (stdin_fd >= 0) { idx_in = n; p[n++] = {stdin_fd, POLLOUT, 0}; }
    double left = deadline - Now();
    if (left <= 0) {
      o.timed_out = true;
      break;
    }
    int ready = poll(p, n, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    char buf[65536];
    auto drain = [&](int idx, int& fd, std::string& dst) {
      if (idx < 0 || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t k = read(fd, buf, sizeof buf);
      if (k > 0) {
        dst.append(buf, k);
      } else {
        close(fd);
        fd = -1;
      }
    };
    drain(idx_out, r.out_fd, o.out);
    drain(idx_err, r.err_fd, o.err);
    if (idx_in >= 0 && (p[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = write(stdin_fd, input.data() + written, input.size() - written);
      if (k > 0) written += k;
      if (k < 0 && errno != EAGAIN) written = input.size();
      if (written == input.size()) {
        close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  if (stdin_fd >= 0) close(stdin_fd);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(r.pid, &status, WNOHANG);
    if (w == r.pid) break;
    if (o.timed_out || Now() > deadline) {
      o.timed_out = true;
      kill(r.pid, SIGKILL);
      waitpid(r.pid, &status, 0);
      break;
    }
    usleep(2000);
  }
  if (r.out_fd >= 0) close(r.out_fd);
  if (r.err_fd >= 0) close(r.err_fd);
  r.out_fd = r.err_fd = -1;
  o.seconds = Now() - r.started;
  if (o.timed_out) {
    o.exit_code = -1;
  } else if (WIFEXITED(status)) {
    o.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    o.exit_code = 128 + WTERMSIG(status);
  }
  return o;
}

}  // namespace

// Bazel's defaults are relative to the runfiles root, where a test starts;
// tests that run a program from another directory need them absolute.
std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) abort();
  return std::string(cwd) + "/" + path;
}

std::string DetrunBin() { return Absolute(EnvOr("DETRUN_BIN", DETRUN_BIN_DEFAULT)); }

std::string Probe(const std::string& name) {
  return Absolute(EnvOr("DETRUN_PROBES_DIR", DETRUN_PROBES_DIR_DEFAULT)) + "/" + name;
}

std::string Example(const std::string& path) {
  return Absolute(EnvOr("DETRUN_EXAMPLES_DIR", DETRUN_EXAMPLES_DIR_DEFAULT)) + "/" + path;
}

Output RunProgram(const std::vector<std::string>& argv, const std::string& input,
           double timeout_seconds) {
  signal(SIGPIPE, SIG_IGN);
  int stdin_fd = -1;
  Running r = StartWithStdin(argv, &stdin_fd);
  return Collect(r, stdin_fd, input, timeout_seconds);
}

Output Detrun(const std::vector<std::string>& args, const std::string& input,
              double timeout_seconds) {
  std::vector<std::string> argv = {DetrunBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, input, timeout_seconds);
}

std::string Twice(std::vector<std::string> flags, const std::vector<std::string>& command) {
  flags.push_back("--");
  flags.insert(flags.end(), command.begin(), command.end());
  Output a = Detrun(flags);
  Output b = Detrun(flags);
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out) << "two runs differ";
  return a.out;
}

Running Start(const std::vector<std::string>& argv) {
  return StartWithStdin(argv, nullptr);
}

Output Wait(Running& running, double timeout_seconds) {
  return Collect(running, -1, "", timeout_seconds);
}

std::string MakeTempDir() {
  std::string base = EnvOr("TMPDIR", "/tmp") + "/detrun-test.XXXXXX";
  std::vector<char> tmpl(base.begin(), base.end());
  tmpl.push_back('\0');
  if (mkdtemp(tmpl.data()) == nullptr) abort();
  return tmpl.data();
}

void RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return;
  RunProgram({"rm", "-rf", "--", path});
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

namespace {

// Calls `each` with every match of `pattern` in `text` (see harness.h) and
// its offsets, until it returns false.
void ForEachMatch(
    const std::string& text, const std::string& pattern,
    const std::function<bool(const std::vector<std::string>&, size_t, size_t)>& each) {
  regex_t re;
  const int error = regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NEWLINE);
  if (error != 0) {
    char why[256];
    regerror(error, &re, why, sizeof why);
    ADD_FAILURE() << "bad regular expression '" << pattern << "': " << why;
    return;
  }
  std::vector<regmatch_t> groups(re.re_nsub + 1);
  size_t at = 0;
  while (at <= text.size()) {
    // REG_STARTEND: the text may hold NULs, and ^ still sees what precedes
    // `at`.
    groups[0].rm_so = static_cast<regoff_t>(at);
    groups[0].rm_eo = static_cast<regoff_t>(text.size());
    if (regexec(&re, text.c_str(), groups.size(), groups.data(), REG_STARTEND) != 0) break;
    std::vector<std::string> match;
    for (const regmatch_t& g : groups) {
      match.push_back(g.rm_so < 0 ? std::string() : text.substr(g.rm_so, g.rm_eo - g.rm_so));
    }
    const size_t begin = groups[0].rm_so, end = groups[0].rm_eo;
    if (!each(match, begin, end)) break;
    at = end > begin ? end : end + 1;  // past an empty match
  }
  regfree(&re);
}

}  // namespace

std::vector<std::vector<std::string>> RegexMatches(const std::string& text,
                                                   const std::string& pattern) {
  std::vector<std::vector<std::string>> all;
  ForEachMatch(text, pattern, [&](const std::vector<std::string>& m, size_t, size_t) {
    all.push_back(m);
    return true;
  });
  return all;
}

std::vector<std::string> RegexSearch(const std::string& text, const std::string& pattern) {
  std::vector<std::string> first;
  ForEachMatch(text, pattern, [&](const std::vector<std::string>& m, size_t, size_t) {
    first = m;
    return false;
  });
  return first;
}

std::vector<std::string> RegexFullMatch(const std::string& text, const std::string& pattern) {
  // POSIX takes the longest of the leftmost matches: one that spans the
  // text, if any, is the first.
  std::vector<std::string> whole;
  ForEachMatch(text, pattern, [&](const std::vector<std::string>& m, size_t begin, size_t end) {
    if (begin == 0 && end == text.size()) whole = m;
    return false;
  });
  return whole;
}

std::string RegexReplace(const std::string& text, const std::string& pattern,
                         const std::string& replacement) {
  std::string out;
  size_t copied = 0;
  ForEachMatch(text, pattern, [&](const std::vector<std::string>&, size_t begin, size_t end) {
    out.append(text, copied, begin - copied).append(replacement);
    copied = end;
    return true;
  });
  return out.append(text, copied, std::string::npos);
}

bool ProcessExists(pid_t pid) {
  if (kill(pid, 0) == 0) return true;
  return errno == EPERM;
}

std::vector<std::string> Java(std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/java", "-XX:-UsePerfData"});
  return args;
}

Output GoBuild(const std::string& dir, const std::string& main_go, const std::string& output) {
  return RunProgram({"env", "GOCACHE=" + dir + "/cache", "GOPATH=" + dir + "/gopath", "HOME=" + dir,
                     "GOFLAGS=", "/usr/bin/go", "build", "-o", output, main_go},
                    "", 300);
}

}  // namespace detrun::testing
