#!/usr/bin/env bash
# A CI step that proves a release build reproducible, for any project:
#
#   ci-check-reproducible.sh [BUILD COMMAND...]     (default: make dist)
#
# Builds twice under detrun (each time in a fresh copy of the current
# directory, seen at its own path) and twice natively for comparison, and
# compares what ARTIFACTS names (default: dist). Exit 0 when the builds
# under detrun are identical; otherwise the CI step fails, the differing
# files are listed, and the build trees are kept for inspection (with a
# diffoscope command when diffoscope is installed).
#
# Environment: DETRUN (default: detrun in PATH), ARTIFACTS (space-separated
# paths relative to the project, default "dist"), SOURCE_DATE_EPOCH (the
# release time; detrun's start time when set).
set -euo pipefail
detrun=${DETRUN:-detrun}
read -ra artifacts <<<"${ARTIFACTS:-dist}"
(( $# > 0 )) || set -- make dist
args=(repro --native-baseline)
for artifact in "${artifacts[@]}"; do args+=(--artifact="$artifact"); done
status=0
"$detrun" "${args[@]}" -- "$@" || status=$?
case $status in
  0) echo "ci: the release build is reproducible" ;;
  1) echo "ci: FAILED: the release build is not reproducible (see above)" ;;
  *) echo "ci: FAILED: the build could not be checked (exit $status)" ;;
esac
exit "$status"
