#include "core/module.h"

#include <utility>

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

SyscallPolicy Registry::BuildPolicy(SyscallPolicy base) const {
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
