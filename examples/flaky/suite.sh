#!/bin/sh
# A two-test suite, each test a process of its own as most runners start
# them: first a test of something else that also reads random bytes, then
# random_test.py. Used by seed_stability.sh to measure how often a failing
# seed keeps failing after an unrelated change.
#
#   UNRELATED_BYTES  random bytes the other test reads (default 16): changing
#                    it stands for an unrelated code change in that test
#   SHIFT_BYTES      random bytes random_test.py's own process reads before
#                    the test starts (default 0): what the same change would
#                    do to it if all processes shared one random stream
dir=$(dirname "$0")
/usr/bin/python3 -c 'import os; os.urandom(int(os.environ.get("UNRELATED_BYTES", "16")))' || exit
/usr/bin/python3 -c 'import os, runpy, sys
os.urandom(int(os.environ.get("SHIFT_BYTES", "0")))
runpy.run_path(sys.argv[1], run_name="__main__")' "$dir/random_test.py"
