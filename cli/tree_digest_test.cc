#include "cli/tree_digest.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace detrun {
namespace {

using ::testing::ElementsAre;

class TreeDigestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/digest.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::string command = "rm -rf '" + root_ + "'";
    ASSERT_EQ(system(command.c_str()), 0);
  }
  void Write(const std::string& rel, const std::string& content) {
    std::ofstream(root_ + "/" + rel) << content;
  }
  void Mkdir(const std::string& rel) { ASSERT_EQ(mkdir((root_ + "/" + rel).c_str(), 0755), 0); }

  std::vector<std::string> Paths(const std::vector<DigestEntry>& entries) {
    std::vector<std::string> out;
    for (const DigestEntry& e : entries) out.push_back(std::string(1, e.kind) + " " + e.path);
    return out;
  }

  std::string root_;
};

TEST_F(TreeDigestTest, ListsEverythingInPathOrder) {
  Mkdir("a");
  Mkdir("a/empty");
  Write("a/x", "one");
  Write("a-c", "two");
  Write("B", "three");
  ASSERT_EQ(symlink("a/x", (root_ + "/link").c_str()), 0);
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  absl::StatusOr<std::vector<DigestEntry>> all = DigestArtifact(root_, "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Paths(*all),
              ElementsAre("f B", "d a", "f a-c", "d a/empty", "f a/x", "o fifo", "l link"));
  absl::StatusOr<std::vector<DigestEntry>> dir = DigestArtifact(root_, "a");
  ASSERT_TRUE(dir.ok());
  EXPECT_THAT(Paths(*dir), ElementsAre("d a", "d a/empty", "f a/x"));
  EXPECT_EQ((*dir)[2].digest.size(), 32u);
  EXPECT_TRUE(absl::IsNotFound(DigestArtifact(root_, "missing").status()));
}

TEST_F(TreeDigestTest, DigestsBytesNotTimesAndFollowNoLinks) {
  Write("f", "same");
  Write("g", "same");
  ASSERT_EQ(symlink("f", (root_ + "/l1").c_str()), 0);
  ASSERT_EQ(symlink("g", (root_ + "/l2").c_str()), 0);
  absl::StatusOr<std::vector<DigestEntry>> e = DigestArtifact(root_, "");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->size(), 4u);
  EXPECT_EQ((*e)[0].digest, (*e)[1].digest);  // f, g: same bytes
  EXPECT_NE((*e)[2].digest, (*e)[3].digest);  // links to different names
  EXPECT_EQ(*DigestFile(root_ + "/f"), (*e)[0].digest);
  // XXH3-128 of "same" in its canonical form (high half first), pinned so
  // the printed digests do not drift.
  EXPECT_EQ((*e)[0].digest, "32e4fc33210edf0a94d0af822e63d179");
}

TEST(CompareListingsTest, ReportsEveryKindOfDifference) {
  auto entry = [](std::string path, char kind, std::string digest, bool x = false) {
    return DigestEntry{std::move(path), kind, std::move(digest), x};
  };
  const std::vector<DigestEntry> a = {entry("a", 'f', "1"), entry("b", 'f', "2"),
                                      entry("c", 'f', "3"), entry("d", 'f', "4", true),
                                      entry("e", 'f', "5")};
  const std::vector<DigestEntry> b = {entry("a", 'f', "1"), entry("b", 'f', "9"),
                                      entry("c", 'l', "3"), entry("d", 'f', "4", false),
                                      entry("f", 'f', "6")};
  std::vector<std::string> got;
  for (const DigestDifference& d : CompareListings(a, b)) got.push_back(d.path + ": " + d.what);
  EXPECT_THAT(got, ElementsAre("b: content differs", "c: kind differs", "d: executable bit differs",
                               "e: only in the first", "f: only in the second"));
  EXPECT_TRUE(CompareListings(a, a).empty());
  EXPECT_EQ(DigestListing(a), DigestListing(a));
  EXPECT_NE(DigestListing(a), DigestListing(b));
}

}  // namespace
}  // namespace detrun
