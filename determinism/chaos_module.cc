#include "determinism/chaos_module.h"

#include <sys/syscall.h>

#include <string>

#include "core/process_table.h"
#include "determinism/kernel_time.h"

namespace detrun {
namespace {

// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

// FNV-1a of the identity's text: stable across builds and machines
// (std::hash is not).
uint64_t IdentityHash(const ThreadIdentity& thread) {
  uint64_t h = 0xcbf29ce484222325u;
  for (char c : thread.ToString()) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3u;
  }
  return h;
}

struct ChaosThread : ModuleState {
  uint64_t key = 0;    // Mix(seed ^ identity hash), fixed per thread
  uint64_t calls = 0;  // chaos calls made so far
};

// The calls a thread waits or wakes another with, each of which the kernel
// may already interrupt with EINTR (chaos_module.h says why that matters).
constexpr struct {
  int nr;
  const char* reason;
} kChaosSyscalls[] = {
    {SYS_futex, "chaos: delays wake-ups and waits"},
    {SYS_sched_yield, "chaos: delays yields"},
    {SYS_poll, "chaos: delays event-loop waits"},
    {SYS_ppoll, "chaos: delays event-loop waits"},
    {SYS_select, "chaos: delays event-loop waits"},
    {SYS_pselect6, "chaos: delays event-loop waits"},
    {SYS_epoll_wait, "chaos: delays event-loop waits"},
    {SYS_epoll_pwait, "chaos: delays event-loop waits"},
    {SYS_epoll_pwait2, "chaos: delays event-loop waits"},
    {SYS_connect, "chaos: delays connections"},
    {SYS_accept, "chaos: delays connections"},
    {SYS_accept4, "chaos: delays connections"},
};

int64_t DelayFor(uint64_t thread_key, uint64_t call_index) {
  const uint64_t h = Mix(thread_key + call_index * 0x9e3779b97f4a7c15u);
  if (h % ChaosModule::kOneIn != 0) return 0;
  return static_cast<int64_t>((h >> 16) % ChaosModule::kMaxDelayNs) + 1;
}

uint64_t ThreadKey(uint64_t seed, const ThreadIdentity& thread) {
  return Mix(seed ^ IdentityHash(thread));
}

}  // namespace

int64_t ChaosDelayNs(uint64_t seed, const ThreadIdentity& thread, uint64_t call_index) {
  return DelayFor(ThreadKey(seed, thread), call_index);
}

ChaosModule::ChaosModule(const Config& config) : seed_(config.chaos_seed.value_or(0)) {}

void ChaosModule::Register(Registry& registry) {
  slot_ = registry.current_module_index();
  for (const auto& call : kChaosSyscalls) {
    registry.Notify(
        call.nr, [this](SyscallContext& ctx) { return MaybeDelay(ctx); }, call.reason);
  }
}

std::unique_ptr<ModuleState> ChaosModule::NewThreadState(const ThreadState& thread,
                                                         const ModuleState*) {
  auto state = std::make_unique<ChaosThread>();
  state->key = ThreadKey(seed_, thread.id);
  return state;
}

std::optional<Response> ChaosModule::MaybeDelay(SyscallContext& ctx) {
  auto* state = static_cast<ChaosThread*>(ctx.thread.module_state[slot_].get());
  if (state == nullptr) return std::nullopt;
  const int64_t delay = DelayFor(state->key, state->calls++);
  if (delay == 0 || spent_ns_ >= kBudgetNs) return std::nullopt;
  spent_ns_ += delay;
  // Held, then run by the kernel as asked.
  return Response::HeldUntil(RealMonotonicNs() + delay, Response::Continue());
}

}  // namespace detrun
