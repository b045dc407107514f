#!/usr/bin/env bash
# The test behind detrun_flaky_test (detrun_flaky_test.bzl):
#
#   detrun_flaky_test.sh DETRUN TEST [FLAKY OPTIONS...] -- [TEST ARGS...]
#
# Bazel runs it from the runfiles root, where DETRUN and TEST are relative
# paths. detrun flaky itself reads the sharding variables
# (TEST_TOTAL_SHARDS, TEST_SHARD_INDEX, TEST_SHARD_STATUS_FILE); its exit
# status is the test's: 0 no failure, 1 a failure found (the log names the
# culprit and the reproducer), 125 the test cannot be run.
set -euo pipefail

if (( $# < 2 )); then
  echo "usage: $0 DETRUN TEST [FLAKY OPTIONS...] -- [TEST ARGS...]" >&2
  exit 125
fi
detrun=$1
test=$2
shift 2
flaky=()
while (( $# > 0 )) && [[ $1 != -- ]]; do
  flaky+=("$1")
  shift
done
(( $# > 0 )) && shift
# A top-level target's path has no slash; make sure it is not looked up in PATH.
[[ $test == */* ]] || test=./$test
exec "$detrun" flaky "${flaky[@]}" -- "$test" "$@"
