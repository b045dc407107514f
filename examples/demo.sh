#!/usr/bin/env bash
# `make demo`: runs examples/demo/observe.sh twice natively and twice under
# detrun, shows the four outputs, and says for each line whether detrun
# made it a fixed function of its flags, passed the host's value through,
# or left it varying. Also shows detrun's exit-code contract and
# confinement.
set -euo pipefail
cd "$(dirname "$0")/.."
DETRUN=${DETRUN:-build/detrun}
PROG=examples/demo/observe.sh

run() { echo "\$ $*"; "$@"; }

echo "== natively, twice =="
n1=$("$PROG"); n2=$("$PROG")
printf '%s\n--\n%s\n' "$n1" "$n2"
echo
echo "== under detrun, twice: $DETRUN -- $PROG =="
d1=$("$DETRUN" -- "$PROG"); d2=$("$DETRUN" -- "$PROG")
printf '%s\n--\n%s\n' "$d1" "$d2"
echo
echo "== what detrun did to each observation =="
# One line per key: native run 1, detrun run 1, detrun run 2.
paste -d'\t' <(echo "$n1") <(echo "$d1") <(echo "$d2") | while IFS=$'\t' read -r n a b; do
  key=${a%%:*}
  if [[ "$a" != "$b" ]]; then
    echo "  $key: still varies between runs (its module has not landed yet; see README 'Status')"
  elif [[ "$a" == "$n" ]]; then
    echo "  $key: the host's own value, passed through (its module has not landed yet)"
  else
    echo "  $key: identical in every run, set by detrun instead of the host"
  fi
done
echo
echo "== other inputs, other values: $DETRUN --seed=7 --time=2024-02-29T12:00:00Z --hostname=ci --cpus=8 -- $PROG =="
"$DETRUN" --seed=7 --time=2024-02-29T12:00:00Z --hostname=ci --cpus=8 -- "$PROG"
echo
echo "== the exit-code contract =="
set +e
"$DETRUN" -- sh -c 'exit 7'; echo "  sh -c 'exit 7'          -> detrun exits $?"
"$DETRUN" -- sh -c 'kill -9 $$'; echo "  killed by SIGKILL        -> detrun exits $?"
"$DETRUN" -- no-such-command 2>/dev/null; echo "  command not found        -> detrun exits $?"
"$DETRUN" --seed=-1 -- true 2>&1 | sed 's/^/  /'; echo "  bad value               -> detrun exits ${PIPESTATUS[0]}"
echo
echo "== confinement: a process cannot reach escape syscalls =="
"$DETRUN" -- build/tests/probes/try_syscall 101 | sed 's/^/  ptrace(PTRACE_TRACEME) under detrun: /'
"$DETRUN" -- build/tests/probes/int80; echo "  int 0x80 (i386 entry) under detrun: killed, exit $? (128+SIGSYS)"
exit 0
