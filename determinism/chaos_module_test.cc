#include "determinism/chaos_module.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <set>
#include <vector>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

ThreadIdentity Thread(std::vector<uint32_t> path, uint32_t index = 0) {
  return ThreadIdentity{ProcessIdentity{std::move(path)}, index};
}

std::vector<int64_t> Plan(uint64_t seed, const ThreadIdentity& thread, int calls) {
  std::vector<int64_t> delays;
  for (int i = 0; i < calls; ++i) delays.push_back(ChaosDelayNs(seed, thread, i));
  return delays;
}

TEST(ChaosDelayTest, APureFunctionOfSeedThreadAndCallIndex) {
  EXPECT_EQ(Plan(7, Thread({1, 2}), 500), Plan(7, Thread({1, 2}), 500));
  EXPECT_NE(Plan(7, Thread({1, 2}), 500), Plan(8, Thread({1, 2}), 500));
  EXPECT_NE(Plan(7, Thread({1, 2}), 500), Plan(7, Thread({1, 3}), 500));
  EXPECT_NE(Plan(7, Thread({1, 2}), 500), Plan(7, Thread({1, 2}, 1), 500));
}

TEST(ChaosDelayTest, AboutOneCallInEightWaitsAtMostTheMaximum) {
  const int kCalls = 80'000;
  int delayed = 0;
  std::set<int64_t> distinct;
  for (const int64_t d : Plan(12345, Thread({1}), kCalls)) {
    ASSERT_GE(d, 0);
    ASSERT_LE(d, ChaosModule::kMaxDelayNs);
    if (d > 0) {
      ++delayed;
      distinct.insert(d);
    }
  }
  EXPECT_GT(delayed, kCalls / 9);
  EXPECT_LT(delayed, kCalls / 7);
  EXPECT_GT(distinct.size(), static_cast<size_t>(delayed) * 9 / 10);  // spread, not one value
}

// The handler on this very process: held answers carry the planned delay
// and a Continue; other calls are left to the kernel.
TEST(ChaosModuleTest, HoldsExactlyThePlannedCallsAndLetsTheKernelRunThem) {
  Config config;
  config.chaos_seed = 99;
  ChaosModule module(config);
  Registry registry;
  registry.BeginModule(0, "chaos");
  module.Register(registry);
  const auto dispatch = registry.BuildDispatch();
  ASSERT_EQ(dispatch[SYS_futex].size(), 1u);
  ASSERT_EQ(dispatch[SYS_sched_yield].size(), 1u);
  EXPECT_TRUE(dispatch[SYS_write].empty());
  EXPECT_TRUE(dispatch[SYS_clone].empty());

  ProcessState process;
  process.id = ProcessIdentity::Root();
  process.pid = getpid();
  ThreadState thread;
  thread.id = Thread({1});
  thread.tid = getpid();
  thread.process = &process;
  thread.module_state.push_back(module.NewThreadState(thread, nullptr));
  ChildMemory memory(-1);
  Notification n;
  n.nr = SYS_sched_yield;
  for (int i = 0; i < 200; ++i) {
    SyscallContext ctx{n, thread, process, memory, config, nullptr};
    std::optional<Response> r = dispatch[SYS_sched_yield][0].handler(ctx);
    const int64_t planned = ChaosDelayNs(99, thread.id, i);
    if (planned == 0) {
      EXPECT_FALSE(r.has_value()) << i;
    } else {
      ASSERT_TRUE(r.has_value()) << i;
      EXPECT_EQ(r->kind, Response::Kind::kContinue);
      EXPECT_GT(r->hold_until_ns, 0);
    }
  }
}

}  // namespace
}  // namespace detrun
