"""Shared Bazel definitions: the compiler flags of every detrun target (the
same as the top-level CMakeLists.txt: C++20, warnings are errors) and the
unit-test macro."""

DETRUN_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
]

# Probes are C programs that print what they observe.
DETRUN_PROBE_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
]

def detrun_unit_tests(names, deps):
    """One small cc_test per name, built from name + ".cc" with GoogleTest
    and GoogleMock: the twin of detrun_unit_test() in CMake."""
    for name in names:
        native.cc_test(
            name = name,
            size = "small",
            srcs = [name + ".cc"],
            copts = DETRUN_COPTS,
            deps = deps + [
                "@system_libs//:gmock",
                "@system_libs//:gtest_main",
            ],
        )
