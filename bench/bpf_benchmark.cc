// Micro-benchmarks of the pure policy layer: building and compiling a
// realistic policy (done once per run, before exec), and evaluating the
// compiled filter in the userspace interpreter (a proxy for the number of
// BPF instructions the kernel runs on every syscall of the child).
#include <asm/unistd_64.h>
#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/seccomp.h>

#include <cstdlib>
#include <iostream>

#include "benchmark/benchmark.h"
#include "core/bpf_interpreter.h"
#include "core/syscall_policy.h"

namespace detrun {
namespace {

// About what the determinism modules ask for: the escape denials, ~40
// notified syscalls, and a few filtered on their arguments so the common
// case stays in the kernel.
SyscallPolicy DefaultLikePolicy() {
  SyscallPolicy policy;
  AddEscapeDenials(policy);
  for (int nr :
       {__NR_clock_gettime, __NR_gettimeofday, __NR_time, __NR_clock_getres,
        __NR_clock_nanosleep, __NR_nanosleep, __NR_getrandom, __NR_getdents,
        __NR_getdents64, __NR_uname, __NR_sched_getaffinity, __NR_sysinfo,
        __NR_times, __NR_getrusage, __NR_timerfd_create, __NR_timerfd_settime,
        __NR_timerfd_gettime, __NR_timer_create, __NR_timer_settime,
        __NR_timer_gettime, __NR_alarm, __NR_setitimer, __NR_getitimer,
        __NR_open, __NR_openat, __NR_openat2, __NR_stat, __NR_fstat,
        __NR_lstat, __NR_newfstatat, __NR_statx, __NR_execve, __NR_execveat,
        __NR_clone, __NR_clone3, __NR_fork, __NR_vfork, __NR_wait4,
        __NR_waitid, __NR_lseek}) {
    policy.Add(nr, SyscallAction::Notify(), "module");
  }
  // Blocking calls only when they carry a timeout.
  const int futex_cmd_mask = 0x7f;  // FUTEX_CMD_MASK without the flags
  policy.Add(__NR_futex,
             SyscallRule{{ArgMatcher::MaskedEq32(1, futex_cmd_mask, FUTEX_WAIT),
                          ArgMatcher::Ne64(3, 0)},
                         SyscallAction::Notify(), "futex wait with timeout"});
  policy.Add(__NR_futex,
             SyscallRule{{ArgMatcher::MaskedEq32(1, futex_cmd_mask, FUTEX_WAIT_BITSET),
                          ArgMatcher::Ne64(3, 0)},
                         SyscallAction::Notify(), "futex wait_bitset with timeout"});
  policy.Add(__NR_poll, SyscallRule{{ArgMatcher::Ne32(2, 0)},
                                    SyscallAction::Notify(), "poll with timeout"});
  policy.Add(__NR_epoll_wait, SyscallRule{{ArgMatcher::Ne32(3, 0)},
                                          SyscallAction::Notify(), "epoll with timeout"});
  policy.Add(__NR_ppoll, SyscallRule{{ArgMatcher::Ne64(2, 0)},
                                     SyscallAction::Notify(), "ppoll with timeout"});
  return policy;
}

bpf::Program CompiledDefault() {
  absl::StatusOr<bpf::Program> program = DefaultLikePolicy().Compile();
  if (!program.ok()) {
    std::cerr << program.status() << "\n";
    std::abort();
  }
  return *std::move(program);
}

seccomp_data Call(int nr, uint64_t arg1 = 0, uint64_t arg3 = 0) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_X86_64;
  data.nr = nr;
  data.args[1] = arg1;
  data.args[3] = arg3;
  return data;
}

void BM_BuildAndCompileDefaultPolicy(benchmark::State& state) {
  size_t size = 0;
  for (auto _ : state) {
    absl::StatusOr<bpf::Program> program = DefaultLikePolicy().Compile();
    benchmark::DoNotOptimize(program);
    size = program.ok() ? program->size() : 0;
  }
  state.counters["instructions"] = static_cast<double>(size);
}
BENCHMARK(BM_BuildAndCompileDefaultPolicy);

void Evaluate(benchmark::State& state, const seccomp_data& data,
              uint32_t expected) {
  const bpf::Program program = CompiledDefault();
  absl::StatusOr<uint32_t> check = bpf::Evaluate(program, data);
  if (!check.ok() || *check != expected) {
    state.SkipWithError("the compiled policy gave an unexpected answer");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<uint32_t> result = bpf::Evaluate(program, data);
    benchmark::DoNotOptimize(result);
  }
}

void BM_EvaluateAllowed(benchmark::State& state) {
  Evaluate(state, Call(__NR_read), SECCOMP_RET_ALLOW);
}
BENCHMARK(BM_EvaluateAllowed);

void BM_EvaluateNotified(benchmark::State& state) {
  Evaluate(state, Call(__NR_clock_gettime), SECCOMP_RET_USER_NOTIF);
}
BENCHMARK(BM_EvaluateNotified);

void BM_EvaluateNotifiedOnArguments(benchmark::State& state) {
  Evaluate(state, Call(__NR_futex, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0x7ffc0000),
           SECCOMP_RET_USER_NOTIF);
}
BENCHMARK(BM_EvaluateNotifiedOnArguments);

void BM_EvaluateDenied(benchmark::State& state) {
  Evaluate(state, Call(__NR_ptrace), SECCOMP_RET_ERRNO | 1);
}
BENCHMARK(BM_EvaluateDenied);

}  // namespace
}  // namespace detrun

BENCHMARK_MAIN();
