// DirsModule: directory listings in an order that does not depend on the
// file system (--dirs=sorted|shuffle|native).
//
// Natively the order of getdents64(2)/getdents(2) is the file system's:
// ext4 returns entries in hash order (a per-file-system secret), tmpfs
// newest first, so `ls -f`, `find`, os.listdir, glob without sorting, and
// every build that archives or links "all files in a directory" change
// between machines and between runs. Under detrun:
//   sorted  (default) every entry, "." and ".." included, in bytewise
//           (memcmp, unsigned byte) order of its name, whatever the bytes
//           are (names that are not UTF-8 sort by their bytes).
//   shuffle every entry ordered by SipHash-2-4 of its name keyed by
//           RandomStream(kShuffleDomain, --seed, no process identity): a
//           different order per --seed, the same for a given seed in every
//           process and every run, and the relative order of two names does
//           not depend on what else is in the directory. For `detrun flaky`
//           to expose code that depends on the order.
//   native  no interception (the module registers nothing), unless a
//           module edits a directory (below).
//
// Edited directories (Registry::EditDirectory, e.g. the cpus module's
// /sys/devices/system/cpu): the module takes the edits when it registers
// (so modules that edit register before it) and looks each directory up
// once then (stat: its device and inode; a path missing on the host is
// ignored). A listing of such a directory, through any name or
// descriptor, is the file system's listing passed through the editor
// (whose order is the file system's, with what it adds where it adds it),
// then ordered as --dirs says; under --dirs=native the edited order is the
// one served. Otherwise it is served like any other (cursors, d_off,
// snapshots below). Under --dirs=native with an edit the module registers
// getdents64/getdents all the same, and leaves every other directory to
// the kernel after one pidfd_getfd and fstat (about 3 us a call; nothing
// is read or reordered).
// "." and ".." are not moved first: ext4 (measured here) already returns
// them anywhere in its hash order, so code that skips "the first two
// entries" is broken natively too, and a strict bytewise order is simpler
// to state and to check. (Names starting with a byte below '.', such as
// "-x" or "+x", precede them.)
//
// How a call is answered (both getdents64 and the old getdents, whose
// struct linux_dirent has d_type in the record's last byte):
//   1. The supervisor takes its own descriptor to the child's open file
//      description with pidfd_getfd(2) on the calling thread's pidfd.
//      Measured on this machine: 3 us per pidfd_getfd+close against
//      13 us for open("/proc/TID/fd/N")+close; and only pidfd_getfd shares
//      the child's description (its file position, see 3), works for a
//      directory that was deleted or renamed, or that the supervisor
//      could not reach by path. Anything pidfd_getfd refuses (a bad or
//      O_PATH descriptor: EBADF) and anything that is not a directory
//      (ENOTDIR) is left to the kernel, which gives its own error.
//   2. When the child reads at position 0 (a new open, rewinddir,
//      lseek(fd, 0, SEEK_SET)) the supervisor reads the whole directory
//      through that descriptor (getdents64 from 0 to the end), orders it,
//      and keeps it as the description's listing (a snapshot: what the
//      kernel would have listed at that moment). A read that fails (a
//      deleted directory: ENOENT; EIO) is left to the kernel too.
//   3. The cursor lives in the kernel: position p means "the next entry is
//      listing[p]", and after serving entries [i, j) the supervisor sets
//      the shared description's file position to j (lseek on its
//      descriptor moves the child's, it is the same description). So
//      descriptors shared by dup() or fork() continue one cursor, and
//      lseek(fd, 0, SEEK_CUR) and telldir() read it. Each entry's d_off is
//      its index + 1, the position right after it, which seekdir()/lseek()
//      accept on every file system measured here (ext4, tmpfs, devtmpfs,
//      proc and sysfs, which refuse positions above INT_MAX, cgroup2,
//      devpts): small, and the same in every run. (Why not encode which
//      snapshot into the position too, so no state is needed: proc and
//      sysfs refuse positions above INT_MAX, leaving too few bits to name
//      a snapshot safely, and the position is visible to the child as
//      d_off/telldir, so it must not depend on run-time counters.)
//   4. Which listing a description at position p > 0 continues: a Cursor
//      per description being read holds the supervisor's descriptor and
//      the listing; the description is recognised with kcmp(KCMP_FILE).
//      A cursor is dropped when its description reads the end (the answer
//      0), when its last reader exits, when that reader's descriptor
//      number is found on another description (closed and reused), and
//      beyond kMaxCursors (first those whose last reader no longer has the
//      description open, then the least recently used). A description
//      with no cursor continues the directory's most recent listing
//      (kept for kMaxRecent directories / kMaxRecentBytes), else a fresh
//      read; positions past the end read as the end. So memory is bounded
//      by kMaxCursors listings plus kMaxRecentBytes. (DESIGN.md asks to
//      drop a snapshot once its description is closed; nothing tells the
//      supervisor of a close without intercepting every close(2), so that
//      check — pidfd_getfd of the last reader's number, then kcmp — runs
//      when the limit is reached, and on fd reuse as above.) Should the
//      supervisor run out of descriptors, it drops every cursor first.
//   5. The records are packed as the kernel does: reclen = 8-byte aligned
//      header + name + NUL (+ the d_type byte for getdents), d_ino and
//      d_type as the file system reported them (the real type of FIFOs,
//      sockets, devices and symlinks; DT_UNKNOWN where the file system
//      says so). As many whole records as fit in the buffer; when the next
//      entry does not fit in an empty buffer: EINVAL (at the end: 0). A
//      count above INT_MAX is treated as the kernel's (negative int) count:
//      EINVAL. If the buffer cannot be written: EFAULT when not even the
//      first record could be, else the records written so far (the
//      position moves past exactly those), as the kernel's partial copy.
//
// Limits:
//   - A listing is a snapshot taken at position 0: entries created or
//     removed while a description is part-way through are not seen until
//     it rewinds (POSIX leaves this unspecified; the kernel may show them).
//     A description that lost its cursor (see 4) while the directory
//     changed continues the newer listing at its index, and may then skip
//     or repeat an entry, as the kernel can for a directory modified under
//     a reader.
//   - A directory descriptor already read part-way natively (inherited
//     from outside detrun) continues at listing[its position], or reads as
//     ended when the position is past the end.
//   - pidfd_getfd needs ptrace access to the process: a process that made
//     itself non-dumpable (running an unreadable binary) lists in the file
//     system's order. So does a file system whose directories refuse lseek.
//   - The supervisor holds a descriptor to each directory part-way read
//     (at most kMaxCursors); a flock() on such a directory is released when
//     the cursor is dropped, not at the child's close.
//   - The directory is read on the supervisor's loop: a very large or slow
//     directory delays every other intercepted call meanwhile.
//   - Cost: two notifications per directory listed (the read, and the
//     call that finds the end); `find /usr/share -type f` (6,700
//     directories) takes about 2.1x its time under --dirs=native.
//   - Padding bytes between a record's name and its end are written as 0
//     (the kernel leaves the buffer's old bytes there).
#ifndef DETRUN_DETERMINISM_DIRS_MODULE_H_
#define DETRUN_DETERMINISM_DIRS_MODULE_H_

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/config.h"
#include "core/module.h"
#include "core/unique_fd.h"

namespace detrun {

// The 16-byte SipHash key of --dirs=shuffle.
using DirShuffleKey = std::array<uint8_t, 16>;

// One directory's entries, in the order the child sees them. Names are
// kept in one buffer (about 16 bytes per entry plus the name).
class DirListing {
 public:
  void Add(uint64_t ino, uint8_t type, std::string_view name);
  // Adds every record of a getdents64 result; false if a record is
  // malformed (nothing of it is added).
  bool AddDirents64(const uint8_t* data, size_t len);

  // The entries, in order, and their replacement by `entries`.
  std::vector<DirectoryEntry> Entries() const;
  void Assign(const std::vector<DirectoryEntry>& entries);

  // Bytewise by name.
  void SortByName();
  // By SipHash-2-4(key, name), ties by name.
  void Shuffle(const DirShuffleKey& key);

  size_t size() const { return entries_.size(); }
  std::string_view name(size_t i) const {
    return std::string_view(names_).substr(entries_[i].name_offset, entries_[i].name_len);
  }
  uint64_t ino(size_t i) const { return entries_[i].ino; }
  uint8_t type(size_t i) const { return entries_[i].type; }
  // Memory held, for the cache budget.
  size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry) + names_.capacity(); }

 private:
  struct Entry {
    uint64_t ino;
    uint32_t name_offset;
    uint16_t name_len;
    uint8_t type;
  };
  std::vector<Entry> entries_;
  std::string names_;
};

enum class DirentFormat {
  kDirent64,  // getdents64: struct linux_dirent64 {u64 d_ino; s64 d_off;
              // u16 d_reclen; u8 d_type; char d_name[];}
  kDirent,    // getdents: struct linux_dirent {u64 d_ino; u64 d_off;
              // u16 d_reclen; char d_name[]; ... ; u8 d_type (last byte)}
};

// The record length for a name of `name_len` bytes: header, name, NUL (and
// the trailing d_type byte of kDirent), rounded up to 8 bytes — the
// kernel's ALIGN(offsetof(d_name) + namlen + 1 or 2, sizeof(long)).
size_t DirentRecordLength(DirentFormat format, size_t name_len);

// Entries [index, next) of `listing` as records for a buffer of `capacity`
// bytes (as many whole records as fit). d_off of entry i is i + 1.
struct PackedDirents {
  std::vector<uint8_t> bytes;
  std::vector<size_t> ends;  // end offset in `bytes` of each record
  size_t next = 0;           // index of the first entry not packed
};
PackedDirents PackDirents(const DirListing& listing, size_t index, size_t capacity,
                          DirentFormat format);

class DirsModule : public Module {
 public:
  // Separates the shuffle key from every other use of the seed.
  static constexpr std::string_view kShuffleDomain = "dirs shuffle order";
  static constexpr size_t kMaxCursors = 256;
  static constexpr size_t kMaxRecent = 1024;
  static constexpr size_t kMaxRecentBytes = size_t{64} << 20;

  explicit DirsModule(const Config& config);
  ~DirsModule() override;

  std::string_view name() const override { return "dirs"; }
  void Register(Registry& registry) override;
  void OnProcessExit(const ProcessState& process,
                     const std::vector<const ThreadState*>& threads) override;

  // The shuffle key for `seed`.
  static DirShuffleKey ShuffleKey(uint64_t seed);

  // The handler (public for the unit tests, which run it on their own
  // process).
  std::optional<Response> Getdents(SyscallContext& ctx, DirentFormat format);

  size_t cursor_count() const { return cursors_.size(); }

 private:
  struct DirKey {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const DirKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const DirKey& k) {
      return H::combine(std::move(h), k.dev, k.ino);
    }
  };
  // A description being read: our descriptor to it, its listing, and who
  // read it last (pid, descriptor number there).
  struct Cursor {
    UniqueFd file;
    DirKey key;
    std::shared_ptr<const DirListing> listing;
    pid_t owner_pid;
    int owner_fd;
  };
  using CursorList = std::list<Cursor>;  // least recently used first

  // The cursor of the description `file` (ours), dropping on the way the
  // cursors whose (pid, fd) now names another description.
  CursorList::iterator FindCursor(const DirKey& key, int file, pid_t pid, int fd);
  void AddCursor(Cursor cursor);
  // Reads, edits (when `key` is edited) and orders the whole directory
  // (`file` is at `pos`); errno on failure.
  int ReadListing(int file, off_t pos, const DirKey& key,
                  std::shared_ptr<const DirListing>* out);
  std::shared_ptr<const DirListing> Recent(const DirKey& key);
  void RememberRecent(const DirKey& key, std::shared_ptr<const DirListing> listing);

  const DirOrder order_;
  const DirShuffleKey shuffle_key_;
  // Registry::EditDirectory's editors, by directory.
  absl::flat_hash_map<DirKey, DirectoryEditor> edits_;
  CursorList cursors_;
  // Most recent listing per directory, least recently used first.
  using RecentList = std::list<std::pair<DirKey, std::shared_ptr<const DirListing>>>;
  RecentList recent_;
  absl::flat_hash_map<DirKey, RecentList::iterator> recent_index_;
  size_t recent_bytes_ = 0;
  std::vector<uint8_t> read_buffer_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_DIRS_MODULE_H_
