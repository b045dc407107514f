"""detrun_flaky_test: hunts a test target for flakiness with `detrun flaky`,
the sweep split across Bazel test shards.

    load("//third_party/bazel:detrun_flaky_test.bzl", "detrun_flaky_test")

    cc_test(name = "parser_test", srcs = ["parser_test.cc"])

    detrun_flaky_test(
        name = "parser_test_flaky_hunt",
        test = ":parser_test",
        runs = 200,
        shard_count = 4,
    )

`bazel test //pkg:parser_test_flaky_hunt` runs
`detrun flaky --runs=200 -- parser_test` as 4 test shards. Each shard is a
test action of its own, so remote execution spreads them over machines;
detrun flaky reads Bazel's TEST_TOTAL_SHARDS and TEST_SHARD_INDEX and shard
k runs the configurations i with i % 4 == k (disjoint, and together all
200). The target fails when a shard finds a failing configuration; that
shard's log (bazel-testlogs/pkg/parser_test_flaky_hunt/shard_K_of_4/
test.log) names the culprit and prints the reproducer.

For plain deterministic runs of a test, no macro is needed:
`bazel test --run_under='//:detrun --seed=42 --' //pkg:parser_test`.
"""

def detrun_flaky_test(
        name,
        test,
        runs = 100,
        shard_count = 1,
        flaky_args = [],
        test_args = [],
        detrun = "//:detrun",
        size = "medium",
        **kwargs):
    """A test that runs `detrun flaky` over `test`.

    Args:
      name: the test's name.
      test: the test target to hunt (an executable: cc_test, sh_test, ...).
      runs: configurations to sweep (detrun flaky --runs), over all shards.
      shard_count: Bazel shards to split the configurations across.
      flaky_args: more detrun flaky options, e.g. ["--vary=time",
        "--timeout=30s", "--native-runs=0"] (native runs happen on shard 0).
      test_args: arguments for the test itself.
      detrun: the detrun binary.
      size: the test size; a sweep takes `runs` times the test's time,
        divided by shard_count and by the runner's cores.
      **kwargs: passed on to the sh_test (tags, timeout, ...).
    """
    native.sh_test(
        name = name,
        srcs = ["//third_party/bazel:detrun_flaky_test.sh"],
        args = [
            "$(rootpath %s)" % detrun,
            "$(rootpath %s)" % test,
            "--runs=%d" % runs,
        ] + flaky_args + ["--"] + test_args,
        data = [detrun, test],
        shard_count = shard_count,
        size = size,
        **kwargs
    )
