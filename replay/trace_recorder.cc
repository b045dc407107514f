#include "replay/trace_recorder.h"

#include <string.h>
#include <sys/syscall.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/process_table.h"
#include "core/syscall_table.h"
#include "replay/syscall_catalog.h"

namespace detrun {
namespace {

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : absl::StrCat("E", error);
}

std::string ParentOf(const ProcessIdentity& id) {
  // The root and never-matched processes (0.N) have no known parent.
  if (id.path.size() < 2 || id.path[0] == 0) return "";
  ProcessIdentity parent = id;
  parent.path.pop_back();
  return parent.ToString();
}

}  // namespace

TraceRecorder::TraceRecorder(TraceWriter& writer)
    : writer_(writer), payload_state_(XXH3_createState()) {
  payload_head_.reserve(kDescribedPayloadBytes);
}

TraceRecorder::~TraceRecorder() { XXH3_freeState(payload_state_); }

void TraceRecorder::OnChildWrite(const Notification& notification, uint64_t addr,
                                 const void* data, size_t len) {
  (void)addr;
  if (payload_bytes_ == 0 || payload_id_ != notification.id) {
    payload_id_ = notification.id;
    payload_bytes_ = 0;
    payload_streaming_ = false;
    payload_head_.clear();
  }
  const char* bytes = static_cast<const char*>(data);
  const size_t keep = std::min(len, kDescribedPayloadBytes - payload_head_.size());
  if (!payload_streaming_ && keep < len) {
    // Beyond what the head holds: stream from here on.
    XXH3_64bits_reset(payload_state_);
    XXH3_64bits_update(payload_state_, payload_head_.data(), payload_head_.size());
    payload_streaming_ = true;
  }
  if (payload_streaming_) XXH3_64bits_update(payload_state_, bytes, len);
  payload_head_.append(bytes, keep);
  payload_bytes_ += len;
}

uint64_t TraceRecorder::PayloadDigest() const {
  return payload_streaming_
             ? static_cast<uint64_t>(XXH3_64bits_digest(payload_state_))
             : static_cast<uint64_t>(XXH3_64bits(payload_head_.data(), payload_head_.size()));
}

void TraceRecorder::OnAnswer(const ThreadState& thread, const Notification& n,
                             const Response& response, std::string_view module) {
  TraceEvent& e = event_;
  e.kind = TraceEvent::Kind::kCall;
  if (!have_last_thread_ || !(thread.id == last_thread_)) {
    last_thread_ = thread.id;
    have_last_thread_ = true;
    e.thread = thread.id.ToString();
  }
  const std::string_view name = SyscallName(n.nr);
  if (name.empty()) {
    e.syscall = SyscallNameOrNumber(n.nr);
  } else {
    e.syscall.assign(name);
  }
  const SyscallInfo* info = FindSyscallInfo(n.nr);
  RecordedArgs(info, n.args, &e.args);
  e.value = 0;
  e.error.clear();
  switch (response.kind) {
    case Response::Kind::kContinue: e.answer = TraceEvent::Answer::kContinue; break;
    case Response::Kind::kValue:
      e.answer = TraceEvent::Answer::kValue;
      e.value = response.value;
      break;
    case Response::Kind::kErrno:
      e.answer = TraceEvent::Answer::kErrno;
      e.error = ErrnoName(response.error);
      break;
    case Response::Kind::kInjectFd: e.answer = TraceEvent::Answer::kInjectFd; break;
  }
  e.module.assign(module);
  e.path.clear();
  if (n.nr == SYS_execve || n.nr == SYS_execveat) e.path = thread.process->last_exec;
  e.out.bytes = 0;
  e.out.hex.clear();
  e.out.xxh3.clear();
  e.detail.clear();
  const bool has_payload = payload_bytes_ > 0 && payload_id_ == n.id;
  // The stat family (fs_times) and directory listings (dirs) are the
  // kernel's answers with some fields normalised: their bytes still hold
  // host facts no option controls (inode numbers, sizes, link counts), so
  // like a "continue" they are not part of what two runs must agree on
  // (the leak report is where such facts belong).
  const bool host_answer = module == "fs_times" || module == "dirs";
  if (has_payload && response.kind != Response::Kind::kContinue && !host_answer) {
    e.out.bytes = payload_bytes_;
    const bool secret = info != nullptr && info->secret;
    if (!secret && payload_bytes_ <= kInlinePayloadBytes) {
      static constexpr char kHex[] = "0123456789abcdef";
      e.out.hex.resize(2 * payload_head_.size());
      char* hex = e.out.hex.data();
      for (unsigned char c : payload_head_) {
        *hex++ = kHex[c >> 4];
        *hex++ = kHex[c & 0xF];
      }
    } else {
      Xxh3HexTo(PayloadDigest(), &e.out.xxh3);
    }
  }
  // A description is written only when the payload itself is not: from
  // inline bytes (a clock read) or the value alone, readers derive it
  // (trace_text.h), and clock reads are the commonest calls there are.
  if (response.kind == Response::Kind::kValue && !e.out.xxh3.empty()) {
    e.detail = DescribePayload(e.syscall, e.args, payload_head_, response.value);
  }
  payload_bytes_ = 0;
  writer_.WriteEvent(e);
}

void TraceRecorder::OnProcessStart(const ProcessState& process) {
  TraceEvent e;
  e.kind = TraceEvent::Kind::kStart;
  e.thread = process.id.ToString();
  e.parent = ParentOf(process.id);
  writer_.WriteEvent(e);
}

void TraceRecorder::OnExec(const ThreadState& thread, const std::vector<std::string>& argv) {
  TraceEvent e;
  e.kind = TraceEvent::Kind::kExec;
  e.thread = thread.process->id.ToString();
  e.path = thread.process->last_exec;
  e.argv = argv;
  writer_.WriteEvent(e);
}

void TraceRecorder::OnProcessExit(const ProcessState& process, std::optional<int> wait_status) {
  TraceEvent e;
  e.kind = TraceEvent::Kind::kExit;
  e.thread = process.id.ToString();
  e.wait_status = wait_status;
  writer_.WriteEvent(e);
}

}  // namespace detrun
