// AtRandomModule: seeds the 16 AT_RANDOM bytes of every new image.
//
// The kernel puts 16 random bytes on each new image's stack (AT_RANDOM);
// glibc derives its stack canary and pointer guard from them and Go seeds
// its runtime from them. In the post-exec stop this module overwrites them
// with the first bytes of the process's "at_random" RandomStream (seed and
// process identity), so they too are a function of --seed. (The random
// module of issue 4 extends this to getrandom and /dev/urandom.)
#ifndef DETRUN_DETERMINISM_AT_RANDOM_MODULE_H_
#define DETRUN_DETERMINISM_AT_RANDOM_MODULE_H_

#include "core/config.h"
#include "core/module.h"

namespace detrun {

class AtRandomModule : public Module {
 public:
  explicit AtRandomModule(const Config& config) : seed_(config.seed) {}
  std::string_view name() const override { return "at_random"; }
  void Register(Registry&) override {}
  bool WantsExecStop() const override { return true; }
  absl::Status OnExecStop(ExecStop& stop) override;

 private:
  uint64_t seed_;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_AT_RANDOM_MODULE_H_
