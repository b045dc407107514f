// Test-only: reads the virtual files modules provide (Registry::ProvideFile,
// then ProvideFilePattern) the way the core would at an open, without a
// child process.
//
//   ProvidedFiles files({&time, &procfs}, config);  // registers them, in order
//   files.Read("/proc/uptime")                      // as thread "1" opening it
#ifndef DETRUN_DETERMINISM_PROVIDED_FILES_TEST_UTIL_H_
#define DETRUN_DETERMINISM_PROVIDED_FILES_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/child_memory.h"
#include "core/config.h"
#include "core/module.h"
#include "core/process_table.h"

namespace detrun::testing {

class ProvidedFiles {
 public:
  ProvidedFiles(std::vector<Module*> modules, const Config& config) : config_(config) {
    for (size_t i = 0; i < modules.size(); ++i) {
      registry_.BeginModule(static_cast<int>(i), std::string(modules[i]->name()));
      modules[i]->Register(registry_);
    }
    process_.id = ProcessIdentity::Root();
    thread_.id = ThreadIdentity{process_.id, 0};
    thread_.process = &process_;
    for (Module* m : modules) thread_.module_state.push_back(m->NewThreadState(thread_, nullptr));
  }

  std::vector<std::string> Paths() const {
    std::vector<std::string> paths;
    for (const Registry::ProvidedFile& f : registry_.provided_files()) paths.push_back(f.path);
    return paths;
  }

  // The content `path` has when the thread opens it now; NotFound when no
  // module provides it.
  absl::StatusOr<std::string> Read(const std::string& path) {
    for (const Registry::ProvidedFile& f : registry_.provided_files()) {
      if (f.path != path) continue;
      Notification n;
      SyscallContext ctx{n, thread_, process_, memory_, config_};
      return f.provider(ctx);
    }
    for (const Registry::ProvidedPattern& p : registry_.provided_patterns()) {
      if (!p.pattern.Matches(path)) continue;
      Notification n;
      SyscallContext ctx{n, thread_, process_, memory_, config_};
      return p.provider(ctx, path);
    }
    return absl::NotFoundError(path);
  }
  std::string ReadOr(const std::string& path) { return Read(path).value_or("<error>"); }

  Registry& registry() { return registry_; }
  ProcessState& process() { return process_; }
  ThreadState& thread() { return thread_; }

 private:
  Config config_;
  Registry registry_;
  ProcessState process_;
  ThreadState thread_;
  ChildMemory memory_{-1};
};

}  // namespace detrun::testing

#endif  // DETRUN_DETERMINISM_PROVIDED_FILES_TEST_UTIL_H_
