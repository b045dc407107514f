// Test-only helpers shared by the vdso/ unit tests.
#ifndef DETRUN_VDSO_VDSO_TEST_UTIL_H_
#define DETRUN_VDSO_VDSO_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "vdso/vdso_image.h"

namespace detrun {

// The running process's vDSO, read once.
inline const std::vector<uint8_t>& OwnVdso() {
  static const std::vector<uint8_t>* image = [] {
    absl::StatusOr<std::vector<uint8_t>> read = ReadOwnVdso();
    EXPECT_TRUE(read.ok()) << read.status();
    return new std::vector<uint8_t>(read.ok() ? *read : std::vector<uint8_t>());
  }();
  return *image;
}

}  // namespace detrun

#endif  // DETRUN_VDSO_VDSO_TEST_UTIL_H_
