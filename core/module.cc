#include "core/module.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_split.h"

namespace detrun {

void Registry::BeginModule(int module_index, std::string module_name) {
  current_module_ = module_index;
  current_name_ = std::move(module_name);
}

void Registry::Notify(int nr, std::vector<ArgMatcher> when,
                      SyscallHandler handler, std::string reason) {
  pending_.push_back(
      Pending{nr,
              Entry{current_module_, current_name_, std::move(when),
                    std::move(handler)},
              std::move(reason)});
}

void Registry::Allow(int nr, std::vector<ArgMatcher> when, std::string reason) {
  allowed_.push_back(
      Pending{nr, Entry{current_module_, current_name_, std::move(when), nullptr},
              std::move(reason)});
}

void Registry::Refuse(int nr, int error, std::string reason) {
  refused_.push_back(Refusal{nr, error, current_name_ + ": " + reason});
}

namespace {

// Absolute, and no empty, "." or ".." component (so no "//" and no
// trailing '/'): the form readlink(/proc/self/fd/N) gives.
bool IsCanonicalPath(const std::string& path) {
  if (path.size() < 2 || path[0] != '/') return false;
  for (absl::string_view part : absl::StrSplit(absl::string_view(path).substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

[[noreturn]] void Die(const std::string& message) {
  fprintf(stderr, "detrun: internal error: %s\n", message.c_str());
  abort();
}

}  // namespace

void Registry::ProvideFile(std::string canonical_path, FileProvider provider,
                           std::string reason) {
  if (!IsCanonicalPath(canonical_path)) {
    Die(current_name_ + " provides a file whose path is not canonical: '" + canonical_path + "'");
  }
  // Twice-provided paths are caught where the files are indexed
  // (core/virtual_files.cc).
  files_.push_back(ProvidedFile{std::move(canonical_path), current_name_, std::move(provider),
                                std::move(reason), nullptr});
}

void Registry::ProvideDevice(std::string canonical_path, DeviceProvider device,
                             std::string reason) {
  if (!IsCanonicalPath(canonical_path)) {
    Die(current_name_ + " provides a device whose path is not canonical: '" + canonical_path +
        "'");
  }
  files_.push_back(ProvidedFile{std::move(canonical_path), current_name_, nullptr,
                                std::move(reason), std::move(device)});
}

void Registry::ProvideFilePattern(std::string_view pattern, PatternFileProvider provider,
                                  std::string reason) {
  absl::StatusOr<PathPattern> parsed = PathPattern::Parse(pattern);
  if (!parsed.ok()) {
    Die(current_name_ + " provides a file pattern that is not valid: " +
        std::string(parsed.status().message()));
  }
  for (const ProvidedPattern& p : patterns_) {
    if (p.pattern.text() == parsed->text()) {
      Die(current_name_ + " provides the file pattern " + parsed->text() + ", which " +
          p.module_name + " provides already");
    }
  }
  patterns_.push_back(ProvidedPattern{*std::move(parsed), current_name_, std::move(provider),
                                      std::move(reason)});
}

void Registry::EditDirectory(std::string canonical_path, DirectoryEditor editor,
                             std::string reason) {
  if (!IsCanonicalPath(canonical_path)) {
    Die(current_name_ + " edits a directory whose path is not canonical: '" + canonical_path +
        "'");
  }
  if (!edits_taken_by_.empty()) {
    Die(current_name_ + " edits " + canonical_path + " after " + edits_taken_by_ +
        " took the directory edits: it must register before " + edits_taken_by_);
  }
  for (const EditedDirectory& d : edited_directories_) {
    if (d.path == canonical_path) {
      Die(current_name_ + " edits " + canonical_path + ", which " + d.module_name +
          " edits already");
    }
  }
  edited_directories_.push_back(
      EditedDirectory{std::move(canonical_path), current_name_, std::move(editor),
                      std::move(reason)});
}

const std::vector<Registry::EditedDirectory>& Registry::TakeEditedDirectories() {
  edits_taken_by_ = current_name_.empty() ? "the module that took them" : current_name_;
  return edited_directories_;
}

SyscallPolicy Registry::BuildPolicy(SyscallPolicy base) const {
  for (const Refusal& r : refused_) {
    base.Add(r.nr, SyscallRule{{}, SyscallAction::Errno(r.error), r.reason});
  }
  for (const Pending& p : allowed_) {
    base.Add(p.nr, SyscallRule{p.entry.when, SyscallAction::Allow(),
                               p.entry.module_name + ": " + p.reason});
  }
  for (const Pending& p : pending_) {
    base.Add(p.nr, SyscallRule{p.entry.when, SyscallAction::Notify(),
                               p.entry.module_name + ": " + p.reason});
  }
  return base;
}

std::vector<std::vector<Registry::Entry>> Registry::BuildDispatch() const {
  std::vector<std::vector<Entry>> table(kMaxSyscall);
  // Registrations arrive module by module, so appending keeps module order.
  for (const Pending& p : pending_) {
    if (p.nr >= 0 && p.nr < kMaxSyscall) table[p.nr].push_back(p.entry);
  }
  return table;
}

}  // namespace detrun
