#include "vdso/vdso_patch.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vdso/vdso_image.h"
#include "vdso/vdso_test_util.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kExecChildEnv[] = "DETRUN_VDSO_PATCH_TEST_EXEC_CHILD";

// When this binary is re-executed by ExecedChildSeesThePatchFromItsFirst-
// Instruction, it prints what libc's time() returns and exits before any
// test runs. glibc resolves time() to the vDSO's `time` when it loads, so
// this is what the patched vDSO answers.
[[maybe_unused]] const bool kIsExecChild = [] {
  if (getenv(kExecChildEnv) == nullptr) return false;
  printf("time=%lld\n", static_cast<long long>(time(nullptr)));
  fflush(stdout);
  _exit(0);
  return true;
}();

const VdsoImage& OwnParsed() {
  static const VdsoImage* parsed = [] {
    absl::StatusOr<VdsoImage> p = ParseVdsoImage(OwnVdso());
    EXPECT_TRUE(p.ok()) << p.status();
    return new VdsoImage(p.ok() ? *p : VdsoImage());
  }();
  return *parsed;
}

uint64_t OwnVdsoBase() { return getauxval(AT_SYSINFO_EHDR); }

// The address of `name` in this process's (and a forked child's) vDSO.
template <typename Fn>
Fn OwnVdsoFunction(const char* name) {
  const VdsoSymbol* sym = OwnParsed().Find(name);
  if (sym == nullptr) return nullptr;
  return reinterpret_cast<Fn>(OwnVdsoBase() + sym->offset);
}

// Stub bytes copied into an executable page, callable as a function.
class ExecutableCode {
 public:
  explicit ExecutableCode(const std::vector<uint8_t>& code) {
    page_ = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(page_, MAP_FAILED);
    memcpy(page_, code.data(), code.size());
    EXPECT_EQ(mprotect(page_, 4096, PROT_READ | PROT_EXEC), 0);
  }
  ~ExecutableCode() { munmap(page_, 4096); }
  template <typename Fn>
  Fn As() const { return reinterpret_cast<Fn>(page_); }

 private:
  void* page_;
};

// A forked child (same address layout, same vDSO address) that blocks on
// a pipe until Release(), then runs `body` and reports the eight int64s it
// filled in. The body must not allocate: it runs in a forked copy.
class WaitingChild {
 public:
  using Results = std::array<int64_t, 8>;

  explicit WaitingChild(std::function<void(Results&)> body) {
    EXPECT_EQ(pipe2(go_, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(result_, O_CLOEXEC), 0);
    pid_ = fork();
    if (pid_ == 0) {
      char c;
      if (read(go_[0], &c, 1) != 1) _exit(1);
      Results out{};
      body(out);
      _exit(write(result_[1], out.data(), sizeof out) == sizeof out ? 0 : 2);
    }
    close(go_[0]);
    close(result_[1]);
  }
  ~WaitingChild() {
    close(go_[1]);
    close(result_[0]);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }

  // Lets the child run; what it reported, or all -1 if it died first.
  Results Release() {
    Results out;
    out.fill(-1);
    char go = 'g';
    EXPECT_EQ(write(go_[1], &go, 1), 1);
    Results got;
    if (read(result_[0], got.data(), sizeof got) == sizeof got) out = got;
    int status = 0;
    EXPECT_EQ(waitpid(pid_, &status, 0), pid_);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    pid_ = -1;
    return out;
  }

 private:
  int go_[2] = {-1, -1};
  int result_[2] = {-1, -1};
  pid_t pid_ = -1;
};

std::vector<uint8_t> ReadChildBytes(pid_t pid, uint64_t addr, size_t len) {
  std::vector<uint8_t> out(len);
  int fd = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(pread(fd, out.data(), len, static_cast<off_t>(addr)),
            static_cast<ssize_t>(len));
  close(fd);
  return out;
}

// --- Stubs ----------------------------------------------------------------

TEST(StubTest, ExactBytes) {
  EXPECT_THAT(SyscallStub(SYS_clock_gettime),
              ElementsAre(0xb8, 0xe4, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3));
  EXPECT_THAT(ReturnStub(12345),
              ElementsAre(0x48, 0xc7, 0xc0, 0x39, 0x30, 0x00, 0x00, 0xc3));
  EXPECT_THAT(ReturnStub(-ENOSYS),
              ElementsAre(0x48, 0xc7, 0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3));
  EXPECT_THAT(ReturnStub(0x123456789a),
              ElementsAre(0x48, 0xb8, 0x9a, 0x78, 0x56, 0x34, 0x12, 0x00,
                          0x00, 0x00, 0xc3));
  EXPECT_THAT(GetrandomSyscallStub(),
              ElementsAre(0x49, 0x83, 0xf8, 0xff, 0x75, 0x08, 0x48, 0xc7,
                          0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3, 0xb8, 0x3e,
                          0x01, 0x00, 0x00, 0x0f, 0x05, 0xc3));
}

TEST(StubTest, ReturnStubsReturnTheirValue) {
  for (int64_t v : {int64_t{0}, int64_t{12345}, int64_t{-ENOSYS},
                    int64_t{INT32_MAX}, int64_t{INT32_MIN},
                    int64_t{INT32_MAX} + 1, int64_t{INT32_MIN} - 1,
                    int64_t{0x123456789a}, INT64_MAX, INT64_MIN}) {
    ExecutableCode code(ReturnStub(v));
    EXPECT_EQ(code.As<int64_t (*)()>()(), v);
  }
}

TEST(StubTest, SyscallStubsMakeTheSyscall) {
  ExecutableCode getpid_stub(SyscallStub(SYS_getpid));
  EXPECT_EQ(getpid_stub.As<int64_t (*)()>()(), getpid());

  ExecutableCode clock(SyscallStub(SYS_clock_gettime));
  timespec ts{}, now{};
  ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &now), 0);
  EXPECT_EQ(clock.As<int (*)(clockid_t, timespec*)>()(CLOCK_REALTIME, &ts), 0);
  EXPECT_GE(ts.tv_sec, now.tv_sec);
  EXPECT_LE(ts.tv_sec, now.tv_sec + 2);
  // Errors come back as -errno, as from the vDSO function itself.
  EXPECT_EQ(clock.As<int (*)(clockid_t, timespec*)>()(12345, &ts), -EINVAL);
}

// Run without a supervisor, the marked call is the kernel's own
// clock_gettime: it returns 0, which the stub takes for "0 ns" (as the
// supervisor would answer a clock at the epoch) and stores.
TEST(StubTest, StepClockStubStoresTheReturnedNanoseconds) {
  ExecutableCode code(StepClockGettimeStub(kStepClockMagic));
  auto stub = code.As<int (*)(clockid_t, timespec*)>();
  timespec ts{123, 456};
  EXPECT_EQ(stub(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 0);
  // An error (id 10 is no clock) comes back as -errno, *ts untouched.
  ts = {123, 456};
  EXPECT_EQ(stub(10, &ts), -EINVAL);
  EXPECT_EQ(ts.tv_sec, 123);
  // Ids past 11 (other processes' CPU clocks, PTP descriptors) make the
  // plain syscall: the kernel's answer and error, unchanged.
  EXPECT_EQ(stub(12345, &ts), -EINVAL);
  // This process's CPU clock by pid: (~pid << 3) | CPUCLOCK_SCHED, as
  // clock_getcpuclockid makes it.
  const clockid_t by_pid = static_cast<clockid_t>((~static_cast<unsigned>(getpid()) << 3) | 2);
  timespec cpu{};
  EXPECT_EQ(stub(by_pid, &cpu), 0);
  EXPECT_TRUE(cpu.tv_sec > 0 || cpu.tv_nsec > 0);
}

// The step stub's in-process path, against a clock page this test maps at
// kClockPageAddr itself: a slot of this thread is answered from the page;
// every condition that must reach the supervisor makes the marked call,
// which unsupervised stores 0 ns (see above) and leaves the slot alone.
TEST(StubTest, StepClockStubAnswersFromItsThreadsSlot) {
  void* page = mmap(reinterpret_cast<void*>(kClockPageAddr), kClockPageSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (page == MAP_FAILED) GTEST_SKIP() << "the clock page's address is taken in this process";
  std::vector<uint8_t> bytes = StepClockGettimeStub(kStepClockMagic);
  ASSERT_EQ(bytes.size(), kStepStubFlagOffset + 1);
  ASSERT_EQ(bytes[kStepStubFlagOffset], 0);
  ExecutableCode unflagged(bytes);
  bytes[kStepStubFlagOffset] = 1;
  ExecutableCode code(bytes);
  auto stub = code.As<int (*)(clockid_t, timespec*)>();

  auto* header = static_cast<ClockPageHeader*>(page);
  header->magic = kClockPageMagic;
  header->tick_ns = 1000;
  header->id_mask = (1u << CLOCK_REALTIME) | (1u << CLOCK_MONOTONIC);
  header->base_ns[CLOCK_REALTIME] = 1'600'000'000'000'000'000;
  header->base_ns[CLOCK_MONOTONIC] = 100'000'000'000;
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  auto* slot = reinterpret_cast<ClockPageSlot*>(ClockPageSlotAddr(tid));
  *slot = {tid, 999'999'500, INT64_MAX, 0};

  timespec ts{};
  ASSERT_EQ(stub(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 100);  // 100 s + 999'999'500 ns: the carry into seconds
  EXPECT_EQ(ts.tv_nsec, 999'999'500);
  EXPECT_EQ(slot->elapsed_ns, 1'000'000'500);
  ASSERT_EQ(stub(CLOCK_REALTIME, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 1'600'000'001);
  EXPECT_EQ(ts.tv_nsec, 500);
  EXPECT_EQ(slot->elapsed_ns, 1'000'001'500);

  // Each of these goes to the supervisor: ts = 0 ns, the slot unmoved.
  auto expect_marked = [&](const char* why, clockid_t id = CLOCK_MONOTONIC) {
    const int64_t elapsed = slot->elapsed_ns;
    timespec t{7, 7};
    EXPECT_EQ(stub(id, &t), 0) << why;
    EXPECT_EQ(t.tv_sec, 0) << why;
    EXPECT_EQ(t.tv_nsec, 0) << why;
    EXPECT_EQ(slot->elapsed_ns, elapsed) << why;
  };
  expect_marked("an id without its bit", CLOCK_BOOTTIME);
  slot->limit_ns = slot->elapsed_ns + 1000;
  expect_marked("the read would reach the limit (a timer deadline)");
  slot->limit_ns = slot->elapsed_ns + 1001;
  ASSERT_EQ(stub(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_nsec, 1'500);  // just below it: still in-process
  slot->limit_ns = INT64_MIN;
  expect_marked("the supervisor must see the next read");
  slot->limit_ns = INT64_MAX;
  slot->tid = tid + 128;
  expect_marked("another thread's slot");
  slot->tid = tid;
  header->base_ns[CLOCK_REALTIME] = -2'000'000'000;
  expect_marked("a time before 1970", CLOCK_REALTIME);
  header->base_ns[CLOCK_REALTIME] = INT64_MAX;
  expect_marked("an overflowing time", CLOCK_REALTIME);
  const int64_t saved = slot->elapsed_ns;
  slot->elapsed_ns = INT64_MAX - 10;
  expect_marked("an overflowing step");
  slot->elapsed_ns = saved;
  header->magic = 0;
  expect_marked("no header");
  header->magic = kClockPageMagic;
  {
    const int64_t elapsed = slot->elapsed_ns;
    timespec t{7, 7};
    EXPECT_EQ(unflagged.As<int (*)(clockid_t, timespec*)>()(CLOCK_MONOTONIC, &t), 0);
    EXPECT_EQ(t.tv_sec, 0) << "the flag is not set: no page is looked at";
    EXPECT_EQ(slot->elapsed_ns, elapsed);
  }
  // Other ids still make the plain syscall.
  EXPECT_EQ(stub(12345, &ts), -EINVAL);
  munmap(page, kClockPageSize);
}

// The setup request: a forked child stands in for the supervisor with a
// SIGSYS handler (SECCOMP_RET_TRAP on clock_gettime) that answers the
// first marked read with kStepStubSetup and records the report that
// follows.
namespace setup_probe {
volatile int64_t calls = 0;
volatile int64_t reported[4] = {};  // rdi, rsi, r8, r9 of the report
void OnSigsys(int, siginfo_t*, void* uc_void) {
  auto* uc = static_cast<ucontext_t*>(uc_void);
  greg_t* r = uc->uc_mcontext.gregs;
  calls = calls + 1;
  if (static_cast<uint64_t>(r[REG_R8]) == kStepStubSetupDone) {
    reported[0] = r[REG_RDI];
    reported[1] = r[REG_RSI];
    reported[2] = r[REG_R8];
    reported[3] = r[REG_R9];
    r[REG_RAX] = 0;
    return;
  }
  auto* ts = reinterpret_cast<timespec*>(r[REG_RSI]);
  ts->tv_sec = 5;
  ts->tv_nsec = 6;
  r[REG_RAX] = kStepStubSetup;
}
}  // namespace setup_probe

TEST(StubTest, StepClockStubMapsThePageWhenAsked) {
  ExecutableCode code(StepClockGettimeStub(kStepClockMagic));
  const uint64_t flag = reinterpret_cast<uint64_t>(code.As<void*>()) + kStepStubFlagOffset;
  WaitingChild child([&code](WaitingChild::Results& out) {
    struct sigaction sa {};
    sa.sa_sigaction = setup_probe::OnSigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, nullptr);
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      out[0] = -2;
      return;
    }
    timespec ts{};
    out[0] = code.As<int (*)(clockid_t, timespec*)>()(CLOCK_MONOTONIC, &ts);
    out[1] = ts.tv_sec * 10 + ts.tv_nsec;
    out[2] = setup_probe::calls;
    out[3] = setup_probe::reported[0];
    out[4] = setup_probe::reported[1];
    out[5] = setup_probe::reported[3];
    // The page is there, read-write.
    *reinterpret_cast<volatile int64_t*>(kClockPageAddr + kClockPageSize - 8) = 1;
    out[6] = 1;
  });
  const WaitingChild::Results got = child.Release();
  if (got[0] == -2) GTEST_SKIP() << "no seccomp filter in this environment";
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 56) << "the time the 'supervisor' wrote is kept";
  EXPECT_EQ(got[2], 2) << "the read, then the report";
  EXPECT_EQ(static_cast<uint64_t>(got[3]), kClockPageAddr);
  EXPECT_EQ(static_cast<uint64_t>(got[4]), flag) << "the report names the stub's flag";
  EXPECT_EQ(static_cast<uint64_t>(got[5]), kClockPageAddr) << "what mmap returned";
  EXPECT_EQ(got[6], 1);
}

TEST(StubTest, GetrandomStubRefusesTheStateQueryAndForwardsReads) {
  ExecutableCode code(GetrandomSyscallStub());
  using VGetrandom = ssize_t (*)(void*, size_t, unsigned, void*, size_t);
  auto fn = code.As<VGetrandom>();
  uint8_t params[64] = {};
  EXPECT_EQ(fn(nullptr, 0, 0, params, ~size_t{0}), -ENOSYS);
  uint8_t buf[32] = {};
  EXPECT_EQ(fn(buf, sizeof buf, 0, nullptr, 0), 32);
  EXPECT_EQ(fn(buf, sizeof buf, 0xffff, nullptr, 0), -EINVAL);
}

// The frozen clocks of a run started at 2020-01-01 + 0.123456789 s, as the
// time module computes them (REALTIME family from the start, TAI 37 s
// later, MONOTONIC family from 100 s, CPU clocks 0; id 10 invalid).
ConstantClocks FrozenExample() {
  ConstantClocks c;
  const ConstantClocks::Value realtime{1577836800, 123456789};
  for (int id : {CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM}) c.by_id[id] = realtime;
  for (int id : {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                 CLOCK_BOOTTIME_ALARM}) {
    c.by_id[id] = ConstantClocks::Value{100, 0};
  }
  c.by_id[CLOCK_PROCESS_CPUTIME_ID] = c.by_id[CLOCK_THREAD_CPUTIME_ID] = ConstantClocks::Value{0, 0};
  c.by_id[CLOCK_TAI] = ConstantClocks::Value{1577836837, 123456789};
  return c;
}

TEST(StubTest, ConstantClockGettimeAnswersFromItsTable) {
  const ConstantClocks clocks = FrozenExample();
  ExecutableCode code(ConstantClockGettimeStub(clocks));
  auto fn = code.As<int (*)(clockid_t, timespec*)>();
  for (int id = 0; id < ConstantClocks::kIds; ++id) {
    timespec ts{-1, -1};
    if (clocks.by_id[id]) {
      EXPECT_EQ(fn(id, &ts), 0) << id;
      EXPECT_EQ(ts.tv_sec, clocks.by_id[id]->sec) << id;
      EXPECT_EQ(ts.tv_nsec, clocks.by_id[id]->nsec) << id;
    } else {
      // No value: the syscall, which rejects id 10 (CLOCK_SGI_CYCLE).
      EXPECT_EQ(fn(id, &ts), -EINVAL) << id;
    }
  }
  // Out-of-table ids go to the kernel too: a CPU clock of a pid (negative)
  // works, an unknown id fails.
  timespec ts{};
  clockid_t own_cpu;
  ASSERT_EQ(clock_getcpuclockid(getpid(), &own_cpu), 0);
  EXPECT_EQ(fn(own_cpu, &ts), 0);
  EXPECT_EQ(fn(12, &ts), -EINVAL);
  EXPECT_EQ(fn(12345, &ts), -EINVAL);
}

TEST(StubTest, ConstantGettimeofdayAndTime) {
  ExecutableCode gtod(ConstantGettimeofdayStub(1577836800, 123456));
  auto g = gtod.As<int (*)(timeval*, struct timezone*)>();
  timeval tv{-1, -1};
  struct timezone tz{-1, -1};
  EXPECT_EQ(g(&tv, &tz), 0);
  EXPECT_EQ(tv.tv_sec, 1577836800);
  EXPECT_EQ(tv.tv_usec, 123456);
  EXPECT_EQ(tz.tz_minuteswest, 0);
  EXPECT_EQ(tz.tz_dsttime, 0);
  EXPECT_EQ(g(nullptr, nullptr), 0);
  tv = {-1, -1};
  EXPECT_EQ(g(&tv, nullptr), 0);
  EXPECT_EQ(tv.tv_sec, 1577836800);
  tz = {-1, -1};
  EXPECT_EQ(g(nullptr, &tz), 0);
  EXPECT_EQ(tz.tz_minuteswest, 0);

  ExecutableCode time_code(ConstantTimeStub(1577836800));
  auto t = time_code.As<time_t (*)(time_t*)>();
  EXPECT_EQ(t(nullptr), 1577836800);
  time_t stored = 0;
  EXPECT_EQ(t(&stored), 1577836800);
  EXPECT_EQ(stored, 1577836800);
  // Before 1970 too (movabs takes any 64-bit value).
  ExecutableCode old(ConstantTimeStub(-86400));
  EXPECT_EQ(old.As<time_t (*)(time_t*)>()(nullptr), -86400);
}

int64_t HostMonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

TEST(StubTest, OffsetClockGettimeAddsItsOffsetToTheHostMonotonicClock) {
  OffsetClocks clocks;
  const int64_t epoch_2020 = 1577836800LL * 1'000'000'000LL;
  clocks.offset_ns[CLOCK_REALTIME] = epoch_2020 - HostMonotonicNs();
  clocks.offset_ns[CLOCK_MONOTONIC] = 0;
  // Before 1970: -1.5 s reads {-2, 500000000} (floor division).
  clocks.offset_ns[CLOCK_TAI] = -HostMonotonicNs() - 1'500'000'000LL;
  ExecutableCode code(OffsetClockGettimeStub(clocks, {0x1111, 0x2222}));
  auto fn = code.As<int (*)(clockid_t, timespec*)>();
  timespec ts{};
  ASSERT_EQ(fn(CLOCK_REALTIME, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 1577836800);  // well within the first second
  EXPECT_GE(ts.tv_nsec, 0);
  EXPECT_LT(ts.tv_nsec, 1'000'000'000);
  const int64_t before = HostMonotonicNs();
  ASSERT_EQ(fn(CLOCK_MONOTONIC, &ts), 0);
  const int64_t read = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  EXPECT_GE(read, before);
  EXPECT_LE(read, HostMonotonicNs());
  ASSERT_EQ(fn(CLOCK_TAI, &ts), 0);
  EXPECT_EQ(ts.tv_sec, -2);
  EXPECT_GE(ts.tv_nsec, 500'000'000);
  EXPECT_LT(ts.tv_nsec, 600'000'000);
  // No offset: the plain syscall (the host's own clock here, the
  // supervisor's answer under detrun); invalid ids fail as the kernel does.
  ASSERT_EQ(fn(CLOCK_BOOTTIME, &ts), 0);
  EXPECT_EQ(fn(10, &ts), -EINVAL);
  EXPECT_EQ(fn(-12345, &ts), -EINVAL);
  // A bad pointer is the kernel's EFAULT from the stub's own read.
  EXPECT_EQ(fn(CLOCK_MONOTONIC, nullptr), -EFAULT);
  EXPECT_EQ(OffsetClockGettimeStub(clocks, {1, 2}).size(), 0x80u + 8 * OffsetClocks::kIds);
}

TEST(StubTest, ConstantStubSizes) {
  EXPECT_EQ(ConstantClockGettimeStub(FrozenExample()).size(), 0x38u + 16 * ConstantClocks::kIds);
  EXPECT_EQ(ConstantGettimeofdayStub(1, 2).size(), 41u);
  EXPECT_EQ(ConstantTimeStub(1).size(), 19u);
}

// --- BuildPatchedImage ----------------------------------------------------

TEST(BuildPatchedImageTest, ForwardingPatchesFitTheRunningVdso) {
  const std::vector<uint8_t>& original = OwnVdso();
  absl::StatusOr<std::vector<uint8_t>> patched =
      BuildPatchedImage(original, OwnParsed(), SyscallForwardingPatches());
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_EQ(patched->size(), original.size());
  // Exactly the stubs' bytes changed, at the symbols' entries.
  std::vector<bool> expected_changed(original.size(), false);
  for (const PatchSpec& spec : SyscallForwardingPatches()) {
    const VdsoSymbol* sym = OwnParsed().Find(spec.symbol);
    if (sym == nullptr) {
      EXPECT_FALSE(spec.required) << spec.symbol;
      continue;
    }
    printf("  %-22s size %4llu, stub %zu bytes\n", spec.symbol.c_str(),
           static_cast<unsigned long long>(sym->size), spec.code.size());
    EXPECT_EQ(memcmp(patched->data() + sym->offset, spec.code.data(),
                     spec.code.size()),
              0)
        << spec.symbol;
    for (size_t i = 0; i < spec.code.size(); ++i) {
      expected_changed[sym->offset + i] = true;
    }
  }
  for (size_t i = 0; i < original.size(); ++i) {
    if (!expected_changed[i]) {
      ASSERT_EQ((*patched)[i], original[i]) << i;
    }
  }
}

TEST(BuildPatchedImageTest, FrozenPatchesFitTheRunningVdso) {
  absl::StatusOr<std::vector<uint8_t>> patched = BuildPatchedImage(
      OwnVdso(), OwnParsed(), SyscallForwardingPatches(InProcessClocks{FrozenExample(), std::nullopt, {}}));
  ASSERT_TRUE(patched.ok()) << patched.status();
}

TEST(BuildPatchedImageTest, AliasesArePatchedOnceAndMustAgree) {
  const std::vector<uint8_t>& original = OwnVdso();
  absl::StatusOr<std::vector<uint8_t>> same = BuildPatchedImage(
      original, OwnParsed(),
      {{"time", ReturnStub(1)}, {"__vdso_time", ReturnStub(1)}});
  EXPECT_TRUE(same.ok()) << same.status();

  absl::StatusOr<std::vector<uint8_t>> differ = BuildPatchedImage(
      original, OwnParsed(),
      {{"time", ReturnStub(1)}, {"__vdso_time", ReturnStub(2)}});
  ASSERT_FALSE(differ.ok());
  EXPECT_THAT(std::string(differ.status().message()), HasSubstr("share address"));
}

TEST(BuildPatchedImageTest, MissingSymbolFailsOnlyWhenRequired) {
  const std::vector<uint8_t>& original = OwnVdso();
  absl::StatusOr<std::vector<uint8_t>> optional = BuildPatchedImage(
      original, OwnParsed(), {{"__vdso_not_there", ReturnStub(0), false}});
  ASSERT_TRUE(optional.ok()) << optional.status();
  EXPECT_EQ(*optional, original);

  absl::StatusOr<std::vector<uint8_t>> required = BuildPatchedImage(
      original, OwnParsed(), {{"__vdso_not_there", ReturnStub(0), true}});
  EXPECT_TRUE(absl::IsNotFound(required.status())) << required.status();
  EXPECT_THAT(std::string(required.status().message()), HasSubstr("__vdso_not_there"));
}

// A hand-made image: two small functions in a 64-byte buffer.
VdsoImage FakeImage() {
  VdsoImage image;
  image.image_size = 64;
  image.symbols = {{"tiny", 16, 4}, {"next", 20, 16}, {"roomy", 40, 24}};
  return image;
}

TEST(BuildPatchedImageTest, StubThatDoesNotFitNamesSymbolAndSizes) {
  const std::vector<uint8_t> original(64, 0xcc);
  absl::StatusOr<std::vector<uint8_t>> patched =
      BuildPatchedImage(original, FakeImage(), {{"tiny", SyscallStub(1)}});
  ASSERT_TRUE(absl::IsInvalidArgument(patched.status())) << patched.status();
  EXPECT_THAT(std::string(patched.status().message()), HasSubstr("`tiny`"));
  EXPECT_THAT(std::string(patched.status().message()), HasSubstr("8-byte stub"));
  EXPECT_THAT(std::string(patched.status().message()), HasSubstr("the symbol is 4 bytes"));

  // A stub exactly the symbol's size fits.
  absl::StatusOr<std::vector<uint8_t>> exact = BuildPatchedImage(
      original, FakeImage(), {{"tiny", {0x90, 0x90, 0x90, 0xc3}}});
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ((*exact)[19], 0xc3);
  EXPECT_EQ((*exact)[20], 0xcc);
}

TEST(BuildPatchedImageTest, RejectsMismatchedOrEmptyInputs) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      BuildPatchedImage(std::vector<uint8_t>(63), FakeImage(), {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      BuildPatchedImage(std::vector<uint8_t>(64), FakeImage(), {{"roomy", {}}})
          .status()));
  VdsoImage outside = FakeImage();
  outside.symbols.push_back({"outside", 60, 100});
  absl::StatusOr<std::vector<uint8_t>> patched = BuildPatchedImage(
      std::vector<uint8_t>(64), outside, {{"outside", SyscallStub(1)}});
  ASSERT_FALSE(patched.ok());
  EXPECT_THAT(std::string(patched.status().message()), HasSubstr("outside the 64-byte image"));
}

TEST(BuildPatchedImageTest, CorruptedImagesNeverCrashThePatcher) {
  std::mt19937_64 rng(7);
  int built = 0;
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::vector<uint8_t> image = OwnVdso();
    for (int f = 0; f < 4; ++f) image[rng() % 0x780] = static_cast<uint8_t>(rng());
    absl::StatusOr<VdsoImage> parsed = ParseVdsoImage(image);
    if (!parsed.ok()) continue;
    absl::StatusOr<std::vector<uint8_t>> patched =
        BuildPatchedImage(image, *parsed, SyscallForwardingPatches());
    if (patched.ok()) {
      ++built;
      EXPECT_EQ(patched->size(), image.size());
    }
  }
  EXPECT_GT(built, 0);
}

// --- Auxv -----------------------------------------------------------------

std::vector<uint8_t> AuxvBytes(std::initializer_list<uint64_t> words) {
  std::vector<uint8_t> out(words.size() * 8);
  memcpy(out.data(), std::data(words), out.size());
  return out;
}

TEST(AuxvTest, ReadsOwnAuxv) {
  absl::StatusOr<ProcessAuxv> auxv = ReadAuxv(getpid());
  ASSERT_TRUE(auxv.ok()) << auxv.status();
  EXPECT_EQ(auxv->vdso_base, getauxval(AT_SYSINFO_EHDR));
  EXPECT_EQ(auxv->at_random, getauxval(AT_RANDOM));
}

TEST(AuxvTest, ParsesAndRejects) {
  absl::StatusOr<ProcessAuxv> ok =
      ParseAuxv(AuxvBytes({AT_PAGESZ, 4096, AT_SYSINFO_EHDR, 0x7000, AT_RANDOM,
                           0x8000, AT_NULL, 0}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->vdso_base, 0x7000u);
  EXPECT_EQ(ok->at_random, 0x8000u);

  // No vDSO (vdso=0): nothing to patch, but not an error.
  absl::StatusOr<ProcessAuxv> no_vdso =
      ParseAuxv(AuxvBytes({AT_RANDOM, 0x8000, AT_NULL, 0}));
  ASSERT_TRUE(no_vdso.ok()) << no_vdso.status();
  EXPECT_EQ(no_vdso->vdso_base, 0u);

  absl::StatusOr<ProcessAuxv> no_random =
      ParseAuxv(AuxvBytes({AT_SYSINFO_EHDR, 0x7000, AT_NULL, 0}));
  EXPECT_THAT(std::string(no_random.status().message()), HasSubstr("AT_RANDOM"));
  const std::vector<uint8_t> full =
      AuxvBytes({AT_SYSINFO_EHDR, 0x7000, AT_RANDOM, 0x8000, AT_NULL, 0});
  for (size_t len = 0; len < full.size(); ++len) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + len);
    EXPECT_THAT(std::string(ParseAuxv(cut).status().message()), HasSubstr("truncated"))
        << len;
  }
  EXPECT_FALSE(ReadAuxv(-1).ok());
}

// --- Patching a live child ------------------------------------------------

using TimeFn = time_t (*)(time_t*);

TEST(PatchProcessVdsoTest, ReturnStubAnswersTheChildsTime) {
  TimeFn vdso_time = OwnVdsoFunction<TimeFn>("time");
  ASSERT_NE(vdso_time, nullptr);
  WaitingChild child([vdso_time](WaitingChild::Results& out) {
    out[0] = vdso_time(nullptr);
  });
  absl::StatusOr<std::vector<uint8_t>> patched = BuildPatchedImage(
      OwnVdso(), OwnParsed(), {{"__vdso_time", ReturnStub(12345)}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(
      PatchProcessVdso(child.pid(), OwnVdsoBase(), OwnVdso(), *patched).ok());
  EXPECT_EQ(child.Release()[0], 12345);
  // The child's pages were copied on write: ours still tell the time.
  EXPECT_GT(vdso_time(nullptr), 1700000000);
}

TEST(PatchProcessVdsoTest, SyscallStubEntersTheKernel) {
  // `time` made into getpid: the child sees its own pid, so the stub ran
  // and its syscall reached the kernel.
  TimeFn vdso_time = OwnVdsoFunction<TimeFn>("__vdso_time");
  ASSERT_NE(vdso_time, nullptr);
  WaitingChild child([vdso_time](WaitingChild::Results& out) {
    out[0] = vdso_time(nullptr);
    out[1] = getpid();
  });
  absl::StatusOr<std::vector<uint8_t>> patched = BuildPatchedImage(
      OwnVdso(), OwnParsed(), {{"time", SyscallStub(SYS_getpid)}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(
      PatchProcessVdso(child.pid(), OwnVdsoBase(), OwnVdso(), *patched).ok());
  const pid_t pid = child.pid();
  WaitingChild::Results r = child.Release();
  EXPECT_EQ(r[0], pid);
  EXPECT_EQ(r[1], pid);
}

TEST(PatchProcessVdsoTest, ForwardedFunctionsStillAnswerSanely) {
  using ClockFn = int (*)(clockid_t, timespec*);
  using GettimeofdayFn = int (*)(timeval*, void*);
  using GetcpuFn = int (*)(unsigned*, unsigned*, void*);
  using GetrandomFn = ssize_t (*)(void*, size_t, unsigned, void*, size_t);
  auto clock_gettime_fn = OwnVdsoFunction<ClockFn>("__vdso_clock_gettime");
  auto clock_getres_fn = OwnVdsoFunction<ClockFn>("__vdso_clock_getres");
  auto gettimeofday_fn = OwnVdsoFunction<GettimeofdayFn>("__vdso_gettimeofday");
  auto time_fn = OwnVdsoFunction<TimeFn>("__vdso_time");
  auto getcpu_fn = OwnVdsoFunction<GetcpuFn>("__vdso_getcpu");
  auto getrandom_fn = OwnVdsoFunction<GetrandomFn>("__vdso_getrandom");
  ASSERT_TRUE(clock_gettime_fn && clock_getres_fn && gettimeofday_fn && time_fn);

  WaitingChild child([=](WaitingChild::Results& out) {
    timespec ts{};
    out[0] = clock_gettime_fn(CLOCK_REALTIME, &ts);
    out[1] = ts.tv_sec;
    timeval tv{};
    out[2] = gettimeofday_fn(&tv, nullptr) == 0 ? tv.tv_sec : -1;
    out[3] = time_fn(nullptr);
    timespec res{};
    out[4] = clock_getres_fn(CLOCK_MONOTONIC, &res) == 0 ? res.tv_nsec : -1;
    unsigned cpu = ~0u;
    out[5] = getcpu_fn == nullptr ? 0 : getcpu_fn(&cpu, nullptr, nullptr);
    if (getrandom_fn != nullptr) {
      uint8_t params[64];
      uint8_t buf[16];
      out[6] = getrandom_fn(nullptr, 0, 0, params, ~size_t{0});
      out[7] = getrandom_fn(buf, sizeof buf, 0, nullptr, 0);
    }
  });
  absl::StatusOr<std::vector<uint8_t>> patched =
      BuildPatchedImage(OwnVdso(), OwnParsed(), SyscallForwardingPatches());
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(
      PatchProcessVdso(child.pid(), OwnVdsoBase(), OwnVdso(), *patched).ok());
  // The child's vDSO now holds the patched bytes.
  EXPECT_EQ(ReadChildBytes(child.pid(), OwnVdsoBase(), patched->size()),
            *patched);
  const time_t now = time(nullptr);
  WaitingChild::Results r = child.Release();
  EXPECT_EQ(r[0], 0);
  EXPECT_GE(r[1], now);
  EXPECT_LE(r[1], now + 2);
  EXPECT_GE(r[2], now);
  EXPECT_LE(r[2], now + 2);
  EXPECT_GE(r[3], now);
  EXPECT_LE(r[3], now + 2);
  EXPECT_GT(r[4], 0);  // CLOCK_MONOTONIC resolution: 1 ns with hrtimers
  EXPECT_LE(r[4], 10000000);
  EXPECT_EQ(r[5], 0);
  if (getrandom_fn != nullptr) {
    EXPECT_EQ(r[6], -ENOSYS);
    EXPECT_EQ(r[7], 16);
  }
}

TEST(PatchProcessVdsoTest, UnexpectedOriginalIsFailedPreconditionAndWritesNothing) {
  WaitingChild child([](WaitingChild::Results&) {});
  std::vector<uint8_t> wrong = OwnVdso();
  wrong[0x900] ^= 0xff;
  absl::StatusOr<std::vector<uint8_t>> patched =
      BuildPatchedImage(OwnVdso(), OwnParsed(), SyscallForwardingPatches());
  ASSERT_TRUE(patched.ok()) << patched.status();
  absl::Status s = PatchProcessVdso(child.pid(), OwnVdsoBase(), wrong, *patched);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("offset 2304"));
  EXPECT_EQ(ReadChildBytes(child.pid(), OwnVdsoBase(), OwnVdso().size()),
            OwnVdso());
}

TEST(PatchProcessVdsoTest, RejectsBadArgumentsAndDeadProcesses) {
  WaitingChild child([](WaitingChild::Results&) {});
  const std::vector<uint8_t>& original = OwnVdso();
  std::vector<uint8_t> shorter(original.begin(), original.end() - 1);
  EXPECT_TRUE(absl::IsInvalidArgument(
      PatchProcessVdso(child.pid(), OwnVdsoBase(), original, shorter)));
  EXPECT_TRUE(absl::IsInvalidArgument(
      PatchProcessVdso(child.pid(), 0, original, original)));

  // A zombie has no memory left to patch.
  pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, zombie, &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(PatchProcessVdso(zombie, OwnVdsoBase(), original, original).ok());
  waitpid(zombie, nullptr, 0);
}

// The real use: a fresh exec, stopped before its first instruction (here by
// PTRACE_TRACEME's SIGTRAP at exec), gets the patch; glibc then resolves
// time() to the patched vDSO entry. This also checks that an exec'd image
// maps the same vDSO bytes this process has.
TEST(PatchProcessVdsoTest, ExecedChildSeesThePatchFromItsFirstInstruction) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  std::string env_entry = std::string(kExecChildEnv) + "=1";
  char* const argv[] = {const_cast<char*>("vdso_patch_test"), nullptr};
  char* const envp[] = {env_entry.data(), nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(3);
    execve("/proc/self/exe", argv, envp);
    _exit(4);
  }
  close(out[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    close(out[0]);
    GTEST_SKIP() << "ptrace is not permitted here";
  }
  ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) << status;

  absl::StatusOr<ProcessAuxv> auxv = ReadAuxv(pid);
  ASSERT_TRUE(auxv.ok()) << auxv.status();
  absl::StatusOr<std::vector<uint8_t>> patched = BuildPatchedImage(
      OwnVdso(), OwnParsed(), {{"__vdso_time", ReturnStub(12345)}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  absl::Status s = PatchProcessVdso(pid, auxv->vdso_base, OwnVdso(), *patched);
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_EQ(ptrace(PTRACE_DETACH, pid, nullptr, nullptr), 0);

  std::string printed;
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) printed.append(buf, n);
  close(out[0]);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(printed, "time=12345\n");
}

}  // namespace
}  // namespace detrun
