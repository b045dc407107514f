# libFuzzer targets (issue 8). libFuzzer needs clang (-fsanitize=fuzzer);
# the project's compiler is gcc, so each target is built by calling clang++
# directly on the sources it fuzzes, and `ctest -L fuzz` runs it for a
# bounded time (DETRUN_FUZZ_SECONDS). Where clang or its runtimes are
# missing, every fuzz test reports SKIPPED with the reason. Each target's
# entry point also runs over its seeds in an ordinary unit test (any
# compiler), which the directory declares itself.

set(DETRUN_FUZZ_SECONDS 20 CACHE STRING "How long ctest runs each libFuzzer target")

# One probe for all targets: can clang++ link a fuzzer with the sanitizers
# the targets are built with?
set(DETRUN_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
find_program(DETRUN_CLANGXX NAMES clang++ clang++-14)
set(DETRUN_FUZZ_SKIP_REASON "")
if(NOT DETRUN_CLANGXX)
  set(DETRUN_FUZZ_SKIP_REASON "clang++ is not installed (Debian: clang), so libFuzzer is unavailable")
else()
  set(probe_dir ${CMAKE_BINARY_DIR}/libfuzzer_probe)
  file(WRITE ${probe_dir}/probe.cc
    "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(
    COMMAND ${DETRUN_CLANGXX} ${DETRUN_FUZZ_FLAGS} ${probe_dir}/probe.cc -o ${probe_dir}/probe
    RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(NOT probe_result EQUAL 0)
    set(DETRUN_FUZZ_SKIP_REASON "${DETRUN_CLANGXX} cannot link -fsanitize=fuzzer,address,undefined (the libFuzzer and sanitizer runtimes, Debian: libclang-rt-14-dev, are missing)")
  endif()
endif()
if(DETRUN_FUZZ_SKIP_REASON STREQUAL "")
  message(STATUS "libFuzzer targets: built with ${DETRUN_CLANGXX}, run for ${DETRUN_FUZZ_SECONDS} s each by ctest -L fuzz")
else()
  message(STATUS "libFuzzer targets: SKIPPED: ${DETRUN_FUZZ_SKIP_REASON}")
endif()

# detrun_libfuzzer_target(NAME name SOURCES src... [DEPENDS header...]
#                         PKG_MODULES module... SEEDS dir)
#
# Builds NAME in the current binary directory from SOURCES (the file with
# LLVMFuzzerTestOneInput and the code it fuzzes; relative paths are in the
# current source directory) and links it against the pkg-config MODULES.
# DEPENDS are the headers whose change rebuilds it. The test NAME (label
# `fuzz`) fuzzes for DETRUN_FUZZ_SECONDS from the checked-in seeds in SEEDS,
# keeping what it finds in NAME_corpus/ and any crash as NAME-crash-*.
function(detrun_libfuzzer_target)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;SEEDS" "SOURCES;DEPENDS;PKG_MODULES")
  if(NOT arg_NAME OR NOT arg_SOURCES OR NOT arg_PKG_MODULES OR NOT arg_SEEDS)
    message(FATAL_ERROR "detrun_libfuzzer_target: NAME, SOURCES, PKG_MODULES and SEEDS are required")
  endif()
  set(name ${arg_NAME})
  # The sanitizer tree (make test-asan) leaves the fuzzers to the normal
  # one: clang builds them alike in both, already with ASan + UBSan.
  if(DETRUN_SANITIZE)
    return()
  endif()
  if(NOT DETRUN_FUZZ_SKIP_REASON STREQUAL "")
    add_test(NAME ${name} COMMAND sh -c "echo 'SKIPPED: ${DETRUN_FUZZ_SKIP_REASON}'; exit 77")
    set_tests_properties(${name} PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77)
    return()
  endif()

  list(TRANSFORM arg_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/ REGEX "^[^/]")
  cmake_path(ABSOLUTE_PATH arg_SEEDS BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  string(MAKE_C_IDENTIFIER "DETRUN_FUZZ_${name}" pkg_prefix)
  pkg_check_modules(${pkg_prefix} REQUIRED ${arg_PKG_MODULES})

  set(binary ${CMAKE_CURRENT_BINARY_DIR}/${name})
  add_custom_command(
    OUTPUT ${binary}
    COMMAND ${DETRUN_CLANGXX} -std=c++20 -O1 -g ${DETRUN_FUZZ_FLAGS} -I${CMAKE_SOURCE_DIR}
      ${arg_SOURCES} ${${pkg_prefix}_LDFLAGS} -o ${binary}
    DEPENDS ${arg_SOURCES} ${arg_DEPENDS}
    COMMENT "Building the libFuzzer target ${name} with clang"
    VERBATIM)
  # The target is not named after the binary: under the Ninja generator a
  # target `replay/NAME` and the file replay/NAME would be one path made by
  # two rules, which Ninja refuses ("multiple rules generate").
  add_custom_target(${name}_binary ALL DEPENDS ${binary})
  add_test(NAME ${name}
    COMMAND sh -c "mkdir -p ${name}_corpus && exec ./${name} -max_total_time=${DETRUN_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048 -artifact_prefix=${name}- -print_final_stats=1 ${name}_corpus ${arg_SEEDS}"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  math(EXPR timeout "${DETRUN_FUZZ_SECONDS} + 120")
  # COST: ctest -j starts the costliest tests first (a fresh tree has no
  # timings of its own), so this one does not begin last and end alone.
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT ${timeout}
    COST ${DETRUN_FUZZ_SECONDS})
endfunction()
