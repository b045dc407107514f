#include "core/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/linux_compat.h"

namespace detrun {
namespace {

// Reads a small /proc file into `buf` (NUL-terminated); returns its length
// or -1.
ssize_t ReadSmallFile(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

std::optional<pid_t> FieldAfter(absl::string_view text, absl::string_view key) {
  size_t at = text.find(key);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = text.substr(at + key.size());
  size_t end = rest.find('\n');
  int32_t v;
  if (!absl::SimpleAtoi(rest.substr(0, end), &v)) return std::nullopt;
  return v;
}

int OpenPidfd(pid_t pid, unsigned flags) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, flags));
}

// A task's tgid and parent from its pidfd and PIDFD_GET_INFO (6.13): a
// pidfd_open and an ioctl, where /proc/TID/status costs a /proc lookup of a
// pid never seen before, an inode, and the formatting of 60 lines. The
// pidfd is handed to the table as the task's exit pidfd, so no second one
// is opened. Together, this took about a quarter off the supervisor's CPU
// time for 2000 short-lived processes (475-533 ms to 350-387 ms,
// /proc/PID/schedstat). nullopt when the kernel lacks PIDFD_GET_INFO, or
// PIDFD_THREAD (6.9) for a thread, or the task is gone: the caller then
// reads /proc.
std::optional<TaskInfo> TaskInfoFromPidfd(pid_t tid) {
  static bool unsupported = false;
  if (unsupported) return std::nullopt;
  // Without flags only a thread-group leader has a pidfd (EINVAL for any
  // other thread); with PIDFD_THREAD any thread has one.
  UniqueFd fd(OpenPidfd(tid, 0));
  if (!fd.ok() && errno == EINVAL) fd.reset(OpenPidfd(tid, PIDFD_THREAD));
  if (!fd.ok()) return std::nullopt;
  DetrunPidfdInfo info{};
  info.mask = DETRUN_PIDFD_INFO_PID;
  if (ioctl(fd.get(), DETRUN_PIDFD_GET_INFO, &info) != 0) {
    if (errno == ENOTTY || errno == EINVAL) unsupported = true;
    return std::nullopt;
  }
  if ((info.mask & DETRUN_PIDFD_INFO_PID) == 0 || info.tgid == 0) return std::nullopt;
  return TaskInfo{static_cast<pid_t>(info.tgid), static_cast<pid_t>(info.ppid), std::move(fd)};
}

std::optional<TaskInfo> ReadTaskInfo(pid_t tid) {
  if (std::optional<TaskInfo> info = TaskInfoFromPidfd(tid)) return info;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  char buf[4096];
  ssize_t n = ReadSmallFile(path, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  absl::string_view text(buf, n);
  std::optional<pid_t> tgid = FieldAfter(text, "\nTgid:");
  std::optional<pid_t> ppid = FieldAfter(text, "\nPPid:");
  if (!tgid || !ppid) return std::nullopt;
  return TaskInfo{*tgid, *ppid};
}

pid_t ReadLastPid() {
  // ns_last_pid is the cheapest reading; /proc/loadavg's last field is the
  // same number and stays readable where /proc/sys is masked.
  static const int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
  char buf[128];
  if (fd >= 0) {
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    int32_t v;
    if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(
                                      absl::string_view(buf, n)), &v)) {
      return v;
    }
  }
  if (ReadSmallFile("/proc/loadavg", buf, sizeof buf) > 0) {
    const char* last = strrchr(buf, ' ');
    if (last != nullptr) return atoi(last + 1);
  }
  return 0;
}

pid_t ReadPidMax() {
  char buf[64];
  if (ReadSmallFile("/proc/sys/kernel/pid_max", buf, sizeof buf) > 0) {
    int v = atoi(buf);
    if (v > 0) return v;
  }
  return 4194304;  // PID_MAX_LIMIT on 64-bit
}

}  // namespace

ProcessTable::Hooks ProcessTable::DefaultHooks() {
  Hooks h;
  h.task_info = ReadTaskInfo;
  h.last_pid = ReadLastPid;
  h.pid_max = ReadPidMax();
  return h;
}

ProcessTable::ProcessTable(std::vector<Module*> modules, Hooks hooks)
    : modules_(std::move(modules)), hooks_(std::move(hooks)) {
  if (hooks_.pid_max <= 0) hooks_.pid_max = ReadPidMax();
}

void ProcessTable::SetRoot(pid_t pid) { root_pid_ = pid; }

const CloneRecord* ProcessTable::Match(const std::deque<CloneRecord>& records,
                                       pid_t pid, pid_t now) const {
  // Ages are distances back from `now` along the pid cycle: a record is a
  // candidate when its watermark is older than the pid; the latest such
  // record created it.
  const int64_t cycle = hooks_.pid_max;
  auto age = [&](pid_t p) { return ((int64_t{now} - p) % cycle + cycle) % cycle; };
  const int64_t pid_age = age(pid);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if (age(it->watermark) > pid_age) return &*it;
  }
  return nullptr;
}

const CloneRecord* ProcessTable::MatchOrphan(pid_t pid, pid_t now,
                                             ProcessIdentity* parent) const {
  // The parent is gone, so we cannot know which tombstone it was; take the
  // latest record older than the pid across all of them.
  const CloneRecord* best = nullptr;
  const int64_t cycle = hooks_.pid_max;
  auto age = [&](pid_t p) { return ((int64_t{now} - p) % cycle + cycle) % cycle; };
  for (const Tombstone& t : tombstones_) {
    const CloneRecord* r = Match(t.child_clones, pid, now);
    if (r != nullptr && (best == nullptr || age(r->watermark) < age(best->watermark))) {
      best = r;
      *parent = t.id;
    }
  }
  return best;
}

ThreadState* ProcessTable::AddThread(ProcessState& process, pid_t tid,
                                     uint32_t index,
                                     const CloneRecord* record, UniqueFd pidfd) {
  if (record != nullptr) record->used = true;  // a task was made by that clone
  auto thread = std::make_unique<ThreadState>();
  thread->id = ThreadIdentity{process.id, index};
  thread->tid = tid;
  thread->process = &process;
  thread->module_state.reserve(modules_.size());
  for (size_t i = 0; i < modules_.size(); ++i) {
    const ModuleState* inherited =
        record != nullptr && i < record->inherited.size() ? record->inherited[i].get() : nullptr;
    thread->module_state.push_back(modules_[i]->NewThreadState(*thread, inherited));
  }
  if (hooks_.open_pidfds && tid != process.pid) {
    int fd = pidfd.ok() ? pidfd.release() : OpenPidfd(tid, PIDFD_THREAD);
    if (fd >= 0) {
      thread->pidfd.reset(fd);
      new_pidfds_.emplace_back(fd, tid, true);
    }
    // Kernels before 6.9 refuse PIDFD_THREAD: such threads are dropped
    // with their process instead.
  }
  process.threads.push_back(tid);
  ThreadState* raw = thread.get();
  threads_[tid] = std::move(thread);
  return raw;
}

ProcessState* ProcessTable::IdentifyProcess(pid_t pid, pid_t ppid, UniqueFd pidfd) {
  if (auto it = processes_.find(pid); it != processes_.end()) {
    return it->second.get();
  }
  auto process = std::make_unique<ProcessState>();
  process->pid = pid;
  process->ppid = ppid;
  const CloneRecord* record = nullptr;
  if (pid == root_pid_) {
    process->id = ProcessIdentity::Root();
  } else {
    const pid_t now = hooks_.last_pid();
    auto parent = processes_.find(ppid);
    if (parent != processes_.end()) {
      process->loader_text = parent->second->loader_text;
      record = Match(parent->second->child_clones, pid, now);
      if (record != nullptr) process->id = parent->second->id.Child(record->index);
    }
    if (record == nullptr) {
      ProcessIdentity parent_id;
      record = MatchOrphan(pid, now, &parent_id);
      if (record != nullptr) process->id = parent_id.Child(record->index);
    }
    if (record == nullptr) process->id = ProcessIdentity{{0, ++unmatched_}};
  }
  if (hooks_.open_pidfds) {
    int fd = pidfd.ok() ? pidfd.release() : OpenPidfd(pid, 0);
    if (fd >= 0) {
      process->pidfd.reset(fd);
      new_pidfds_.emplace_back(fd, pid, false);
    }
  }
  ProcessState* raw = process.get();
  processes_[pid] = std::move(process);
  // The main thread exists from the start and inherits from the clone.
  AddThread(*raw, pid, 0, record);
  if (hooks_.on_process_start) hooks_.on_process_start(*raw);
  return raw;
}

ThreadState* ProcessTable::Identify(pid_t tid) {
  if (auto it = threads_.find(tid); it != threads_.end()) return it->second.get();
  std::optional<TaskInfo> info = hooks_.task_info(tid);
  if (!info) return nullptr;
  if (info->tgid == tid) {
    IdentifyProcess(tid, info->ppid, std::move(info->pidfd));
    return threads_[tid].get();
  }
  // A thread: identify its process first (its main thread may never have
  // made a notified call).
  ProcessState* process = nullptr;
  if (auto it = processes_.find(info->tgid); it != processes_.end()) {
    process = it->second.get();
  } else {
    std::optional<TaskInfo> leader = hooks_.task_info(info->tgid);
    if (!leader) return nullptr;
    process = IdentifyProcess(info->tgid, leader->ppid, std::move(leader->pidfd));
  }
  const CloneRecord* record = Match(process->thread_clones, tid, hooks_.last_pid());
  // Unmatched thread: number it after every recorded one.
  const uint32_t index = record != nullptr ? record->index : ++process->threads_created;
  return AddThread(*process, tid, index, record, std::move(info->pidfd));
}

void ProcessTable::OnClone(ThreadState& creator, uint64_t flags) {
  ProcessState& p = *creator.process;
  // A process's records and counter of one kind: threads or children.
  auto records_of = [&p](bool thread) -> std::pair<std::deque<CloneRecord>&, uint32_t&> {
    if (thread) return {p.thread_clones, p.threads_created};
    return {p.child_clones, p.children_created};
  };
  if (confirm_clones_ && creator.unconfirmed_clone) {
    // The last clone call made no task (ConfirmClones).
    const auto [index, was_thread] = *creator.unconfirmed_clone;
    auto [earlier, earlier_counter] = records_of(was_thread);
    auto it = std::find_if(earlier.rbegin(), earlier.rend(),
                           [index](const CloneRecord& r) { return r.index == index; });
    if (it != earlier.rend() && !it->used) {
      earlier.erase(std::next(it).base());
      if (earlier_counter == index) --earlier_counter;
    }
  }
  const bool thread = (flags & CLONE_THREAD) != 0;
  auto [records, counter] = records_of(thread);
  CloneRecord record{++counter, hooks_.last_pid(), {}};
  if (confirm_clones_) creator.unconfirmed_clone = std::make_pair(record.index, thread);
  record.inherited.reserve(modules_.size());
  for (Module* m : modules_) record.inherited.push_back(m->SnapshotForClone(creator));
  records.push_back(std::move(record));
  if (records.size() > kMaxRecordsPerProcess) records.pop_front();
}

void ProcessTable::Confirmed(pid_t creator) {
  if (auto it = threads_.find(creator); it != threads_.end()) {
    it->second->unconfirmed_clone.reset();
  }
}

void ProcessTable::DrainNewPidfds(
    const std::function<void(int, pid_t, bool)>& fn) {
  for (auto& [fd, id, thread] : new_pidfds_) fn(fd, id, thread);
  new_pidfds_.clear();
}

void ProcessTable::RemoveThread(pid_t tid) { threads_.erase(tid); }

void ProcessTable::OnExitReady(pid_t id, bool thread, std::optional<int> wait_status) {
  if (thread) {
    auto it = threads_.find(id);
    if (it == threads_.end()) return;
    ProcessState* p = it->second->process;
    std::erase(p->threads, id);
    RemoveThread(id);
    return;
  }
  auto it = processes_.find(id);
  if (it == processes_.end()) return;
  ProcessState& p = *it->second;
  if (wait_status) p.wait_status = wait_status;
  std::vector<const ThreadState*> threads;
  for (pid_t tid : p.threads) {
    if (auto t = threads_.find(tid); t != threads_.end()) threads.push_back(t->second.get());
  }
  if (hooks_.on_process_exit) hooks_.on_process_exit(p);
  for (Module* m : modules_) m->OnProcessExit(p, threads);
  for (pid_t tid : p.threads) RemoveThread(tid);
  if (!p.child_clones.empty()) {
    tombstones_.push_back(Tombstone{p.id, std::move(p.child_clones)});
    if (tombstones_.size() > kMaxTombstones) tombstones_.pop_front();
  }
  processes_.erase(it);
}

std::optional<int> ExitWaitStatus(const ProcessState& process) {
  if (process.wait_status) return process.wait_status;
  auto from_pidfd = [&]() -> std::optional<int> {
    DetrunPidfdInfo info{};
    info.mask = DETRUN_PIDFD_INFO_EXIT;
    if (!process.pidfd.ok() || ioctl(process.pidfd.get(), DETRUN_PIDFD_GET_INFO, &info) != 0 ||
        (info.mask & DETRUN_PIDFD_INFO_EXIT) == 0) {
      return std::nullopt;
    }
    return info.exit_code;
  };
  if (std::optional<int> status = from_pidfd()) return status;
  // Not reaped yet: a zombie shows its status as the last field of
  // /proc/PID/stat (field 52, after the parenthesised name). State 'Z'
  // makes sure the pid was not reused by a live process meanwhile.
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", process.pid);
  if (ReadSmallFile(path, buf, sizeof buf) > 0) {
    const char* close_paren = strrchr(buf, ')');
    if (close_paren != nullptr && close_paren[1] == ' ' && close_paren[2] == 'Z') {
      const char* last = strrchr(close_paren, ' ');
      int status = 0;
      if (last != nullptr && absl::SimpleAtoi(absl::StripAsciiWhitespace(last + 1), &status)) {
        return status;
      }
    }
  }
  // Reaped between the two looks.
  return from_pidfd();
}

std::optional<pid_t> OwnTidOf(pid_t host_tid) {
  const std::string path = absl::StrCat("/proc/", host_tid, "/status");
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return std::nullopt;
  std::optional<pid_t> own;
  char line[256];
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, "NSpid:", 6) != 0) continue;
    // "NSpid:\t<host>\t...\t<innermost>": the last number is the
    // thread's own view.
    const char* last = strrchr(line, '\t');
    pid_t tid = 0;
    if (last != nullptr && absl::SimpleAtoi(absl::StripAsciiWhitespace(last + 1), &tid)) own = tid;
    break;
  }
  fclose(f);
  return own;
}

std::optional<pid_t> HostTidOf(pid_t host_tgid, pid_t own_tid) {
  const std::string dir = absl::StrCat("/proc/", host_tgid, "/task");
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return std::nullopt;
  std::optional<pid_t> found;
  while (dirent* e = readdir(tasks)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(e->d_name, &tid)) continue;
    if (OwnTidOf(tid) == own_tid) {
      found = tid;
      break;
    }
  }
  closedir(tasks);
  return found;
}

}  // namespace detrun
