"""Compiler flags shared by every detrun target (the same as the top-level
CMakeLists.txt: C++20, warnings are errors)."""

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
