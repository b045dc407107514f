#include "core/process_table.h"

#include <linux/sched.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace detrun {
namespace {

// A fake kernel: which task belongs to which process and parent, and the
// last pid allocated.
struct FakeKernel {
  std::map<pid_t, TaskInfo> tasks;
  pid_t last_pid = 0;

  ProcessTable::Hooks Hooks(pid_t pid_max = 32768) {
    ProcessTable::Hooks h;
    h.task_info = [this](pid_t tid) -> std::optional<TaskInfo> {
      auto it = tasks.find(tid);
      if (it == tasks.end()) return std::nullopt;
      return TaskInfo{it->second.tgid, it->second.ppid};
    };
    h.last_pid = [this] { return last_pid; };
    h.pid_max = pid_max;
    h.open_pidfds = false;
    return h;
  }
  // The kernel runs a clone: allocates `pid` (a process or a thread).
  void Spawn(pid_t pid, pid_t tgid, pid_t ppid) {
    tasks[pid] = TaskInfo{tgid, ppid};
    last_pid = pid;
  }
};

class ProcessTableTest : public ::testing::Test {
 protected:
  // The run's first process, pid `pid`, identified.
  ThreadState* StartRoot(ProcessTable& table, pid_t pid = 100) {
    k_.Spawn(pid, pid, 1);
    table.SetRoot(pid);
    return table.Identify(pid);
  }
  FakeKernel k_;
};

TEST_F(ProcessTableTest, RootIsOne) {
  ProcessTable table({}, k_.Hooks());
  k_.Spawn(100, 100, 1);
  table.SetRoot(100);
  ThreadState* t = table.Identify(100);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->id.ToString(), "1");
  EXPECT_EQ(table.Identify(100), t);  // stable on later notifications
}

TEST_F(ProcessTableTest, ChildrenNamedByCreationOrderNotByFirstNotification) {
  ProcessTable table({}, k_.Hooks());
  ThreadState* root = StartRoot(table);
  // Three forks in sequence; unrelated processes take pids in between.
  table.OnClone(*root, 0);
  k_.Spawn(101, 101, 100);
  k_.last_pid = 104;  // someone else forked
  table.OnClone(*root, 0);
  k_.Spawn(105, 105, 100);
  table.OnClone(*root, 0);
  k_.Spawn(106, 106, 100);
  // The children's first notifications arrive in scrambled order.
  EXPECT_EQ(table.Identify(106)->id.ToString(), "1.3");
  EXPECT_EQ(table.Identify(101)->id.ToString(), "1.1");
  EXPECT_EQ(table.Identify(105)->id.ToString(), "1.2");
}

TEST_F(ProcessTableTest, CloneCallsThatMadeNoTaskAreDroppedWhenConfirming) {
  ProcessTable table({}, k_.Hooks());
  table.ConfirmClones(true);
  ThreadState* root = StartRoot(table);
  // A fork restarted for a signal: two calls, one child. The retry takes
  // the first call's place; the kernel allocated (and freed) a pid for it.
  table.OnClone(*root, 0);
  k_.last_pid = 101;
  table.OnClone(*root, 0);
  k_.Spawn(102, 102, 100);
  table.Confirmed(100);
  // A thread clone refused (EAGAIN), then a fork: the fork is the first
  // child still, and the refused thread number is given back.
  table.OnClone(*root, CLONE_THREAD);
  table.OnClone(*root, 0);
  k_.Spawn(103, 103, 100);
  table.Confirmed(100);
  table.OnClone(*root, CLONE_THREAD);
  k_.Spawn(104, 100, 1);
  table.Confirmed(100);
  EXPECT_EQ(table.Identify(102)->id.ToString(), "1.1");
  EXPECT_EQ(table.Identify(103)->id.ToString(), "1.2");
  EXPECT_EQ(table.Identify(104)->id.ToString(), "1:1");
}

TEST_F(ProcessTableTest, AnUnconfirmedCloneThatMadeATaskIsKept) {
  // A child identified from a record whose ptrace event never came (a
  // CLONE_UNTRACED child) keeps its number; the next child gets the next.
  ProcessTable table({}, k_.Hooks());
  table.ConfirmClones(true);
  ThreadState* root = StartRoot(table);
  table.OnClone(*root, 0);
  k_.Spawn(101, 101, 100);
  EXPECT_EQ(table.Identify(101)->id.ToString(), "1.1");
  table.OnClone(*root, 0);
  k_.Spawn(102, 102, 100);
  EXPECT_EQ(table.Identify(102)->id.ToString(), "1.2");
}

TEST_F(ProcessTableTest, GrandchildrenAndThreads) {
  ProcessTable table({}, k_.Hooks());
  ThreadState* root = StartRoot(table);
  table.OnClone(*root, 0);
  k_.Spawn(101, 101, 100);
  ThreadState* child = table.Identify(101);
  table.OnClone(*child, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND);
  k_.Spawn(102, 101, 100);
  table.OnClone(*child, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND);
  k_.Spawn(103, 101, 100);
  table.OnClone(*child, 0);
  k_.Spawn(104, 104, 101);
  EXPECT_EQ(table.Identify(103)->id.ToString(), "1.1:2");
  EXPECT_EQ(table.Identify(104)->id.ToString(), "1.1.1");
  EXPECT_EQ(table.Identify(102)->id.ToString(), "1.1:1");
  EXPECT_EQ(table.Identify(102)->process, child->process);
}

TEST_F(ProcessTableTest, PidWrapAround) {
  ProcessTable table({}, k_.Hooks(/*pid_max=*/32768));
  ThreadState* root = StartRoot(table, 32760);
  k_.last_pid = 32767;
  table.OnClone(*root, 0);
  k_.Spawn(301, 301, 32760);  // wrapped (low pids were in use)
  table.OnClone(*root, 0);
  k_.Spawn(302, 302, 32760);
  EXPECT_EQ(table.Identify(302)->id.ToString(), "1.2");
  EXPECT_EQ(table.Identify(301)->id.ToString(), "1.1");
}

TEST_F(ProcessTableTest, OrphanMatchedAgainstTombstone) {
  ProcessTable table({}, k_.Hooks());
  ThreadState* root = StartRoot(table);
  table.OnClone(*root, 0);
  k_.Spawn(101, 101, 100);
  ThreadState* sh = table.Identify(101);
  table.OnClone(*sh, 0);
  table.OnClone(*sh, 0);
  k_.Spawn(102, 102, 101);  // the 2nd clone: the 1st failed (EAGAIN)
  // sh exits before its child is first seen; the child is re-parented to
  // detrun (pid 1 here), which the table does not know.
  table.OnExitReady(101, /*thread=*/false);
  k_.tasks[102].ppid = 1;
  EXPECT_EQ(table.Identify(102)->id.ToString(), "1.1.2");
  EXPECT_EQ(table.unmatched_count(), 0u);
}

TEST_F(ProcessTableTest, UnknownOriginGetsZeroIdentity) {
  ProcessTable table({}, k_.Hooks());
  StartRoot(table);
  k_.Spawn(200, 200, 50);
  EXPECT_EQ(table.Identify(200)->id.ToString(), "0.1");
  EXPECT_EQ(table.unmatched_count(), 1u);
}

TEST_F(ProcessTableTest, VanishedTaskIsNull) {
  ProcessTable table({}, k_.Hooks());
  EXPECT_EQ(table.Identify(4242), nullptr);
}

TEST_F(ProcessTableTest, ExitDropsProcessAndThreads) {
  ProcessTable table({}, k_.Hooks());
  ThreadState* root = StartRoot(table);
  table.OnClone(*root, CLONE_THREAD);
  k_.Spawn(101, 100, 1);
  table.Identify(101);
  EXPECT_EQ(table.thread_count(), 2u);
  table.OnExitReady(101, /*thread=*/true);
  EXPECT_EQ(table.thread_count(), 1u);
  table.OnExitReady(100, /*thread=*/false);
  EXPECT_EQ(table.thread_count(), 0u);
  EXPECT_EQ(table.process_count(), 0u);
}

TEST_F(ProcessTableTest, HooksSeeEachProcessStartAndExitOnce) {
  std::vector<std::string> seen;
  ProcessTable::Hooks hooks = k_.Hooks();
  hooks.on_process_start = [&](const ProcessState& p) {
    seen.push_back("start " + p.id.ToString());
  };
  hooks.on_process_exit = [&](const ProcessState& p) { seen.push_back("exit " + p.id.ToString()); };
  ProcessTable table({}, hooks);
  ThreadState* root = StartRoot(table);
  table.Identify(100);
  table.OnClone(*root, CLONE_THREAD);
  k_.Spawn(101, 100, 1);
  table.Identify(101);  // a thread: no new process
  table.OnClone(*root, 0);
  k_.Spawn(102, 102, 100);
  table.Identify(102);
  table.OnExitReady(101, /*thread=*/true);
  table.OnExitReady(102, /*thread=*/false);
  table.OnExitReady(100, /*thread=*/false);
  EXPECT_EQ(seen, (std::vector<std::string>{"start 1", "start 1.1", "exit 1.1", "exit 1"}));
}

// The default reading on the real kernel: the caller itself, and one of its
// threads, with their pidfds (a process pidfd, a PIDFD_THREAD one) when the
// kernel has PIDFD_GET_INFO; /proc/TID/status, without a pidfd, otherwise.
TEST(DefaultTaskInfoTest, ReadsAProcessAndAThread) {
  ProcessTable::Hooks hooks = ProcessTable::DefaultHooks();
  std::optional<TaskInfo> self = hooks.task_info(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->tgid, getpid());
  EXPECT_EQ(self->ppid, getppid());
  if (self->pidfd.ok()) {
    // A process pidfd: pidfd_send_signal of signal 0 reaches us.
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, self->pidfd.get(), 0, nullptr, 0), 0);
  }
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!done) usleep(1000);
  });
  while (tid == 0) usleep(1000);
  std::optional<TaskInfo> thread = hooks.task_info(tid);
  done = true;
  t.join();
  ASSERT_TRUE(thread.has_value());
  EXPECT_EQ(thread->tgid, getpid());
  EXPECT_EQ(thread->ppid, getppid());
  EXPECT_FALSE(hooks.task_info(-1).has_value());
}

TEST(ExitWaitStatusTest, ReadsAZombieAndAReapedProcess) {
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  ProcessState p;
  p.pid = pid;
  p.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(p.pidfd.ok());
  pollfd ready{p.pidfd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 10000), 1);
  // A zombie: from /proc/PID/stat.
  EXPECT_EQ(ExitWaitStatus(p), std::optional<int>(7 << 8));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  // Reaped: from the pidfd (Linux 6.15+), else unknown.
  const std::optional<int> after = ExitWaitStatus(p);
  if (after.has_value()) {
    EXPECT_EQ(*after, status);
  }
}

TEST_F(ProcessTableTest, StatusFromDetrunsOwnWaitpidReachesTheExitHook) {
  // A traced process detrun reaped itself (an orphan of the subreaper) is
  // gone from /proc and, before Linux 6.15, from its pidfd: the status its
  // waitpid gave is the one the hook reads.
  std::vector<std::optional<int>> statuses;
  ProcessTable::Hooks hooks = k_.Hooks();
  hooks.on_process_exit = [&](const ProcessState& p) { statuses.push_back(ExitWaitStatus(p)); };
  ProcessTable table({}, hooks);
  StartRoot(table);
  table.Identify(100);
  table.OnExitReady(100, /*thread=*/false, 3 << 8);
  EXPECT_EQ(statuses, (std::vector<std::optional<int>>{3 << 8}));
}

// A module that inherits a counter from the creating thread.
class CountingModule : public Module {
 public:
  struct State : ModuleState {
    int value = 0;
  };
  std::string_view name() const override { return "counting"; }
  void Register(Registry&) override {}
  std::unique_ptr<ModuleState> SnapshotForClone(const ThreadState& creator) override {
    auto s = std::make_unique<State>();
    s->value = static_cast<State*>(creator.module_state[0].get())->value;
    return s;
  }
  std::unique_ptr<ModuleState> NewThreadState(const ThreadState&,
                                              const ModuleState* inherited) override {
    auto s = std::make_unique<State>();
    if (inherited != nullptr) s->value = static_cast<const State*>(inherited)->value + 1;
    return s;
  }
};

TEST_F(ProcessTableTest, ModuleStateInheritsFromCreator) {
  CountingModule m;
  ProcessTable table({&m}, k_.Hooks());
  ThreadState* root = StartRoot(table);
  auto value = [](ThreadState* t) {
    return static_cast<CountingModule::State*>(t->module_state[0].get())->value;
  };
  static_cast<CountingModule::State*>(root->module_state[0].get())->value = 41;
  table.OnClone(*root, 0);
  k_.Spawn(101, 101, 100);
  // The creator moves on before its child is first seen: the child still
  // inherits what the creator had at the clone.
  static_cast<CountingModule::State*>(root->module_state[0].get())->value = 1000;
  ThreadState* child = table.Identify(101);
  EXPECT_EQ(value(child), 42);
}

}  // namespace
}  // namespace detrun
