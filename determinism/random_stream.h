// RandomStream: the deterministic byte stream of one process.
//
// ChaCha20 (libsodium, IETF variant) keyed by BLAKE2b(domain, seed, process
// identity): the bytes a process gets depend only on --seed and its place
// in the fork tree, never on other processes or on scheduling. `domain`
// separates independent uses (the AT_RANDOM bytes are not the start of the
// getrandom stream). Streams are read sequentially; each Fill continues
// where the last one stopped, for any length.
#ifndef DETRUN_DETERMINISM_RANDOM_STREAM_H_
#define DETRUN_DETERMINISM_RANDOM_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/process_identity.h"

namespace detrun {

class RandomStream {
 public:
  RandomStream(std::string_view domain, uint64_t seed, const ProcessIdentity& identity);
  void Fill(uint8_t* out, size_t size);

 private:
  uint8_t key_[32];
  uint64_t offset_ = 0;  // bytes produced so far
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_RANDOM_STREAM_H_
