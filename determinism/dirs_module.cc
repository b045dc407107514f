#include "determinism/dirs_module.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/child_memory.h"
#include "core/linux_compat.h"
#include "core/process_table.h"
#include "determinism/random_stream.h"

namespace detrun {
namespace {

// Field offsets shared by both record formats (x86-64).
constexpr size_t kInoOffset = 0;
constexpr size_t kOffOffset = 8;
constexpr size_t kReclenOffset = 16;
constexpr size_t kDirent64TypeOffset = 18;
constexpr size_t kDirent64NameOffset = 19;  // offsetof(linux_dirent64, d_name)
constexpr size_t kDirentNameOffset = 18;    // offsetof(linux_dirent, d_name)

// How much the supervisor reads per getdents64 of its own.
constexpr size_t kReadBufferBytes = 256 * 1024;

void Put16(uint8_t* p, uint16_t v) { memcpy(p, &v, sizeof v); }
void Put64(uint8_t* p, uint64_t v) { memcpy(p, &v, sizeof v); }

bool Bytewise(std::string_view a, std::string_view b) {
  const int c = memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c != 0 ? c < 0 : a.size() < b.size();
}

// Whether two of the supervisor's descriptors are the same open file
// description.
bool SameDescription(int a, int b) {
  static const pid_t self = getpid();
  return syscall(SYS_kcmp, self, self, KCMP_FILE, a, b) == 0;
}

int PidfdOpen(pid_t pid, unsigned flags) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, flags));
}

int PidfdGetfd(int pidfd, int fd) {
  return static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
}

// The supervisor's descriptor to descriptor `fd` of the calling thread
// (its own table: a thread may have unshared it), or an invalid one.
UniqueFd DuplicateChildFd(SyscallContext& ctx, int fd) {
  int pidfd = ctx.thread.pidfd.ok() ? ctx.thread.pidfd.get() : ctx.process.pidfd.get();
  UniqueFd opened;
  if (pidfd < 0) {
    // No pidfd kept for this task (kernels before 6.9 have none for
    // threads): open one, and make sure the tid still is the caller's.
    const pid_t tid = ctx.notification.tid;
    opened.reset(PidfdOpen(tid, tid == ctx.process.pid ? 0 : PIDFD_THREAD));
    if (!opened.ok() || !ctx.memory.IsValid(ctx.notification.id)) return UniqueFd();
    pidfd = opened.get();
  }
  return UniqueFd(PidfdGetfd(pidfd, fd));
}

}  // namespace

// ---------------------------------------------------------------- listing

void DirListing::Add(uint64_t ino, uint8_t type, std::string_view name) {
  entries_.push_back(Entry{ino, static_cast<uint32_t>(names_.size()),
                           static_cast<uint16_t>(name.size()), type});
  names_.append(name);
}

bool DirListing::AddDirents64(const uint8_t* data, size_t len) {
  const size_t old_entries = entries_.size();
  const size_t old_names = names_.size();
  size_t at = 0;
  while (at < len) {
    uint16_t reclen;
    uint64_t ino;
    if (len - at < kDirent64NameOffset) break;
    memcpy(&reclen, data + at + kReclenOffset, sizeof reclen);
    memcpy(&ino, data + at + kInoOffset, sizeof ino);
    if (reclen <= kDirent64NameOffset || reclen > len - at) break;
    const char* name = reinterpret_cast<const char*>(data + at + kDirent64NameOffset);
    const size_t name_len = strnlen(name, reclen - kDirent64NameOffset);
    if (name_len == reclen - kDirent64NameOffset || name_len > UINT16_MAX) break;
    Add(ino, data[at + kDirent64TypeOffset], std::string_view(name, name_len));
    at += reclen;
  }
  if (at == len) return true;
  entries_.resize(old_entries);
  names_.resize(old_names);
  return false;
}

std::vector<DirectoryEntry> DirListing::Entries() const {
  std::vector<DirectoryEntry> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) {
    out.push_back(DirectoryEntry{ino(i), type(i), std::string(name(i))});
  }
  return out;
}

void DirListing::Assign(const std::vector<DirectoryEntry>& entries) {
  entries_.clear();
  names_.clear();
  for (const DirectoryEntry& e : entries) Add(e.ino, e.type, e.name);
}

void DirListing::SortByName() {
  std::sort(entries_.begin(), entries_.end(), [this](const Entry& a, const Entry& b) {
    return Bytewise(std::string_view(names_).substr(a.name_offset, a.name_len),
                    std::string_view(names_).substr(b.name_offset, b.name_len));
  });
}

void DirListing::Shuffle(const DirShuffleKey& key) {
  struct Keyed {
    uint64_t hash;
    Entry entry;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    const std::string_view n = name(i);
    uint8_t out[crypto_shorthash_siphash24_BYTES];
    crypto_shorthash_siphash24(out, reinterpret_cast<const uint8_t*>(n.data()), n.size(),
                               key.data());
    uint64_t h;
    memcpy(&h, out, sizeof h);
    keyed.push_back(Keyed{h, entries_[i]});
  }
  std::sort(keyed.begin(), keyed.end(), [this](const Keyed& a, const Keyed& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return Bytewise(std::string_view(names_).substr(a.entry.name_offset, a.entry.name_len),
                    std::string_view(names_).substr(b.entry.name_offset, b.entry.name_len));
  });
  for (size_t i = 0; i < keyed.size(); ++i) entries_[i] = keyed[i].entry;
}

// ---------------------------------------------------------------- records

size_t DirentRecordLength(DirentFormat format, size_t name_len) {
  const size_t raw = format == DirentFormat::kDirent64 ? kDirent64NameOffset + name_len + 1
                                                      : kDirentNameOffset + name_len + 2;
  return (raw + 7) & ~size_t{7};
}

PackedDirents PackDirents(const DirListing& listing, size_t index, size_t capacity,
                          DirentFormat format) {
  PackedDirents out;
  size_t i = index;
  size_t used = 0;
  // Sized first, written once.
  while (i < listing.size()) {
    const size_t reclen = DirentRecordLength(format, listing.name(i).size());
    if (reclen > capacity - used) break;
    used += reclen;
    out.ends.push_back(used);
    ++i;
  }
  out.next = i;
  out.bytes.assign(used, 0);
  size_t at = 0;
  for (size_t k = index; k < i; ++k) {
    uint8_t* rec = out.bytes.data() + at;
    const std::string_view name = listing.name(k);
    const size_t reclen = DirentRecordLength(format, name.size());
    Put64(rec + kInoOffset, listing.ino(k));
    Put64(rec + kOffOffset, static_cast<uint64_t>(k) + 1);  // the position after it
    Put16(rec + kReclenOffset, static_cast<uint16_t>(reclen));
    if (format == DirentFormat::kDirent64) {
      rec[kDirent64TypeOffset] = listing.type(k);
      memcpy(rec + kDirent64NameOffset, name.data(), name.size());
    } else {
      memcpy(rec + kDirentNameOffset, name.data(), name.size());
      rec[reclen - 1] = listing.type(k);
    }
    at += reclen;  // the NUL and the padding are the zeros of assign()
  }
  return out;
}

// ---------------------------------------------------------------- module

DirsModule::DirsModule(const Config& config)
    : order_(config.dirs), shuffle_key_(ShuffleKey(config.seed)) {}

DirsModule::~DirsModule() = default;

DirShuffleKey DirsModule::ShuffleKey(uint64_t seed) {
  // Keyed by the seed only (an empty identity): every process of the run
  // lists a directory the same way.
  RandomStream stream(kShuffleDomain, seed, ProcessIdentity{});
  DirShuffleKey key;
  stream.Fill(key.data(), key.size());
  return key;
}

void DirsModule::Register(Registry& registry) {
  for (const Registry::EditedDirectory& edit : registry.TakeEditedDirectories()) {
    struct stat st;
    if (stat(edit.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // nothing to list
    edits_.emplace(DirKey{st.st_dev, st.st_ino}, edit.editor);
  }
  if (order_ == DirOrder::kNative && edits_.empty()) return;
  const char* reason = order_ == DirOrder::kNative
                           ? "the listings other modules edit (--dirs=native)"
                           : "directory entries in --dirs order";
  registry.Notify(
      SYS_getdents64,
      [this](SyscallContext& ctx) { return Getdents(ctx, DirentFormat::kDirent64); }, reason);
  registry.Notify(
      SYS_getdents, [this](SyscallContext& ctx) { return Getdents(ctx, DirentFormat::kDirent); },
      absl::StrCat(reason, " (old getdents)"));
}

void DirsModule::OnProcessExit(const ProcessState& process,
                               const std::vector<const ThreadState*>& threads) {
  (void)threads;
  // Its descriptors are closed: release ours (a description it shared
  // with a live process continues the directory's recent listing).
  cursors_.remove_if([&](const Cursor& c) { return c.owner_pid == process.pid; });
}

int DirsModule::ReadListing(int file, off_t pos, const DirKey& key,
                            std::shared_ptr<const DirListing>* out) {
  if (pos != 0 && lseek(file, 0, SEEK_SET) != 0) return errno != 0 ? errno : EINVAL;
  read_buffer_.resize(kReadBufferBytes);
  auto listing = std::make_shared<DirListing>();
  for (;;) {
    const long n = syscall(SYS_getdents64, file, read_buffer_.data(), read_buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    if (!listing->AddDirents64(read_buffer_.data(), static_cast<size_t>(n))) return EIO;
  }
  if (auto edit = edits_.find(key); edit != edits_.end()) {
    std::vector<DirectoryEntry> entries = listing->Entries();
    edit->second(entries);
    listing->Assign(entries);
  }
  switch (order_) {
    case DirOrder::kShuffle:
      listing->Shuffle(shuffle_key_);
      break;
    case DirOrder::kSorted:
      listing->SortByName();
      break;
    case DirOrder::kNative:  // only edited directories get here
      break;
  }
  *out = std::move(listing);
  return 0;
}

DirsModule::CursorList::iterator DirsModule::FindCursor(const DirKey& key, int file, pid_t pid,
                                                        int fd) {
  auto found = cursors_.end();
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    if (found == cursors_.end() && it->key == key && SameDescription(it->file.get(), file)) {
      found = it++;
      continue;
    }
    if (it->owner_pid == pid && it->owner_fd == fd) {
      // That descriptor number now names another description: the one
      // this cursor followed was closed there (fd reuse after close).
      it = cursors_.erase(it);
      continue;
    }
    ++it;
  }
  return found;
}

void DirsModule::AddCursor(Cursor cursor) {
  if (cursors_.size() >= kMaxCursors) {
    // First the cursors whose last reader no longer has the description.
    for (auto it = cursors_.begin(); it != cursors_.end();) {
      UniqueFd pidfd(PidfdOpen(it->owner_pid, 0));
      UniqueFd theirs(pidfd.ok() ? PidfdGetfd(pidfd.get(), it->owner_fd) : -1);
      if (theirs.ok() && SameDescription(it->file.get(), theirs.get())) {
        ++it;
      } else {
        it = cursors_.erase(it);
      }
    }
    // Then the least recently used, with room to spare so that this sweep
    // does not run at every new cursor.
    while (cursors_.size() >= kMaxCursors * 3 / 4) cursors_.pop_front();
  }
  cursors_.push_back(std::move(cursor));
}

std::shared_ptr<const DirListing> DirsModule::Recent(const DirKey& key) {
  auto it = recent_index_.find(key);
  if (it == recent_index_.end()) return nullptr;
  recent_.splice(recent_.end(), recent_, it->second);
  return it->second->second;
}

void DirsModule::RememberRecent(const DirKey& key, std::shared_ptr<const DirListing> listing) {
  if (auto it = recent_index_.find(key); it != recent_index_.end()) {
    recent_bytes_ -= it->second->second->memory_bytes();
    recent_.erase(it->second);
    recent_index_.erase(it);
  }
  const size_t bytes = listing->memory_bytes();
  if (bytes > kMaxRecentBytes) return;
  recent_.emplace_back(key, std::move(listing));
  recent_index_[key] = std::prev(recent_.end());
  recent_bytes_ += bytes;
  while (recent_.size() > kMaxRecent || recent_bytes_ > kMaxRecentBytes) {
    recent_bytes_ -= recent_.front().second->memory_bytes();
    recent_index_.erase(recent_.front().first);
    recent_.pop_front();
  }
}

std::optional<Response> DirsModule::Getdents(SyscallContext& ctx, DirentFormat format) {
  const Notification& n = ctx.notification;
  // unsigned int fd: numbers above INT_MAX are no descriptor (EBADF from
  // the kernel).
  const uint32_t raw_fd = static_cast<uint32_t>(n.args[0]);
  if (raw_fd > INT_MAX) return std::nullopt;
  const int fd = static_cast<int>(raw_fd);
  const uint64_t buffer = n.args[1];
  const uint32_t count = static_cast<uint32_t>(n.args[2]);

  // Errors before anything is read are the kernel's to give (EBADF,
  // ENOTDIR): it runs the call.
  UniqueFd file = DuplicateChildFd(ctx, fd);
  if (!file.ok() && (errno == EMFILE || errno == ENFILE) && !cursors_.empty()) {
    // Out of descriptors: the ones our cursors hold are ours to give back
    // (their descriptions continue through the recent listings).
    cursors_.clear();
    file = DuplicateChildFd(ctx, fd);
  }
  if (!file.ok()) return std::nullopt;
  const pid_t pid = ctx.process.pid;
  // Most calls continue what the same descriptor read last: that cursor
  // is the one to try first, and it makes fstat unnecessary.
  auto cursor = std::find_if(cursors_.begin(), cursors_.end(), [&](const Cursor& c) {
    return c.owner_pid == pid && c.owner_fd == fd;
  });
  if (cursor != cursors_.end() && !SameDescription(cursor->file.get(), file.get())) {
    cursor = cursors_.end();
  }
  DirKey key;
  if (cursor != cursors_.end()) {
    key = cursor->key;
  } else {
    struct stat st;
    if (fstat(file.get(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    key = DirKey{st.st_dev, st.st_ino};
    // --dirs=native: only the edited directories are ours to list.
    if (order_ == DirOrder::kNative && !edits_.contains(key)) return std::nullopt;
    cursor = FindCursor(key, file.get(), pid, fd);
  }
  const off_t pos = lseek(file.get(), 0, SEEK_CUR);
  if (pos < 0) return std::nullopt;  // no seekable position: native order

  // Position 0 (a new open or a rewind) takes a new snapshot; any other
  // continues the description's listing.
  std::shared_ptr<const DirListing> listing;
  if (pos != 0) listing = cursor != cursors_.end() ? cursor->listing : Recent(key);
  bool moved = false;  // whether our reading moved the position
  if (listing == nullptr) {
    moved = true;
    if (ReadListing(file.get(), pos, key, &listing) != 0) {
      lseek(file.get(), pos, SEEK_SET);
      return std::nullopt;  // e.g. a deleted directory: the kernel's ENOENT
    }
    RememberRecent(key, listing);
  }
  auto restore = [&] {
    if (moved) lseek(file.get(), pos, SEEK_SET);
  };

  const size_t index = static_cast<size_t>(pos);
  if (index >= listing->size()) {
    // The end: 0, whatever the buffer. The description is done with.
    restore();
    if (cursor != cursors_.end()) cursors_.erase(cursor);
    return Response::Value(0);
  }
  // The kernel keeps the count in an int: above INT_MAX no record fits.
  const size_t capacity = count > INT_MAX ? 0 : count;
  PackedDirents packed = PackDirents(*listing, index, capacity, format);
  if (packed.ends.empty()) {
    restore();
    return Response::Errno(EINVAL);  // the buffer cannot hold the next entry
  }
  // The cursor moves first: a file system that refuses the position
  // (none measured) must not see the child loop on the same entries.
  if (lseek(file.get(), static_cast<off_t>(packed.next), SEEK_SET) !=
      static_cast<off_t>(packed.next)) {
    lseek(file.get(), pos, SEEK_SET);
    return std::nullopt;
  }
  size_t written = packed.ends.size();
  absl::Status s = ctx.memory.Write(n.id, n.tid, buffer, packed.bytes.data(), packed.bytes.size());
  if (!s.ok()) {
    if (!absl::IsOutOfRange(s)) {
      lseek(file.get(), pos, SEEK_SET);
      return Response::Errno(ErrnoForMemoryStatus(s));
    }
    // As the kernel: the records that could be written count.
    written = 0;
    for (size_t start = 0; written < packed.ends.size(); ++written) {
      const size_t end = packed.ends[written];
      if (!ctx.memory.Write(n.id, n.tid, buffer + start, packed.bytes.data() + start, end - start)
               .ok()) {
        break;
      }
      start = end;
    }
    if (written == 0) {
      lseek(file.get(), pos, SEEK_SET);
      return Response::Errno(EFAULT);
    }
    lseek(file.get(), static_cast<off_t>(index + written), SEEK_SET);
  }

  if (cursor != cursors_.end()) {
    cursor->listing = std::move(listing);
    cursor->owner_pid = pid;
    cursor->owner_fd = fd;
    cursors_.splice(cursors_.end(), cursors_, cursor);
  } else {
    AddCursor(Cursor{std::move(file), key, std::move(listing), pid, fd});
  }
  return Response::Value(static_cast<int64_t>(packed.ends[written - 1]));
}

}  // namespace detrun
