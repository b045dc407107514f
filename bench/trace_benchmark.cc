// Micro-benchmarks of `--record`'s cost per event: detrun's own trace
// recorder (replay/trace_recorder.h) and writer (replay/trace_writer.h),
// driven the way the supervisor drives them, writing to a temporary file
// ($TMPDIR, else /tmp) that is removed at the end.
//
// The trace file is started afresh every kRestartEvents events, with the
// timer paused, so that a long run does not fill the disk; the cost of
// each restart is not counted.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "core/module.h"
#include "core/process_table.h"
#include "replay/trace_format.h"
#include "replay/trace_recorder.h"
#include "replay/trace_writer.h"

namespace detrun {
namespace {

constexpr int64_t kRestartEvents = 200000;

std::string& TracePath() {
  static std::string path;
  return path;
}

// A writer with its header written, and a recorder on it, as `--record`
// has them once the command starts.
class Trace {
 public:
  Trace() { Restart(); }
  ~Trace() { Close(); }

  void Restart() {
    Close();
    absl::StatusOr<std::unique_ptr<TraceWriter>> writer = TraceWriter::Create(TracePath());
    if (!writer.ok()) {
      fprintf(stderr, "trace_benchmark: %s\n", writer.status().ToString().c_str());
      exit(1);
    }
    writer_ = *std::move(writer);
    TraceHeader header;
    header.argv = {"benchmark"};
    header.env_xxh3 = "0000000000000000";
    writer_->WriteHeader(header);
    recorder_ = std::make_unique<TraceRecorder>(*writer_);
    events_ = 0;
  }

  // Counts one event; restarts the file, off the clock, when it is long.
  void Count(benchmark::State& state) {
    if (++events_ < kRestartEvents) return;
    state.PauseTiming();
    Restart();
    state.ResumeTiming();
  }

  TraceWriter& writer() { return *writer_; }
  TraceRecorder& recorder() { return *recorder_; }

 private:
  void Close() {
    recorder_.reset();
    if (writer_ != nullptr) {
      absl::Status status = writer_->Finish(TraceEnd());
      if (!status.ok()) {
        fprintf(stderr, "trace_benchmark: %s\n", status.ToString().c_str());
        exit(1);
      }
      writer_.reset();
    }
  }

  std::unique_ptr<TraceWriter> writer_;
  std::unique_ptr<TraceRecorder> recorder_;
  int64_t events_ = 0;
};

struct Caller {
  Caller() {
    process.id = ProcessIdentity{{1, 2}};
    process.last_exec = "/usr/bin/cc";
    thread.id = ThreadIdentity{process.id, 0};
    thread.process = &process;
  }
  ProcessState process;
  ThreadState thread;
};

Notification Call(uint64_t id, int nr, std::array<uint64_t, 6> args) {
  Notification n;
  n.id = id;
  n.nr = nr;
  n.args = args;
  return n;
}

// A clock_gettime answered by the time module: 16 bytes of payload, small
// enough to be written as hex.
void BM_RecordClockGettime(benchmark::State& state) {
  Trace trace;
  Caller caller;
  uint64_t id = 0;
  int64_t ts[2] = {946684800, 0};
  for (auto _ : state) {
    Notification n = Call(++id, SYS_clock_gettime, {1, 0x7ffd0000, 0, 0, 0, 0});
    ts[1] += 1000000;
    trace.recorder().OnChildWrite(n, n.args[1], ts, sizeof ts);
    trace.recorder().OnAnswer(caller.thread, n, Response::Value(0), "time");
    trace.Count(state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordClockGettime);

// A getrandom(16) answered by the random module: recorded as a digest only.
void BM_RecordGetrandom(benchmark::State& state) {
  Trace trace;
  Caller caller;
  uint64_t id = 0;
  uint64_t bytes[2] = {0x0123456789abcdef, 0};
  for (auto _ : state) {
    Notification n = Call(++id, SYS_getrandom, {0x1000, 16, 0, 0, 0, 0});
    ++bytes[1];
    trace.recorder().OnChildWrite(n, n.args[0], bytes, sizeof bytes);
    trace.recorder().OnAnswer(caller.thread, n, Response::Value(16), "random");
    trace.Count(state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordGetrandom);

// An openat let through to the kernel (Continue): no payload, its value
// arguments only. The commonest event of a compile.
void BM_RecordContinue(benchmark::State& state) {
  Trace trace;
  Caller caller;
  uint64_t id = 0;
  for (auto _ : state) {
    Notification n = Call(++id, SYS_openat, {static_cast<uint64_t>(AT_FDCWD), 0x5000, 0, 0, 0, 0});
    trace.recorder().OnAnswer(caller.thread, n, Response::Continue(), "");
    trace.Count(state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordContinue);

// The writer alone: one prepared call event formatted and buffered.
void BM_WriteEvent(benchmark::State& state) {
  Trace trace;
  TraceEvent event;
  event.kind = TraceEvent::Kind::kCall;
  event.thread = "1.2";
  event.syscall = "clock_gettime";
  event.args = {1};
  event.answer = TraceEvent::Answer::kValue;
  event.module = "time";
  event.out.bytes = 16;
  event.out.hex = "80436d380000000040420f0000000000";
  for (auto _ : state) {
    trace.writer().WriteEvent(event);
    trace.Count(state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteEvent);

}  // namespace
}  // namespace detrun

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc > 1) {
    fprintf(stderr, "trace_benchmark: unknown argument '%s'\n", argv[1]);
    return 2;
  }
  const char* dir = getenv("TMPDIR");
  std::string path = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/trace_benchmark.XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) {
    perror("trace_benchmark: mkstemp");
    return 1;
  }
  close(fd);
  detrun::TracePath() = path;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  unlink(path.c_str());
  return 0;
}
