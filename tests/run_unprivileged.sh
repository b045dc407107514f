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
# DETRUN_UNPRIVILEGED_TIMEOUT in seconds (default 900).
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

say "running the integration tests as $run_user (uid $run_uid, gid $run_gid) in $work"
status=0
(
  cd "$work"
  exec timeout --kill-after=30 "$timeout_seconds" \
    "${as_user[@]}" env PATH="$user_path" HOME="$work" USER="$run_user" LOGNAME="$run_user" TMPDIR="$work/tmp" \
    DETRUN_BIN="$work/detrun" DETRUN_PROBES_DIR="$work/probes" DETRUN_EXAMPLES_DIR="$work/examples" \
    sh -c './supervisor_test && ./integration_test "$@"' run_unprivileged "$@"
) </dev/null || status=$?

if (( status == 0 )); then
  say "the integration tests passed as $run_user"
elif (( status == 124 || status == 137 )); then
  say "FAILED: the integration tests as $run_user did not finish within ${timeout_seconds}s (exit $status)" >&2
else
  say "FAILED: the integration tests as $run_user exited with status $status" >&2
fi
exit "$status"
