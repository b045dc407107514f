// ChaosModule (--chaos=SEED): seeded real-time delays at some intercepted
// calls, so that races a test wins on an idle machine show up in a sweep
// (`detrun flaky --chaos`). It is the one module that makes a run *less*
// repeatable on purpose; without --chaos it is not created at all.
//
// What it delays: the calls where one thread or process waits for, or
// wakes, another — futex (every op: mutexes under contention, condition
// variables, joins, wake-ups), sched_yield, the poll/select/epoll family,
// and the socket hand-offs connect, accept and accept4. Each of these may
// already fail with EINTR in the kernel when a signal arrives, which is
// what a held call gives too (core/supervisor.cc answers a held call whose
// thread has a signal to take with ERESTARTNOHAND); calls that never see
// EINTR natively (read/write on files, clone, execve) are left alone.
// A call another module answers first (a timed futex in --clock=step, say)
// is not delayed: modules are asked in order and chaos comes last.
//
// Which calls wait, and for how long, is a pure function of the seed, the
// thread's identity (core/process_identity.h) and how many chaos calls that
// thread made before (ChaosDelayNs): the same seed plans the same delays on
// every run, which is why a chaos seed belongs in a reproducer. The race
// itself still depends on the machine's scheduling, so a chaos failure
// replays often, not always. About one call in kOneIn is held, for up to
// kMaxDelayNs of real time; a run's delays stop once they add up to
// kBudgetNs, so a program making millions of such calls is slowed by at
// most that much.
#ifndef DETRUN_DETERMINISM_CHAOS_MODULE_H_
#define DETRUN_DETERMINISM_CHAOS_MODULE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "core/config.h"
#include "core/module.h"
#include "core/process_identity.h"

namespace detrun {

// The delay planned for the `call_index`-th (from 0) chaos call of
// `thread` under `seed`: 0 (no delay) for most calls, else 1 ns to
// ChaosModule::kMaxDelayNs.
int64_t ChaosDelayNs(uint64_t seed, const ThreadIdentity& thread, uint64_t call_index);

class ChaosModule : public Module {
 public:
  static constexpr uint64_t kOneIn = 8;
  static constexpr int64_t kMaxDelayNs = 4'000'000;    // 4 ms
  static constexpr int64_t kBudgetNs = 2'000'000'000;  // 2 s per run

  // `config.chaos_seed` must be set.
  explicit ChaosModule(const Config& config);

  std::string_view name() const override { return "chaos"; }
  void Register(Registry& registry) override;
  std::unique_ptr<ModuleState> NewThreadState(const ThreadState& thread,
                                              const ModuleState* inherited) override;

 private:
  std::optional<Response> MaybeDelay(SyscallContext& ctx);

  const uint64_t seed_;
  int slot_ = -1;         // this module's index in ThreadState::module_state
  int64_t spent_ns_ = 0;  // delays planned so far in this run  // delays planned so far in this run
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_CHAOS_MODULE_H_
