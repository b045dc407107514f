// compare_commands: whole-program timing, side by side.
//
//   compare_commands [--no-warmup] RUNS 'CMD A' 'CMD B' ...
//
// Runs the commands interleaved (A B C A B C ...) RUNS times each, so that
// machine noise hits every command alike, and prints a Markdown table of
// medians and ratios to the first command: of the wall time, then of the
// CPU time (user + system) of the command and everything it waited for,
// which other load on a shared machine disturbs less (but which leaves out
// time spent blocked, such as a child waiting for detrun's answer). Commands are split on spaces and
// executed directly (no shell, whose start-up would swamp small programs);
// their output goes to /dev/null. A command that fails is reported and
// makes the tool exit 1: a benchmark of a broken run means nothing.
// Each command first runs once untimed, to warm the page cache; with
// --no-warmup it does not (for long commands, such as a compile, whose
// caller warms the cache once instead of once per command).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct Times {
  double wall = -1;  // negative: the run failed
  double cpu = 0;
};

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

// Returns the wall and CPU time of one run (wall < 0 if it failed).
Times RunOnce(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  double start = Now();
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Times t;
  t.wall = Now() - start;
  t.cpu = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) t.wall = -1;
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool warmup = true;
  if (argc > 1 && std::string(argv[1]) == "--no-warmup") {
    warmup = false;
    --argc;
    ++argv;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: compare_commands [--no-warmup] RUNS 'CMD A' ['CMD B' ...]\n");
    return 2;
  }
  int runs = atoi(argv[1]);
  if (runs < 1) {
    fprintf(stderr, "compare_commands: RUNS must be a positive integer, not '%s'\n", argv[1]);
    return 2;
  }
  std::vector<std::vector<std::string>> commands;
  for (int i = 2; i < argc; ++i) {
    commands.push_back(absl::StrSplit(argv[i], ' ', absl::SkipEmpty()));
  }
  std::vector<std::vector<double>> times(commands.size());
  std::vector<std::vector<double>> cpu(commands.size());
  if (warmup) {
    for (auto& c : commands) RunOnce(c);  // warm the page cache
  }
  for (int r = 0; r < runs; ++r) {
    for (size_t i = 0; i < commands.size(); ++i) {
      Times t = RunOnce(commands[i]);
      if (t.wall < 0) {
        fprintf(stderr, "compare_commands: '%s' failed\n", argv[2 + i]);
        return 1;
      }
      times[i].push_back(t.wall);
      cpu[i].push_back(t.cpu);
    }
  }
  double base = Median(times[0]);
  double cpu_base = Median(cpu[0]);
  printf("| command | median | ratio to first | CPU median | CPU ratio |\n"
         "|---|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < commands.size(); ++i) {
    double m = Median(times[i]);
    double c = Median(cpu[i]);
    printf("| `%s` | %.3f ms | %.2fx | %.3f ms | %.2fx |\n", argv[2 + i], m * 1000, m / base,
           c * 1000, cpu_base > 0 ? c / cpu_base : 0.0);
  }
  return 0;
}
