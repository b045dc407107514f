// Micro-benchmarks of the syscalls detrun answers, timed by Google Benchmark
// from inside the program. bench/run.sh runs this binary natively and under
// `detrun --clock=real --`: in that mode every clock the program reads runs
// at the real rate (the virtual start time plus the real time elapsed), so
// the timings are valid. Under --clock=step or --clock=frozen they are not
// (each read advances the clock by --tick, or never moves), which is why the
// per-mode clock costs in bench/RESULTS.md are measured from outside.
//
//   syscall_benchmark [--dir=PATH] [Google Benchmark flags]
//
// BM_SortedGetdents lists PATH (or $DETRUN_BENCH_DIR): bench/run.sh creates
// a directory of 100,000 empty files for it. Without one it reports an
// error and the other benchmarks still run.
#include <cpuid.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

std::string& BenchDir() {
  static std::string dir;
  return dir;
}

// Fills `len` bytes with getrandom, however many calls that takes (the
// kernel, and detrun, may return less than asked for). False on error.
bool FillRandom(char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(buf, len, 0);
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// One getrandom(16): under detrun, one notification answered by the
// supervisor (receive, write 16 bytes into the child, send).
void BM_GetrandomSmall(benchmark::State& state) {
  char buf[16];
  for (auto _ : state) {
    if (!FillRandom(buf, sizeof buf)) {
      state.SkipWithError("getrandom failed");
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * sizeof buf);
}
BENCHMARK(BM_GetrandomSmall);

// getrandom(1 MiB): throughput of a large answer.
void BM_GetrandomLarge(benchmark::State& state) {
  std::vector<char> buf(size_t{1} << 20);
  for (auto _ : state) {
    if (!FillRandom(buf.data(), buf.size())) {
      state.SkipWithError("getrandom failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_GetrandomLarge);

// The generator alone: 1 MiB of libsodium's ChaCha20 (IETF), made 64 KiB
// at a time as detrun's random module makes it (determinism/random_stream.h),
// with no copy into a child. What a supervisor-side getrandom cannot beat.
void BM_Chacha20Generate(benchmark::State& state) {
  std::vector<unsigned char> buf(size_t{1} << 20);
  unsigned char key[crypto_stream_chacha20_ietf_KEYBYTES] = {1};
  unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  constexpr size_t kChunk = 64 << 10;
  uint32_t counter = 0;
  for (auto _ : state) {
    for (size_t at = 0; at < buf.size(); at += kChunk) {
      memset(buf.data() + at, 0, kChunk);
      crypto_stream_chacha20_ietf_xor_ic(buf.data() + at, buf.data() + at, kChunk, nonce,
                                         counter, key);
      counter += kChunk / 64;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_Chacha20Generate);

// clock_gettime(CLOCK_MONOTONIC) through libc: the vDSO natively, detrun's
// patched entry point under detrun.
void BM_ClockGettime(benchmark::State& state) {
  timespec ts;
  for (auto _ : state) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_ClockGettime);

// The same clock read as a raw syscall: natively the floor an in-process
// answer that enters the kernel cannot beat; under detrun, the supervisor's
// answer to an unmarked clock_gettime.
void BM_ClockGettimeSyscall(benchmark::State& state) {
  timespec ts;
  for (auto _ : state) {
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_ClockGettimeSyscall);

// A syscall the filter lets through: under detrun, what the seccomp filter
// adds to every syscall that stays in the kernel.
void BM_GetpidSyscall(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(syscall(SYS_getpid));
  }
}
BENCHMARK(BM_GetpidSyscall);

// One CPUID (leaf 0x8000001D, the cache description glibc's start-up reads
// on AMD): in a virtual machine the hypervisor answers it, so every
// program's start-up (the loader's, or a static binary's own, detrun's)
// pays this for each of its CPU-feature and cache-size probes.
void BM_Cpuid(benchmark::State& state) {
  uint32_t sub = 0;
  for (auto _ : state) {
    uint32_t a, b, c, d;
    __cpuid_count(0x8000001d, sub & 3, a, b, c, d);
    benchmark::DoNotOptimize(a + b + c + d);
    ++sub;
  }
}
BENCHMARK(BM_Cpuid);

// Opens the directory and reads it to the end with getdents64 (32 KiB at a
// time, as glibc's readdir does): under detrun's --dirs=sorted, every
// listing comes back in byte order of the names.
void BM_SortedGetdents(benchmark::State& state) {
  const std::string& dir = BenchDir();
  if (dir.empty()) {
    state.SkipWithError("no directory: pass --dir=PATH or set DETRUN_BENCH_DIR");
    return;
  }
  std::vector<char> buf(32 << 10);
  int64_t entries = 0;
  for (auto _ : state) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      state.SkipWithError("cannot open the directory");
      break;
    }
    for (;;) {
      long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
      if (n < 0) {
        state.SkipWithError("getdents64 failed");
        break;
      }
      if (n == 0) break;
      for (long at = 0; at < n;) {
        unsigned short reclen;
        memcpy(&reclen, buf.data() + at + 16, sizeof reclen);  // d_reclen
        at += reclen;
        ++entries;
      }
    }
    close(fd);
  }
  state.SetItemsProcessed(entries);
  state.counters["entries"] = benchmark::Counter(
      static_cast<double>(entries) / static_cast<double>(std::max<int64_t>(state.iterations(), 1)));
}
BENCHMARK(BM_SortedGetdents)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (sodium_init() < 0) {
    fprintf(stderr, "syscall_benchmark: sodium_init failed\n");
    return 1;
  }
  if (const char* env = getenv("DETRUN_BENCH_DIR"); env != nullptr) BenchDir() = env;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--dir=", 6) == 0) {
      BenchDir() = argv[i] + 6;
    } else {
      fprintf(stderr, "syscall_benchmark: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
