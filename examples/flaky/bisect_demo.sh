#!/usr/bin/env bash
# git bisect finds the commit that made a test flaky, with detrun flaky as
# the bisect command:
#
#   git bisect run detrun flaky --runs=200 -- make check
#
# This demo builds a small repository in a temporary directory: five
# commits, the third of which makes test.py depend on the random seed (it
# fails for one seed in five or so), then bisects it. Flaky's exit status
# is what git bisect run reads: 0 good, 1 bad, 125 skip (cannot test).
# DETRUN names the detrun binary (default: detrun in PATH).
set -euo pipefail
detrun=${DETRUN:-detrun}
detrun=$(command -v "$detrun")
repo=$(mktemp -d)
trap 'rm -rf -- "$repo"' EXIT
cd "$repo"
git init -q
git config user.email demo@example.com
git config user.name demo

commit() { git add -A && git commit -q -m "$1"; }
cat > test.py <<'PY'
#!/usr/bin/python3
import random
values = sorted(random.random() for _ in range(10))
assert values == sorted(values)
PY
chmod +x test.py
commit "a test that always passes"
echo "# notes" > NOTES
commit "unrelated: notes"
cat > test.py <<'PY'
#!/usr/bin/python3
import random
first = random.random()
assert first < 0.8, first  # flaky: false for about one seed in five
PY
commit "make the test depend on its random values"
echo "more" >> NOTES
commit "unrelated: more notes"
echo "even more" >> NOTES
commit "unrelated: even more notes"

good=$(git rev-list --max-parents=0 HEAD)
git bisect start HEAD "$good" >/dev/null
git bisect run "$detrun" flaky --runs=30 --native-runs=0 -- ./test.py >bisect.log 2>&1 || true
grep -q "is the first bad commit" bisect.log || { cat bisect.log; exit 1; }
echo "first bad commit: $(git log -1 --format=%s refs/bisect/bad)"
git bisect reset >/dev/null 2>&1
