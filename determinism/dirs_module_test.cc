#include "determinism/dirs_module.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/child_memory.h"
#include "core/process_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr size_t kPage = 4096;

std::vector<std::string> Names(const DirListing& l) {
  std::vector<std::string> out;
  for (size_t i = 0; i < l.size(); ++i) out.emplace_back(l.name(i));
  return out;
}

DirListing ListingOf(const std::vector<std::string>& names) {
  DirListing l;
  uint64_t ino = 100;
  for (const std::string& n : names) l.Add(ino++, DT_REG, n);
  return l;
}

// One parsed record.
struct Record {
  uint64_t ino;
  uint64_t off;
  uint16_t reclen;
  uint8_t type;
  std::string name;
};

// Parses records of `format`, checking what every record must satisfy.
std::vector<Record> Parse(const uint8_t* data, size_t len, DirentFormat format) {
  std::vector<Record> out;
  size_t at = 0;
  while (at < len) {
    Record r;
    memcpy(&r.ino, data + at, 8);
    memcpy(&r.off, data + at + 8, 8);
    memcpy(&r.reclen, data + at + 16, 2);
    EXPECT_EQ(r.reclen % 8, 0u) << "record at " << at;
    EXPECT_LE(at + r.reclen, len);
    if (r.reclen == 0 || at + r.reclen > len) break;
    const size_t name_at = format == DirentFormat::kDirent64 ? 19 : 18;
    const char* name = reinterpret_cast<const char*>(data + at + name_at);
    const size_t room = r.reclen - name_at - (format == DirentFormat::kDirent ? 1 : 0);
    const size_t name_len = strnlen(name, room);
    EXPECT_LT(name_len, room) << "name not NUL-terminated in its record";
    r.name.assign(name, name_len);
    r.type = format == DirentFormat::kDirent64 ? data[at + 18] : data[at + r.reclen - 1];
    EXPECT_EQ(r.reclen, DirentRecordLength(format, name_len));
    // Padding between the NUL and the end (or the trailing d_type) is 0.
    const size_t pad_end = r.reclen - (format == DirentFormat::kDirent ? 1 : 0);
    for (size_t i = name_at + name_len; i < pad_end; ++i) {
      EXPECT_EQ(data[at + i], 0) << "padding byte " << i << " of " << r.name;
    }
    out.push_back(r);
    at += r.reclen;
  }
  return out;
}

std::vector<std::string> RecordNames(const std::vector<Record>& rs) {
  std::vector<std::string> out;
  for (const Record& r : rs) out.push_back(r.name);
  return out;
}

TEST(DirListingTest, SortsBytewiseDotsIncluded) {
  DirListing l = ListingOf({"b", "\xff", "..", "a", "caf\xc3\xa9", "-dash", "ab", "B", ".",
                            "\x80x", ".hidden", "a\x01", ".-x", "+plus"});
  l.SortByName();
  EXPECT_THAT(Names(l), ElementsAre("+plus", "-dash", ".", ".-x", "..", ".hidden", "B", "a",
                                    "a\x01", "ab", "b", "caf\xc3\xa9", "\x80x", "\xff"));
}

TEST(DirListingTest, SortKeepsInodesAndTypesWithTheirNames) {
  DirListing l;
  l.Add(7, DT_FIFO, "zz");
  l.Add(8, DT_LNK, "aa");
  l.Add(9, DT_DIR, ".");
  l.SortByName();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l.name(0), ".");
  EXPECT_EQ(l.ino(1), 8u);
  EXPECT_EQ(l.type(1), DT_LNK);
  EXPECT_EQ(l.ino(2), 7u);
  EXPECT_EQ(l.type(2), DT_FIFO);
}



std::vector<std::string> ManyNames(int n) {
  std::vector<std::string> names = {".", ".."};
  for (int i = 0; i < n; ++i) names.push_back("file" + std::to_string(i));
  return names;
}

std::vector<std::string> Shuffled(const std::vector<std::string>& names, uint64_t seed) {
  DirListing l = ListingOf(names);
  l.Shuffle(DirsModule::ShuffleKey(seed));
  return Names(l);
}

TEST(DirListingTest, ShuffleIsASeededPermutation) {
  const std::vector<std::string> names = ManyNames(40);
  const std::vector<std::string> one = Shuffled(names, 1);
  EXPECT_EQ(one, Shuffled(names, 1)) << "the same seed must give the same order";
  EXPECT_NE(one, Shuffled(names, 2));
  EXPECT_NE(Shuffled(names, 0), Shuffled(names, 3));
  std::vector<std::string> sorted_one = one;
  std::vector<std::string> sorted_names = names;
  std::sort(sorted_one.begin(), sorted_one.end());
  std::sort(sorted_names.begin(), sorted_names.end());
  EXPECT_EQ(sorted_one, sorted_names);
  // Not simply sorted.
  DirListing s = ListingOf(names);
  s.SortByName();
  EXPECT_NE(one, Names(s));
  // The input order does not matter.
  std::vector<std::string> reversed(names.rbegin(), names.rend());
  EXPECT_EQ(Shuffled(reversed, 1), one);
}

TEST(DirListingTest, ShuffleOrderOfTwoNamesDoesNotDependOnTheOthers) {
  const std::vector<std::string> all = ManyNames(30);
  const std::vector<std::string> full = Shuffled(all, 7);
  std::vector<std::string> some;
  for (size_t i = 0; i < all.size(); i += 3) some.push_back(all[i]);
  const std::vector<std::string> part = Shuffled(some, 7);
  // `part` is `full` with the other names taken out.
  std::vector<std::string> expected;
  for (const std::string& n : full) {
    if (std::find(some.begin(), some.end(), n) != some.end()) expected.push_back(n);
  }
  EXPECT_EQ(part, expected);
}

TEST(DirentRecordTest, LengthsAreAlignedAndHoldNameNulAndType) {
  for (size_t len = 1; len <= 300; ++len) {
    const size_t r64 = DirentRecordLength(DirentFormat::kDirent64, len);
    EXPECT_EQ(r64 % 8, 0u);
    EXPECT_GE(r64, 19 + len + 1);
    EXPECT_LT(r64, 19 + len + 1 + 8);
    const size_t r = DirentRecordLength(DirentFormat::kDirent, len);
    EXPECT_EQ(r % 8, 0u);
    EXPECT_GE(r, 18 + len + 2);
    EXPECT_LT(r, 18 + len + 2 + 8);
  }
  // The kernel's own figures: "." is a 24-byte record in both formats,
  // a 5-byte name takes 32 bytes.
  EXPECT_EQ(DirentRecordLength(DirentFormat::kDirent64, 1), 24u);
  EXPECT_EQ(DirentRecordLength(DirentFormat::kDirent64, 4), 24u);
  EXPECT_EQ(DirentRecordLength(DirentFormat::kDirent64, 5), 32u);
  EXPECT_EQ(DirentRecordLength(DirentFormat::kDirent, 4), 24u);
  EXPECT_EQ(DirentRecordLength(DirentFormat::kDirent, 5), 32u);
}

TEST(DirentRecordTest, PacksDirent64) {
  DirListing l;
  l.Add(1, DT_DIR, ".");
  l.Add(2, DT_DIR, "..");
  l.Add(33, DT_FIFO, "fifo");
  l.Add(44, DT_LNK, std::string("a\xff\x80", 3));
  l.Add(55, DT_SOCK, std::string(255, 'n'));
  PackedDirents p = PackDirents(l, 0, 1 << 16, DirentFormat::kDirent64);
  EXPECT_EQ(p.next, 5u);
  ASSERT_EQ(p.ends.size(), 5u);
  EXPECT_EQ(p.ends.back(), p.bytes.size());
  std::vector<Record> rs = Parse(p.bytes.data(), p.bytes.size(), DirentFormat::kDirent64);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_THAT(RecordNames(rs),
              ElementsAre(".", "..", "fifo", std::string("a\xff\x80", 3), std::string(255, 'n')));
  for (size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].off, i + 1) << "d_off is the position after the entry";
    EXPECT_EQ(rs[i].ino, l.ino(i));
    EXPECT_EQ(rs[i].type, l.type(i));
  }
}

TEST(DirentRecordTest, PacksOldDirentWithTypeInLastByte) {
  DirListing l;
  l.Add(1, DT_DIR, ".");
  l.Add(9, DT_CHR, "null");
  l.Add(10, DT_BLK, "sda1x");
  PackedDirents p = PackDirents(l, 1, 1 << 16, DirentFormat::kDirent);
  std::vector<Record> rs = Parse(p.bytes.data(), p.bytes.size(), DirentFormat::kDirent);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].name, "null");
  EXPECT_EQ(rs[0].type, DT_CHR);
  EXPECT_EQ(rs[0].off, 2u);
  EXPECT_EQ(rs[1].name, "sda1x");
  EXPECT_EQ(rs[1].type, DT_BLK);
  EXPECT_EQ(rs[1].reclen, 32u);
  EXPECT_EQ(rs[1].off, 3u);
}

TEST(DirentRecordTest, OnlyWholeRecordsFit) {
  DirListing l = ListingOf({"a", "bb", "ccc"});  // 24 bytes each
  EXPECT_TRUE(PackDirents(l, 0, 1, DirentFormat::kDirent64).ends.empty());
  EXPECT_TRUE(PackDirents(l, 0, 23, DirentFormat::kDirent64).ends.empty());
  EXPECT_EQ(PackDirents(l, 0, 1, DirentFormat::kDirent64).next, 0u);
  PackedDirents one = PackDirents(l, 0, 24, DirentFormat::kDirent64);
  EXPECT_EQ(one.ends.size(), 1u);
  EXPECT_EQ(one.next, 1u);
  PackedDirents two = PackDirents(l, 1, 71, DirentFormat::kDirent64);
  EXPECT_EQ(two.ends.size(), 2u);
  EXPECT_EQ(two.next, 3u);
  EXPECT_EQ(two.bytes.size(), 48u);
  EXPECT_TRUE(PackDirents(l, 3, 100, DirentFormat::kDirent64).ends.empty());
}

TEST(DirentRecordTest, ParsesWhatItPacks) {
  DirListing l = ListingOf(ManyNames(100));
  PackedDirents p = PackDirents(l, 0, 1 << 20, DirentFormat::kDirent64);
  DirListing back;
  ASSERT_TRUE(back.AddDirents64(p.bytes.data(), p.bytes.size()));
  EXPECT_EQ(Names(back), Names(l));
  EXPECT_EQ(back.ino(50), l.ino(50));
  // A truncated buffer is refused whole.
  DirListing bad;
  EXPECT_FALSE(bad.AddDirents64(p.bytes.data(), p.bytes.size() - 3));
  EXPECT_EQ(bad.size(), 0u);
}

// ---------------------------------------------------------------------------
// The handler, run on this very process: its pidfd serves pidfd_getfd, and
// ChildMemory without a listener writes our own memory.

class DirsHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dirs_module_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Created out of order, so the file system's order is not the answer.
    for (const char* n : {"delta", "alpha", "echo", "charlie", "bravo"}) Touch(dir_ + "/" + n);
    process_.id = ProcessIdentity::Root();
    process_.pid = getpid();
    process_.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
    ASSERT_TRUE(process_.pidfd.ok());
    thread_.id = ThreadIdentity{process_.id, 0};
    thread_.tid = getpid();
    thread_.process = &process_;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  static void Touch(const std::string& path) {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    close(fd);
  }

  int OpenDir(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << path;
    return fd;
  }

  // getdents through the handler; the Response (nullopt: the kernel's).
  std::optional<Response> Call(DirsModule& m, int fd, void* buf, uint64_t count,
                               DirentFormat format = DirentFormat::kDirent64) {
    Notification n;
    n.id = ++id_;
    n.tid = getpid();
    n.nr = format == DirentFormat::kDirent64 ? SYS_getdents64 : SYS_getdents;
    n.args = {static_cast<uint64_t>(fd), reinterpret_cast<uint64_t>(buf), count, 0, 0, 0};
    SyscallContext ctx{n, thread_, process_, memory_, config_, nullptr};
    return m.Getdents(ctx, format);
  }

  // Reads through the handler until the end with `count`-byte buffers.
  std::vector<std::string> ReadAll(DirsModule& m, int fd, size_t count = 4096) {
    std::vector<std::string> names;
    std::vector<uint8_t> buf(count);
    for (;;) {
      std::optional<Response> r = Call(m, fd, buf.data(), count);
      EXPECT_TRUE(r.has_value());
      if (!r.has_value()) break;
      EXPECT_EQ(r->kind, Response::Kind::kValue) << "errno " << r->error;
      if (r->kind != Response::Kind::kValue || r->value == 0) break;
      for (const Record& rec : Parse(buf.data(), r->value, DirentFormat::kDirent64)) {
        names.push_back(rec.name);
      }
    }
    return names;
  }

  std::string dir_;
  Config config_;
  ProcessState process_;
  ThreadState thread_;
  ChildMemory memory_{-1};
  uint64_t id_ = 0;
};

const std::vector<std::string> kSorted = {".", "..", "alpha", "bravo", "charlie", "delta", "echo"};

TEST_F(DirsHandlerTest, ListsSortedAndEndsWithZero) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  EXPECT_EQ(ReadAll(m, fd), kSorted);
  EXPECT_EQ(m.cursor_count(), 0u) << "the end releases the description";
  // The kernel's position is the end.
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 7);
  close(fd);
}

TEST_F(DirsHandlerTest, DOffSeeksRightAfterTheEntry) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  uint8_t buf[4096];
  std::optional<Response> r = Call(m, fd, buf, sizeof buf);
  ASSERT_TRUE(r && r->kind == Response::Kind::kValue);
  std::vector<Record> rs = Parse(buf, r->value, DirentFormat::kDirent64);
  ASSERT_EQ(rs.size(), kSorted.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    ASSERT_EQ(lseek(fd, static_cast<off_t>(rs[i].off), SEEK_SET), static_cast<off_t>(rs[i].off));
    std::vector<std::string> rest = ReadAll(m, fd);
    EXPECT_EQ(rest, std::vector<std::string>(kSorted.begin() + i + 1, kSorted.end())) << i;
  }
  close(fd);
}

TEST_F(DirsHandlerTest, SmallBuffersDupAndRewind) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  uint8_t buf[48];  // two 24-byte records, then one 32-byte one at a time
  std::optional<Response> r = Call(m, fd, buf, sizeof buf);
  ASSERT_TRUE(r && r->kind == Response::Kind::kValue);
  EXPECT_THAT(RecordNames(Parse(buf, r->value, DirentFormat::kDirent64)), ElementsAre(".", ".."));
  EXPECT_EQ(m.cursor_count(), 1u);
  // A dup shares the description, so it continues the same cursor.
  int twin = dup(fd);
  EXPECT_EQ(ReadAll(m, twin, 48),
            std::vector<std::string>(kSorted.begin() + 2, kSorted.end()));
  EXPECT_EQ(ReadAll(m, fd), std::vector<std::string>{}) << "the original is at the end too";
  // Rewind: a fresh listing that sees a new file.
  Touch(dir_ + "/aardvark");
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  std::vector<std::string> again = ReadAll(m, fd);
  EXPECT_THAT(again, ElementsAre(".", "..", "aardvark", "alpha", "bravo", "charlie", "delta",
                                 "echo"));
  close(twin);
  close(fd);
}

TEST_F(DirsHandlerTest, SnapshotHoldsWhileReadingPartWay) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  uint8_t buf[48];
  ASSERT_TRUE(Call(m, fd, buf, sizeof buf));
  // Created after the snapshot: not seen until a rewind.
  Touch(dir_ + "/zulu");
  Touch(dir_ + "/0first");
  EXPECT_EQ(ReadAll(m, fd), std::vector<std::string>(kSorted.begin() + 2, kSorted.end()));
  // A new description sees them.
  int other = OpenDir(dir_);
  EXPECT_THAT(ReadAll(m, other), ElementsAre(".", "..", "0first", "alpha", "bravo", "charlie",
                                             "delta", "echo", "zulu"));
  close(other);
  close(fd);
}

TEST_F(DirsHandlerTest, TwoDescriptionsOfOneChangingDirectoryKeepTheirListings) {
  DirsModule m(config_);
  int first = OpenDir(dir_);
  uint8_t buf[48];
  ASSERT_TRUE(Call(m, first, buf, sizeof buf));  // ".", ".."
  Touch(dir_ + "/bb");
  int second = OpenDir(dir_);
  ASSERT_TRUE(Call(m, second, buf, sizeof buf));
  // Each continues its own snapshot, whatever the other did.
  EXPECT_EQ(ReadAll(m, first, 48), std::vector<std::string>(kSorted.begin() + 2, kSorted.end()));
  EXPECT_THAT(ReadAll(m, second, 48), ElementsAre("alpha", "bb", "bravo", "charlie", "delta",
                                                  "echo"));
  close(first);
  close(second);
}

TEST_F(DirsHandlerTest, FdReuseAfterCloseStartsOver) {
  DirsModule m(config_);
  mkdir((dir_ + "/sub").c_str(), 0755);
  Touch(dir_ + "/sub/x");
  int fd = OpenDir(dir_);
  uint8_t buf[48];
  ASSERT_TRUE(Call(m, fd, buf, sizeof buf));
  EXPECT_EQ(m.cursor_count(), 1u);
  close(fd);
  int again = OpenDir(dir_ + "/sub");
  ASSERT_EQ(again, fd) << "the test needs the number reused";
  EXPECT_THAT(ReadAll(m, again, 48), ElementsAre(".", "..", "x"));
  EXPECT_EQ(m.cursor_count(), 0u) << "the closed description's cursor is gone";
  close(again);
}

TEST_F(DirsHandlerTest, ManyDescriptionsReadPartWayStayBounded) {
  DirsModule m(config_);
  const std::vector<std::string> rest(kSorted.begin() + 2, kSorted.end());
  std::vector<int> fds;
  uint8_t buf[48];
  for (size_t i = 0; i < DirsModule::kMaxCursors + 40; ++i) {
    int fd = OpenDir(dir_);
    ASSERT_TRUE(Call(m, fd, buf, sizeof buf));
    fds.push_back(fd);
    ASSERT_LE(m.cursor_count(), DirsModule::kMaxCursors);
  }
  // Every description continues where it was, with its cursor or without.
  for (int fd : fds) EXPECT_EQ(ReadAll(m, fd, 48), rest);
  EXPECT_EQ(m.cursor_count(), 0u);
  for (int fd : fds) close(fd);
  fds.clear();

  // Descriptions closed part-way are dropped by the sweep at the limit.
  for (size_t i = 0; i < DirsModule::kMaxCursors; ++i) {
    int fd = OpenDir(dir_);
    ASSERT_TRUE(Call(m, fd, buf, sizeof buf));
    fds.push_back(fd);
  }
  EXPECT_EQ(m.cursor_count(), DirsModule::kMaxCursors);
  for (int fd : fds) close(fd);
  const int opened = OpenDir(dir_);
  int fd = fcntl(opened, F_DUPFD_CLOEXEC, 900);  // a number no cursor names
  close(opened);
  ASSERT_GE(fd, 900);
  ASSERT_TRUE(Call(m, fd, buf, sizeof buf));
  EXPECT_EQ(m.cursor_count(), 1u);
  EXPECT_EQ(ReadAll(m, fd, 48), rest);
  close(fd);
}

TEST_F(DirsHandlerTest, BufferTooSmallIsEinvalButZeroAtTheEnd) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  uint8_t buf[4096];
  for (uint64_t count : {0ull, 1ull, 23ull, 0x80000000ull, 0xffffffffull}) {
    std::optional<Response> r = Call(m, fd, buf, count);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, Response::Kind::kErrno) << count;
    EXPECT_EQ(r->error, EINVAL) << count;
  }
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0) << "a refused call does not move the cursor";
  EXPECT_EQ(ReadAll(m, fd), kSorted);
  std::optional<Response> r = Call(m, fd, buf, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Response::Kind::kValue);
  EXPECT_EQ(r->value, 0);
  close(fd);
}

TEST_F(DirsHandlerTest, BadBufferIsEfaultAndAPartlyBadOneGivesWhatFits) {
  DirsModule m(config_);
  int fd = OpenDir(dir_);
  void* pages = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(pages, MAP_FAILED);
  ASSERT_EQ(mprotect(static_cast<char*>(pages) + kPage, kPage, PROT_NONE), 0);
  std::optional<Response> r = Call(m, fd, static_cast<char*>(pages) + kPage, kPage);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Response::Kind::kErrno);
  EXPECT_EQ(r->error, EFAULT);
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);
  // 48 writable bytes, then the hole: "." and ".." are written.
  uint8_t* edge = static_cast<uint8_t*>(pages) + kPage - 48;
  r = Call(m, fd, edge, 4096);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->kind, Response::Kind::kValue);
  EXPECT_EQ(r->value, 48);
  EXPECT_THAT(RecordNames(Parse(edge, 48, DirentFormat::kDirent64)), ElementsAre(".", ".."));
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 2);
  EXPECT_EQ(ReadAll(m, fd), std::vector<std::string>(kSorted.begin() + 2, kSorted.end()));
  munmap(pages, 2 * kPage);
  close(fd);
}

TEST_F(DirsHandlerTest, NotADirectoryOrNoDescriptorIsTheKernels) {
  DirsModule m(config_);
  uint8_t buf[4096];
  int file = open((dir_ + "/alpha").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  EXPECT_FALSE(Call(m, file, buf, sizeof buf).has_value());
  close(file);
  EXPECT_FALSE(Call(m, file, buf, sizeof buf).has_value()) << "closed";
  EXPECT_FALSE(Call(m, -1, buf, sizeof buf).has_value());
  int path_only = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  EXPECT_FALSE(Call(m, path_only, buf, sizeof buf).has_value()) << "O_PATH";
  close(path_only);
}

TEST_F(DirsHandlerTest, OldGetdents) {
  DirsModule m(config_);
  mkfifo((dir_ + "/fifo").c_str(), 0644);
  symlink("alpha", (dir_ + "/link").c_str());
  int fd = OpenDir(dir_);
  uint8_t buf[4096];
  std::optional<Response> r = Call(m, fd, buf, sizeof buf, DirentFormat::kDirent);
  ASSERT_TRUE(r && r->kind == Response::Kind::kValue);
  std::vector<Record> rs = Parse(buf, r->value, DirentFormat::kDirent);
  EXPECT_THAT(RecordNames(rs), ElementsAre(".", "..", "alpha", "bravo", "charlie", "delta",
                                           "echo", "fifo", "link"));
  ASSERT_EQ(rs.size(), 9u);
  EXPECT_EQ(rs[0].type, DT_DIR);
  EXPECT_EQ(rs[2].type, DT_REG);
  EXPECT_EQ(rs[7].type, DT_FIFO);
  EXPECT_EQ(rs[8].type, DT_LNK);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/bravo").c_str(), &st), 0);
  EXPECT_EQ(rs[3].ino, st.st_ino);
  close(fd);
}

TEST_F(DirsHandlerTest, ShuffleDependsOnTheSeedOnly) {
  for (int i = 0; i < 30; ++i) Touch(dir_ + "/f" + std::to_string(i));
  auto list = [&](uint64_t seed) {
    Config c;
    c.dirs = DirOrder::kShuffle;
    c.seed = seed;
    DirsModule m(c);
    int fd = OpenDir(dir_);
    std::vector<std::string> names = ReadAll(m, fd, 128);
    close(fd);
    return names;
  };
  const std::vector<std::string> one = list(1);
  EXPECT_EQ(one.size(), 37u);
  EXPECT_EQ(one, list(1));
  EXPECT_NE(one, list(2));
  DirsModule sorted(config_);
  int fd = OpenDir(dir_);
  EXPECT_NE(one, ReadAll(sorted, fd));
  close(fd);
}

TEST_F(DirsHandlerTest, EditedDirectoriesUnderEveryOrder) {
  // An editor that drops "alpha" and adds a directory "zulu" at the end.
  auto edit = [](std::vector<DirectoryEntry>& entries) {
    std::erase_if(entries, [](const DirectoryEntry& e) { return e.name == "alpha"; });
    entries.push_back(DirectoryEntry{4242, DT_DIR, "zulu"});
  };
  auto list = [&](DirOrder order, const std::string& path) {
    Config c;
    c.dirs = order;
    DirsModule m(c);
    Registry r;
    r.BeginModule(0, "cpus");
    r.EditDirectory(dir_, edit, "test");
    r.EditDirectory(dir_ + "/missing", edit, "test");  // ignored
    r.BeginModule(1, "dirs");
    m.Register(r);
    EXPECT_EQ(r.BuildDispatch()[SYS_getdents64].size(), 1u);
    int fd = OpenDir(path);
    std::vector<std::string> names = ReadAll(m, fd, 64);
    close(fd);
    return names;
  };
  EXPECT_EQ(list(DirOrder::kSorted, dir_),
            (std::vector<std::string>{".", "..", "bravo", "charlie", "delta", "echo", "zulu"}));
  // Any name of the directory is the directory.
  ASSERT_EQ(symlink(dir_.c_str(), (dir_ + "-link").c_str()), 0);
  EXPECT_EQ(list(DirOrder::kSorted, dir_ + "-link/"),
            (std::vector<std::string>{".", "..", "bravo", "charlie", "delta", "echo", "zulu"}));
  unlink((dir_ + "-link").c_str());
  std::vector<std::string> shuffled = list(DirOrder::kShuffle, dir_);
  std::vector<std::string> sorted = shuffled;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted,
            (std::vector<std::string>{".", "..", "bravo", "charlie", "delta", "echo", "zulu"}));
  // Native: the file system's order, edited: "zulu" last.
  std::vector<std::string> native = list(DirOrder::kNative, dir_);
  ASSERT_EQ(native.size(), 7u);
  EXPECT_EQ(native.back(), "zulu");
  EXPECT_EQ(std::count(native.begin(), native.end(), "alpha"), 0);

  // Under native every other directory is the kernel's.
  Config c;
  c.dirs = DirOrder::kNative;
  DirsModule m(c);
  Registry r;
  r.BeginModule(0, "cpus");
  r.EditDirectory(dir_, edit, "test");
  r.BeginModule(1, "dirs");
  m.Register(r);
  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
  int fd = OpenDir(dir_ + "/sub");
  uint8_t buf[4096];
  EXPECT_FALSE(Call(m, fd, buf, sizeof buf).has_value());
  close(fd);
}

TEST(DirsModuleDeathTest, EditsAfterDirsRegisteredAbort) {
  DirsModule m{Config{}};
  Registry r;
  r.BeginModule(0, "dirs");
  m.Register(r);
  r.BeginModule(1, "late");
  EXPECT_DEATH(r.EditDirectory("/sys/devices/system/cpu", nullptr, "t"),
               "late edits /sys/devices/system/cpu after dirs took");
}

TEST(DirsModuleTest, NativeRegistersNothing) {
  Config c;
  c.dirs = DirOrder::kNative;
  DirsModule native(c);
  Registry r;
  r.BeginModule(0, "dirs");
  native.Register(r);
  std::vector<std::vector<Registry::Entry>> table = r.BuildDispatch();
  EXPECT_TRUE(table[SYS_getdents64].empty());
  EXPECT_TRUE(table[SYS_getdents].empty());

  DirsModule sorted{Config{}};
  Registry r2;
  r2.BeginModule(0, "dirs");
  sorted.Register(r2);
  table = r2.BuildDispatch();
  EXPECT_EQ(table[SYS_getdents64].size(), 1u);
  EXPECT_EQ(table[SYS_getdents].size(), 1u);
}

}  // namespace
}  // namespace detrun
