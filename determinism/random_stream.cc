#include "determinism/random_stream.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace detrun {

RandomStream::RandomStream(std::string_view domain, uint64_t seed,
                           const ProcessIdentity& identity) {
  // libsodium picks its ChaCha20 and BLAKE2b code for this CPU (SSSE3,
  // AVX2) in sodium_init; without it the portable code runs, about five
  // times slower (a 1 MiB getrandom spent 85% of its time there). The same
  // bytes either way. Once per process, thread-safe, idempotent.
  static const bool sodium_ready = sodium_init() >= 0;
  (void)sodium_ready;
  // Unambiguous input: length-prefixed domain, the seed little-endian, then
  // the identity path as 32-bit little-endian numbers.
  std::string input;
  uint32_t n = static_cast<uint32_t>(domain.size());
  input.append(reinterpret_cast<const char*>(&n), 4);
  input.append(domain.data(), domain.size());
  input.append(reinterpret_cast<const char*>(&seed), 8);
  for (uint32_t part : identity.path) input.append(reinterpret_cast<const char*>(&part), 4);
  crypto_generichash(key_, sizeof key_, reinterpret_cast<const uint8_t*>(input.data()),
                     input.size(), nullptr, 0);
}

void RandomStream::Generate(uint64_t from, uint8_t* out, size_t size) const {
  static const uint8_t kNonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  memset(out, 0, size);
  crypto_stream_chacha20_ietf_xor_ic(out, out, size, kNonce, static_cast<uint32_t>(from / 64),
                                     key_);
}

void RandomStream::Fill(uint8_t* out, size_t size) {
  while (size > 0) {
    if (offset_ >= cache_start_ && offset_ < cache_start_ + cache_size_) {
      const size_t at = offset_ - cache_start_;
      const size_t take = std::min(size, cache_size_ - at);
      memcpy(out, cache_ + at, take);
      out += take;
      size -= take;
      offset_ += take;
      continue;
    }
    const size_t skip = offset_ % 64;  // ChaCha20 works in 64-byte blocks
    if (size + skip <= sizeof cache_) {
      cache_start_ = offset_ - skip;
      cache_size_ = sizeof cache_;
      Generate(cache_start_, cache_, cache_size_);
      continue;
    }
    // A large read: straight from the cipher, 4 KiB at a time, the cache
    // left as it is.
    uint8_t block[64 * 64];
    const size_t len = (std::min(size + skip, sizeof block) + 63) / 64 * 64;
    Generate(offset_ - skip, block, len);
    const size_t take = std::min(size, len - skip);
    memcpy(out, block + skip, take);
    out += take;
    size -= take;
    offset_ += take;
  }
}

}  // namespace detrun
