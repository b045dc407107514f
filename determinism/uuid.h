// Uuid: 128-bit identifiers drawn from a RandomStream, in the two text forms
// Linux shows them in.
//
// Random UUIDs (RFC 4122 version 4: the version nibble 4, the variant bits
// 10, the other 122 bits from the stream) are what the kernel gives for
// /proc/sys/kernel/random/uuid and boot_id, written "8-4-4-4-12" in
// lowercase hex; systemd's /etc/machine-id is the same kind of 128 bits as
// 32 lowercase hex digits without dashes.
#ifndef DETRUN_DETERMINISM_UUID_H_
#define DETRUN_DETERMINISM_UUID_H_

#include <array>
#include <cstdint>
#include <string>

#include "determinism/random_stream.h"

namespace detrun {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // The next 16 bytes of `stream`, with the version-4 and variant bits set.
  static Uuid Random(RandomStream& stream);
  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", y one of 8, 9, a, b.
  std::string ToString() const;
  // 32 lowercase hex digits.
  std::string ToHex() const;
};

}  // namespace detrun

#endif  // DETRUN_DETERMINISM_UUID_H_
