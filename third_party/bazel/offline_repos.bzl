"""Offline stand-ins for the repositories Bazel 4 would otherwise download.

Bazel 4 (here Debian's bazel-bootstrap 4.2.3) appends a WORKSPACE suffix
that declares @rules_cc, @rules_java and @remote_coverage_tools as
http_archives, and `bazel test //...` on a C++ tree needs all three:
@bazel_tools//tools/cpp loads @rules_cc//cc:defs.bzl; toolchain resolution
loads @bazel_tools//tools/jdk, which loads @rules_java//java:defs.bzl; and
every test rule refers to @remote_coverage_tools. (Found by running Bazel
with no network: each one fails the build until it is declared.) The
machines that build detrun have no internet, so this file declares all three
first, as small local repositories whose rules are Bazel's own native ones.
Nothing is vendored: the repositories are made of the stub files beside
this one (BUILD and .bzl text only).

Called from //:WORKSPACE: these declarations take the names, so Bazel's own
ones (`maybe(http_archive, ...)` for the rules) are not used and nothing is
fetched. .bazelrc also disables downloads, so a repository added later
without a local stand-in fails at once, naming itself.
"""

def _stub_repo_impl(ctx):
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for label, dest in ctx.attr.files.items():
        ctx.symlink(ctx.path(label), dest)
    for dest, content in ctx.attr.executables.items():
        ctx.file(dest, content, executable = True)

_stub_repo = repository_rule(
    implementation = _stub_repo_impl,
    local = True,
    attrs = {
        # Stub file in this workspace -> path inside the new repository.
        "files": attr.label_keyed_string_dict(allow_files = True),
        # Path inside the new repository -> content of a generated script.
        "executables": attr.string_dict(),
    },
    doc = "A local repository assembled from files checked in under //third_party/bazel.",
)

_NO_COVERAGE_TOOL = """#!/bin/sh
echo "detrun: $(basename "$0") is not available offline (Bazel's coverage tools are never downloaded); use the CMake build for coverage" >&2
exit 1
"""

def detrun_offline_repositories():
    """Declares @rules_cc, @rules_java and @remote_coverage_tools locally."""
    _stub_repo(
        name = "rules_cc",
        files = {
            "//third_party/bazel:rules_cc.BUILD": "BUILD.bazel",
            "//third_party/bazel:rules_cc.cc.BUILD": "cc/BUILD.bazel",
            "//third_party/bazel:rules_cc.defs.bzl": "cc/defs.bzl",
        },
    )
    _stub_repo(
        name = "rules_java",
        files = {
            "//third_party/bazel:rules_java.BUILD": "BUILD.bazel",
            "//third_party/bazel:rules_java.java.BUILD": "java/BUILD.bazel",
            "//third_party/bazel:rules_java.defs.bzl": "java/defs.bzl",
        },
    )
    _stub_repo(
        name = "remote_coverage_tools",
        files = {
            "//third_party/bazel:remote_coverage_tools.BUILD": "BUILD.bazel",
        },
        executables = {
            "coverage_report_generator.sh": _NO_COVERAGE_TOOL,
            "lcov_merger.sh": _NO_COVERAGE_TOOL,
        },
    )
