#!/usr/bin/env bash
# How often does a failing seed keep failing after an unrelated code change?
#
#   seed_stability.sh [SEEDS] [CHANGES]      (defaults: 200 seeds, 5 changes)
#
# Runs suite.sh under detrun with seeds 1..SEEDS and keeps the failing ones.
# Then, for each failing seed, makes CHANGES unrelated changes (the other
# test reads 8, 16, ... more random bytes) and counts how often the seed
# still fails:
#   - as detrun runs it, where every process has its own stream keyed by
#     (seed, process identity): the change is in another process, so
#     random_test.py's bytes do not move;
#   - as it would be with one stream shared by all processes, emulated by
#     shifting random_test.py's own bytes by as much as the other test
#     consumed more (SHIFT_BYTES): what a shared stream would do.
# Prints one line per measure; exits 0. DETRUN names the detrun binary
# (default: detrun in PATH).
set -euo pipefail
seeds=${1:-200}
changes=${2:-5}
detrun=${DETRUN:-detrun}
suite=$(cd "$(dirname "$0")" && pwd)/suite.sh

fails() {  # fails SEED [VAR=VALUE...]: does the suite fail under that seed?
  local seed=$1 status=0
  shift
  env "$@" "$detrun" --seed="$seed" -- /bin/sh "$suite" >/dev/null 2>&1 || status=$?
  case $status in
    0) return 1 ;;
    1) return 0 ;;  # random_test.py's failure
    *) echo "seed_stability: the suite exited $status under --seed=$seed $*" >&2; exit 2 ;;
  esac
}

failing=()
for ((seed = 1; seed <= seeds; seed++)); do
  if fails "$seed"; then failing+=("$seed"); fi
done
kept_own=0
kept_shared=0
tried=0
for seed in "${failing[@]}"; do
  for ((k = 1; k <= changes; k++)); do
    extra=$((8 * k))
    tried=$((tried + 1))
    if fails "$seed" UNRELATED_BYTES=$((16 + extra)); then kept_own=$((kept_own + 1)); fi
    if fails "$seed" SHIFT_BYTES="$extra"; then kept_shared=$((kept_shared + 1)); fi
  done
done
echo "seeds: $seeds, failing: ${#failing[@]} (${failing[*]})"
echo "per-process streams (detrun): a failing seed kept failing after $kept_own of $tried unrelated changes"
echo "one shared stream (emulated): a failing seed kept failing after $kept_shared of $tried unrelated changes"
