// The translation unit that detrun_test_pch's precompiled headers are built
// with (cmake/test_program.cmake); it has no code of its own.
