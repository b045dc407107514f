# detrun_test_program(TARGET): the flags every test program (unit tests,
# the supervisor and integration tests, the fuzz smoke tests) compiles with:
# DETRUN_TEST_COPTS, and the precompiled GoogleTest, GoogleMock, Abseil and
# standard headers of detrun_test_pch.
#
# Why: every test program parsed gtest.h and gmock.h (with the STL and
# Abseil under them) on its own, and most are one file, so unity batching
# cannot share that work: about 5.7 s of CPU per program under ASan + UBSan,
# 2.5 s in the normal tree, before a line of the test itself. The headers
# are compiled once per tree here and each test program loads the result.
# The Bazel build has no precompiled headers, so a file that forgets an
# #include of its own still fails there (CI builds both).
#
# REUSE_FROM requires the consumer's flags to match detrun_test_pch's: the
# directory-level options come from the top-level CMakeLists.txt for both,
# and a mismatch is an error here, not a silent fallback (-Winvalid-pch,
# which CMake adds, under -Werror).
add_library(detrun_test_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/test_pch.cc)
target_compile_options(detrun_test_pch PRIVATE ${DETRUN_TEST_COPTS})
target_link_libraries(detrun_test_pch PRIVATE GTest::gtest GTest::gmock absl::status
  absl::statusor absl::strings absl::str_format absl::time absl::flat_hash_map)
target_precompile_headers(detrun_test_pch PRIVATE
  <algorithm> <cerrno> <cstdint> <cstdio> <cstdlib> <cstring> <fstream> <functional> <map>
  <memory> <optional> <set> <sstream> <string> <string_view> <vector>
  <absl/container/flat_hash_map.h> <absl/status/status.h> <absl/status/statusor.h>
  <absl/strings/str_cat.h> <absl/strings/str_split.h> <absl/strings/string_view.h>
  <absl/time/time.h> <gmock/gmock.h> <gtest/gtest.h>)

function(detrun_test_program target)
  target_compile_options(${target} PRIVATE ${DETRUN_TEST_COPTS})
  target_precompile_headers(${target} REUSE_FROM detrun_test_pch)
endfunction()
