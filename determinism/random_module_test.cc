#include "determinism/random_module.h"

#include <linux/random.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "determinism/uuid.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

constexpr uint64_t kSeed = 42;
constexpr size_t kPage = 4096;

std::vector<uint8_t> StreamBytes(uint64_t seed, const ProcessIdentity& id, size_t offset,
                                 size_t n) {
  RandomStream s(RandomModule::kDomain, seed, id);
  std::vector<uint8_t> skip(offset);
  s.Fill(skip.data(), offset);
  std::vector<uint8_t> out(n);
  s.Fill(out.data(), n);
  return out;
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

// The handler run on this very process: ChildMemory without a listener
// writes into our own memory with process_vm_writev.
class RandomModuleTest : public ::testing::Test {
 protected:
  RandomModuleTest() : module_(MakeConfig(kSeed)), memory_(-1) {
    process_.id = ProcessIdentity::Root();
    process_.pid = getpid();
    thread_.id = ThreadIdentity{process_.id, 0};
    thread_.tid = getpid();
    thread_.process = &process_;
  }

  static Config MakeConfig(uint64_t seed) {
    Config c;
    c.seed = seed;
    return c;
  }

  Response Call(uint64_t buf, uint64_t len, uint64_t flags, ProcessState* process = nullptr,
                RandomModule* module = nullptr) {
    Notification n;
    n.id = ++next_id_;
    n.tid = getpid();
    n.nr = SYS_getrandom;
    n.args = {buf, len, flags, 0, 0, 0};
    ProcessState& p = process != nullptr ? *process : process_;
    SyscallContext ctx{n, thread_, p, memory_, config_};
    std::optional<Response> r = (module != nullptr ? module : &module_)->Getrandom(ctx);
    EXPECT_TRUE(r.has_value());
    return r.value_or(Response::Continue());
  }
  Response Call(void* buf, uint64_t len, uint64_t flags = 0) {
    return Call(reinterpret_cast<uint64_t>(buf), len, flags);
  }

  static void ExpectValue(const Response& r, int64_t v) {
    EXPECT_EQ(r.kind, Response::Kind::kValue);
    EXPECT_EQ(r.value, v);
  }
  static void ExpectErrno(const Response& r, int e) {
    EXPECT_EQ(r.kind, Response::Kind::kErrno);
    EXPECT_EQ(r.error, e);
  }

  Config config_ = MakeConfig(kSeed);
  RandomModule module_;
  ChildMemory memory_;
  ProcessState process_;
  ThreadState thread_;
  uint64_t next_id_ = 0;
};

TEST_F(RandomModuleTest, FirstBytesAreTheProcessStreamAndPinned) {
  uint8_t buf[100] = {};
  ExpectValue(Call(buf, sizeof buf), 100);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 100),
            StreamBytes(kSeed, ProcessIdentity::Root(), 0, 100));
  // Pinned: the same seed gives the same bytes on every machine and in
  // every version (tests/integration/random_test.cc expects them too). This
  // value was checked against an independent ChaCha20/BLAKE2b (Python).
  EXPECT_EQ(Hex(buf, 16), "3bc4363072aaaf599e6e6fe9d0a8e798");
}

TEST_F(RandomModuleTest, CallsContinueTheStreamWhateverTheSizes) {
  std::vector<uint8_t> got;
  for (size_t n : {1, 15, 64, 4095, 70000, 1}) {
    std::vector<uint8_t> b(n);
    ExpectValue(Call(b.data(), n), static_cast<int64_t>(n));
    got.insert(got.end(), b.begin(), b.end());
  }
  EXPECT_EQ(got, StreamBytes(kSeed, ProcessIdentity::Root(), 0, got.size()));
}

TEST_F(RandomModuleTest, LargeReadInManyChunks) {
  const size_t n = (size_t{1} << 20) + 1;
  std::vector<uint8_t> b(n);
  ExpectValue(Call(b.data(), n), static_cast<int64_t>(n));
  EXPECT_EQ(b, StreamBytes(kSeed, ProcessIdentity::Root(), 0, n));
}

TEST_F(RandomModuleTest, FlagsAsTheKernelChecksThem) {
  uint8_t b[8];
  for (uint64_t flags = 0; flags < 16; ++flags) {
    const bool valid = flags < 8 && (flags & 6) != 6;
    Response r = Call(b, sizeof b, flags);
    if (valid) {
      ExpectValue(r, 8);
    } else {
      ExpectErrno(r, EINVAL);
    }
  }
  ExpectErrno(Call(b, sizeof b, 0x80000000), EINVAL);
  // Only the low 32 bits are the flags (an unsigned int).
  ExpectValue(Call(b, sizeof b, uint64_t{1} << 32 | GRND_NONBLOCK), 8);
  // Flags are checked before the buffer.
  ExpectErrno(Call(nullptr, 16, 8), EINVAL);
}

TEST_F(RandomModuleTest, FailedCallsConsumeNothing) {
  uint8_t b[16];
  ExpectErrno(Call(nullptr, 16), EFAULT);
  ExpectErrno(Call(b, sizeof b, GRND_RANDOM | GRND_INSECURE), EINVAL);
  ExpectValue(Call(b, 0), 0);
  ExpectValue(Call(b, sizeof b), 16);
  EXPECT_EQ(std::vector<uint8_t>(b, b + 16), StreamBytes(kSeed, ProcessIdentity::Root(), 0, 16));
}

TEST_F(RandomModuleTest, ZeroLengthAndBadAddresses) {
  uint8_t b[4] = {1, 2, 3, 4};
  ExpectValue(Call(b, 0), 0);
  EXPECT_EQ(b[0], 1);
  ExpectValue(Call(nullptr, 0), 0);
  ExpectErrno(Call(nullptr, 1), EFAULT);
  const uint64_t end = RandomModule::UserAddressEnd();
  EXPECT_TRUE(end == (uint64_t{1} << 47) - 4096 || end == (uint64_t{1} << 56) - 4096) << end;
  // access_ok: the range must end at or below the top of user space, even
  // for len 0 (the kernel's own answers, checked on Linux 6.18).
  ExpectValue(Call(end, 0, 0), 0);
  ExpectErrno(Call(end + 1, 0, 0), EFAULT);
  ExpectErrno(Call(0xffff800000000000, 0, 0), EFAULT);
  ExpectErrno(Call(end - 16, 17, 0), EFAULT);
  ExpectErrno(Call(~uint64_t{0} - 4, 16, 0), EFAULT);  // wraps
}

// `writable` bytes followed by an inaccessible page, at 2^45 if it is free
// (far below the top of user space, and above ASan's shadow), else
// wherever the kernel puts them.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t writable, int guard_prot = PROT_NONE) : writable_(writable) {
    total_ = writable + kPage;
    void* p = mmap(reinterpret_cast<void*>(uint64_t{1} << 45), total_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
      p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) abort();
    base_ = static_cast<uint8_t*>(p);
    if (mprotect(base_ + writable, kPage, guard_prot) != 0) abort();
  }
  ~GuardedBuffer() { munmap(base_, total_); }
  uint8_t* base() { return base_; }
  uint8_t* guard() { return base_ + writable_; }

 private:
  uint8_t* base_;
  size_t writable_;
  size_t total_;
};

TEST_F(RandomModuleTest, PartialWriteReturnsWhatLandedAndConsumesOnlyThat) {
  for (int prot : {PROT_NONE, PROT_READ}) {
    RandomModule module(MakeConfig(kSeed));
    GuardedBuffer g(kPage, prot);
    Response r = Call(reinterpret_cast<uint64_t>(g.guard() - 100), 200, 0, nullptr, &module);
    ExpectValue(r, 100);
    EXPECT_EQ(std::vector<uint8_t>(g.guard() - 100, g.guard()),
              StreamBytes(kSeed, ProcessIdentity::Root(), 0, 100));
    uint8_t next[16];
    ExpectValue(Call(reinterpret_cast<uint64_t>(next), 16, 0, nullptr, &module), 16);
    EXPECT_EQ(std::vector<uint8_t>(next, next + 16),
              StreamBytes(kSeed, ProcessIdentity::Root(), 100, 16));
    // Nothing writable at all: EFAULT, nothing consumed.
    ExpectErrno(Call(reinterpret_cast<uint64_t>(g.guard()), 16, 0, nullptr, &module), EFAULT);
    ExpectValue(Call(reinterpret_cast<uint64_t>(next), 16, 0, nullptr, &module), 16);
    EXPECT_EQ(std::vector<uint8_t>(next, next + 16),
              StreamBytes(kSeed, ProcessIdentity::Root(), 116, 16));
  }
}

TEST_F(RandomModuleTest, PartialWriteInALaterChunk) {
  // 200 KiB writable: the fourth 64 KiB chunk fails half way.
  const size_t writable = 200 * 1024;
  GuardedBuffer g(writable);
  ExpectValue(Call(g.base(), 300 * 1024), static_cast<int64_t>(writable));
  EXPECT_EQ(std::vector<uint8_t>(g.base(), g.base() + writable),
            StreamBytes(kSeed, ProcessIdentity::Root(), 0, writable));
  uint8_t next[16];
  ExpectValue(Call(next, 16), 16);
  EXPECT_EQ(std::vector<uint8_t>(next, next + 16),
            StreamBytes(kSeed, ProcessIdentity::Root(), writable, 16));
}

TEST_F(RandomModuleTest, LengthIsCappedNotRefused) {
  // SIZE_MAX is capped to kMaxPerCall; the range then fits in user space,
  // so the call writes up to the first inaccessible page.
  GuardedBuffer g(kPage);
  if (reinterpret_cast<uint64_t>(g.base()) + RandomModule::kMaxPerCall >
      RandomModule::UserAddressEnd()) {
    GTEST_SKIP() << "the buffer landed within 2 GiB of the top of user space";
  }
  ExpectValue(Call(g.base(), ~uint64_t{0}), static_cast<int64_t>(kPage));
}

TEST_F(RandomModuleTest, ThreadsShareTheStreamAndExecKeepsIt) {
  ThreadState other;
  other.id = ThreadIdentity{process_.id, 1};
  other.tid = getpid();
  other.process = &process_;
  uint8_t a[16], b[16];
  ExpectValue(Call(a, 16), 16);
  {
    Notification n;
    n.id = 1000;
    n.tid = getpid();
    n.nr = SYS_getrandom;
    n.args = {reinterpret_cast<uint64_t>(b), 16, 0, 0, 0, 0};
    SyscallContext ctx{n, other, process_, memory_, config_};
    ExpectValue(*module_.Getrandom(ctx), 16);
  }
  EXPECT_EQ(std::vector<uint8_t>(b, b + 16), StreamBytes(kSeed, ProcessIdentity::Root(), 16, 16));
  // An exec changes nothing the module keys on.
  process_.last_exec = "/bin/other";
  ExpectValue(Call(a, 16), 16);
  EXPECT_EQ(std::vector<uint8_t>(a, a + 16), StreamBytes(kSeed, ProcessIdentity::Root(), 32, 16));
}

TEST_F(RandomModuleTest, EachProcessHasItsOwnStreamDroppedAtExit) {
  ProcessState child1, child2;
  child1.id = ProcessIdentity::Root().Child(1);
  child2.id = ProcessIdentity::Root().Child(2);
  uint8_t root[16], c1[16], c2[16];
  ExpectValue(Call(reinterpret_cast<uint64_t>(c1), 16, 0, &child1), 16);
  ExpectValue(Call(reinterpret_cast<uint64_t>(root), 16, 0), 16);
  ExpectValue(Call(reinterpret_cast<uint64_t>(c2), 16, 0, &child2), 16);
  EXPECT_EQ(std::vector<uint8_t>(root, root + 16), StreamBytes(kSeed, process_.id, 0, 16));
  EXPECT_EQ(std::vector<uint8_t>(c1, c1 + 16), StreamBytes(kSeed, child1.id, 0, 16));
  EXPECT_EQ(std::vector<uint8_t>(c2, c2 + 16), StreamBytes(kSeed, child2.id, 0, 16));
  EXPECT_NE(memcmp(c1, c2, 16), 0);
  EXPECT_NE(memcmp(root, c1, 16), 0);
  EXPECT_EQ(module_.stream_count(), 3u);
  module_.OnProcessExit(child1, {});
  EXPECT_EQ(module_.stream_count(), 2u);
  module_.OnProcessExit(child1, {});  // twice: harmless
  module_.OnProcessExit(child2, {});
  EXPECT_EQ(module_.stream_count(), 1u);
}

TEST_F(RandomModuleTest, AnotherSeedAnotherStream) {
  RandomModule other(MakeConfig(kSeed + 1));
  uint8_t a[32], b[32];
  ExpectValue(Call(reinterpret_cast<uint64_t>(a), 32, 0), 32);
  ExpectValue(Call(reinterpret_cast<uint64_t>(b), 32, 0, nullptr, &other), 32);
  EXPECT_NE(memcmp(a, b, 32), 0);
  EXPECT_EQ(std::vector<uint8_t>(b, b + 32), StreamBytes(kSeed + 1, process_.id, 0, 32));
}

TEST_F(RandomModuleTest, RegistersGetrandom) {
  Registry registry;
  registry.BeginModule(0, "random");
  module_.Register(registry);
  std::vector<std::vector<Registry::Entry>> dispatch = registry.BuildDispatch();
  ASSERT_EQ(dispatch[SYS_getrandom].size(), 1u);
  EXPECT_EQ(dispatch[SYS_getrandom][0].module_name, "random");
  EXPECT_TRUE(dispatch[SYS_getrandom][0].when.empty());
  size_t total = 0;
  for (const auto& entries : dispatch) total += entries.size();
  EXPECT_EQ(total, 1u);
  ASSERT_EQ(registry.provided_files().size(), 3u);
  EXPECT_EQ(registry.provided_files()[0].path, "/proc/sys/kernel/random/uuid");
  EXPECT_TRUE(registry.provided_files()[0].provider != nullptr);
  // The devices: a descriptor per open, not content.
  for (size_t i : {1, 2}) {
    EXPECT_EQ(registry.provided_files()[i].path, i == 1 ? "/dev/urandom" : "/dev/random");
    EXPECT_TRUE(registry.provided_files()[i].device != nullptr);
    EXPECT_TRUE(registry.provided_files()[i].provider == nullptr);
  }
}

TEST_F(RandomModuleTest, UuidIsNewAtEachOpenFromTheProcessUuidStream) {
  RandomStream expected(RandomModule::kUuidDomain, kSeed, process_.id);
  const std::string first = module_.NextUuid(process_);
  EXPECT_EQ(first, Uuid::Random(expected).ToString() + "\n");
  const std::string second = module_.NextUuid(process_);
  EXPECT_EQ(second, Uuid::Random(expected).ToString() + "\n");
  EXPECT_NE(first, second);
  // Apart from getrandom's stream: the getrandom bytes are still its first.
  uint8_t a[16];
  ExpectValue(Call(reinterpret_cast<uint64_t>(a), 16, 0), 16);
  EXPECT_EQ(std::vector<uint8_t>(a, a + 16), StreamBytes(kSeed, process_.id, 0, 16));
  // Another process: its own sequence; dropped at its exit.
  ProcessState child;
  child.id = ProcessIdentity::Root().Child(1);
  RandomStream child_expected(RandomModule::kUuidDomain, kSeed, child.id);
  EXPECT_EQ(module_.NextUuid(child), Uuid::Random(child_expected).ToString() + "\n");
  EXPECT_EQ(module_.stream_count(), 3u);  // root: getrandom and uuid; child: uuid
  module_.OnProcessExit(child, {});
  module_.OnProcessExit(process_, {});
  EXPECT_EQ(module_.stream_count(), 0u);
}

}  // namespace
}  // namespace detrun
