#include "cli/job_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/exit_status.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr absl::Duration kKillGrace = absl::Seconds(2);
// How long to wait for the end of output once a job has exited: a
// descendant that outlived it may hold the pipe (detrun ends its own, but
// a job need not be detrun).
constexpr absl::Duration kDrainAfterExit = absl::Seconds(1);
constexpr int kPollMs = 50;

volatile sig_atomic_t g_interrupt_signal = 0;

void OnSignal(int sig) {
  if (g_interrupt_signal == 0) g_interrupt_signal = sig;
}

absl::Time MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::TimeFromTimespec(ts);
}

// Installs the handlers while alive, restores the old ones after.
class SignalScope {
 public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i) {
      sigaction(kForwardedSignals[i], &sa, &old_[i]);
    }
  }
  ~SignalScope() {
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i) {
      sigaction(kForwardedSignals[i], &old_[i], nullptr);
    }
  }

 private:
  struct sigaction old_[std::size(kForwardedSignals)];
};

struct Running {
  size_t index = 0;
  pid_t pid = -1;
  UniqueFd out;  // invalid once at end of output, or for file output
  absl::Time started;
  absl::Time deadline;
  std::optional<absl::Time> kill_at;  // set once SIGTERM was sent
  std::optional<absl::Time> exited_at;
  int wait_status = 0;
  std::string partial_line;
  JobResult result;
};

void AppendTail(std::string& tail, std::string_view data) {
  tail.append(data);
  if (tail.size() > 2 * kTailBytes) tail.erase(0, tail.size() - kTailBytes);
}

void MatchLines(const Job& job, Running& r, std::string_view data, bool at_end) {
  if (!job.line_matcher) return;
  for (char c : data) {
    if (c == '\n') {
      if (!r.result.matched && job.line_matcher(r.partial_line)) r.result.matched = true;
      r.partial_line.clear();
    } else if (r.partial_line.size() < kMaxLineBytes) {
      r.partial_line.push_back(c);
    }
  }
  if (at_end && !r.partial_line.empty()) {
    if (!r.result.matched && job.line_matcher(r.partial_line)) r.result.matched = true;
    r.partial_line.clear();
  }
}

// Reads what is available; closes the pipe at end of output.
void Drain(const Job& job, Running& r) {
  char buf[65536];
  while (r.out.ok()) {
    ssize_t n = read(r.out.get(), buf, sizeof buf);
    if (n > 0) {
      std::string_view data(buf, static_cast<size_t>(n));
      AppendTail(r.result.tail, data);
      MatchLines(job, r, data, false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    MatchLines(job, r, "", true);
    r.out.reset();
  }
}

// Writes `text` to a /proc/self file, between fork and exec.
bool WriteSelfFile(const char* path, const char* text, size_t size) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, text, size) == static_cast<ssize_t>(size);
  close(fd);
  return ok;
}

// In the child: a private mount namespace where `source` covers `target`.
// Returns a message for the failed step, or nullptr. Async-signal-safe:
// the id maps were formatted before the fork.
const char* BindOver(const char* source, const char* target, const std::string& uid_map,
                     const std::string& gid_map) {
  if (unshare(CLONE_NEWNS) != 0) {
    if (errno != EPERM) return "detrun: cannot make a mount namespace\n";
    // An ordinary user: a user namespace gives the capability, mapping
    // only our own ids (all it may map).
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return "detrun: cannot make a user and mount namespace\n";
    }
    if (!WriteSelfFile("/proc/self/setgroups", "deny", 4) ||
        !WriteSelfFile("/proc/self/uid_map", uid_map.data(), uid_map.size()) ||
        !WriteSelfFile("/proc/self/gid_map", gid_map.data(), gid_map.size())) {
      return "detrun: cannot map ids in the user namespace\n";
    }
  }
  // Private first, so the bind mount never propagates to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return "detrun: cannot make the mounts private\n";
  }
  if (mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return "detrun: cannot bind-mount the build tree\n";
  }
  return nullptr;
}

// Forks and execs one job. Everything the child needs is prepared here, so
// that between fork and exec it only makes async-signal-safe calls.
absl::Status Start(const Job& job, Running& r) {
  if (job.argv.empty()) return absl::InvalidArgumentError("empty job");
  std::vector<char*> argv;
  for (const std::string& a : job.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.ok()) return absl::ErrnoToStatus(errno, "open /dev/null");
  int out_write = -1;
  UniqueFd out_file;
  int pipe_fds[2] = {-1, -1};
  if (!job.output_file.empty()) {
    out_file =
        UniqueFd(open(job.output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out_file.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("open ", job.output_file));
    out_write = out_file.get();
  } else {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
    out_write = pipe_fds[1];
  }
  const char* cwd = job.cwd.empty() ? nullptr : job.cwd.c_str();
  const char* bind_source = job.bind_over_cwd.empty() ? nullptr : job.bind_over_cwd.c_str();
  if (bind_source != nullptr && cwd == nullptr) {
    return absl::InvalidArgumentError("bind_over_cwd needs cwd");
  }
  const std::string uid_map = absl::StrCat(getuid(), " ", getuid(), " 1");
  const std::string gid_map = absl::StrCat(getgid(), " ", getgid(), " 1");
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    if (pipe_fds[0] >= 0) close(pipe_fds[0]), close(pipe_fds[1]);
    return absl::ErrnoToStatus(e, "fork");
  }
  if (pid == 0) {
    setsid();
    dup2(devnull.get(), STDIN_FILENO);
    dup2(out_write, STDOUT_FILENO);
    dup2(out_write, STDERR_FILENO);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : kForwardedSignals) sigaction(sig, &dfl, nullptr);
    sigaction(SIGPIPE, &dfl, nullptr);
    if (bind_source != nullptr) {
      if (const char* error = BindOver(bind_source, cwd, uid_map, gid_map); error != nullptr) {
        ssize_t ignored = write(STDERR_FILENO, error, strlen(error));
        (void)ignored;
        _exit(kExitInternalError);
      }
    }
    if (cwd != nullptr && chdir(cwd) != 0) {
      static const char kMessage[] = "detrun: cannot enter the job's directory\n";
      ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
      (void)ignored;
      _exit(kExitInternalError);
    }
    execv(argv[0], argv.data());
    const int exec_errno = errno;
    static const char kMessage[] = "detrun: cannot execute the job\n";
    ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
    _exit(exec_errno == ENOENT ? kExitNotFound : kExitCannotExecute);
  }
  if (pipe_fds[0] >= 0) {
    close(pipe_fds[1]);
    r.out = UniqueFd(pipe_fds[0]);
    fcntl(r.out.get(), F_SETFL, O_NONBLOCK);
  }
  r.pid = pid;
  r.started = MonotonicNow();
  r.deadline =
      job.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : r.started + job.timeout;
  return absl::OkStatus();
}

void Terminate(Running& r, absl::Time now) {
  if (r.exited_at) return;
  if (!r.kill_at) {
    kill(-r.pid, SIGTERM);
    r.kill_at = now + kKillGrace;
  } else if (now >= *r.kill_at) {
    kill(-r.pid, SIGKILL);
    r.kill_at = absl::InfiniteFuture();
  }
}

bool Finished(Running& r, absl::Time now) {
  if (!r.exited_at) {
    int status = 0;
    pid_t w = waitpid(r.pid, &status, WNOHANG);
    if (w == r.pid) {
      r.exited_at = now;
      r.wait_status = status;
    }
  }
  if (!r.exited_at) return false;
  if (r.out.ok() && now - *r.exited_at < kDrainAfterExit) return false;
  r.out.reset();
  r.result.exit_code = ExitCodeFromWaitStatus(r.wait_status);
  r.result.elapsed = *r.exited_at - r.started;
  if (r.result.tail.size() > kTailBytes) {
    r.result.tail.erase(0, r.result.tail.size() - kTailBytes);
  }
  return true;
}

}  // namespace

int InterruptSignal() { return g_interrupt_signal; }

absl::StatusOr<std::vector<JobResult>> RunJobs(
    const std::vector<Job>& jobs, int parallel,
    const std::function<void(size_t, const JobResult&)>& on_done) {
  std::vector<JobResult> results(jobs.size());
  SignalScope signals;
  std::vector<Running> running;
  size_t next = 0;
  auto cancelled = [] {
    return absl::CancelledError(absl::StrCat("interrupted by signal ", g_interrupt_signal));
  };
  while (next < jobs.size() || !running.empty()) {
    const absl::Time now = MonotonicNow();
    if (g_interrupt_signal != 0) {
      if (running.empty()) return cancelled();
      for (Running& r : running) Terminate(r, now);
    }
    while (g_interrupt_signal == 0 && next < jobs.size() &&
           running.size() < static_cast<size_t>(std::max(parallel, 1))) {
      Running r;
      r.index = next++;
      if (absl::Status s = Start(jobs[r.index], r); !s.ok()) {
        results[r.index].start_error = std::string(s.message());
        results[r.index].exit_code = kExitInternalError;
        if (on_done) on_done(r.index, results[r.index]);
        continue;
      }
      running.push_back(std::move(r));
    }
    std::vector<pollfd> fds;
    for (const Running& r : running) {
      if (r.out.ok()) fds.push_back({r.out.get(), POLLIN, 0});
    }
    int wait_ms = kPollMs;
    for (const Running& r : running) {
      if (r.deadline != absl::InfiniteFuture() && !r.kill_at) {
        wait_ms = std::min<int64_t>(
            wait_ms, std::max<int64_t>(0, absl::ToInt64Milliseconds(r.deadline - now) + 1));
      }
    }
    // Fewer open pipes than jobs: someone writes to a file or has ended
    // its output; look at the exits a little more often.
    if (fds.size() < running.size()) wait_ms = std::min(wait_ms, 10);
    poll(fds.data(), fds.size(), wait_ms);  // EINTR: a signal, seen above

    const absl::Time after = MonotonicNow();
    for (auto it = running.begin(); it != running.end();) {
      Running& r = *it;
      const Job& job = jobs[r.index];
      Drain(job, r);
      if (after >= r.deadline && !r.exited_at) {
        r.result.timed_out = true;
        Terminate(r, after);
      }
      if (!Finished(r, after)) {
        ++it;
        continue;
      }
      results[r.index] = std::move(r.result);
      if (on_done && g_interrupt_signal == 0) on_done(r.index, results[r.index]);
      it = running.erase(it);
    }
  }
  if (g_interrupt_signal != 0) return cancelled();
  return results;
}

std::string LastLines(std::string_view text, int lines) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  size_t start = text.size();  // the newline before the lines kept so far
  for (int i = 0; i < lines; ++i) {
    const size_t newline = start == 0 ? std::string_view::npos : text.rfind('\n', start - 1);
    if (newline == std::string_view::npos) return std::string(text);
    start = newline;
  }
  return std::string(text.substr(start + 1));
}

}  // namespace detrun
