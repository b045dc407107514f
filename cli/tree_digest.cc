#include "cli/tree_digest.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/unique_fd.h"

namespace detrun {
namespace {

std::string Hex(const XXH128_hash_t& h) {
  char buf[33];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
           static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string DigestBytes(const std::string& bytes) {
  return Hex(XXH3_128bits(bytes.data(), bytes.size()));
}

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return absl::StrCat(a, "/", b);
}

absl::Status Walk(const std::string& root, const std::string& rel, std::vector<DigestEntry>& out) {
  const std::string full = Join(root, rel);
  struct stat st;
  if (lstat(full.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("lstat ", full));
  }
  DigestEntry e;
  e.path = rel;
  if (S_ISREG(st.st_mode)) {
    e.kind = 'f';
    e.executable = (st.st_mode & 0111) != 0;
    absl::StatusOr<std::string> d = DigestFile(full);
    if (!d.ok()) return d.status();
    e.digest = *d;
    out.push_back(std::move(e));
    return absl::OkStatus();
  }
  if (S_ISLNK(st.st_mode)) {
    e.kind = 'l';
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlink(full.c_str(), target.data(), target.size());
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("readlink ", full));
    target.resize(static_cast<size_t>(n));
    e.digest = DigestBytes(target);
    out.push_back(std::move(e));
    return absl::OkStatus();
  }
  if (!S_ISDIR(st.st_mode)) {
    e.kind = 'o';
    out.push_back(std::move(e));
    return absl::OkStatus();
  }
  e.kind = 'd';
  out.push_back(std::move(e));
  DIR* dir = opendir(full.c_str());
  if (dir == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("opendir ", full));
  std::vector<std::string> names;
  errno = 0;
  while (dirent* d = readdir(dir)) {
    const std::string name = d->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int read_errno = errno;
  closedir(dir);
  if (read_errno != 0) return absl::ErrnoToStatus(read_errno, absl::StrCat("readdir ", full));
  std::sort(names.begin(), names.end());  // bytewise: std::string compares as unsigned char
  for (const std::string& name : names) {
    if (absl::Status s = Walk(root, Join(rel, name), out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DigestFile(const std::string& file) {
  UniqueFd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok()) return absl::ErrnoToStatus(errno, absl::StrCat("open ", file));
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      XXH3_freeState(state);
      return absl::ErrnoToStatus(e, absl::StrCat("read ", file));
    }
    if (n == 0) break;
    XXH3_128bits_update(state, buf.data(), static_cast<size_t>(n));
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  return Hex(h);
}

absl::StatusOr<std::vector<DigestEntry>> DigestArtifact(const std::string& root,
                                                        const std::string& path) {
  std::vector<DigestEntry> entries;
  if (absl::Status s = Walk(root, path, entries); !s.ok()) return s;
  // The walk is depth-first, which is not path order ("a/x" after "a-c").
  std::sort(entries.begin(), entries.end(),
            [](const DigestEntry& x, const DigestEntry& y) { return x.path < y.path; });
  if (path.empty()) entries.erase(entries.begin());  // the root itself, named ""
  return entries;
}

std::string DigestListing(const std::vector<DigestEntry>& entries) {
  std::string text;
  for (const DigestEntry& e : entries) {
    // NUL never occurs in a path: the encoding is unambiguous.
    absl::StrAppend(&text, e.path, std::string(1, '\0'), std::string(1, e.kind),
                    e.executable ? "x" : "-", e.digest, "\n");
  }
  return DigestBytes(text);
}

std::vector<DigestDifference> CompareListings(const std::vector<DigestEntry>& a,
                                              const std::vector<DigestEntry>& b) {
  std::vector<DigestDifference> out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].path < b[j].path)) {
      out.push_back({a[i++].path, "only in the first"});
    } else if (i == a.size() || b[j].path < a[i].path) {
      out.push_back({b[j++].path, "only in the second"});
    } else {
      const DigestEntry& x = a[i++];
      const DigestEntry& y = b[j++];
      if (x.kind != y.kind) {
        out.push_back({x.path, "kind differs"});
      } else if (x.digest != y.digest) {
        out.push_back({x.path, "content differs"});
      } else if (x.executable != y.executable) {
        out.push_back({x.path, "executable bit differs"});
      }
    }
  }
  return out;
}

}  // namespace detrun
