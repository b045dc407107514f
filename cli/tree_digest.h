// Tree digests for `detrun repro`: what a build produced, as a sorted list
// of (path, kind, xxh3-128 digest), and the differences between two lists.
//
// DigestArtifact(root, path) describes `path` (relative to `root`, a file,
// symlink or directory, never followed out of it): a file by the digest of
// its bytes, a symlink by the digest of its target text (not followed), a
// directory by its entries, walked recursively with names sorted bytewise
// (the order a listing comes in never matters), other kinds (fifos,
// sockets, devices) by their kind alone. Directory entries themselves are
// listed too, so an empty directory that appears in one build only is a
// difference. Nothing about times, owners or inode numbers is digested:
// two builds are the same when their bytes and shapes are.
#ifndef DETRUN_CLI_TREE_DIGEST_H_
#define DETRUN_CLI_TREE_DIGEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace detrun {

struct DigestEntry {
  std::string path;         // relative to the root, '/'-separated
  char kind = '?';          // 'f' file, 'l' symlink, 'd' directory, 'o' other
  std::string digest;       // 32 hex digits (xxh3-128); "" for directories, other
  bool executable = false;  // files: any x bit set
  bool operator==(const DigestEntry&) const = default;
};

// Entries sorted by path. An empty `path` is the whole of `root` (root
// itself not listed). NotFound when `path` does not exist under `root`.
absl::StatusOr<std::vector<DigestEntry>> DigestArtifact(const std::string& root,
                                                        const std::string& path);

// The xxh3-128 of a file's bytes, as 32 hex digits.
absl::StatusOr<std::string> DigestFile(const std::string& file);

// The xxh3-128 of a whole listing, one value to print for a set of
// artifacts.
std::string DigestListing(const std::vector<DigestEntry>& entries);

struct DigestDifference {
  std::string path;
  std::string what;  // "only in A", "content", "kind", "executable bit"
};

// Differences between two sorted listings, sorted by path.
std::vector<DigestDifference> CompareListings(const std::vector<DigestEntry>& a,
                                              const std::vector<DigestEntry>& b);

}  // namespace detrun

#endif  // DETRUN_CLI_TREE_DIGEST_H_
