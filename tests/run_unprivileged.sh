#!/usr/bin/env bash
# Runs the integration tests a second time as an unprivileged user.
#
# detrun must work without root (DESIGN.md), but CI and the developers run
# everything as root, where a missing permission never shows. So `make test`
# calls this after ctest: as root, it copies the built program, the probe
# programs and the integration test binary into a fresh directory under
# /tmp (the clone may sit under a 0700 home that another user cannot enter),
# hands that directory to an unprivileged user and runs the test there with
# setpriv (with a copy of examples/, which the flaky and repro tests run).
# Arguments are passed on to the test binary (e.g. --gtest_filter=...).
#
# User: `detrun-test`, a system user created here if it is missing, or
# `nobody` where it cannot be created.
# Exit status: the test binary's. When the run is impossible (not root: the
# ctest run was already unprivileged; no setpriv; no usable user) it prints
# one `SKIPPED: <why>` line and exits 0. A missing build output is a failure.
#
# Environment: DETRUN_BUILD_DIR (default: <repo>/build);
# DETRUN_UNPRIVILEGED_TIMEOUT in seconds, per test binary run (default 900);
# DETRUN_UNPRIVILEGED_SHARDS, how many integration test processes run side
# by side (default 2).
set -euo pipefail

readonly test_user=detrun-test
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${DETRUN_BUILD_DIR:-$repo/build}
timeout_seconds=${DETRUN_UNPRIVILEGED_TIMEOUT:-900}

say() { echo "run_unprivileged: $*"; }
fail() { echo "run_unprivileged: FAILED: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 0; }

uid=$(id -u)
if (( uid != 0 )); then
  skip "already running unprivileged (uid $uid); the main ctest run covered it"
fi

detrun_bin=$build_dir/detrun
probes_dir=$build_dir/tests/probes
integration_test=$build_dir/tests/integration/integration_test
# The supervisor tests (ptrace exec stops, Landlock-free core paths) too:
# ptrace of descendants as an ordinary user is exactly what must work.
supervisor_test=$build_dir/tests/supervisor_test
[[ -x $supervisor_test ]] || fail "$supervisor_test does not exist or is not executable: build it first (make build)"
[[ -x $integration_test ]] ||
  fail "$integration_test does not exist or is not executable: build it first (make build); tests/integration must define the integration_test target"
[[ -x $detrun_bin ]] || fail "$detrun_bin does not exist or is not executable: build it first (make build)"
[[ -d $probes_dir ]] || fail "$probes_dir does not exist: build the probe programs first (make build)"

# Root's PATH may lack the sbin directories in a minimal environment.
find_tool() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in /usr/sbin /sbin /usr/bin /bin; do
    if [[ -x $dir/$name ]]; then echo "$dir/$name"; return 0; fi
  done
  return 1
}

setpriv=$(find_tool setpriv) ||
  skip "cannot drop privileges: setpriv is not installed (it comes with Debian's util-linux package; make deps installs it)"

# The user: detrun-test, created once (idempotent: an existing one is reused).
run_user=$test_user
if ! id -u "$run_user" >/dev/null 2>&1; then
  if useradd=$(find_tool useradd); then
    useradd_said=$("$useradd" --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "detrun unprivileged test runs" "$run_user" 2>&1) || true
    if id -u "$run_user" >/dev/null 2>&1; then  # also when a parallel run just made it
      say "created the system user $run_user"
    else
      say "could not create the system user $run_user (${useradd_said:-$useradd failed}); falling back to nobody"
      run_user=nobody
    fi
  else
    say "useradd is not installed (Debian's passwd package), so $test_user cannot be created; falling back to nobody"
    run_user=nobody
  fi
fi
id -u "$run_user" >/dev/null 2>&1 ||
  skip "cannot run as an unprivileged user: $test_user could not be created and there is no user nobody"
run_uid=$(id -u "$run_user")
run_gid=$(id -g "$run_user")
(( run_uid != 0 )) || skip "the user $run_user has uid 0, so it would not be unprivileged"

# setpriv drops every capability with the uid change; --inh-caps=-all clears
# the inheritable set too, so nothing privileged survives an exec.
as_user=("$setpriv" --reuid="$run_uid" --regid="$run_gid" --init-groups --inh-caps=-all)

# PATH as the test user sees it: root's PATH less the directories that user
# cannot search (/root/...), as a real unprivileged login would have it.
# Left in, they make execvp() report EACCES instead of ENOENT for a missing
# command: an artefact of root's environment, not of running unprivileged.
# shellcheck disable=SC2016  # $PATH is expanded by the inner bash, as that user
user_path=$("${as_user[@]}" bash -c '
  IFS=: read -ra dirs <<<"$PATH"
  kept=()
  for dir in "${dirs[@]}"; do
    if [[ -n $dir && -d $dir && -x $dir ]]; then kept+=("$dir"); fi
  done
  IFS=:
  echo "${kept[*]}"' 2>&1) ||
  skip "cannot switch to $run_user here: setpriv failed: $user_path"
[[ -n $user_path ]] || user_path=/usr/local/bin:/usr/bin:/bin
if [[ $user_path != "$PATH" ]]; then
  say "PATH for $run_user (root-only directories dropped): $user_path"
fi

# A fresh directory only the test user owns, under /tmp whatever TMPDIR says.
work=$(mktemp -d /tmp/detrun-unprivileged.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
cp -- "$detrun_bin" "$work/detrun"
cp -R -- "$probes_dir" "$work/probes"
cp -- "$integration_test" "$work/integration_test"
cp -- "$supervisor_test" "$work/supervisor_test"
# The examples the flaky and repro tests run, owned by the test user too.
cp -R -- "$repo/examples" "$work/examples"
mkdir -- "$work/tmp"
chown -R "$run_uid:$run_gid" "$work"
chmod 0755 "$work"

# The integration tests run in $shards parallel shards (GoogleTest's
# GTEST_TOTAL_SHARDS), as ctest runs them with -j2 in the root pass: each
# test is its own process there, so they are already safe side by side.
# Serially this pass took 169 s of CI's time; each shard's output is shown
# whole once it is done, so the logs do not interleave.
shards=${DETRUN_UNPRIVILEGED_SHARDS:-2}
[[ $shards =~ ^[1-9][0-9]*$ ]] || fail "invalid DETRUN_UNPRIVILEGED_SHARDS value '$shards' (a positive number)"
logs=$(mktemp -d)
trap 'rm -rf -- "$work" "$logs"' EXIT

# as_test_user COMMAND...: COMMAND in $work as the test user, time-limited.
as_test_user() {
  (
    cd "$work"
    exec timeout --kill-after=30 "$timeout_seconds" \
      "${as_user[@]}" env PATH="$user_path" HOME="$work" USER="$run_user" LOGNAME="$run_user" TMPDIR="$work/tmp" \
      DETRUN_BIN="$work/detrun" DETRUN_PROBES_DIR="$work/probes" DETRUN_EXAMPLES_DIR="$work/examples" \
      "$@"
  ) </dev/null
}

# report STATUS WHAT: one line on how WHAT ended.
report() {
  local status=$1 what=$2
  if (( status == 0 )); then
    say "$what passed as $run_user"
  elif (( status == 124 || status == 137 )); then
    say "FAILED: $what as $run_user did not finish within ${timeout_seconds}s (exit $status)" >&2
  else
    say "FAILED: $what as $run_user exited with status $status" >&2
  fi
}

say "running the supervisor tests as $run_user (uid $run_uid, gid $run_gid) in $work"
status=0
as_test_user ./supervisor_test || status=$?
report "$status" "the supervisor tests"
if (( status == 0 )); then
  say "running the integration tests as $run_user in $shards parallel shards"
  pids=()
  for ((i = 0; i < shards; i++)); do
    as_test_user env GTEST_TOTAL_SHARDS="$shards" GTEST_SHARD_INDEX="$i" ./integration_test "$@" \
      >"$logs/shard$i.log" 2>&1 &
    pids+=("$!")
  done
  for ((i = 0; i < shards; i++)); do
    shard_status=0
    wait "${pids[i]}" || shard_status=$?
    echo "---- run_unprivileged: shard $((i + 1)) of $shards (GTEST_SHARD_INDEX=$i)"
    cat -- "$logs/shard$i.log"
    report "$shard_status" "integration test shard $((i + 1)) of $shards"
    (( status != 0 )) || status=$shard_status
  done
fi
(( status != 0 )) || say "the integration tests passed as $run_user"
exit "$status"
