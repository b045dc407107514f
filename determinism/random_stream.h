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
  // Keystream from `from` (a multiple of 64) to `from + size`, into `out`.
  void Generate(uint64_t from, uint8_t* out, size_t size) const;

  uint8_t key_[32];
  uint64_t offset_ = 0;  // bytes produced so far
  // Keystream bytes [cache_start_, cache_start_ + cache_size_), kept for
  // the small reads that follow one another (getrandom(16), a UUID): one
  // ChaCha20 run serves 256 bytes of them instead of a 64-byte block each
  // time. The bytes are the same either way: the keystream at a position
  // depends only on the key and the position.
  uint8_t cache_[256];
  uint64_t cache_start_ = 0;
  size_t cache_size_ = 0;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_RANDOM_STREAM_H_
